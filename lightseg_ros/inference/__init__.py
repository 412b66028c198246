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
