"""``lightseg demo`` (the README's first command) runs source and node over DDS and writes its outputs."""
import json
import os
import subprocess
import sys


def test_demo_writes_overlays_and_a_latency_summary(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "lightseg_ros.cli", "demo", "--out", str(out), "--frames", "6", "--rate", "10",
         "--width", "80", "--height", "64"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "2"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RANDOM weights" in result.stdout and str(out.resolve()) in result.stdout
    summary = json.loads((out / "latency.json").read_text())
    assert summary["random_weights"] and summary["frames_published"] == 6
    assert summary["overlays_received"] == len(list(out.glob("overlay_*.png"))) >= 1
    assert summary["latency_ms"]["p50"] > 0
