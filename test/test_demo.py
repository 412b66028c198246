"""``lightseg demo`` (the README's first command) runs source and node over DDS and writes its outputs."""
import json
import os
import subprocess
import sys


def test_demo_writes_overlays_and_a_latency_summary(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "lightseg_ros.cli", "demo", "--out", str(out), "--frames", "6", "--rate", "10",
         "--width", "80", "--height", "64", "--cpu-threads", "1"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RANDOM weights" in result.stdout and str(out.resolve()) in result.stdout
    summary = json.loads((out / "latency.json").read_text())
    assert summary["random_weights"] and summary["frames_published"] == 6
    assert summary["overlays_received"] == len(list(out.glob("overlay_*.png"))) >= 1
    assert summary["latency_ms"]["p50"] > 0


def test_node_latency_tool_reports_both_measurements(tmp_path):
    out = tmp_path / "latency.json"
    result = subprocess.run(
        [sys.executable, "-m", "lightseg_ros.cli", "node-latency", "--width", "80", "--height", "64", "--frames", "3",
         "--warmup", "1", "--cpu-threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    assert data["segmenter_segment"]["n"] == 3 and data["segmenter_segment"]["p50_ms"] > 0
    for phase in ("mask_only", "all_outputs"):
        assert data["node_publish_to_received"][phase]["n"] == 3 and data["node_publish_to_received"][phase]["lost"] == 0
    assert "Segmenter.segment (bare)" in result.stdout
