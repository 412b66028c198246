"""What /diagnostics says: the level and reasons from a snapshot of the node's state (pure)."""
from lightseg_ros.ros.node_health import ERROR, OK, WARN, HealthSnapshot, assess, resident_memory_mb


def test_ok_only_when_nothing_is_wrong():
    assert assess(HealthSnapshot(frames_out=10, rss_mb=900, memory_budget_mb=3072)) == (OK, "ok")


def test_each_reason_and_its_level():
    cases = [
        (HealthSnapshot(model_error="x.safetensors does not fit"), ERROR, "model switch failed, previous model kept"),
        (HealthSnapshot(failed_frames=3, last_failure="RuntimeError: boom"), ERROR, "every frame failed (3): RuntimeError"),
        (HealthSnapshot(failed_frames=3, frames_out=7, last_failure="E"), WARN, "3 frames failed: E"),
        (HealthSnapshot(rss_mb=4000, memory_budget_mb=3072), ERROR, "resident memory 4000 MB above the budget 3072 MB"),
        (HealthSnapshot(rss_mb=4000, memory_budget_mb=0), OK, "ok"),  # 0 = not checked
        (HealthSnapshot(refused_change="weights='F' (bad)"), WARN, "refused weights='F' (bad)"),
        (HealthSnapshot(bad_frames=2, last_bad_reason="image is 5000x5000"), WARN, "2 bad frames dropped: image is"),
        (HealthSnapshot(single_class_streak=4, single_class_name="road"), OK, "ok"),
        (HealthSnapshot(single_class_streak=5, single_class_name="road"), WARN, "the last 5 masks hold one class on "
                                                                              "every pixel (road)"),
        (HealthSnapshot(random_weights=True), WARN, "random weights (untrained)"),
    ]
    for snapshot, level, words in cases:
        got_level, message = assess(snapshot)
        assert got_level == level and words in message, (snapshot, message)


def test_the_worst_level_wins_and_every_reason_is_given():
    level, message = assess(HealthSnapshot(random_weights=True, bad_frames=1, last_bad_reason="truncated",
                                           rss_mb=5000, memory_budget_mb=100))
    assert level == ERROR and message.startswith("resident memory 5000 MB above the budget 100 MB")
    assert "1 bad frames dropped: truncated" in message and "random weights" in message


def test_resident_memory_is_read():
    assert 10 < resident_memory_mb() < 100_000
