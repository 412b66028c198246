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

"""What /diagnostics says: the level and reasons from a snapshot of the node's state (pure)."""

from lightseg_ros.ros.node_health import (
    assess,
    ERROR,
    HealthSnapshot,
    OK,
    resident_memory_mb,
    WARN,
)


def test_ok_only_when_nothing_is_wrong():
    assert assess(HealthSnapshot(frames_out=10, rss_mb=900, memory_budget_mb=3072)) == (OK, 'ok')


def test_each_reason_and_its_level():
    cases = [
        (
            HealthSnapshot(model_error='x.safetensors does not fit'),
            ERROR,
            'model switch failed, previous model kept',
        ),
        (
            HealthSnapshot(failed_frames=3, last_failure='RuntimeError: boom'),
            ERROR,
            'every frame failed (3): RuntimeError',
        ),
        (
            HealthSnapshot(failed_frames=3, frames_out=7, last_failure='E'),
            WARN,
            '3 frames failed: E',
        ),
        (
            HealthSnapshot(rss_mb=4000, memory_budget_mb=3072),
            ERROR,
            'resident memory 4000 MB above the budget 3072 MB',
        ),
        (HealthSnapshot(rss_mb=4000, memory_budget_mb=0), OK, 'ok'),  # 0 = not checked
        (HealthSnapshot(refused_change="weights='F' (bad)"), WARN, "refused weights='F' (bad)"),
        (
            HealthSnapshot(bad_frames=2, last_bad_reason='image is 5000x5000'),
            WARN,
            '2 bad frames dropped: image is',
        ),
        (HealthSnapshot(single_class_streak=4, single_class_name='road'), OK, 'ok'),
        (
            HealthSnapshot(single_class_streak=5, single_class_name='road'),
            WARN,
            'the last 5 masks hold one class on every pixel (road)',
        ),
        (HealthSnapshot(random_weights=True), WARN, 'random weights (untrained)'),
        (HealthSnapshot(stalled_s=4.9), OK, 'ok'),
        (HealthSnapshot(stalled_s=12.4), WARN, 'no frame processed for 12 s while frames wait'),
        (
            HealthSnapshot(worker_alive=False, stalled_s=30),
            ERROR,
            'the inference thread has stopped',
        ),
    ]
    for snapshot, level, words in cases:
        got_level, message = assess(snapshot)
        assert got_level == level and words in message, (snapshot, message)


def test_the_worst_level_wins_and_every_reason_is_given():
    level, message = assess(
        HealthSnapshot(
            random_weights=True,
            bad_frames=1,
            last_bad_reason='truncated',
            rss_mb=5000,
            memory_budget_mb=100,
        )
    )
    assert level == ERROR and message.startswith('resident memory 5000 MB above the budget 100 MB')
    assert '1 bad frames dropped: truncated' in message and 'random weights' in message


def test_resident_memory_is_read():
    assert 10 < resident_memory_mb() < 100_000


def test_large_buffers_go_back_to_the_system_after_use():
    """
    Freed frame buffers go back to the system with the fixed mmap threshold.

    glibc's default keeps a freed 20 MB frame buffer resident once a 24 MB one was freed before it;
    with the fixed mmap threshold it goes back to the system (each case in a fresh process).
    """
    import subprocess
    import sys

    code = (
        'import sys, numpy as np\n'
        'from lightseg_ros.inference.memory import return_large_buffers_to_the_system as fix\n'
        'from lightseg_ros.ros.node_health import resident_memory_mb as rss\n'
        "if sys.argv[1] == 'fixed': assert fix()\n"
        'a = np.ones(24 << 20, np.uint8); del a\n'  # glibc raises its threshold to 24 MB here
        'before = rss(); b = np.ones(20 << 20, np.uint8); pin = np.ones(1 << 16, np.uint8)\n'
        'during = rss(); del b; print(round(during - before), round(rss() - before))\n'
    )

    def run(mode):
        out = subprocess.run(
            [sys.executable, '-c', code, mode], capture_output=True, text=True, check=True
        ).stdout
        return [int(v) for v in out.split()]

    assert run('default') == [20, 20]  # the case the fix is for: 20 MB stays resident
    grew, kept = run('fixed')
    assert grew == 20 and kept <= 1


def test_a_young_rate_meter_divides_by_its_age():
    from lightseg_ros.ros.node_stats import RateMeter

    meter = RateMeter(window=5.0, start=100.0)
    for i in range(10):  # 10 Hz for the first second
        meter.tick(100.05 + i * 0.1)
    assert abs(meter.rate(101.0) - 10.0) < 0.5  # it read 2.0: ten ticks over the whole window
    assert meter.rate(100.0) == 0.0
    for i in range(40):
        meter.tick(101.05 + i * 0.1)
    assert abs(meter.rate(105.0) - 10.0) < 0.5 and abs(meter.rate(110.0)) < 1e-9
