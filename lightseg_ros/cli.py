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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='lightseg', description='Lightweight semantic segmentation for ROS 2.'
    )
    sub = parser.add_subparsers(dest='command', required=True, metavar='COMMAND')
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """
    Run a subcommand; bad input ends it with one line on stderr and exit code 2.

    Ctrl-C ends it with one line and 130, also while the subcommands import PyTorch.
    """
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        # a training run resumes from its last saved epoch with --resume auto
        print('lightseg: interrupted', file=sys.stderr)
        return 130
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        # a subcommand's one-line error (a weights file, a dataset, an option): exit code 2, as
        # argparse gives for its own errors and as the node gives at start
        print(exc.code, file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
