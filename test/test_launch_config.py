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

"""Launch file, params YAML and rviz config: what can be checked without a ROS 2 launch install."""

from pathlib import Path
import py_compile
import re
import time

from lightseg_ros.ros.dds import dds_environment
from lightseg_ros.ros.launch_helpers import check_params_file, LAUNCH_ARGUMENTS, segment_node_setup
from lightseg_ros.ros.node_config import PARAMETER_NAMES
from lightseg_ros.ros.topics import output_namespaces
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def source(path: Path) -> str:
    """
    Return the code of ``path`` with its line breaks and indentation collapsed.

    So that the checks below do not depend on where the formatter wraps a call.
    """
    flat = re.sub(r'\s+', ' ', path.read_text())
    return re.sub(r'([(\[{]) | ([)\]}])', r'\1\2', flat)


def test_launch_file_compiles_and_declares_the_arguments():
    path = ROOT / 'launch' / 'segment.launch.py'
    py_compile.compile(str(path), doraise=True)
    text = source(path)
    assert (
        'def generate_launch_description' in text
        and 'eval(' not in text
        and 'subprocess' not in text
    )
    assert {name for name, _, _ in LAUNCH_ARGUMENTS} == {
        'model',
        'weights',
        'device',
        'backend',
        'torch_compile',
        'image_topic',
        'params_file',
        'namespace',
        'rviz',
        'dds_transport',
        'lifecycle',
        'autostart',
        'use_sim_time',
    }
    # every process ends the launch when it exits; nothing sets a DDS variable unless dds_transport
    # asks
    assert 'OnProcessExit' in text and 'Shutdown' in text and 'SetEnvironmentVariable' not in text
    assert "'additional_env': setup.environment" in text
    replay = source(ROOT / 'launch' / 'replay.launch.py')
    assert 'OnProcessExit(target_action=player' in replay and 'Shutdown' in replay


def test_params_file_names_only_declared_parameters():
    params = check_params_file(ROOT / 'config' / 'segment.yaml')
    assert params['model'] == 'ghostnet_aspp_da' and set(params) == PARAMETER_NAMES


