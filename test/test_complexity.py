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

from lightseg_ros.models.complexity import count_macs, measure
from torch import nn


def test_conv_bn_count_matches_hand_computation():
    # 3x3 conv 3->8 with bias on 10x12, stride 1, pad 1: 8*10*12 outputs x (3*9 + 1) MACs = 26880;
    # BN over 8*10*12 = 960 elements counts 2 x 960 = 1920; ReLU and pooling count nothing.
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
    )
    assert count_macs(model, (10, 12)) == 26880 + 1920


def test_grouped_conv_and_linear():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 1, bias=False),
        nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False),
        nn.Flatten(),
        nn.Linear(100, 7),
    )
    # pointwise: 4*25 outputs x 3 = 300; depthwise: 4*25 x 9 = 900; linear: 7 x (100 + 1) = 707
    assert count_macs(model, (5, 5)) == 300 + 900 + 707


def test_measure_reports_params_and_doubled_gflops():
    model = nn.Sequential(nn.Conv2d(3, 8, 1))
    c = measure(model, (100, 100))
    assert c.params == 3 * 8 + 8
    assert abs(c.gflops - 2 * 8 * 100 * 100 * 4 / 1e9) < 1e-12
    assert abs(c.state_dict_mb - 32 * 4 / 1e6) < 1e-12
