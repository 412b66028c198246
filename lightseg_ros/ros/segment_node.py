"""``segment_node``: camera images in; label masks, colour masks, overlays and confidence out.

Thin glue over :mod:`lightseg_ros.inference`. Subscription callbacks only drop the newest frame in
a one-slot-per-camera mailbox; a worker thread takes it and reads like a sentence: convert, infer,
publish. Frames arriving while the worker is busy replace the waiting one (counted as dropped), so
nothing goes stale. Outputs nobody subscribes to are not computed; with no subscriber at all,
inference is skipped.

Topics (per camera, see :mod:`lightseg_ros.ros.topics`), for input ``/cam/image_raw``:

* ``/cam/segmentation/mask`` (mono8 class ids, input resolution)
* ``/cam/segmentation/color_mask`` (rgb8), ``/cam/segmentation/overlay`` (rgb8)
* ``/cam/segmentation/confidence`` (32FC1, max softmax probability in [0, 1])
* ``/cam/segmentation/class_legend`` (std_msgs/String JSON, transient local), plus
  ``/cam/segmentation/label_info`` (vision_msgs/LabelInfo) where vision_msgs is installed
* ``/diagnostics`` (diagnostic_msgs/DiagnosticArray)

Every output carries its input's header (stamp and frame_id). Parameters: :mod:`node_config`.
Run: ``ros2 run lightseg_ros segment_node --ros-args -p image_topics:="[/cam/image_raw]"``
or ``python -m lightseg_ros.ros.segment_node``.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from ..inference import ImageDecodeError, Segmenter, colorize, decode_compressed_image, decode_image, overlay
from ..inference.image_codec import image_fields
from ..inference.memory import return_large_buffers_to_the_system
from ..inference.visualize import palette_lut
from ..models import UnknownModelError, WeightsError, no_shipped_weights_note, resolve_weights
from ..models.shipped import RANDOM
from .frame_mailbox import LatestFrameMailbox
from .node_config import PARAMETERS, RELOAD_PARAMETERS, ModelConfig, cpu_threads_for, validate_change
from .node_health import HealthSnapshot, assess, resident_memory_mb
from .node_stats import LatencyWindow, RateMeter, WarningThrottle
from .topics import OUTPUTS, is_compressed_topic, output_namespaces

try:  # vision_msgs is optional (not on PyPI); the JSON legend is always published
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:  # pragma: no cover - depends on the installation
    LabelInfo = VisionClass = None

__all__ = ["SegmentNode", "main", "load_segmenter", "legend_json"]

LARGE_DATA_ENV = ("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
_RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def load_segmenter(config: ModelConfig) -> Segmenter:
    """Build the segmenter a config describes: a weights file, else the model's shipped weights, else
    random weights for ``model`` (see :mod:`lightseg_ros.models.shipped`)."""
    path = resolve_weights(config.weights, config.model)
    return Segmenter(
        path, model=None if path else config.model, num_classes=None if path else config.num_classes,
        device=config.device, input_size=config.input_size, resize=config.resize, backend=config.backend,
        max_input_pixels=config.max_input_pixels, max_inference_pixels=config.max_inference_pixels or None,
    )


def legend_json(segmenter: Segmenter) -> str:
    """The class legend as JSON: model, weights, and per class id, name and RGB colour."""
    return json.dumps({
        "model": segmenter.model_name,
        "weights": segmenter.weights_path or "",
        "random_weights": segmenter.random_weights,
        "classes": [{"id": i, "name": n, "color": [int(c) for c in segmenter.palette[i]]}
                    for i, n in enumerate(segmenter.class_names)],
    })


def _descriptor(spec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.float_range is not None:
        d.floating_point_range = [FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1])]
    if spec.int_range is not None:
        d.integer_range = [IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)]
    if spec.choices is not None:
        d.additional_constraints = f"one of: {', '.join(spec.choices)}"
    return d


@dataclass
class Frame:
    msg: Any
    received: float  # time.monotonic() at arrival


class CameraOutputs:
    """One camera's subscription and output publishers."""

    def __init__(self, node: Node, index: int, topic: str, namespace: str, compressed: bool,
                 input_qos: QoSProfile, output_qos: QoSProfile, on_frame) -> None:
        self.topic, self.namespace, self.compressed = topic, namespace, compressed
        self.publishers = {name: node.create_publisher(Image, f"{namespace}/{name}", output_qos) for name in OUTPUTS}
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.legend_pub = node.create_publisher(String, f"{namespace}/class_legend", latched)
        self.label_info_pub = (node.create_publisher(LabelInfo, f"{namespace}/label_info", latched)
                               if LabelInfo is not None else None)
        self.subscription = node.create_subscription(
            CompressedImage if compressed else Image, topic, lambda msg: on_frame(index, msg), input_qos)

    def wanted(self, enabled: frozenset[str]) -> set[str]:
        """Enabled outputs that have at least one subscriber right now."""
        return {name for name in enabled if self.publishers[name].get_subscription_count() > 0}

    def decode(self, msg: Any, max_pixels: int | None = None):
        return decode_compressed_image(msg, max_pixels) if self.compressed else decode_image(msg, max_pixels)

    def publish(self, name: str, header: Any, array, encoding: str) -> None:
        out = Image()
        out.header = header
        fields = image_fields(array, encoding)
        out.height, out.width, out.encoding = fields["height"], fields["width"], fields["encoding"]
        out.is_bigendian, out.step, out.data = fields["is_bigendian"], fields["step"], fields["data"]
        self.publishers[name].publish(out)

    def publish_legend(self, segmenter: Segmenter, stamp) -> None:
        self.legend_pub.publish(String(data=legend_json(segmenter)))
        if self.label_info_pub is not None:  # pragma: no cover - needs vision_msgs
            info = LabelInfo()
            info.header.stamp = stamp
            info.class_map = [VisionClass(class_id=i, class_name=n) for i, n in enumerate(segmenter.class_names)]
            self.label_info_pub.publish(info)