def test_params_file_checks_catch_mistakes(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text('/**:\n  ros__parameters:\n    overlay_alfa: 0.3\n')
    with pytest.raises(ValueError, match="undeclared parameters \\['overlay_alfa'\\]"):
        check_params_file(bad)
    bad.write_text('/**:\n  ros__parameters:\n    overlay_alpha: 2.0\n')
    with pytest.raises(ValueError, match='overlay_alpha'):
        check_params_file(bad)
    bad.write_text('/**:\n  ros__parameters:\n    overlay_alpha: 2\n')  # a number: range
    with pytest.raises(ValueError, match=r'overlay_alpha must be in \[0.0, 1.0\]; got 2.0'):
        check_params_file(bad)
    bad.write_text('/**:\n  ros__parameters:\n    overlay_alpha: 1\n')
    assert check_params_file(bad) == {'overlay_alpha': 1.0}
    bad.write_text("/**:\n  ros__parameters:\n    overlay_alpha: 'x'\n")
    with pytest.raises(ValueError, match='should be float'):
        check_params_file(bad)
    bad.write_text("/**:\n  ros__parameters:\n    input_depth: '1'\n")
    with pytest.raises(ValueError, match='should be int'):
        check_params_file(bad)
    bad.write_text('segment_node:\n  params: {}\n')
    with pytest.raises(ValueError, match='ros__parameters'):
        check_params_file(bad)


def test_launch_setup_overrides_only_given_arguments(tmp_path):
    setup = segment_node_setup(
        {
            'model': '',
            'weights': '',
            'device': '',
            'image_topic': '',
            'params_file': '',
            'namespace': '',
            'rviz': 'false',
        },
        '/opt/share/lightseg_ros',
    )
    assert setup.parameters == ['/opt/share/lightseg_ros/config/segment.yaml'] and not setup.rviz
    assert setup.environment == {}  # the system's DDS settings: stock participants see the node
    setup = segment_node_setup(
        {
            'model': 'mlff_mobilenetv2',
            'device': 'cpu',
            'image_topic': 'front/image_raw',
            'namespace': 'robot1',
            'rviz': 'true',
            'dds_transport': 'large_data',
        },
        '/s',
        installed=lambda name: True,
    )
    assert setup.parameters == [
        '/s/config/segment.yaml',
        {'model': 'mlff_mobilenetv2', 'device': 'cpu', 'image_topics': ['front/image_raw']},
    ]
    assert (
        setup.namespace == 'robot1'
        and setup.rviz
        and setup.rviz_config == '/s/config/lightseg.rviz'
    )
    assert setup.environment == {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}
    shm = segment_node_setup({'dds_transport': 'shm'}, '/s').environment
    assert shm == dds_environment('shm') and Path(shm['FASTDDS_DEFAULT_PROFILES_FILE']).is_file()
    with pytest.raises(ValueError, match='dds_transport.*accepted: default, large_data, shm'):
        segment_node_setup({'dds_transport': 'zenoh'}, '/s')
    # refused before any process starts, so a missing rviz2 never leaves a node behind
    with pytest.raises(ValueError, match='rviz2 is not installed.*rviz:=false'):
        segment_node_setup({'rviz': 'true'}, '/s', installed=lambda name: False)
    with pytest.raises(ValueError, match='accepted models'):
        segment_node_setup({'model': 'yolo'}, '/s')
    with pytest.raises(ValueError, match='true or false'):
        segment_node_setup({'rviz': 'maybe'}, '/s')
    # the bag's or a simulator's clock: the node's parameter, and rviz2's (the launch file)
    sim = segment_node_setup({'use_sim_time': 'true'}, '/s')
    assert sim.use_sim_time
    assert sim.parameters == ['/s/config/segment.yaml', {'use_sim_time': True}]
    assert not segment_node_setup({'use_sim_time': 'false'}, '/s').use_sim_time
    with pytest.raises(ValueError, match='launch argument use_sim_time: expected true or false'):
        segment_node_setup({'use_sim_time': 'bag'}, '/s')
    launch_text = (ROOT / 'launch' / 'segment.launch.py').read_text()
    assert "parameters=[{'use_sim_time': setup.use_sim_time}]" in launch_text


def test_lifecycle_launch_arguments():
    setup = segment_node_setup({}, '/s')
    assert (setup.executable, setup.lifecycle, setup.autostart) == ('segment_node', False, False)
    managed = segment_node_setup({'lifecycle': 'true', 'namespace': 'robot1'}, '/s')
    assert (managed.executable, managed.node_name) == ('segment_lifecycle_node', 'segment_node')
    assert managed.namespace == 'robot1'
    # same parameters as segment_node
    assert not managed.autostart and managed.parameters == setup.parameters
    assert segment_node_setup({'lifecycle': 'true', 'autostart': 'true'}, '/s').autostart
    # the launch's own participant (which sends configure and activate) keeps the shell's DDS
    with pytest.raises(ValueError, match='export FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA in the'):
        segment_node_setup(
            {'lifecycle': 'true', 'autostart': 'true', 'dds_transport': 'large_data'}, '/s'
        )
    with pytest.raises(ValueError, match='autostart:=true needs lifecycle:=true'):
        segment_node_setup({'autostart': 'true'}, '/s')
    with pytest.raises(ValueError, match='launch argument lifecycle: expected true or false'):
        segment_node_setup({'lifecycle': 'managed'}, '/s')
    # the launch file starts a LifecycleNode action for it; autostart activates once configuring
    # ended in inactive
    text = source(ROOT / 'launch' / 'segment.launch.py')
    assert 'LifecycleNode(name=setup.node_name' in text
    assert "'executable': setup.executable" in text
    assert "start_state='configuring', goal_state='inactive'" in text
    assert 'TRANSITION_CONFIGURE' in text and 'TRANSITION_ACTIVATE' in text


def test_setup_py_console_scripts_resolve():
    """Every console script setup.py declares (the lifecycle node's included) names a callable."""
    from distutils.core import run_setup
    import importlib

    scripts = dict(
        line.replace(' ', '').split('=')
        for line in run_setup(str(ROOT / 'setup.py'), stop_after='init').entry_points[
            'console_scripts'
        ]
    )
    assert {'segment_node', 'segment_lifecycle_node', 'image_source', 'lightseg'} <= set(scripts)
    assert scripts['segment_lifecycle_node'] == 'lightseg_ros.ros.entry:segment_lifecycle_node'
    for target in scripts.values():
        module, function = target.split(':')
        assert callable(getattr(importlib.import_module(module), function)), target


def test_rviz_config_shows_input_overlay_and_colour_mask():
    config = yaml.safe_load((ROOT / 'config' / 'lightseg.rviz').read_text())
    topics = {d['Name']: d['Topic']['Value'] for d in config['Visualization Manager']['Displays']}
    params = check_params_file(ROOT / 'config' / 'segment.yaml')
    # the default camera topic is relative: rviz2 and the node, both in the root namespace unless
    # the launch's namespace:= moves the node, resolve it under '/'
    camera = '/' + params['image_topics'][0].lstrip('/')
    out = output_namespaces([camera], params['output_namespace'])[0]
    assert topics == {
        'Input': camera,
        'Overlay': f'{out}/overlay',
        'Color mask': f'{out}/color_mask',
    }
    # reliable, like the node's outputs and stock cameras: a best-effort display loses camera-sized
    # frames
    assert {
        d['Topic']['Reliability Policy'] for d in config['Visualization Manager']['Displays']
    } == {'Reliable'}


def test_console_scripts_for_both_nodes_are_installed():
    import sys

    bin_dir = Path(sys.executable).parent
    for script in ('segment_node', 'image_source'):
        assert (bin_dir / script).is_file(), f'{script} console script missing in {bin_dir}'


@pytest.mark.parametrize('script', ['segment_node', 'segment_lifecycle_node', 'image_source'])
def test_a_node_stopped_while_it_starts_exits_without_a_traceback(script):
    """ros2 launch stops its nodes with SIGINT, also while they import PyTorch (seconds)."""
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name(script))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # as launch starts it: a suite started in the background of a script has SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(1.0)  # still importing: torch alone takes 2 s here
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()  # never left running (a no-op once it has ended)
    assert 'Traceback' not in output and 'KeyboardInterrupt' not in output, output
    # 130: stopped while importing; 0: stopped after; -SIGINT: on a loaded machine, before the
    # interpreter had set up its handler (nothing printed either)
    assert proc.returncode in (0, 130, -signal.SIGINT), (proc.returncode, output)


