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
What the node's ``/diagnostics`` level and message say, as a pure function (no rclpy).

The node fills a :class:`HealthSnapshot` once per diagnostics period and publishes what
:func:`assess` returns. Levels are ``diagnostic_msgs/DiagnosticStatus``'s: OK 0, WARN 1, ERROR 2.

* ERROR: the inference thread has stopped; the last model switch failed (the previous model
  keeps running); every frame of the period failed in inference; resident memory above the budget
  (``memory_budget_mb``).
* WARN: the worker has held one frame or model load for :data:`STALL_WARN_S` or more while frames
  wait; a run-time change refused (e.g. a weights file that fails the schema; the previous model
  keeps running) until the next successful model load; a camera topic with publishers but no
  frames, or frames lost in transport (with the likely cause and fix); bad frames dropped in the
  period (malformed, oversized, undecodable); some frames failed in inference; a camera's last
  masks held one class on every pixel (a model that outputs one class everywhere is broken or sees
  nothing it knows); random (untrained) weights.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import resource
import sys

__all__ = [
    'OK',
    'WARN',
    'ERROR',
    'SINGLE_CLASS_STREAK',
    'STALL_WARN_S',
    'HealthSnapshot',
    'assess',
    'resident_memory_mb',
]

OK, WARN, ERROR = 0, 1, 2
#: consecutive single-class masks before /diagnostics says so
SINGLE_CLASS_STREAK = 5


@dataclass
class HealthSnapshot:
    model_error: str = ''  # why the last model switch failed ("" = it did not)
    refused_change: str = (
        ''  # the last refused run-time change and why ("" = none since the last load)
    )
    random_weights: bool = False
    bad_frames: int = 0  # frames dropped as malformed / too large / undecodable, this period
    last_bad_reason: str = ''
    failed_frames: int = 0  # frames whose inference raised, this period
    last_failure: str = ''
    frames_out: int = 0  # frames published, this period
    single_class_streak: int = 0  # consecutive masks with one class on every pixel
    single_class_name: str = ''
    rss_mb: float | None = None  # resident memory now
    memory_budget_mb: int = 0  # 0 = not checked
    input_problems: tuple[
        str, ...
    ] = ()  # why a camera with publishers is silent, or loses frames in transport
    stalled_s: float = 0.0  # how long the worker has held one frame or load while frames wait
    worker_alive: bool = True  # the inference thread runs


#: seconds the worker may hold one frame or model load while frames wait before a WARN (a first
#: frame's CUDA graph takes about 3 s on an H100; torch_compile's about 25 s, which is reported)
STALL_WARN_S = 5.0


def assess(s: HealthSnapshot) -> tuple[int, str]:
    """(level, message): the worst level found, and every reason for it, most severe first."""
    reasons: list[tuple[int, str]] = []
    if not s.worker_alive:
        reasons.append((ERROR, 'the inference thread has stopped: no frame is processed'))
    elif s.stalled_s >= STALL_WARN_S:
        reasons.append(
            (
                WARN,
                f'no frame processed for {s.stalled_s:.0f} s while frames wait (a model load or '
                'compile in progress, or a stuck device)',
            )
        )
    if s.model_error:
        reasons.append((ERROR, f'model switch failed, previous model kept: {s.model_error}'))
    if s.failed_frames and not s.frames_out:
        reasons.append((ERROR, f'every frame failed ({s.failed_frames}): {s.last_failure}'))
    elif s.failed_frames:
        reasons.append((WARN, f'{s.failed_frames} frames failed: {s.last_failure}'))
    if s.memory_budget_mb and s.rss_mb is not None and s.rss_mb > s.memory_budget_mb:
        reasons.append(
            (ERROR, f'resident memory {s.rss_mb:.0f} MB above the budget {s.memory_budget_mb} MB')
        )
    for problem in s.input_problems:
        reasons.append((WARN, problem))
    if s.refused_change:
        reasons.append((WARN, f'refused {s.refused_change}'))
    if s.bad_frames:
        reasons.append((WARN, f'{s.bad_frames} bad frames dropped: {s.last_bad_reason}'))
    if s.single_class_streak >= SINGLE_CLASS_STREAK:
        reasons.append(
            (
                WARN,
                f'the last {s.single_class_streak} masks hold one class on every pixel '
                f'({s.single_class_name})',
            )
        )
    if s.random_weights:
        reasons.append((WARN, 'random weights (untrained)'))
    if not reasons:
        return OK, 'ok'
    reasons.sort(key=lambda r: -r[0])
    return reasons[0][0], '; '.join(text for _, text in reasons)


def resident_memory_mb() -> float | None:
    """
    Return this process's resident set size now, else its peak.

    Now from Linux ``/proc``, the peak from ``getrusage``.
    """
    try:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
        return peak / (2**20 if sys.platform == 'darwin' else 2**10)
