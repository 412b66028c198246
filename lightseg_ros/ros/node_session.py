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
A lightseg node run as its own process: the one place that starts, watches and stops one.

``lightseg demo``, ``lightseg node-latency``, node-mode ``lightseg bag-eval`` and the tests all
start ``segment_node`` through :class:`NodeSession` (command line, environment, log capture,
shutdown) and :func:`start_with_retries` (waiting until it is ready, with a fresh start when it is
not).

The node inherits this process's environment, DDS configuration included, unless a DDS transport is
chosen explicitly (:mod:`lightseg_ros.ros.dds`). It dies with this process (Linux: the parent-death
signal), so a killed tool leaves no orphaned node behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, TypeVar

from .dds import use_dds_transport

__all__ = [
    'NodeSession',
    'NodeStartError',
    'ros_parameter_args',
    'send_until_answered',
    'start_with_retries',
]

SEGMENT_NODE = 'lightseg_ros.ros.segment_node'
ENTRY = 'lightseg_ros.ros.entry'
T = TypeVar('T')


class NodeStartError(RuntimeError):
    """The node exited, or never became ready; the message carries the end of its log."""


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return repr(value)
    # a string always single-quoted (YAML's quote doubled inside): unquoted, rcl's YAML reading
    # cut '/data/run #2/w.safetensors' at its ' #' (a comment), refused 'v2: final' (a mapping)
    # and typed '1e3' or 'null' as no string at all
    return "'" + str(value).replace("'", "''") + "'"


def ros_parameter_args(parameters: Mapping[str, Any]) -> list[str]:
    """
    Turn a parameter dictionary into ``-p name:=value`` arguments.

    ``{"image_topics": ["/a"], "cpu_threads": 1}`` ->
    ``["-p", "image_topics:=['/a']", "-p", "cpu_threads:=1"]``.
    """
    args: list[str] = []
    for name, value in parameters.items():
        if isinstance(value, (list, tuple)):
            text = '[' + ', '.join(_yaml_scalar(v) for v in value) + ']'
        else:
            text = _yaml_scalar(value)
        args += ['-p', f'{name}:={text}']
    return args


# loaded here, in the parent: between fork and exec a child of a threaded process (DDS's threads,
# a reader thread) may only call async-signal-safe functions, and loading a library is not one
try:
    _PRCTL = ctypes.CDLL('libc.so.6', use_errno=True).prctl
except OSError:  # not glibc Linux: the caller's stop() is the only guard
    _PRCTL = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # SIGINT is how stop() ends the node: a tool started in the background of a script (a
    # non-interactive shell's `&`) has it ignored, and the node would inherit that and run on
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class NodeSession:
    """
    One node process: ``python -m lightseg_ros.ros.entry MODULE --ros-args -r __node:=NAME ...``.

    Its output is kept in ``lines``.

    ``dds_transport``: None keeps the inherited DDS configuration; a
    :data:`~lightseg_ros.ros.dds.DDS_TRANSPORTS` choice replaces it. ``env`` adds variables (e.g.
    ``ROS_DOMAIN_ID``); ``ros_args`` are appended as given.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any],
        *,
        module: str = SEGMENT_NODE,
        node_name: str | None = None,
        dds_transport: str | None = None,
        env: Mapping[str, str] | None = None,
        ros_args: list[str] | tuple[str, ...] = (),
    ) -> None:
        environment = dict(os.environ)
        if dds_transport is not None:
            use_dds_transport(dds_transport, environment)
        environment['PYTHONUNBUFFERED'] = '1'  # its log arrives line by line
        environment.update(env or {})
        # through the console scripts' entry: a SIGINT while the node imports PyTorch (a tool
        # stopped early) ends it quietly instead of raising inside C++ code
        self.command = [sys.executable, '-m', ENTRY, module, '--ros-args']
        if node_name:
            self.command += ['-r', f'__node:={node_name}']
        self.command += ros_parameter_args(parameters) + list(ros_args)
        self.lines: list[str] = []
        # own session: a Ctrl-C in the terminal reaches this process, which then stops the node in
        # order
        self.proc = subprocess.Popen(
            self.command,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # a byte that is not UTF-8 (a file name the node quotes) must not end the reader,
            # after which the full pipe would block the node
            errors='replace',
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def tail(self, chars: int = 3000) -> str:
        return self.output[-chars:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float, what: str = 'the node to be ready'
    ) -> bool:
        """
        Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False).

        NodeStartError if the node exits.
        """
        deadline = time.monotonic() + timeout_s
        while not condition():
            if not self.alive():
                self._reader.join(timeout=2)
                raise NodeStartError(
                    f'node exited with code {self.proc.returncode} while waiting for {what}:\n'
                    f'{self.tail()}'
                )
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout_s: float = 10.0) -> int:
        """
        Stop the node: SIGINT (its clean shutdown), then SIGKILL after ``timeout_s``.

        Returns the exit code.
        """
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=2)
        return int(self.proc.returncode)

    def __enter__(self) -> 'NodeSession':
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_with_retries(
    start: Callable[[int], T],
    ready: Callable[[T], bool],
    close: Callable[[T], None],
    *,
    attempts: int = 3,
    what: str = 'segment_node',
) -> T:
    """
    Start a node with ``start(attempt)``, again until ``ready`` says it answers.

    ``start`` also starts whatever the caller talks to the node with.

    DDS discovery between two freshly started processes now and then never completes (seen on
    loaded machines); a fresh process, and a fresh participant on the caller's side, recover.
    ``ready`` returns False after its own timeout, or raises NodeStartError when the node exited
    (no retry: an exit is the node's answer, e.g. a bad weights file).
    """
    for attempt in range(attempts):
        item = start(attempt)
        try:
            if ready(item):
                return item
        except BaseException:
            close(item)
            raise
        close(item)
    raise NodeStartError(
        f'{what} did not become ready in {attempts} attempts; check that DDS works between '
        "processes here (same ROS_DOMAIN_ID and DDS transport settings; README, 'DDS transports')"
    )


def send_until_answered(
    publish: Callable[[], int],
    answered: Callable[[int], bool],
    cond: threading.Condition,
    timeout_s: float,
    every_s: float = 1.0,
) -> bool:
    """
    Publish a frame every ``every_s`` until one is answered; False once ``timeout_s`` passed.

    ``publish()`` sends a frame and returns its stamp; ``answered(stamp)``, called holding
    ``cond`` (which the subscriptions notify), says whether that frame has every output wanted.
    The node computes an output only for subscribers its own publisher has matched, which this
    side's view of discovery does not promise on a loaded machine; an answered frame does. Every
    stamp sent stays a candidate: a node slower than ``every_s`` answers an older one first.
    """
    deadline = time.monotonic() + timeout_s
    sent: list[int] = []
    while time.monotonic() < deadline:
        sent.append(publish())
        with cond:
            if cond.wait_for(lambda: any(answered(s) for s in sent), timeout=every_s):
                return True
    return False
