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
What ``launch/segment.launch.py`` decides, as importable and tested Python (no launch import).

The launch file only declares :data:`LAUNCH_ARGUMENTS` and turns :func:`segment_node_setup`'s
result into ``launch_ros`` actions: the node (and rviz2), each with the environment of the chosen
DDS transport (none by default: the system's own), and a shutdown of the whole launch when either
exits. With ``lifecycle:=true`` the node is ``segment_lifecycle_node`` (a ``LifecycleNode``
action), left unconfigured for a lifecycle manager, or configured and activated by the launch
(``autostart:=true``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import hashlib
import os
from pathlib import Path
import stat
import tempfile
from typing import Any

import yaml

from .dds import dds_environment, DDS_TRANSPORTS
from .node_config import PARAMETER_NAMES, PARAMETERS, validate_change
from .topics import output_namespaces, transport_topic

__all__ = [
    'LAUNCH_ARGUMENTS',
    'NodeSetup',
    'segment_node_setup',
    'check_params_file',
    'package_installed',
]

PACKAGE = 'lightseg_ros'
NODE_NAME = (
    'segment_node'  # both executables' default node name (a lifecycle manager's node_names entry)
)

#: (name, default, description); an empty default means "as in the params file"
LAUNCH_ARGUMENTS: tuple[tuple[str, str, str], ...] = (
    (
        'model',
        '',
        "model name, run with its shipped trained weights (see 'lightseg models'); empty = as in "
        'params_file',
    ),
    (
        'weights',
        '',
        "lightseg .safetensors weights file, or 'random'; empty = as in params_file (there: the "
        "model's shipped weights)",
    ),
    ('device', '', 'auto, cpu, cuda or cuda:N; empty = as in params_file'),
    ('backend', '', 'auto, torch or onnxruntime; empty = as in params_file'),
    (
        'torch_compile',
        '',
        'true: the torch backend runs the network through torch.compile (faster on a GPU, about '
        '25 s of compiling at the first frame of each size); empty = as in params_file',
    ),
    (
        'image_topic',
        '',
        'camera topic (…/compressed for CompressedImage); empty = as in params_file',
    ),
    ('params_file', '', "node parameters YAML; empty = the package's config/segment.yaml"),
    ('namespace', '', 'namespace of the node (relative topics resolve under it)'),
    ('rviz', 'false', 'also start rviz2 with config/lightseg.rviz'),
    (
        'use_sim_time',
        'false',
        'the node and rviz2 take their time from /clock (a simulator; replay.launch.py then plays '
        "the bag with --clock); output stamps are always the input frames' own",
    ),
    (
        'lifecycle',
        'false',
        'start segment_lifecycle_node, a managed node that waits unconfigured for its '
        "lifecycle transitions (e.g. from nav2's lifecycle_manager), instead of segment_node",
    ),
    (
        'autostart',
        'false',
        'with lifecycle:=true: configure and activate the node from this launch',
    ),
    (
        'dds_transport',
        'default',
        f'DDS transport of every process this launch starts: {", ".join(DDS_TRANSPORTS)} '
        "(default = the system's own settings; see the README before changing it)",
    ),
)


@dataclass
class NodeSetup:
    """Everything the launch file needs to start the node (and rviz)."""

    namespace: str
    parameters: list[Any]  # [params file path, {overrides}] as launch_ros.actions.Node takes them
    rviz: bool
    rviz_config: str
    # for every process the launch starts
    environment: dict[str, str] = field(default_factory=dict)
    lifecycle: bool = False  # a managed node (launch_ros.actions.LifecycleNode)
    autostart: bool = (
        False  # the launch emits its configure, then (once inactive) activate transitions
    )
    node_name: str = NODE_NAME
    use_sim_time: bool = False  # the node's parameter and rviz2's
    # rviz2's Image displays (display name -> topic): the first camera of this launch, as the node
    # resolves it in the launch's namespace, and that camera's outputs
    rviz_topics: dict[str, str] = field(default_factory=dict)
    # the topics the node will subscribe to, resolved (namespace, transport) as it resolves them;
    # empty when the node will refuse its image_topics (it says why)
    cameras: list[str] = field(default_factory=list)
    # rviz2's reliability per display: the Input display follows input_reliability (reliable for
    # auto), the outputs follow output_reliability
    rviz_reliability: dict[str, str] = field(default_factory=dict)

    @property
    def executable(self) -> str:
        return 'segment_lifecycle_node' if self.lifecycle else 'segment_node'

    def write_rviz_config(self, folder: str | Path | None = None) -> str:
        """
        Write ``rviz_config`` with this launch's topics in its Image displays; return its path.

        The shipped layout names the default topics; with ``image_topic:=``, ``namespace:=`` or a
        params file naming other cameras, rviz2 would show nothing. The copy goes to ``folder``
        (default: the temporary folder), named by its content, so launches reuse one file.
        """
        config = yaml.safe_load(Path(self.rviz_config).read_text())
        for display in config['Visualization Manager']['Displays']:
            topic = self.rviz_topics.get(display.get('Name'))
            if topic is not None:
                display['Topic']['Value'] = topic
            reliability = self.rviz_reliability.get(display.get('Name'))
            if reliability is not None:
                display['Topic']['Reliability Policy'] = reliability
        text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        where = Path(folder) if folder else _private_temp_folder()
        path = where / f'lightseg_{digest}.rviz'
        # written anew each launch under a unique name, then renamed: two launches at once never
        # read half a file, and a file already there is never trusted
        handle, partial = tempfile.mkstemp(dir=where, prefix='.lightseg_', suffix='.rviz')
        try:
            with os.fdopen(handle, 'w') as f:
                f.write(text)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return str(path)


def _private_temp_folder() -> Path:
    """Return a folder of the temporary folder only this user can write (made if missing)."""
    folder = Path(tempfile.gettempdir()) / f'lightseg_ros-{os.getuid()}'
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:  # a file of that name, or no permission
        return Path(tempfile.mkdtemp(prefix='lightseg_ros-'))
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return Path(tempfile.mkdtemp(prefix='lightseg_ros-'))  # somebody else's: not used
    return folder


def _truthy(text: str) -> bool:
    value = text.strip().lower()
    if value in ('true', '1', 'yes', 'on'):
        return True
    if value in ('false', '0', 'no', 'off', ''):
        return False
    raise ValueError(f'expected true or false, got {text!r}')


def _flag(args: dict[str, str], name: str) -> bool:
    try:
        return _truthy(args.get(name, 'false'))
    except ValueError as exc:
        raise ValueError(f'launch argument {name}: {exc}') from None


def package_installed(name: str) -> bool:
    """Whether the ament index knows package ``name`` (False where there is no ament index)."""
    try:
        from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    except ImportError:
        return False
    try:
        get_package_prefix(name)
    except (PackageNotFoundError, ValueError, LookupError):
        return False
    return True


def segment_node_setup(
    args: dict[str, str],
    share_dir: str | Path,
    installed: Callable[[str], bool] = package_installed,
) -> NodeSetup:
    """
    Turn resolved launch arguments into the node setup.

    Non-empty arguments override the params file.
    Raises ValueError naming the argument when a value is refused (same checks as the node's),
    before any process starts: a launch that fails half-way would leave the started ones behind.
    """
    share = Path(share_dir)
    params_file = args.get('params_file') or str(share / 'config' / 'segment.yaml')
    overrides: dict[str, Any] = {}
    for name in ('model', 'weights', 'device', 'backend'):
        if args.get(name):
            overrides[name] = args[name]
    if args.get('torch_compile'):
        overrides['torch_compile'] = _flag(args, 'torch_compile')
    if args.get('image_topic'):
        overrides['image_topics'] = [args['image_topic']]
    use_sim_time = _flag(args, 'use_sim_time')
    if use_sim_time:
        overrides['use_sim_time'] = True
    for name, value in overrides.items():
        reason = validate_change(name, value)
        if reason:
            raise ValueError(f'launch argument for {name}: {reason}')
    try:
        environment = dds_environment(args.get('dds_transport') or 'default')
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(f'launch argument dds_transport: {exc}') from None
    rviz, lifecycle, autostart = (_flag(args, name) for name in ('rviz', 'lifecycle', 'autostart'))
    if autostart and not lifecycle:
        raise ValueError(
            'autostart:=true needs lifecycle:=true (segment_node is not managed: it starts active)'
        )
    if autostart and args.get('dds_transport') == 'large_data':
        # the configure and activate requests come from the launch process's own participant,
        # which keeps the shell's settings: a LARGE_DATA node and it never see each other
        raise ValueError(
            'autostart:=true with dds_transport:=large_data: the launch itself could never reach '
            'the node to configure it (LARGE_DATA and stock participants do not see each other); '
            'export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA in the shell instead, so that the '
            'launch and everything it starts share it, and leave dds_transport at default'
        )
    if rviz and not installed('rviz2'):
        raise ValueError(
            'rviz:=true but rviz2 is not installed (sudo apt install ros-$ROS_DISTRO-rviz2), '
            'or launch with rviz:=false'
        )
    namespace = args.get('namespace', '')
    params = _effective_params(params_file, overrides, namespace)
    cameras = subscribed_topics(params, namespace)
    return NodeSetup(
        namespace=namespace,
        parameters=[params_file, overrides] if overrides else [params_file],
        rviz=rviz,
        rviz_config=str(share / 'config' / 'lightseg.rviz'),
        environment=environment,
        lifecycle=lifecycle,
        autostart=autostart,
        use_sim_time=use_sim_time,
        rviz_topics=_rviz_topics(params, cameras) if rviz else {},
        cameras=cameras,
        rviz_reliability=_rviz_reliability(params),
    )


def _resolve(topic: str, namespace: str, node_name: str = NODE_NAME) -> str:
    """Return ``topic`` as the node resolves it in ``namespace`` (a launch remaps nothing)."""
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    if topic.startswith('/'):
        return topic
    if topic.startswith('~'):
        return f'{ns}/{node_name}{topic[1:]}'
    return f'{ns}/{topic}'


def _effective_params(
    params_file: str | Path, overrides: dict[str, Any], namespace: str
) -> dict[str, Any]:
    """
    Return the node's parameters: its defaults, the params file's entries, the launch's overrides.

    A params file that cannot be read leaves the node to report it: the defaults stand then.
    """
    params = {p.name: p.default for p in PARAMETERS}
    params.update(_node_entries(params_file, namespace))
    params.update(overrides)
    return params


def subscribed_topics(params: dict[str, Any], namespace: str) -> list[str]:
    """
    Return every camera topic the node subscribes to: resolved, on its transport's topic.

    Empty when the node will refuse its ``image_topics`` or ``transport`` (it says why).
    """
    topics = params.get('image_topics')
    if not (isinstance(topics, list) and topics and all(isinstance(t, str) for t in topics)):
        return []
    transport = params['transport']
    if validate_change('image_topics', topics) or validate_change('transport', transport):
        return []
    return [transport_topic(_resolve(t, namespace), str(transport)) for t in topics]


def rviz_topics(params_file: str | Path, overrides: dict[str, Any], namespace: str) -> dict:
    """
    Return rviz2's Image displays' topics for a launch: its first camera and that camera's outputs.

    From the params file, with the launch's overrides over it, resolved as the node resolves them.
    """
    params = _effective_params(params_file, overrides, namespace)
    return _rviz_topics(params, subscribed_topics(params, namespace))


def _rviz_topics(params: dict[str, Any], cameras: list[str]) -> dict[str, str]:
    if not cameras or validate_change('output_namespace', params['output_namespace']):
        return {}  # the node refuses it and says why; rviz keeps its own layout
    # two cameras in one namespace get outputs under their own names, so the first camera's
    # depend on the others
    try:
        out = output_namespaces(cameras, str(params['output_namespace']))[0]
    except (ValueError, IndexError):  # the node refuses such a list: it reports it, not rviz
        return {}
    # rviz2's Image display picks image_transport's transport by the topic's last name, so a
    # compressed camera is shown by its /compressed topic, the one its driver publishes
    return {
        'Input': cameras[0],
        'Overlay': f'{out}/overlay',
        'Color mask': f'{out}/color_mask',
    }


def _rviz_reliability(params: dict[str, Any]) -> dict[str, str]:
    """Return rviz2's reliability policy per display, matching what the node's peers offer."""
    names = {'reliable': 'Reliable', 'best_effort': 'Best Effort'}
    # a value the node will refuse (a list, a number) is the node's to report
    camera, output = (
        value if isinstance(value, str) else ''
        for value in (params.get('input_reliability'), params.get('output_reliability'))
    )
    return {
        # a best-effort display would match a reliable camera too, but under stock DDS settings it
        # loses most camera-sized frames (README, DDS transports): it is asked for only where the
        # node is told the camera is best effort (input_reliability: auto keeps rviz2 reliable)
        'Input': 'Best Effort' if camera == 'best_effort' else 'Reliable',
        'Overlay': names.get(output, 'Reliable'),
        'Color mask': names.get(output, 'Reliable'),
    }


def _node_entries(params_file: str | Path, namespace: str) -> dict[str, Any]:
    """
    Return what a params file sets for the launch's node, as rcl applies it.

    Every section whose key matches the node's fully qualified name (``/<namespace>/segment_node``)
    in file order, each over the ones before: a key without a leading ``/`` is from the root
    (``segment_node`` is ``/segment_node``, which a node in a namespace does not take), ``*`` is
    one name, ``**`` any number of them (``/**``, ``/**/segment_node``). A file that cannot be
    read is the node's to report: nothing is taken from it here.
    """
    try:
        data = yaml.safe_load(Path(params_file).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    if not isinstance(data, dict):
        return {}
    name = [t for t in namespace.split('/') if t] + [NODE_NAME]
    found: dict[str, Any] = {}
    for pattern, entries in _sections(data, []):
        if _matches(pattern, name):
            found.update(entries)
    return found


def _sections(data: dict, above: list[str], depth: int = 0):
    """(key tokens, parameters) of every section; nested keys are namespaces (as rcl reads)."""
    for key, value in data.items():
        if not isinstance(value, dict) or depth > 16:
            continue
        tokens = above + [t for t in str(key).split('/') if t]
        entries = value.get('ros__parameters')
        if isinstance(entries, dict):
            yield tokens, entries
        else:
            yield from _sections(value, tokens, depth + 1)


def _matches(pattern: list[str], name: list[str]) -> bool:
    """Match rcl's node-name wildcards, token by token: ``*`` one, ``**`` zero or more."""
    if not pattern:
        return not name
    if pattern[0] == '**':
        return any(_matches(pattern[1:], name[i:]) for i in range(len(name) + 1))
    return bool(name) and pattern[0] in ('*', name[0]) and _matches(pattern[1:], name[1:])


def check_params_file(path: str | Path) -> dict[str, Any]:
    """
    Load a node params YAML (``/**: ros__parameters:``) and check it.

    It must name only declared parameters, with acceptable values of the declared types; returns
    the parameters, raises ValueError otherwise.
    """
    data = yaml.safe_load(Path(path).read_text())
    try:
        params = data['/**']['ros__parameters']
    except (KeyError, TypeError):
        raise ValueError(f"{path}: expected '/**: ros__parameters:' at the top") from None
    unknown = sorted(set(params) - PARAMETER_NAMES)
    if unknown:
        raise ValueError(
            f'{path}: undeclared parameters {unknown}; declared: {sorted(PARAMETER_NAMES)}'
        )
    defaults = {p.name: p.default for p in PARAMETERS}
    for name, value in params.items():
        expected = type(defaults[name])
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            # `overlay_alpha: 1`: the node takes it as 1.0 (ros/params.py)
            value = params[name] = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f'{path}: {name} should be {expected.__name__}, got {value!r}')
        reason = validate_change(name, value)
        if reason:
            raise ValueError(f'{path}: {name}: {reason}')
    return params
