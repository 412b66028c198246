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
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
