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
            return self._slots.popitem(last=False)

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
