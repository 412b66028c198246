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

"""Run-time statistics of the node and per-kind warning throttling (pure, no rclpy)."""

from __future__ import annotations

from collections import deque
import threading
import time

import numpy as np

__all__ = ['RateMeter', 'LatencyWindow', 'WarningThrottle']


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 5.0, start: float | None = None) -> None:
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.total = 0
        # a meter younger than its window divides by its age: one second after a start, a 10 Hz
        # camera reads 10 Hz, not 2
        self._start = time.monotonic() if start is None else start

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self.total += 1
            self._trim(now)

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window:
            self._times.popleft()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            span = min(self.window, now - self._start)
            return len(self._times) / span if span > 0 else 0.0


class LatencyWindow:
    """The last ``size`` latencies (seconds); percentiles in milliseconds."""

    def __init__(self, size: int = 500) -> None:
        self.size = size
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self.total = 0  # latencies ever added

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)
            self.total += 1

    def percentiles_ms(self, *qs: float) -> list[float]:
        with self._lock:
            values = np.asarray(self._values, dtype=np.float64)
        if values.size == 0:
            return [float('nan')] * len(qs)
        return [float(v) * 1e3 for v in np.percentile(values, qs)]


class WarningThrottle:
    """Allows one warning per ``kind`` every ``period`` seconds and counts the suppressed ones."""

    def __init__(self, period: float = 5.0) -> None:
        self.period = period
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def allow(self, kind: str, now: float | None = None) -> tuple[bool, int]:
        """
        Decide whether to log now.

        Returns (whether to log now, how many of this kind were suppressed since the last logged
        one).
        """
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.period:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return False, 0
            self._last[kind] = now
            return True, self._suppressed.pop(kind, 0)
