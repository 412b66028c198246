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
The ``lightseg`` command.

Each subcommand lives in its own module exposing ``register(subparsers)``.
To add a subcommand, write the module and name it in ``SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

SUBCOMMANDS = (
    'lightseg_ros.tools.models_cmd',
    'lightseg_ros.tools.demo_cmd',
    'lightseg_ros.tools.predict_cmd',
    'lightseg_ros.tools.train_cmd',
    'lightseg_ros.tools.eval_cmd',
    'lightseg_ros.tools.export_cmd',
    'lightseg_ros.tools.bag_cmds',
    'lightseg_ros.tools.node_latency_cmd',
    'lightseg_ros.tools.dds_check_cmd',
    'lightseg_ros.tools.bench_cmd',
    'lightseg_ros.tools.results_cmd',
)

# The package's errors that mean "this input is wrong" (a model name, a weights file, a dataset, a
# bag, a config...), by module. A subcommand that lets one escape still ends with one line and exit
# code 2, never a traceback; anything else is a bug and keeps its traceback. Looked up in
# sys.modules so that the command never imports PyTorch to classify an error.
INPUT_ERRORS = {
    'lightseg_ros.models.registry': ('UnknownModelError',),
    'lightseg_ros.models.weights': ('WeightsError',),
    'lightseg_ros.training.datasets': ('DatasetError',),
    'lightseg_ros.training.config': ('ConfigError',),
    'lightseg_ros.training.engine': ('CheckpointError',),
    'lightseg_ros.sources.bags': ('BagError',),
    'lightseg_ros.sources.frames': ('FrameSourceError',),
    'lightseg_ros.inference.image_codec': ('ImageDecodeError',),
    'lightseg_ros.inference.backends': ('BackendError',),
    'lightseg_ros.inference.export': ('ExportError',),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='lightseg', description='Lightweight semantic segmentation for ROS 2.'
    )
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def _is_instance(exc: BaseException, module: str, names: tuple[str, ...]) -> bool:
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, tuple(getattr(loaded, n) for n in names))


def input_error_line(exc: BaseException) -> str | None:
    """
    Return one line for an error that bad input caused, or None for anything else.

    A node that did not start (``lightseg demo``, ``node-latency``) is reported with the reason the
    node logged last (its ``[ERROR]`` line, which names the parameter and what is accepted).
    """
    if _is_instance(exc, 'lightseg_ros.ros.node_session', ('NodeStartError',)):
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith('[ERROR]')]
        reason = (errors or lines or ['(no log)'])[-1]
        if reason.startswith('[ERROR]'):  # '[ERROR] [stamp] [segment_node]: text' -> 'text'
            reason = reason.split(']: ', 1)[-1]
        return 'segment_node did not start: ' + ' '.join(reason.split())
    if any(_is_instance(exc, module, names) for module, names in INPUT_ERRORS.items()):
        from .tools.train_cmd import one_line  # also unwraps a DataLoader worker's traceback

        return one_line(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    """
    Run a subcommand; bad input ends it with one line on stderr and exit code 2.

    Ctrl-C ends it with one line and 130, also while the subcommands import PyTorch.
    """
    command = 'lightseg'
    try:
        args = build_parser().parse_args(argv)
        command = f'lightseg {args.command}'
        code = int(args.func(args) or 0)
        # flushed here, inside the handlers: a block-buffered stdout (a pipe) is otherwise written
        # at exit, where a reader gone away is "Exception ignored ... BrokenPipeError", exit 120
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        # a training run resumes from its last saved epoch with --resume auto
        print('lightseg: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`lightseg models | head -1`): end quietly, as a SIGPIPE'd tool
        # does; the interpreter's last flush of stdout would raise again, so it goes nowhere
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        # a subcommand's one-line error (a weights file, a dataset, an option): exit code 2, as
        # argparse gives for its own errors and as the node gives at start
        print(exc.code, file=sys.stderr)
        return 2
    except Exception as exc:
        line = input_error_line(exc)
        if line is None and isinstance(exc, OSError) and exc.filename and exc.strerror:
            # a path the system refuses wherever it is first touched (a name over 255 bytes, a
            # symlink loop, no permission, a full disk): the path and the system's reason
            from .sources.bags import shown_path

            line = f'{shown_path(exc.filename)}: {exc.strerror}'
        if line is None:
            raise
        print(f'{command}: error: {line}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
