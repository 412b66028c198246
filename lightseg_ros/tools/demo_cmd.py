"""``lightseg demo``: the main job on a fresh machine, over real DDS.

Runs the image source (built-in synthetic street scene by default; ``--source`` takes a folder of photos,
a video or a rosbag2) and the segmentation node as two nodes in one process, talking over DDS on topics
under a per-run namespace; a recorder node writes every overlay it receives as PNG and a latency summary
(publish -> overlay received) as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "register"]

def run_demo(out_dir: Path, *, frames: int, rate: float, width: int, height: int, model: str, weights: str,
             device: str, source: str, cpu_threads: int = 0, timeout: float = 90.0) -> dict:
    """Run source + node + recorder until ``frames`` frames are published and answered; returns the summary."""
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    import cv2
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from ..inference import decode_image
    from ..models.shipped import RANDOM
    from ..ros.image_source import ImageSource
    from ..ros.segment_node import SegmentNode

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("overlay_*.png"):
        old.unlink()
    ns = f"/lightseg_demo_{os.getpid()}"
    camera_topic = f"{ns}/camera/image_raw"
    context = rclpy.Context()
    rclpy.init(context=context)
    latencies: list[float] = []
    received: list[int] = []
    try:
        segment = SegmentNode("demo_segment_node", context=context, parameter_overrides=[
            Parameter("image_topics", value=[camera_topic]), Parameter("model", value=model),
            Parameter("weights", value=weights), Parameter("device", value=device),
            Parameter("outputs", value=["mask", "overlay"]), Parameter("cpu_threads", value=cpu_threads),
        ])
        src = ImageSource("demo_image_source", context=context, parameter_overrides=[
            Parameter("source", value=source), Parameter("topic", value=camera_topic),
            Parameter("rate_hz", value=float(rate)), Parameter("width", value=width),
            Parameter("height", value=height), Parameter("count", value=frames), Parameter("loop", value=True),
        ])
        recorder = Node("demo_recorder", context=context)

        def on_overlay(msg: Image) -> None:
            now = time.time()
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            latencies.append(now - stamp)
            index = len(received)
            received.append(index)
            rgb = decode_image(msg)
            cv2.imwrite(str(out_dir / f"overlay_{index:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        recorder.create_subscription(Image, f"{ns}/camera/segmentation/overlay", on_overlay, qos)
        recorder.create_subscription(Image, f"{ns}/camera/segmentation/mask", lambda m: None, qos)
        executor = MultiThreadedExecutor(num_threads=2, context=context)
        for node in (segment, src, recorder):
            executor.add_node(node)
        started = time.monotonic()
        idle_since = None
        while time.monotonic() - started < timeout:
            executor.spin_once(timeout_sec=0.05)
            # after the last frame: wait until the node has finished what it took and outputs arrived
            if src.done and segment.idle():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 1.0:
                    break
            else:
                idle_since = None
        seg = segment.segmenter
        values = np.asarray(latencies) * 1e3
        summary = {
            "frames_published": src.published,
            "overlays_received": len(received),
            "frames_dropped_by_node": segment.dropped_frames,
            "latency_ms": {
                "what": "image_source publish (header stamp) -> overlay received by the recorder",
                "p50": round(float(np.percentile(values, 50)), 1) if values.size else None,
                "p99": round(float(np.percentile(values, 99)), 1) if values.size else None,
                "mean": round(float(values.mean()), 1) if values.size else None,
                "max": round(float(values.max()), 1) if values.size else None,
            },
            "image_size": [height, width], "source": source, "rate_hz": rate,
            "model": seg.model_name, "weights": seg.weights_path or RANDOM, "random_weights": seg.random_weights,
            "device": str(seg.device), "topics": {"input": camera_topic, "overlay": f"{ns}/camera/segmentation/overlay"},
            "fastdds_builtin_transports": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", ""),
        }
        (out_dir / "latency.json").write_text(json.dumps(summary, indent=2) + "\n")
        for node in (segment, src, recorder):
            executor.remove_node(node)
            node.destroy_node()
        executor.shutdown()
    finally:
        rclpy.try_shutdown(context=context)
    return summary


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    print(f"lightseg demo: {args.source} frames {args.width}x{args.height} at {args.rate} Hz -> segment_node "
          f"({args.model if not args.weights else args.weights}, device {args.device}) over DDS ...", flush=True)
    summary = run_demo(out, frames=args.frames, rate=args.rate, width=args.width, height=args.height,
                       model=args.model, weights=args.weights, device=args.device, source=args.source,
                       cpu_threads=args.cpu_threads)
    lat = summary["latency_ms"]
    print(f"published {summary['frames_published']} frames, received {summary['overlays_received']} overlays "
          f"({summary['frames_dropped_by_node']} frames dropped by the node: newest frame wins) on {summary['device']}")
    print(f"latency publish -> overlay: p50 {lat['p50']} ms, p99 {lat['p99']} ms")
    print(f"overlays (PNG): {out.resolve()}/overlay_*.png")
    print(f"latency summary (JSON): {(out / 'latency.json').resolve()}")
    if summary["random_weights"]:
        from ..models import no_shipped_weights_note
        from ..models.shipped import RANDOM

        asked = args.weights.strip() == RANDOM  # read as the node reads its 'weights' parameter
        print("NOTE: " + ("RANDOM weights, as asked" if asked else no_shipped_weights_note(args.model)))
    else:
        print(f"weights: {summary['weights']}")
    return 0 if summary["overlays_received"] > 0 else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the image source and the segmentation node together; write overlays")
    p.add_argument("--out", default="outputs/demo", help="folder for overlay PNGs and latency.json")
    p.add_argument("--frames", type=int, default=30, help="frames to publish")
    p.add_argument("--rate", type=float, default=5.0, help="frames per second")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--model", default="ghostnet_aspp_da", help="model name; runs with the weights the package "
                   "ships for it unless --weights")
    p.add_argument("--weights", default="", help="a lightseg .safetensors weights file, or 'random'")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument("--cpu-threads", type=int, default=0, help="torch CPU threads for the node; 0 = half the cores")
    p.add_argument("--source", default="synthetic", help="synthetic, an image folder, a video or a rosbag2")
    p.set_defaults(func=run)
