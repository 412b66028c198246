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
Keep a long-running process's resident memory tied to what it holds, not to its largest frame.

glibc serves large allocations with ``mmap`` and returns them to the system when freed, but raises
that threshold (up to 32 MB) every time such a block is freed, so after a few large frames their
buffers come from the heap, whose freed space stays resident: a node that once saw a 12-Mpix frame
kept about 100 MB more than one that did not, and how much depended on the order of frame sizes
(measured with ``lightseg bench --frames``). A fixed threshold turns that adjustment off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

__all__ = ['MMAP_THRESHOLD', 'return_large_buffers_to_the_system']

LOG = logging.getLogger(__name__)
MMAP_THRESHOLD = 1 << 20  # 1 MiB: a 640x480 RGB frame is 0.9 MB
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def return_large_buffers_to_the_system(threshold: int = MMAP_THRESHOLD) -> bool:
    """
    Fix glibc's mmap threshold for this process (``mallopt(M_MMAP_THRESHOLD)``).

    Return False where the C library is not glibc (nothing is changed there).
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, int(threshold)) == 1
    if not ok:
        LOG.debug('mallopt(M_MMAP_THRESHOLD) refused')
    return ok
