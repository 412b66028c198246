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

import sys

__all__ = ['segment_node', 'segment_lifecycle_node', 'image_source']

INTERRUPTED = 130  # 128 + SIGINT, the shell's code for a process stopped by Ctrl-C


def segment_node() -> None:
    """Console script ``segment_node``."""
    try:
        from .segment_node import run
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    run()


def segment_lifecycle_node() -> None:
    """Console script ``segment_lifecycle_node``."""
    try:
        from .segment_lifecycle_node import run
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    run()


def image_source() -> None:
    """Console script ``image_source``."""
    try:
        from .image_source import main
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    sys.exit(main())