def test_a_sigint_while_a_console_script_imports_raises_nothing_inside_the_import(
    tmp_path, monkeypatch
):
    """A KeyboardInterrupt inside an extension's C++ code can abort the process: none is raised."""
    import signal
    import sys

    from lightseg_ros.ros import entry

    (tmp_path / 'slow_to_import.py').write_text(
        'import os, signal, time\n'
        'os.kill(os.getpid(), signal.SIGINT)\n'
        'time.sleep(0.2)  # the interpreter runs the SIGINT handler in here\n'
        'IMPORTED = True\n'
        'def run():\n'
        '    raise AssertionError("ran after a SIGINT")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry, '_interrupted', False)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as stopped:
            entry._start('slow_to_import', 'run')
        assert stopped.value.code == entry.INTERRUPTED
        assert sys.modules['slow_to_import'].IMPORTED  # the import ran to its end
        assert entry.interrupted()
        # the node's own main reads the flag after rclpy.init
        assert signal.getsignal(signal.SIGINT) is entry._note_interrupt
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.modules.pop('slow_to_import', None)


@pytest.mark.parametrize('module', ['segment_node', 'image_source'])
def test_a_sigint_before_rclpy_took_over_stops_the_node_before_it_loads(module, monkeypatch):
    import importlib
    import threading

    import rclpy

    from lightseg_ros.ros import entry

    main = importlib.import_module(f'lightseg_ros.ros.{module}').main
    monkeypatch.setattr(entry, '_interrupted', True)
    safety_net = threading.Timer(20, rclpy.try_shutdown)  # a node that ran on: stop it, then fail
    safety_net.start()
    started = time.monotonic()
    try:
        assert main(args=[]) == 0
    finally:
        safety_net.cancel()
    assert time.monotonic() - started < 10  # it did not load a model or open a frame source
    assert not rclpy.ok()


def test_torch_compile_launch_argument_is_a_flag():
    assert segment_node_setup({'torch_compile': 'true'}, ROOT).parameters[1] == {
        'torch_compile': True
    }
    assert segment_node_setup({'torch_compile': 'False'}, ROOT).parameters[1] == {
        'torch_compile': False
    }
    assert len(segment_node_setup({'torch_compile': ''}, ROOT).parameters) == 1  # params file's
    with pytest.raises(ValueError, match='launch argument torch_compile: expected true or false'):
        segment_node_setup({'torch_compile': 'fast'}, ROOT)


def test_backend_launch_argument_is_validated(tmp_path):
    setup = segment_node_setup({'backend': 'onnxruntime'}, ROOT)
    assert setup.parameters[1] == {'backend': 'onnxruntime'}
    with pytest.raises(ValueError, match='backend must be one of auto, torch, onnxruntime'):
        segment_node_setup({'backend': 'tflite'}, ROOT)


@pytest.mark.parametrize(
    'module', ['lightseg_ros.ros.segment_node', 'lightseg_ros.ros.segment_lifecycle_node']
)
def test_a_node_session_stopped_while_its_node_imports_ends_it_quietly(module):
    """The tools (bag-eval, node-latency, demo) stop their node with SIGINT, also right away."""
    import signal

    from lightseg_ros.ros.node_session import NodeSession

    session = NodeSession({}, module=module)
    time.sleep(0.5)  # still importing PyTorch
    code = session.stop()
    assert 'Traceback' not in session.output and 'terminate' not in session.output, session.output
    assert code in (0, 130, -signal.SIGINT), (code, session.output)


def test_the_node_trampoline_names_what_it_runs():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, '-m', 'lightseg_ros.ros.entry', 'lightseg_ros.ros.nope'],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert 'lightseg_ros.ros.segment_node' in done.stderr and 'Traceback' not in done.stderr


