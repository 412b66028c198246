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

import os
import random
import tempfile

from lightseg_ros.ros.dds import DDS_VARIABLES
import pytest
import torch

torch.set_num_threads(2)

# ROS tests share this machine with other test runs: a random DDS domain per session isolates them.
# Under pytest-xdist (the GPU machine runs the suite with -n) the workers inherit one random base
# from the controller and take consecutive domains, so no two workers share one.
# Set before any rclpy.init; node subprocesses inherit it. The DDS configuration is the stock one,
# as users' camera drivers, rviz2 and the ros2 CLI have it: no DDS variable from the calling shell.
_base = int(
    os.environ.setdefault('LIGHTSEG_TEST_DOMAIN_BASE', str(random.SystemRandom().randint(0, 99)))
)
_worker = os.environ.get('PYTEST_XDIST_WORKER', 'gw0')
_index = int(_worker[2:]) if _worker[2:].isdigit() else 0
os.environ['ROS_DOMAIN_ID'] = str(1 + (_base + _index) % 100)
for _name in (*DDS_VARIABLES, 'RMW_IMPLEMENTATION'):
    os.environ.pop(_name, None)
# ONNX exports made by the tests go to a throw-away cache, not the user's ~/.cache/lightseg_ros
os.environ['LIGHTSEG_CACHE'] = tempfile.mkdtemp(prefix='lightseg-test-cache-')


@pytest.fixture(scope='module')
def one_torch_thread():
    """Small images: one thread is as fast and does not stall when other processes load the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
