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

"""replay.launch.py's player starts once the node subscribes (wait_then_play), over DDS."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from ros_harness import fresh_domain, Probe
from std_msgs.msg import String

WAITER = [sys.executable, '-m', 'lightseg_ros.ros.wait_then_play']


def start(args: list[str], domain: int) -> subprocess.Popen:
    env = {**os.environ, 'ROS_DOMAIN_ID': str(domain)}
    return subprocess.Popen(
        [*WAITER, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_command_starts_only_once_the_topic_has_a_subscriber(tmp_path):
    domain, topic = fresh_domain(), f'/w{uuid.uuid4().hex[:8]}/camera/image_raw'
    played = tmp_path / 'played'
    command = [sys.executable, '-c', f'open({str(played)!r}, "w").write("yes")']
    waiter = start(['--topic', topic, '--timeout', '120', '--', *command], domain)
    probe = None
    try:
        time.sleep(3.0)  # the waiter is up and finds no subscriber: nothing is played
        assert waiter.poll() is None and not played.exists()
        probe = Probe(f'subscriber_{uuid.uuid4().hex[:6]}', domain_id=domain)
        probe.subscribe(String, topic)  # the node, once it has loaded its model
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
        if probe is not None:
            probe.close()
    assert waiter.returncode == 0 and played.read_text() == 'yes', err
    assert f'wait_then_play: {topic} has a subscriber; starting {sys.executable}' in out


def test_without_a_subscriber_the_command_starts_after_the_timeout_with_one_warning():
    topic = f'/nobody_{uuid.uuid4().hex[:8]}'
    waiter = start(['--topic', topic, '--timeout', '0.5', '--', 'true'], fresh_domain())
    _, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0  # true's code: the waiter became the command
    assert err.strip().splitlines() == [
        f'wait_then_play: warning: nothing subscribed to {topic} in 0.5 s; starting true anyway'
    ]


def test_no_command_or_one_that_cannot_run_is_one_line():
    waiter = start(['--topic', '/t', '--timeout', '0'], fresh_domain())
    _, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 2 and err.strip() == (
        'wait_then_play: error: give the command to run after --'
    )
    argv = ['--topic', '/t', '--timeout', '0', '--', 'no-such-player-here']
    waiter = start(argv, fresh_domain())
    _, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 127
    assert err.strip().splitlines() == [
        'wait_then_play: warning: nothing subscribed to /t in 0 s; starting no-such-player-here '
        'anyway',
        'wait_then_play: error: cannot run no-such-player-here: No such file or directory',
    ]


def test_reliable_topics_are_played_reliable_through_a_qos_override_file():
    """A camera recorded best effort was played best effort: the node lost most frames to DDS."""
    import ast

    import yaml

    topic = f'/q{uuid.uuid4().hex[:8]}/camera/image_raw'
    command = [sys.executable, '-c', 'import sys; print(sys.argv[1:])']
    argv = ['--topic', topic, '--reliable', topic, '--timeout', '0']
    argv += ['--', *command, '--topics', topic]
    waiter = start(argv, fresh_domain())
    out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err
    passed = ast.literal_eval(out.strip().splitlines()[-1])
    assert passed[:2] == ['--topics', topic] and passed[2] == '--qos-profile-overrides-path'
    path = passed[3]
    try:
        assert yaml.safe_load(open(path)) == {
            topic: {'reliability': 'reliable', 'history': 'keep_last', 'depth': 10}
        }
    finally:
        os.unlink(path)
