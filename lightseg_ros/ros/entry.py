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

A KeyboardInterrupt raised inside an extension's C++ code (PyTorch and rclpy are pybind11 modules)
can abort the process (``terminate called after throwing ... error_already_set``) instead of
unwinding, so these scripts never raise one: SIGINT only sets a flag, read once the import is
done, and from ``rclpy.init`` on rclpy's own handler (which runs before this one) shuts the
context down, the nodes' documented way to stop.
"""

import importlib
import signal
import sys

__all__ = ['segment_node', 'segment_lifecycle_node', 'image_source']

INTERRUPTED = 130  # 128 + SIGINT, the shell's code for a process stopped by Ctrl-C


_interrupted = False  # a SIGINT came since _start installed _note_interrupt


def _note_interrupt(signum: int, frame) -> None:
    global _interrupted
    _interrupted = True


def interrupted() -> bool:
    """Return True once the process had a SIGINT (only with a console script's handler)."""
    return _interrupted


def stopped(exc: BaseException) -> bool:
    """
    Return True when ``exc`` means the node was told to stop, not that it failed.

    That is a KeyboardInterrupt, rclpy's ExternalShutdownException, or anything raised once the
    context is shut down: rclpy's SIGINT/SIGTERM handler can shut it down between an executor's
    check and its next wait set, which then raises RCLError ('the given context is not valid').
    """
    import rclpy  # here, not at the top: this module stays light to import
    from rclpy.executors import ExternalShutdownException

    return isinstance(exc, (KeyboardInterrupt, ExternalShutdownException)) or not rclpy.ok()


def _start(module: str, function: str):
    """Import ``module``, call its ``function``; Ctrl-C meanwhile: exit 130."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where it is ignored
        signal.signal(signal.SIGINT, _note_interrupt)
    try:
        target = getattr(importlib.import_module(module), function)
    except KeyboardInterrupt:  # a handler someone else installed
        sys.exit(INTERRUPTED)
    if interrupted():
        sys.exit(INTERRUPTED)
    return target()


# each node module and the function its console script calls
_NODE_MODULES = {
    f'{__package__}.segment_node': 'run',
    f'{__package__}.segment_lifecycle_node': 'run',
    f'{__package__}.image_source': 'main',
}


def run_module(argv: list[str]) -> None:
    """
    Run a node module as its console script does (``NodeSession`` uses this).

    ``argv``: ``[program, MODULE, ARGS...]``; the node sees ``[program, ARGS...]``.
    """
    if len(argv) < 2 or argv[1] not in _NODE_MODULES:
        sys.exit(f'usage: python -m {__name__} MODULE [ARGS]; MODULE: {sorted(_NODE_MODULES)}')
    _run(argv.pop(1))


def _run(module: str) -> None:
    sys.exit(_start(module, _NODE_MODULES[module]))


def segment_node() -> None:
    """Console script ``segment_node``."""
    _run(f'{__package__}.segment_node')


def segment_lifecycle_node() -> None:
    """Console script ``segment_lifecycle_node``."""
    _run(f'{__package__}.segment_lifecycle_node')


def image_source() -> None:
    """Console script ``image_source``."""
    _run(f'{__package__}.image_source')


if __name__ == '__main__':
    # a trampoline: the flag must live in the module the nodes import, not in this __main__ copy
    from lightseg_ros.ros import entry

    entry.run_module(sys.argv)
