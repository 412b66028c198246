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
A one-slot-per-camera mailbox: the newest frame waits, older ones are replaced (pure, no rclpy).

The executor's subscription callbacks ``put`` frames; the inference worker ``take``s them. A frame
arriving while one is still waiting for the same camera replaces it (and is counted as a drop), so
the worker always gets the newest frame and nothing queues up behind a slow model.
"""

from __future__ import annotations

from collections import OrderedDict
import threading
from typing import Any, Hashable

__all__ = ['LatestFrameMailbox']


class LatestFrameMailbox:
    """
    Thread-safe: ``put`` from any thread, ``take`` from the worker.

    Cameras are served oldest-waiting first.
    """

    def __init__(self) -> None:
        self._slots: OrderedDict[Hashable, Any] = OrderedDict()
        self._cond = threading.Condition()
        self._closed = False
        self._in_hand = False  # a frame taken and not yet marked done
        self.dropped = 0

    def put(self, key: Hashable, frame: Any) -> bool:
        """Leave ``frame`` for camera ``key``; True when it replaced a waiting frame (a drop)."""
        with self._cond:
            replaced = key in self._slots
            if replaced:
                self.dropped += 1
                self._slots[key] = frame  # keeps the camera's place in the queue
            else:
                self._slots[key] = frame
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> tuple[Hashable, Any] | None:
        """
        Return the waiting frame that waited longest.

        None after ``timeout`` seconds or when closed.
        """
        with self._cond:
            if not self._slots and not self._closed:
                self._cond.wait(timeout)
            if not self._slots:
                return None
            self._in_hand = True  # under the lock: idle() never sees the frame in neither place
            return self._slots.popitem(last=False)

    def done(self) -> None:
        """Mark the frame last taken as handled."""
        with self._cond:
            self._in_hand = False

    def idle(self) -> bool:
        """No frame waiting and none taken and not yet done."""
        with self._cond:
            return not self._slots and not self._in_hand

    def wake(self) -> None:
        """Wake a waiting ``take`` (e.g. to apply a model switch promptly)."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._slots)