@pytest.mark.parametrize(
    'text, expected_input',
    [
        # sections as rcl applies them to /r1/segment_node: nested namespaces, wildcards
        ('r1:\n  segment_node:\n    ros__parameters:\n      image_topics: [nested/image]\n',
         '/r1/nested/image'),
        ('/*/segment_node:\n  ros__parameters:\n    image_topics: [star/image]\n',
         '/r1/star/image'),
        # the root namespace's node only: not this one
        ('segment_node:\n  ros__parameters:\n    image_topics: [root/image]\n',
         '/r1/camera/image_raw'),
        # values the node refuses: rviz keeps its shipped layout (the node reports the problem)
        ('/**:\n  ros__parameters:\n    image_topics: 5\n', None),
        ('/**:\n  ros__parameters:\n    image_topics: ~\n', None),
        ('/**:\n  ros__parameters:\n    image_topics: /cam\n', None),
        ('/**:\n  ros__parameters:\n    output_namespace: /x\n', None),
        ('/**:\n  ros__parameters:\n    transport: h264\n', None),
        ('{1: 2, a: [1]}\n', '/r1/camera/image_raw'),
        ('[not, a, mapping]\n', '/r1/camera/image_raw'),
    ],
)
def test_rviz_topics_read_params_files_as_rcl_does_and_never_raise(
    tmp_path, text, expected_input
):
    from lightseg_ros.ros.launch_helpers import rviz_topics

    params = tmp_path / 'p.yaml'
    params.write_text(text)
    topics = rviz_topics(params, {}, 'r1')
    assert topics.get('Input') == expected_input, topics


def test_rviz_displays_ask_for_the_reliability_the_node_and_its_camera_offer(tmp_path):
    import yaml

    from lightseg_ros.ros import launch_helpers

    params = tmp_path / 'p.yaml'
    params.write_text(
        '/**:\n  ros__parameters:\n    input_reliability: best_effort\n'
        '    output_reliability: best_effort\n'
    )
    best = 'Best Effort'
    for params_file, expected in (
        ('', {'Input': 'Reliable', 'Overlay': 'Reliable', 'Color mask': 'Reliable'}),
        (str(params), {'Input': best, 'Overlay': best, 'Color mask': best}),
    ):
        setup = launch_helpers.segment_node_setup(
            {'rviz': 'true', 'params_file': params_file}, ROOT, installed=lambda name: True
        )
        written = yaml.safe_load(Path(setup.write_rviz_config(tmp_path)).read_text())
        displays = written['Visualization Manager']['Displays']
        shown = {d['Name']: d['Topic']['Reliability Policy'] for d in displays if 'Topic' in d}
        assert shown == expected
    # a value the node will refuse is the node's to report, not a traceback of the launch
    params.write_text('/**:\n  ros__parameters:\n    output_reliability: [reliable]\n')
    setup = launch_helpers.segment_node_setup({'params_file': str(params)}, ROOT)
    assert setup.rviz_reliability['Overlay'] == 'Reliable'


def test_the_rviz_copy_goes_to_a_private_folder_even_when_its_name_is_taken(tmp_path, monkeypatch):
    import os
    import stat
    import tempfile

    from lightseg_ros.ros import launch_helpers

    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    (tmp_path / f'lightseg_ros-{os.getuid()}').write_text('somebody else put a file here')
    setup = launch_helpers.segment_node_setup(
        {'rviz': 'true', 'namespace': 'r1'}, ROOT, installed=lambda name: True
    )
    path = Path(setup.write_rviz_config())
    folder = path.parent
    assert path.is_file() and folder != tmp_path / f'lightseg_ros-{os.getuid()}'
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0
    assert '/r1/camera/segmentation/overlay' in path.read_text()
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temporary file left
