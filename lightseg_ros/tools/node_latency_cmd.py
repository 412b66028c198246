"""``lightseg node-latency``: the node's end-to-end latency next to the bare segmenter's time.

Starts ``segment_node`` as its own process, publishes one rgb8 frame at a time from this process
(the next only after the previous frame's outputs arrived, so no frame waits or is dropped) and
times publish -> mask received, over real DDS. Then times ``Segmenter.segment`` on the same image
in this process. Two node phases: only ``mask`` subscribed (lazy outputs skip the rest), and all
four outputs subscribed (publish -> last of mask/color_mask/overlay/confidence received).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

__all__ = ["measure_node_latency", "register"]

OUTPUT_NAMES = ("mask", "color_mask", "overlay", "confidence")


def _summary(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "mean_ms": round(float(ms.mean()), 1)}


def _time_node(image: np.ndarray, *, model: str, device: str, frames: int, warmup: int, cpu_threads: int,
               backend: str = "auto", feed_hz: float = 60.0, feed_frames: int = 120,
               startup_timeout_s: float = 120.0) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from ..ros.image_source import to_image_msg

    tag = f"lightseg_latency_{os.getpid()}"
    camera = f"/{tag}/camera/image_raw"
    out_ns = f"/{tag}/camera/segmentation"
    env = {**os.environ, "FASTDDS_BUILTIN_TRANSPORTS": os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")}
    command = [sys.executable, "-m", "lightseg_ros.ros.segment_node", "--ros-args", "-r", f"__node:={tag}",
               "-p", f"image_topics:=[{camera}]", "-p", f"model:={model}", "-p", f"device:={device}",
               "-p", f"cpu_threads:={cpu_threads}", "-p", f"backend:={backend}"]
    node = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(node.stdout), daemon=True).start()
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    context = rclpy.Context()
    rclpy.init(context=context)
    probe = Node(f"{tag}_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    arrivals: dict[tuple[str, int], float] = {}
    lock = threading.Condition()

    def record(name):
        def callback(msg):
            with lock:
                arrivals[(name, msg.header.stamp.sec)] = time.perf_counter()
                lock.notify_all()
        return callback

    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    publisher = probe.create_publisher(Image, camera, reliable)
    subscriptions = {"mask": probe.create_subscription(Image, f"{out_ns}/mask", record("mask"), reliable)}
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    results = {}
    try:
        deadline = time.monotonic() + startup_timeout_s
        while publisher.get_subscription_count() == 0 or probe.count_publishers(f"{out_ns}/mask") == 0:
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("segment_node did not come up:\n" + "".join(log))
            time.sleep(0.05)
        time.sleep(1.0)
        stamp = 0
        for phase, names in (("mask_only", ("mask",)), ("all_outputs", OUTPUT_NAMES)):
            for name in names:
                if name not in subscriptions:
                    subscriptions[name] = probe.create_subscription(Image, f"{out_ns}/{name}", record(name), reliable)
            time.sleep(1.0)  # discovery of the new subscriptions
            latencies, lost = [], 0
            for i in range(warmup + frames):
                stamp += 1
                msg = to_image_msg(image, "rgb8", probe.get_clock().now().to_msg(), "camera")
                msg.header.stamp.sec = stamp
                sent = time.perf_counter()
                publisher.publish(msg)
                with lock:
                    ok = lock.wait_for(lambda: all((n, stamp) in arrivals for n in names), timeout=10.0)
                if not ok:
                    lost += 1
                elif i >= warmup:
                    latencies.append(max(arrivals[(n, stamp)] for n in names) - sent)
            results[phase] = {**_summary(latencies), "lost": lost, "outputs": list(names)}
        # fed at a camera rate without waiting: the node must keep only the newest frame (no queue),
        # so latency stays near one inference and the frames it skips are counted as dropped
        for name in OUTPUT_NAMES[1:]:
            probe.destroy_subscription(subscriptions.pop(name))
        time.sleep(1.0)
        sent: dict[int, float] = {}
        period = 1.0 / feed_hz
        start = time.perf_counter()
        for i in range(feed_frames):
            stamp += 1
            msg = to_image_msg(image, "rgb8", probe.get_clock().now().to_msg(), "camera")
            msg.header.stamp.sec = stamp
            delay = start + i * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent[stamp] = time.perf_counter()
            publisher.publish(msg)
        with lock:
            lock.wait_for(lambda: ("mask", stamp) in arrivals, timeout=10.0)
        time.sleep(0.5)
        with lock:
            answered = [arrivals[("mask", s)] - t for s, t in sent.items() if ("mask", s) in arrivals]
        results[f"fed_{feed_hz:g}hz"] = {**_summary(answered), "sent": len(sent), "dropped": len(sent) - len(answered),
                                         "outputs": ["mask"],
                                         "last_frame_answered": ("mask", stamp) in arrivals}
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown(context=context)
        node.terminate()
        node.wait(timeout=10)
    return results


def measure_node_latency(*, model: str = "ghostnet_aspp_da", device: str = "auto", width: int = 640,
                         height: int = 480, frames: int = 30, warmup: int = 3, cpu_threads: int = 0,
                         backend: str = "auto", feed_hz: float = 60.0, feed_frames: int = 120,
                         startup_timeout_s: float = 120.0) -> dict:
    """Node end-to-end latency (two phases) and bare ``Segmenter.segment`` time on one synthetic frame."""
    import torch

    from ..inference import Segmenter
    from ..ros.node_config import cpu_threads_for
    from ..sources import road_scene

    image = road_scene(width, height, t=0.0)[0]
    node = _time_node(image, model=model, device=device, frames=frames, warmup=warmup, cpu_threads=cpu_threads,
                      backend=backend, feed_hz=feed_hz, feed_frames=feed_frames, startup_timeout_s=startup_timeout_s)
    torch.set_num_threads(cpu_threads_for(cpu_threads))  # as the node does
    segmenter = Segmenter(model=model, device=device, backend=backend)
    times = []
    for i in range(warmup + frames):
        start = time.perf_counter()
        segmenter.segment(image)
        if segmenter.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return {
        "model": model, "backend": segmenter.backend.description, "device": str(segmenter.device), "image": [height, width], "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "segmenter_segment": _summary(times),
        "node_publish_to_received": node,
        "note": "node: separate process, rgb8 Image over DDS (FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA), "
                "one frame in flight; random weights (timing does not depend on them)",
    }


def run(args: argparse.Namespace) -> int:
    result = measure_node_latency(model=args.model, device=args.device, width=args.width, height=args.height,
                                  frames=args.frames, warmup=args.warmup, cpu_threads=args.cpu_threads,
                                  backend=args.backend, feed_hz=args.feed_hz, feed_frames=args.feed_frames,
                                  startup_timeout_s=args.startup_timeout)
    seg = result["segmenter_segment"]
    print(f"{result['model']} {args.width}x{args.height} on {result['device']}, {result['backend']} "
          f"({result['torch_threads']} threads)")
    print(f"  Segmenter.segment (bare)             p50 {seg['p50_ms']:7.1f} ms  p99 {seg['p99_ms']:7.1f} ms")
    for phase, r in result["node_publish_to_received"].items():
        lost = f"lost {r['lost']}" if "lost" in r else f"dropped {r['dropped']} of {r['sent']}"
        print(f"  node publish -> received ({phase:11s}) p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms"
              f"  (n={r['n']}, {lost})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"written {args.json}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node-latency", help="segment_node end-to-end latency vs bare Segmenter.segment")
    p.add_argument("--model", default="ghostnet_aspp_da")
    p.add_argument("--device", default="auto")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--backend", default="auto", help="auto, torch or onnxruntime (node and bare)")
    p.add_argument("--feed-hz", type=float, default=60.0, help="rate of the fed phase (frames published without waiting)")
    p.add_argument("--feed-frames", type=int, default=120)
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the node's topics")
    p.add_argument("--cpu-threads", type=int, default=0, help="torch CPU threads (node and bare); 0 = the node's default, half the cores")
    p.add_argument("--json", default="", help="also write the result as JSON here")
    p.set_defaults(func=run)