class SegmentNode(Node):
    """Segments the newest frame of each camera topic in a worker thread; see the module docstring."""

    def __init__(self, node_name: str = "segment_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._running = False
        self._busy = False
        self._mailbox = LatestFrameMailbox()
        self._worker: threading.Thread | None = None
        for spec in PARAMETERS:
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name, value in values.items():
            reason = validate_change(name, value)
            if reason:
                raise ValueError(f"parameter {name}: {reason}")
        torch.set_num_threads(cpu_threads_for(int(values["cpu_threads"])))
        return_large_buffers_to_the_system()  # resident memory follows the frames held (inference/memory.py)
        self._segmenter = load_segmenter(ModelConfig.from_values(values))  # errors end the process (main)
        self._lut = palette_lut(self._segmenter.palette)
        self._alpha = float(values["overlay_alpha"])
        self._enabled = frozenset(values["outputs"])
        self._reload_request: ModelConfig | None = None
        self._reload_lock = threading.Lock()
        self._model_error = ""
        self._refused = ""  # the last refused run-time change (for /diagnostics), until the next model load
        self._memory_budget_mb = int(values["memory_budget_mb"])
        self._log_model()

        input_qos = QoSProfile(depth=int(values["input_depth"]), history=HistoryPolicy.KEEP_LAST,
                               reliability=_RELIABILITY[values["input_reliability"]],
                               durability=DurabilityPolicy.VOLATILE)
        output_qos = QoSProfile(depth=1, reliability=_RELIABILITY[values["output_reliability"]])
        topics = list(values["image_topics"])
        namespaces = output_namespaces(topics, values["output_namespace"])
        self._cameras = [
            CameraOutputs(self, i, topic, ns, is_compressed_topic(topic, values["transport"]), input_qos, output_qos,
                          self._on_frame)
            for i, (topic, ns) in enumerate(zip(topics, namespaces))
        ]
        for cam in self._cameras:
            self.get_logger().info(f"{cam.topic} ({'compressed' if cam.compressed else 'raw'}) -> {cam.namespace}/*")
            cam.publish_legend(self._segmenter, self.get_clock().now().to_msg())

        self._input_rate, self._output_rate = RateMeter(), RateMeter()
        self._latency = LatencyWindow()
        self._bad_frames = 0
        self._failed_frames = 0
        self._last_bad, self._last_failure = "", ""
        self._single_class = (0, "")  # (consecutive masks with one class everywhere, its name)
        self._reported = (0, 0, 0)  # dropped as malformed, failed, published: at the last /diagnostics
        self._skipped = 0
        self._throttle = WarningThrottle(5.0)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(values["diagnostics_period"]), self._publish_diagnostics)
        self._running = True
        self._worker = threading.Thread(target=self._work, name="segmentation_worker", daemon=True)
        self._worker.start()

    def _log_model(self) -> None:
        seg = self._segmenter
        line = f"model {seg.model_name} on {seg.device}, {len(seg.class_names)} classes"
        if not seg.random_weights:
            self.get_logger().info(f"{line} (weights {seg.weights_path})")
        elif str(self.get_parameter("weights").value).strip() == RANDOM:
            self.get_logger().info(f"{line} (RANDOM weights, as asked: masks are meaningless)")
        else:
            self.get_logger().warning(f"{line}: {no_shipped_weights_note(seg.model_name)}")

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter in use (replaced atomically on a model switch)."""
        return self._segmenter

    @property
    def dropped_frames(self) -> int:
        """Frames replaced in the mailbox by a newer one before the worker took them."""
        return self._mailbox.dropped

    def idle(self) -> bool:
        """No frame waiting and none being processed."""
        return not self._busy and len(self._mailbox) == 0

    # -- executor thread -------------------------------------------------------------------------
    def _on_frame(self, camera: int, msg: Any) -> None:
        now = time.monotonic()
        self._input_rate.tick(now)
        self._mailbox.put(camera, Frame(msg, now))

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            reason = validate_change(p.name, p.value)
            if reason:
                self.get_logger().warning(f"refused {p.name}={p.value!r}: {reason}")
                if p.name in RELOAD_PARAMETERS:
                    self._refused = f"{p.name}={str(p.value)[:200]!r} ({reason}); still running {self._segmenter.model_name}"
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        names = {p.name for p in params}
        for p in params:
            if p.name == "overlay_alpha":
                self._alpha = float(p.value)
            elif p.name == "outputs":
                self._enabled = frozenset(p.value)
            elif p.name == "memory_budget_mb":
                self._memory_budget_mb = int(p.value)
        if names & RELOAD_PARAMETERS:
            values = {n: self.get_parameter(n).value for n in RELOAD_PARAMETERS}
            with self._reload_lock:
                self._reload_request = ModelConfig.from_values(values)
            self._mailbox.wake()

    # -- worker thread ---------------------------------------------------------------------------
    def _work(self) -> None:
        while self._running:
            self._reload_if_requested()
            item = self._mailbox.take(timeout=0.1)
            if item is None:
                continue
            camera, frame = item
            self._busy = True
            try:
                self._process(self._cameras[camera], frame)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the worker
                self._bad_frames += 1
                self._failed_frames += 1
                self._last_failure = f"{type(exc).__name__}: {str(exc)[:200]}"
                log, suppressed = self._throttle.allow("inference_error")
                if log:
                    self.get_logger().error(f"frame from {self._cameras[camera].topic} failed: {exc!r}"
                                            + (f" ({suppressed} more suppressed)" if suppressed else ""))
            finally:
                self._busy = False

    def _process(self, camera: CameraOutputs, frame: Frame) -> None:
        """Convert, infer, publish the outputs somebody listens to."""
        wanted = camera.wanted(self._enabled)
        if not wanted:
            self._skipped += 1
            return
        segmenter, lut, alpha, header = self._segmenter, self._lut, self._alpha, frame.msg.header
        try:
            image = camera.decode(frame.msg, segmenter.max_input_pixels)
        except ImageDecodeError as exc:
            self._warn_bad_frame(camera.topic, exc)
            return
        result = segmenter.segment(image, confidence="confidence" in wanted)
        first = int(result.mask.flat[0])
        uniform = bool((result.mask == first).all())
        self._single_class = (self._single_class[0] + 1 if uniform else 0,
                              segmenter.class_names[first] if uniform and first < len(segmenter.class_names) else "")
        self._publish_outputs(camera, header, image, result, wanted, lut, alpha)
        self._output_rate.tick()
        self._latency.add(time.monotonic() - frame.received)

    def _publish_outputs(self, camera, header, image, result, wanted, lut, alpha) -> None:
        if "mask" in wanted:
            camera.publish("mask", header, result.mask, "mono8")
        if "color_mask" in wanted or "overlay" in wanted:
            colors = colorize(result.mask, lut)
            if "color_mask" in wanted:
                camera.publish("color_mask", header, colors, "rgb8")
            if "overlay" in wanted:
                camera.publish("overlay", header, overlay(image, result.mask, lut, alpha, color_mask=colors), "rgb8")
        if "confidence" in wanted:
            camera.publish("confidence", header, result.confidence, "32FC1")

    def _warn_bad_frame(self, topic: str, exc: ImageDecodeError) -> None:
        self._bad_frames += 1
        self._last_bad = str(exc)[:300]
        log, suppressed = self._throttle.allow(exc.kind)
        if log:
            more = f" ({suppressed} more like it suppressed)" if suppressed else ""
            self.get_logger().warning(f"dropped a bad frame from {topic}: {exc}{more}")

    def _reload_if_requested(self) -> None:
        with self._reload_lock:
            config, self._reload_request = self._reload_request, None
        if config is None:
            return
        try:
            segmenter = load_segmenter(config)
        except (UnknownModelError, WeightsError, ValueError, OSError) as exc:
            self._model_error = str(exc)
            self.get_logger().error(f"model switch failed, keeping {self._segmenter.model_name}: {exc}")
            return
        self._segmenter, self._lut, self._model_error = segmenter, palette_lut(segmenter.palette), ""
        self._refused, self._single_class = "", (0, "")
        self._log_model()
        for cam in self._cameras:
            cam.publish_legend(segmenter, self.get_clock().now().to_msg())

    # -- diagnostics -----------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        p50, p99 = self._latency.percentiles_ms(50, 99)
        seg = self._segmenter
        status = DiagnosticStatus(name=f"{self.get_name()}: segmentation", hardware_id=str(seg.device))
        failed, out = self._failed_frames, self._output_rate.total
        bad = self._bad_frames - failed  # dropped as malformed; bad_frames counts failures too
        rss = resident_memory_mb()
        level, status.message = assess(HealthSnapshot(
            model_error=self._model_error, refused_change=self._refused, random_weights=seg.random_weights,
            bad_frames=bad - self._reported[0], last_bad_reason=self._last_bad,
            failed_frames=failed - self._reported[1], last_failure=self._last_failure,
            frames_out=out - self._reported[2], single_class_streak=self._single_class[0],
            single_class_name=self._single_class[1], rss_mb=rss, memory_budget_mb=self._memory_budget_mb))
        status.level = bytes([level])
        self._reported = (bad, failed, out)
        values = {
            "input_rate_hz": f"{self._input_rate.rate():.2f}", "output_rate_hz": f"{self._output_rate.rate():.2f}",
            "latency_p50_ms": f"{p50:.1f}", "latency_p99_ms": f"{p99:.1f}",
            "frames_in": str(self._input_rate.total), "frames_out": str(self._output_rate.total),
            "dropped_frames": str(self._mailbox.dropped), "bad_frames": str(self._bad_frames),
            "failed_frames": str(failed), "resident_memory_mb": f"{rss:.0f}" if rss is not None else "n/a",
            "skipped_no_subscribers": str(self._skipped), "device": str(seg.device), "model": seg.model_name,
            "weights": seg.weights_path or RANDOM, "cameras": ", ".join(c.topic for c in self._cameras),
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(msg)

    def destroy_node(self) -> None:
        self._running = False
        self._mailbox.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``segment_node``: spin until Ctrl-C; exit code 2 when the model cannot be loaded."""
    os.environ.setdefault(*LARGE_DATA_ENV)  # before the DDS participant exists; see README (Fast DDS)
    rclpy.init(args=args)
    try:
        node = SegmentNode()
    except (UnknownModelError, WeightsError, ValueError) as exc:
        rclpy.logging.get_logger("segment_node").error(f"cannot start: {exc}")
        rclpy.try_shutdown()
        return 2
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
