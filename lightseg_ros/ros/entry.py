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
The nodes' console scripts, light to import.

Importing a node's module takes seconds (PyTorch, OpenCV, rclpy). A Ctrl-C or a launch shutdown
(SIGINT) in that time ended in a KeyboardInterrupt traceback; here it ends the process quietly
with 130 (interrupted), as the nodes do once they run.
"""

import importlib
import sys

__all__ = ['segment_node', 'segment_lifecycle_node', 'image_source']

INTERRUPTED = 130  # 128 + SIGINT, the shell's code for a process stopped by Ctrl-C


def _start(module: str, function: str):
    """Import ``lightseg_ros.ros.<module>``, call its ``function``; Ctrl-C meanwhile: exit 130."""
    try:
        target = getattr(importlib.import_module(f'{__package__}.{module}'), function)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    return target()


def segment_node() -> None:
    """Console script ``segment_node``."""
    _start('segment_node', 'run')


def segment_lifecycle_node() -> None:
    """Console script ``segment_lifecycle_node``."""
    _start('segment_lifecycle_node', 'run')


def image_source() -> None:
    """Console script ``image_source``."""
    sys.exit(_start('image_source', 'main'))
