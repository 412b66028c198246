# Copyright 2026 lightseg_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Everything that touches pixels at run time, free of rclpy.

The segmenter, colouring, message codecs.
"""

from .image_codec import (
    decode_compressed_image,
    decode_image,
    encode_image,
    image_fields,
    ImageDecodeError,
)
from .segmenter import build_segmenter, Segmentation, Segmenter, select_device
from .visualize import colorize, overlay, palette_lut

__all__ = [
    'ImageDecodeError',
    'Segmentation',
    'Segmenter',
    'build_segmenter',
    'colorize',
    'decode_compressed_image',
    'decode_image',
    'encode_image',
    'image_fields',
    'overlay',
    'palette_lut',
    'select_device',
]
