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
segment_lifecycle_node as a real process, driven through the standard lifecycle services.

One node process; each test starts from and returns to unconfigured, setting the weights it needs.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid

from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition, TransitionEvent
from lifecycle_msgs.srv import ChangeState, GetState
from lightseg_ros.inference import Segmenter
from lightseg_ros.ros.node_session import NodeSession, start_with_retries
import numpy as np
import pytest
from rcl_interfaces.srv import SetParameters
from ros_harness import call, fresh_domain, Probe
from sensor_msgs.msg import Image
from std_msgs.msg import String
from test_segment_node import (  # noqa: F401
    as_array,
    image_msg,
    OUTPUT_NAMES,
    outputs_for,
    scene,
    set_params,
    weights,
)

NS = f'/lc{uuid.uuid4().hex[:8]}'
CAMERA, OUT = f'{NS}/cam/image', f'{NS}/cam/segmentation'
NODE = f'seg_lc_{uuid.uuid4().hex[:6]}'
pytestmark = pytest.mark.usefixtures('one_torch_thread')  # see conftest


@pytest.fixture(scope='module')
def graph(weights):  # noqa: F811 (the fixture imported above)
    """
    Return (probe, node session).

    A lifecycle node, unconfigured, and a probe with its service clients.
    """

    def start(attempt: int):
        domain = fresh_domain()
        session = NodeSession(
            {
                'image_topics': [CAMERA],
                'weights': str(weights[0]),
                'cpu_threads': 1,
                'diagnostics_period': 0.5,
                'device': 'cpu',  # masks compared with the CPU's bit for bit, GPU or not
            },
            module='lightseg_ros.ros.segment_lifecycle_node',
            node_name=NODE,
            env={'ROS_DOMAIN_ID': str(domain), 'OMP_NUM_THREADS': '1'},
        )
        probe = Probe(f'lc_probe_{uuid.uuid4().hex[:6]}', domain_id=domain)
        probe.session = session
        for name in OUTPUT_NAMES:
            probe.subscribe(Image, f'{OUT}/{name}')
        probe.subscribe(String, f'{OUT}/class_legend', latched=True)
        probe.subscribe(DiagnosticArray, '/diagnostics')
        probe.subscribe(TransitionEvent, f'/{NODE}/transition_event')
        probe.raw = probe.publisher(Image, CAMERA)
        probe.change_state = probe.node.create_client(ChangeState, f'/{NODE}/change_state')
        probe.get_state = probe.node.create_client(GetState, f'/{NODE}/get_state')
        probe.params = probe.node.create_client(SetParameters, f'/{NODE}/set_parameters')
        return probe

    def ready(probe) -> bool:
        return probe.session.wait_until(
            lambda: (
                probe.get_state.service_is_ready()
                and probe.change_state.service_is_ready()
                and probe.params.service_is_ready()
            ),
            60,
        )

    def close(probe) -> None:
        probe.close()
        probe.session.stop()

    probe = start_with_retries(start, ready, close, what='segment_lifecycle_node')
    yield probe, probe.session
    close(probe)
    print('NODE LOG\n' + probe.session.output)


def transition(probe, transition_id: int) -> bool:
    return call(
        probe, probe.change_state, ChangeState.Request(transition=Transition(id=transition_id))
    ).success


def state(probe) -> str:
    return call(probe, probe.get_state, GetState.Request(), resend_every=5.0).current_state.label


def reported_state(probe, label: str, after: float):
    """
    Return the node's /diagnostics with lifecycle_state ``label``.

    Stamped after ``after`` (wall clock).
    """

    def match(m):
        values = {kv.key: kv.value for s in m.status for kv in s.values}
        return (
            values.get('lifecycle_state') == label
            and m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 > after
        )

    return probe.wait_for('/diagnostics', match, timeout=10)


def new_legend(probe, predicate):
    """
    Return a predicate for class legends recorded from now on.

    They must satisfy ``predicate`` (on the JSON).
    """
    with probe.cond:
        seen = list(probe.messages[f'{OUT}/class_legend'])
    return lambda m: all(m is not s for s in seen) and predicate(json.loads(m.data))


def assert_no_output(probe, msg, wait_s: float = 1.5) -> None:
    time.sleep(wait_s)
    with probe.cond:
        for name in OUTPUT_NAMES:
            assert not any(
                m.header.stamp == msg.header.stamp for m in probe.messages[f'{OUT}/{name}']
            ), name


