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
Input QoS choice, transport choice and the reasons given for silent inputs.

Pure, no ROS graph.
"""

import functools

from lightseg_ros.ros.dds import dds_environment, DDS_TRANSPORTS, use_dds_transport
from lightseg_ros.ros.input_qos import (
    choose_durability,
    choose_reliability,
    choose_transport,
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    loss_reason,
    Offer,
    silence_reason,
)
from lightseg_ros.ros.node_session import ros_parameter_args
from lightseg_ros.ros.topics import camera_info_topic
import pytest

RELIABLE, BEST_EFFORT = Offer('reliable', IMAGE_TYPE), Offer('best_effort', IMAGE_TYPE)


def test_auto_matches_the_publishers_like_rosbag2():
    # no publisher yet: reliable, what a driver should offer (REP-2003); waiting best effort lost
    # a reliable camera's first frames when the reader moved to reliable
    assert choose_reliability('auto', []) == 'reliable'
    assert choose_reliability('auto', [RELIABLE, RELIABLE]) == 'reliable'
    # the only profile matching both
    assert choose_reliability('auto', [RELIABLE, BEST_EFFORT]) == 'best_effort'
    assert choose_reliability('best_effort', [RELIABLE]) == 'best_effort'
    # as asked, even if it cannot match
    assert choose_reliability('reliable', [BEST_EFFORT]) == 'reliable'
    with pytest.raises(ValueError, match='accepted: auto, reliable, best_effort'):
        choose_reliability('sensor_data', [])


def test_durability_is_transient_local_only_when_every_publisher_latches():
    latched = Offer('reliable', IMAGE_TYPE, 'transient_local')
    assert choose_durability([]) == 'volatile'
    assert choose_durability([latched, latched]) == 'transient_local'
    # a transient-local subscription never matches a volatile publisher
    assert choose_durability([latched, RELIABLE]) == 'volatile'


def test_auto_transport_follows_the_publishers_type_then_the_name():
    jpeg = Offer('reliable', COMPRESSED_TYPE)
    assert choose_transport('auto', by_name=False, offers=[jpeg]) is True
    assert choose_transport('auto', by_name=True, offers=[RELIABLE]) is False
    assert choose_transport('auto', by_name=True, offers=[]) is True
    # mixed: the name decides
    assert choose_transport('auto', by_name=False, offers=[jpeg, RELIABLE]) is False
    assert choose_transport('raw', by_name=True, offers=[jpeg]) is False


def test_silence_reasons_name_the_cause_and_the_fix():
    topic = '/cam/image_raw'
    # nobody publishes: silence is expected
    assert (
        silence_reason(
            topic,
            [],
            subscribed_type=IMAGE_TYPE,
            subscribed_reliability='reliable',
            lost_messages=0,
            seconds=9,
        )
        is None
    )
    wrong_type = silence_reason(
        topic,
        [Offer('reliable', COMPRESSED_TYPE)],
        subscribed_type=IMAGE_TYPE,
        subscribed_reliability='reliable',
        lost_messages=0,
        seconds=6,
    )
    assert (
        'no frame on /cam/image_raw for 6 s' in wrong_type
        and "'transport' parameter" in wrong_type
    )
    qos = silence_reason(
        topic,
        [BEST_EFFORT],
        subscribed_type=IMAGE_TYPE,
        subscribed_reliability='reliable',
        lost_messages=0,
        seconds=6,
    )
    assert 'best-effort publisher cannot reach a reliable subscription' in qos
    lost = silence_reason(
        topic,
        [BEST_EFFORT],
        subscribed_type=IMAGE_TYPE,
        subscribed_reliability='best_effort',
        lost_messages=12,
        seconds=6,
    )
    assert (
        'lost in transport (12 messages reported lost)' in lost
        and 'reliable QoS (REP-2003)' in lost
    )
    reliable_silence = functools.partial(
        silence_reason,
        topic,
        [RELIABLE],
        subscribed_type=IMAGE_TYPE,
        subscribed_reliability='reliable',
        lost_messages=0,
        seconds=6,
    )
    other = reliable_silence()
    assert 'LARGE_DATA' in other and 'ROS_DOMAIN_ID' in other
    # frames came on this subscription: a paused publisher, not a transport mismatch
    paused = reliable_silence(arrived=True)
    assert 'publisher has paused or stopped sending' in paused and 'LARGE_DATA' not in paused
    assert '3 frames on /cam/image_raw lost in transport' in loss_reason(topic, 3)


def test_dds_choices_set_only_what_they_name():
    assert dds_environment('default') == {}
    assert dds_environment('large_data') == {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}
    shm = dds_environment('shm')
    assert set(shm) == {'FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'}
    assert '<segment_size>' in open(shm['FASTDDS_DEFAULT_PROFILES_FILE']).read()
    env = {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA', 'HOME': '/root'}
    use_dds_transport('default', env)
    assert env == {'HOME': '/root'}
    use_dds_transport(None, env)
    assert env == {'HOME': '/root'}
    with pytest.raises(ValueError, match=', '.join(DDS_TRANSPORTS)):
        use_dds_transport('cyclone', env)


def test_string_parameters_reach_rcl_whole_whatever_they_hold():
    import yaml

    odd = ['/data/my run #2/w.safetensors', 'v2: final', "it's", '1e3', 'null', '[x]', 'true']
    for text in odd:
        (value,) = ros_parameter_args({'weights': text})[1:]
        # rcl reads the value after := as YAML: the string must come back unchanged, as a string
        assert yaml.safe_load(value.split(':=', 1)[1]) == text, value
    listed = ros_parameter_args({'image_topics': odd})[1].split(':=', 1)[1]
    assert yaml.safe_load(listed) == odd


def test_node_command_line_and_camera_info_topics():
    assert ros_parameter_args(
        {
            'image_topics': ['/a/b'],
            'cpu_threads': 1,
            'weights': '',
            'rviz': False,
            'overlay_alpha': 0.5,
        }
    ) == [
        '-p',
        "image_topics:=['/a/b']",
        '-p',
        'cpu_threads:=1',
        '-p',
        "weights:=''",
        '-p',
        'rviz:=false',
        '-p',
        'overlay_alpha:=0.5',
    ]
    assert camera_info_topic('/cam/image_raw') == '/cam/camera_info'
    assert camera_info_topic('/cam/image_raw/compressed') == '/cam/camera_info'
    assert (
        camera_info_topic('/image') == '/camera_info'
        and camera_info_topic('image') == 'camera_info'
    )