def test_transitions_gate_subscriptions_and_outputs(graph, weights):  # noqa: F811
    probe, node = graph
    assert state(probe) == 'unconfigured'
    assert set_params(probe, weights=str(weights[0]))[0].successful
    assert (
        probe.node.count_publishers(f'{OUT}/mask') == 0 and probe.raw.get_subscription_count() == 0
    )

    assert transition(probe, Transition.TRANSITION_CONFIGURE) and state(probe) == 'inactive'
    # what segment.launch.py's autostart waits for before it activates
    probe.wait_for(
        f'/{NODE}/transition_event',
        lambda e: (e.start_state.label, e.goal_state.label) == ('configuring', 'inactive'),
        timeout=10,
    )
    probe.wait_until(
        lambda: probe.node.count_publishers(f'{OUT}/mask') > 0, 10, 'the output publishers'
    )
    assert probe.raw.get_subscription_count() == 0  # inactive: the camera is not subscribed
    reported_state(probe, 'inactive', time.time())
    idle = image_msg(scene(1), 'rgb8')
    probe.raw.publish(idle)
    assert_no_output(probe, idle)

    fresh = new_legend(probe, lambda legend: legend['weights'] == str(weights[0]))
    assert transition(probe, Transition.TRANSITION_ACTIVATE) and state(probe) == 'active'
    probe.wait_until(lambda: probe.raw.get_subscription_count() > 0, 10, 'the camera subscription')
    reported_state(probe, 'active', time.time())
    legend = probe.wait_for(f'{OUT}/class_legend', fresh)
    assert len(json.loads(legend.data)['classes']) == 11
    msg = image_msg(scene(2), 'rgb8', frame_id='lc_optical')
    probe.raw.publish(msg)
    outs = outputs_for(probe, OUT, msg)
    assert all(
        o.header.stamp == msg.header.stamp and o.header.frame_id == 'lc_optical'
        for o in outs.values()
    )
    assert np.array_equal(
        as_array(outs['mask']), Segmenter(weights[0], device='cpu').segment(scene(2)).mask
    )

    assert transition(probe, Transition.TRANSITION_DEACTIVATE) and state(probe) == 'inactive'
    probe.wait_until(
        lambda: probe.raw.get_subscription_count() == 0, 10, 'the camera subscription to go'
    )
    reported_state(probe, 'inactive', time.time())
    late = image_msg(scene(3), 'rgb8')
    probe.raw.publish(late)
    assert_no_output(probe, late)
    assert 'model kept' in node.output

    assert transition(probe, Transition.TRANSITION_CLEANUP) and state(probe) == 'unconfigured'
    probe.wait_until(
        lambda: probe.node.count_publishers(f'{OUT}/mask') == 0, 10, 'the publishers to go'
    )
    # what the configured node did is said before its counters go (a nav2 bringdown said nothing)
    probe.wait_until(
        lambda: 'released; frames in ' in node.output, 10, lambda: f'the summary:\n{node.tail()}'
    )
    # activate needs a configured node
    assert not transition(probe, Transition.TRANSITION_ACTIVATE)
    assert state(probe) == 'unconfigured' and node.alive()


def test_failed_configure_stays_unconfigured_then_configures_with_other_weights(
    graph,
    weights,  # noqa: F811
    tmp_path,
):
    probe, node = graph
    assert state(probe) == 'unconfigured'
    # a model change refused while no model is loaded: answered with the reason, the node lives on
    result = set_params(probe, model='no_such_model')[0]
    assert not result.successful and 'accepted models' in result.reason
    assert state(probe) == 'unconfigured' and 'Traceback' not in node.output
    # accepted when set, missing at configure (as a bad path at start)
    gone = tmp_path / 'gone.safetensors'
    shutil.copy(weights[0], gone)
    assert set_params(probe, weights=str(gone))[0].successful
    gone.unlink()
    before = len(node.lines)
    assert not transition(probe, Transition.TRANSITION_CONFIGURE)
    assert state(probe) == 'unconfigured'
    probe.wait_until(
        lambda: any('configure failed' in line for line in node.lines[before:]),
        10,
        lambda: f'the configure error; log:\n{node.tail()}',
    )
    log = node.lines[before:]
    naming = [line for line in log if str(gone) in line]
    assert len(naming) == 1, log
    assert 'staying unconfigured' in naming[0] and 'weights file not found' in naming[0]
    assert 'accepted weights' in naming[0] and 'Traceback' not in ''.join(log)
    assert probe.node.count_publishers(f'{OUT}/mask') == 0

    # re-configure with other weights (3 classes): the legend and the masks follow them
    assert set_params(probe, weights=str(weights[1]))[0].successful
    assert transition(probe, Transition.TRANSITION_CONFIGURE) and state(probe) == 'inactive'
    fresh = new_legend(probe, lambda legend: len(legend['classes']) == 3)
    assert transition(probe, Transition.TRANSITION_ACTIVATE)
    legend = probe.wait_for(f'{OUT}/class_legend', fresh)
    assert [c['name'] for c in json.loads(legend.data)['classes']] == ['x', 'y', 'z']
    probe.wait_until(lambda: probe.raw.get_subscription_count() > 0, 10, 'the camera subscription')
    msg = image_msg(scene(4), 'rgb8')
    probe.raw.publish(msg)
    mask = as_array(outputs_for(probe, OUT, msg, ['mask'])['mask'])
    assert (
        np.array_equal(mask, Segmenter(weights[1], device='cpu').segment(scene(4)).mask)
        and mask.max() < 3
    )

    # run-time parameter changes while active work as in segment_node (the model is swapped in)
    fresh = new_legend(probe, lambda legend: len(legend['classes']) == 11)
    assert set_params(probe, weights=str(weights[0]))[0].successful
    probe.wait_for(f'{OUT}/class_legend', fresh, timeout=30)
    assert transition(probe, Transition.TRANSITION_DEACTIVATE) and transition(
        probe, Transition.TRANSITION_CLEANUP
    )
    assert state(probe) == 'unconfigured'


def test_a_refused_read_only_parameter_says_to_restart_not_to_set_it():
    from lightseg_ros.ros.segment_lifecycle_node import configure_error
    from lightseg_ros.ros.segment_node import ParameterError

    # rclpy refuses a set of a read-only parameter: "set it and configure again" cannot be done
    line = configure_error(ParameterError('transport', "unknown transport 'compresed'"))
    assert line.endswith('transport is read-only: restart the node with a valid one'), line
    assert 'configure again' not in line and 'accepted transport' in line
    line = configure_error(ParameterError('overlay_alpha', 'must be in [0.0, 1.0]; got 2.0'))
    assert line.endswith('; set overlay_alpha and configure again'), line
