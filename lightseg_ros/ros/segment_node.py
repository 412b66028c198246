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
``segment_node``: camera images in; label masks, colour masks, overlays and confidence out.

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
or ``python -m lightseg_ros.ros.segment_node``. The managed (lifecycle) variant, same parameters
and topics: :mod:`lightseg_ros.ros.segment_lifecycle_node`, on the steps of
:class:`SegmentNodeBase`.
"""

from __future__ import annotations

import array
from collections import OrderedDict
import dataclasses
from dataclasses import dataclass
import gc
import inspect
import json
import math
import os
import sys
import threading
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
import rclpy
from rclpy.clock import Clock, ClockType
try:
    from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
except ImportError:  # Humble: the module's name before Iron
    from rclpy.qos_event import SubscriptionEventCallbacks, UnsupportedEventTypeError
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import String
import torch

from .entry import interrupted, stopped
from .frame_mailbox import LatestFrameMailbox
from .input_qos import (
    camera_info_qos,
    choose_durability,
    choose_reliability,
    choose_transport,
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    loss_reason,
    Offer,
    silence_reason,
)
from .node_config import (
    cpu_threads_for,
    ModelConfig,
    PARAMETERS,
    RELOAD_PARAMETERS,
    validate_change,
)
from .node_health import assess, HealthSnapshot, resident_memory_mb
from .node_stats import LatencyWindow, RateMeter, WarningThrottle
from .params import declare, run_time_types
from .topics import (
    camera_info_topic,
    is_compressed_topic,
    output_namespaces,
    OUTPUTS,
    transport_topic,
)
from .wire import header_fields, image_message, read_message
from ..inference import (
    colorize,
    decode_compressed_image,
    decode_image,
    ImageDecodeError,
    overlay,
    Segmenter,
)
from ..inference.backends import BackendError, remove_process_export_dir
from ..inference.memory import return_large_buffers_to_the_system
from ..inference.segmenter import build_segmenter
from ..inference.visualize import palette_lut
from ..models import no_shipped_weights_note, UnknownModelError, WeightsError
from ..models.shipped import RANDOM

# what a bad model, weights file, device or backend raises when a model loads (one line each)
MODEL_INPUT_ERRORS = (UnknownModelError, WeightsError, ValueError, OSError, BackendError)

try:  # vision_msgs is optional (not on PyPI); the JSON legend is always published
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:  # pragma: no cover - depends on the installation
    LabelInfo = VisionClass = None

__all__ = [
    'SegmentNode',
    'SegmentNodeBase',
    'ParameterError',
    'main',
    'load_segmenter',
    'legend_json',
]

_RELIABILITY = {
    'best_effort': ReliabilityPolicy.BEST_EFFORT,
    'reliable': ReliabilityPolicy.RELIABLE,
}
_OFFERED = {ReliabilityPolicy.BEST_EFFORT: 'best_effort', ReliabilityPolicy.RELIABLE: 'reliable'}
_DURABILITY = {
    'volatile': DurabilityPolicy.VOLATILE,
    'transient_local': DurabilityPolicy.TRANSIENT_LOCAL,
}
_OFFERED_DURABILITY = {policy: name for name, policy in _DURABILITY.items()}
# A frame's time in the node, in order (diagnostics' stages_p50_p99_ms): arrival -> the worker
# takes it, reading the message, segment(), the outputs made and published
STAGES = ('wait', 'read', 'segment', 'publish')
# How long a Python thread may hold the interpreter while another waits for it (Python's default is
# 5 ms). The worker waits for it after each frame is handed over, while the executor thread runs
# rclpy's Python between callbacks. On an H100 at 640x480 the node's "wait" stage (arrival -> the
# worker starts) had a p99 of 2.2-2.5 ms at 5 ms and 1.3-1.4 ms at 0.5 ms, the same p50 (0.5-0.6
# ms; 490 frames a run, BENCHMARKS.md "Third lease"). The console scripts set it; a node made in
# another program leaves that program's setting alone.
SWITCH_INTERVAL_S = 0.0005
# rclpy before Iron has no matched event: there the inputs follow their publishers each second
_MATCHED_EVENTS = 'matched' in inspect.signature(SubscriptionEventCallbacks).parameters
# rclpy before Iron (Humble) has no pre-set and post-set parameter callbacks, only the on-set one
# that validates: there a whole number for a double is refused by rclpy, as ever, and a change is
# applied from a timer that fires once the values are written
_SET_PHASES = hasattr(Node, 'add_post_set_parameters_callback')
RECHECK_PERIOD_S = 0.1  # how soon an input follows a publisher that matched or was incompatible
CAMERA_INFOS_KEPT = 8  # recent camera_info messages, to pass on each frame's own by its stamp
LOSS_MEMORY_S = 10.0  # /diagnostics stays WARN this long after DDS last reported lost input frames


class ParameterError(ValueError):
    """A parameter value the node refuses; ``name`` is the parameter."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f'parameter {name}: {reason}')
        self.name, self.reason = name, reason


def load_segmenter(config: ModelConfig) -> Segmenter:
    """
    Return the segmenter a config describes, warmed up (``warmup_image_size``).

    See :func:`~lightseg_ros.inference.segmenter.build_segmenter`.
    """
    segmenter = build_segmenter(
        config.weights,
        config.model,
        num_classes=config.num_classes,
        device=config.device,
        input_size=config.input_size,
        resize=config.resize,
        backend=config.backend,
        max_input_pixels=config.max_input_pixels,
        max_inference_pixels=config.max_inference_pixels or None,
        torch_compile=config.torch_compile,
    )
    segmenter.warm_up(config.warmup_image_size)
    return segmenter


def legend_json(segmenter: Segmenter) -> str:
    """Return the class legend as JSON: model, weights, and per class id, name and RGB colour."""
    return json.dumps(
        {
            'model': segmenter.model_name,
            'weights': segmenter.weights_path or '',
            'random_weights': segmenter.random_weights,
            'classes': [
                {'id': i, 'name': n, 'color': [int(c) for c in segmenter.palette[i]]}
                for i, n in enumerate(segmenter.class_names)
            ],
        }
    )


def _descriptor(spec) -> ParameterDescriptor:
    d = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.float_range is not None:
        d.floating_point_range = [
            FloatingPointRange(from_value=spec.float_range[0], to_value=spec.float_range[1])
        ]
    if spec.int_range is not None:
        d.integer_range = [
            IntegerRange(from_value=spec.int_range[0], to_value=spec.int_range[1], step=1)
        ]
    if spec.choices is not None:
        d.additional_constraints = f'one of: {", ".join(spec.choices)}'
    return d


@dataclass
class Frame:
    raw: bytes  # the serialized message, as DDS delivered it (read in the worker: wire.py)
    msgtype: str  # IMAGE_TYPE or COMPRESSED_TYPE
    received: float  # time.monotonic() at arrival


def publisher_offers(node: Node, topic: str) -> list[Offer]:
    """Return what each publisher of ``topic`` offers, as :mod:`input_qos` reads it."""
    return [
        Offer(
            _OFFERED.get(info.qos_profile.reliability, 'unknown'),
            info.topic_type,
            _OFFERED_DURABILITY.get(info.qos_profile.durability, 'unknown'),
        )
        for info in node.get_publishers_info_by_topic(topic)
    ]


class CameraInput:
    """
    One camera topic's subscription, re-created when its publishers call for another QoS or type.

    The choice itself is :mod:`input_qos`'s (pure); this class asks the ROS graph what the
    publishers offer and keeps the subscription in line with it.
    """

    def __init__(
        self,
        node: Node,
        topic: str,
        transport: str,
        reliability: str,
        depth: int,
        on_frame,
        subscribe_as: str | None = None,
    ) -> None:
        self.node, self.topic, self.transport, self.requested, self.depth = (
            node,
            topic,
            transport,
            reliability,
            depth,
        )
        # the name the subscription is created with: rcl remaps it to ``topic``
        # (SegmentNode._subscription_name)
        self.subscribe_as = subscribe_as or topic
        self._on_frame = on_frame
        self.subscription = None
        self.reliability = self.durability = ''
        self.compressed = False
        self.lost_messages = 0
        self.last_frame = self.since = time.monotonic()
        self.published_since: float | None = (
            None  # when the topic last went from no publisher to some
        )
        self.recheck, self.matched_at = False, 0.0

    def offers(self) -> list[Offer]:
        return publisher_offers(self.node, self.topic)

    @property
    def subscribed_type(self) -> str:
        return COMPRESSED_TYPE if self.compressed else IMAGE_TYPE

    def refresh(self) -> None:
        """
        (Re-)create the subscription if the publishers now call for it.

        That is when they call for another reliability or type.
        """
        offers = self.offers()
        if not offers:
            self.published_since = None
        elif self.published_since is None:
            self.published_since = time.monotonic()
        reliability = choose_reliability(self.requested, offers)
        durability = choose_durability(offers)
        compressed = choose_transport(self.transport, is_compressed_topic(self.topic), offers)
        # a publisher matched before the graph lists it: look again at the next quick checks, for
        # a second at most (one that matched and left at once is not looked for ten times a second)
        self.recheck = self.recheck and not offers and time.monotonic() - self.matched_at < 1.0
        if self.subscription is not None and (reliability, durability, compressed) == (
            self.reliability,
            self.durability,
            self.compressed,
        ):
            return
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
        qos = QoSProfile(
            depth=self.depth,
            history=HistoryPolicy.KEEP_LAST,
            reliability=_RELIABILITY[reliability],
            durability=_DURABILITY[durability],
        )
        msgtype = COMPRESSED_TYPE if compressed else IMAGE_TYPE
        global _MATCHED_EVENTS
        for matched in (True, False) if _MATCHED_EVENTS else (False,):
            events = SubscriptionEventCallbacks(
                incompatible_qos=self._incompatible,
                message_lost=self._lost,
                **({'matched': self._matched} if matched else {}),
            )
            try:
                # serialized: a dropped frame is never converted, a kept one is read without copies
                self.subscription = self.node.create_subscription(
                    CompressedImage if compressed else Image,
                    self.subscribe_as,
                    lambda raw: self._on_frame(raw, msgtype),
                    qos,
                    event_callbacks=events,
                    raw=True,
                )
                break
            except UnsupportedEventTypeError:  # a middleware without matched events
                _MATCHED_EVENTS = False
        self.reliability, self.durability = reliability, durability
        self.compressed, self.since = compressed, time.monotonic()
        offered = (
            ', '.join(
                sorted({f'{o.topic_type.rsplit("/", 1)[-1]} {o.reliability}' for o in offers})
            )
            or 'none yet'
        )
        latched = ' transient_local' if durability == 'transient_local' else ''
        self.node.get_logger().info(
            f'{self.topic}: subscribed {self.subscribed_type.rsplit("/", 1)[-1]} '
            f'{reliability}{latched} (input_reliability {self.requested}; publishers offer: '
            f'{offered})'
        )

    def close(self) -> None:
        """Unsubscribe (deactivation); the next :meth:`refresh` subscribes again."""
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
        self.subscription, self.reliability, self.published_since = None, '', None

    def _incompatible(
        self, info
    ) -> None:  # executor thread; re-created on the next check, not inside the event
        self.recheck = True

    def _matched(self, info) -> None:
        # a publisher came: its QoS may call for another subscription (a reliable camera found
        # the best-effort reader that waits for any publisher); the quick check follows it
        if int(info.current_count_change) > 0:
            self.recheck, self.matched_at = True, time.monotonic()

    def _lost(self, info) -> None:
        self.lost_messages += int(info.total_count_change)

    def silence(self, now: float, after_s: float) -> str | None:
        """Why no frame arrived for ``after_s`` seconds although somebody publishes, else None."""
        if self.published_since is None:
            return None
        quiet = now - max(self.last_frame, self.since, self.published_since)
        if quiet < after_s:
            return None
        offers = self.offers()
        arrived = self.last_frame > self.since  # a frame came on this subscription
        if arrived and offers and all(o.durability == 'transient_local' for o in offers):
            return None  # latched publishers that sent their image: nothing more is due
        return silence_reason(
            self.topic,
            offers,
            subscribed_type=self.subscribed_type,
            subscribed_reliability=self.reliability,
            lost_messages=self.lost_messages,
            seconds=quiet,
            arrived=arrived,
        )


class CameraOutputs:
    """
    One camera's input and output publishers.

    On a lifecycle node the publishers are lifecycle publishers (they publish only while the node
    is active). The input subscriptions exist between :meth:`start_input` and :meth:`stop_input`.
    """

    def __init__(
        self,
        node: Node,
        index: int,
        topic: str,
        namespace: str,
        transport: str,
        reliability: str,
        depth: int,
        output_qos: QoSProfile,
        on_frame,
        subscribe_as: str | None = None,
    ) -> None:
        self.topic, self.namespace = topic, namespace
        # a latched frame that came while no output had a subscriber (the worker's own)
        self.held: Frame | None = None
        create = getattr(node, 'create_lifecycle_publisher', node.create_publisher)
        self.publishers = {
            name: create(Image, f'{namespace}/{name}', output_qos) for name in OUTPUTS
        }
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.legend_pub = create(String, f'{namespace}/class_legend', latched)
        self.label_info_pub = (
            create(LabelInfo, f'{namespace}/label_info', latched)
            if LabelInfo is not None
            else None
        )
        # camera_info passes through, stamped like each mask, so masks can be projected into 3D
        self.camera_info: CameraInfo | None = None  # the latest
        self._infos: OrderedDict[tuple[int, int], CameraInfo] = OrderedDict()  # by stamp
        self.camera_info_pub = create(CameraInfo, f'{namespace}/camera_info', output_qos)
        self._camera_info_sub = None
        self._camera_info_qos = ('', '')  # (reliability, durability) subscribed
        self.input = CameraInput(
            node,
            topic,
            transport,
            reliability,
            depth,
            lambda raw, msgtype: on_frame(index, raw, msgtype),
            subscribe_as=subscribe_as,
        )

    def start_input(self, node: Node) -> None:
        self.refresh_camera_info(node)
        self.input.refresh()

    def refresh_camera_info(self, node: Node) -> None:
        """(Re-)subscribe camera_info when its publishers call for another QoS (input_qos)."""
        topic = camera_info_topic(self.topic)
        choice = camera_info_qos(publisher_offers(node, topic))
        if self._camera_info_sub is not None and choice == self._camera_info_qos:
            return
        if self._camera_info_sub is not None:
            node.destroy_subscription(self._camera_info_sub)
        qos = QoSProfile(
            depth=CAMERA_INFOS_KEPT,
            reliability=_RELIABILITY[choice[0]],
            durability=_DURABILITY[choice[1]],
        )
        self._camera_info_sub = node.create_subscription(
            CameraInfo, topic, self._on_camera_info, qos
        )
        self._camera_info_qos = choice

    def stop_input(self, node: Node) -> None:
        if self._camera_info_sub is not None:
            node.destroy_subscription(self._camera_info_sub)
            self._camera_info_sub, self._camera_info_qos = None, ('', '')
        self.input.close()

    def destroy(self, node: Node) -> None:
        """Stop the input and destroy the publishers."""
        self.stop_input(node)
        destroy = getattr(node, 'destroy_lifecycle_publisher', node.destroy_publisher)
        for pub in [
            *self.publishers.values(),
            self.legend_pub,
            self.label_info_pub,
            self.camera_info_pub,
        ]:
            if pub is not None:
                destroy(pub)

    def _on_camera_info(self, msg: CameraInfo) -> None:  # executor thread
        self.camera_info = msg
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        self._infos[stamp] = msg
        while len(self._infos) > CAMERA_INFOS_KEPT:
            self._infos.popitem(last=False)

    def wanted(self, enabled: frozenset[str]) -> set[str]:
        """Return the enabled outputs that have at least one subscriber right now."""
        return {name for name in enabled if self.publishers[name].get_subscription_count() > 0}

    @staticmethod
    def decode(msg: Any, msgtype: str, max_pixels: int | None = None):
        if msgtype == COMPRESSED_TYPE:
            return decode_compressed_image(msg, max_pixels)
        return decode_image(msg, max_pixels)

    def publish(self, name: str, header: Any, array, encoding: str) -> None:
        self.publishers[name].publish(image_message(header, array, encoding))

    def publish_camera_info(self, header: Any) -> None:
        if self.camera_info is None or self.camera_info_pub.get_subscription_count() == 0:
            return
        out = CameraInfo()
        sec, nanosec, out.header.frame_id = header_fields(header)
        # the frame's own calibration where it came (a zooming or self-calibrating camera changes
        # it between frames, and the frame waited in the mailbox meanwhile), else the latest
        info = self._infos.get((sec, nanosec)) or self.camera_info
        out.header.stamp.sec, out.header.stamp.nanosec = sec, nanosec
        out.height, out.width, out.distortion_model = (
            info.height,
            info.width,
            info.distortion_model,
        )
        out.d, out.k, out.r, out.p = info.d, info.k, info.r, info.p
        out.binning_x, out.binning_y, out.roi = info.binning_x, info.binning_y, info.roi
        self.camera_info_pub.publish(out)

    def publish_legend(self, segmenter: Segmenter, stamp) -> None:
        self.legend_pub.publish(String(data=legend_json(segmenter)))
        if self.label_info_pub is not None:  # pragma: no cover - needs vision_msgs
            info = LabelInfo()
            info.header.stamp = stamp
            info.class_map = [
                VisionClass(class_id=i, class_name=n) for i, n in enumerate(segmenter.class_names)
            ]
            self.label_info_pub.publish(info)


class SegmentNodeBase(Node):
    """
    The segmentation node's work, in the steps of a ROS 2 managed node's transitions.

    The constructor declares the parameters (and checks every later change); :meth:`_configure`
    reads them, loads the model, creates the publishers and starts the worker; :meth:`_activate`
    subscribes to the cameras; :meth:`_deactivate` unsubscribes (the model stays); :meth:`_cleanup`
    undoes :meth:`_configure`. :class:`SegmentNode` runs configure and activate in its constructor;
    ``segment_lifecycle_node`` runs each step on its lifecycle transition.
    """

    def __init__(self, node_name: str = 'segment_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._mailbox = LatestFrameMailbox()
        # set when the worker of this configure must stop: each worker gets its own (with its own
        # mailbox), so one still busy after a cleanup's join cannot bring its model back or keep
        # serving beside the next configure's worker
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._stage = 'unconfigured'  # -> inactive (_configure) -> active (_activate)
        self._segmenter: Segmenter | None = None
        self._cameras: list[CameraOutputs] = []
        self._input_timer = self._diagnostics_timer = self._diagnostics_pub = None
        self._recheck_timer = None
        # model switches: the lock guards the request, the set-back after a failed one, and the
        # count of model-parameter sets rclpy has validated but not yet written (it writes between
        # the validation and the post-set callbacks, under no lock of its own). Reentrant: the
        # worker's set-back runs those callbacks in its own thread while holding it.
        self._reload_lock = threading.RLock()
        self._restoring = False  # True while the worker sets parameters back (under the lock)
        self._pending_sets = 0
        for spec in PARAMETERS:
            declare(self, spec.name, spec.default, _descriptor(spec))
        if _SET_PHASES:
            self.add_pre_set_parameters_callback(run_time_types(self))
        self.add_on_set_parameters_callback(self._validate_parameters)
        self._apply_after_set = False  # without post-set callbacks: apply from a timer

    def _configure(self) -> None:
        """
        Read and check the parameters, load the model, create the publishers, start the worker.

        Raises ParameterError, UnknownModelError or WeightsError (nothing is left created then but
        the parameters).
        """
        values = {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS}
        for name, value in values.items():
            reason = validate_change(name, value)
            if reason:
                raise ParameterError(name, reason)
        topics = [self._input_topic(t, values['transport']) for t in values['image_topics']]
        subscribe_as = [
            self._subscription_name(t, resolved)
            for t, resolved in zip(values['image_topics'], topics)
        ]
        try:  # before the model loads (25 s with torch_compile on a GPU), which it does not need
            namespaces = output_namespaces(topics, values['output_namespace'])
        except ValueError as exc:  # one camera listed twice, or in two transports
            raise ParameterError('image_topics', str(exc)) from None
        torch.set_num_threads(cpu_threads_for(int(values['cpu_threads'])))
        # resident memory follows the frames held (inference/memory.py)
        return_large_buffers_to_the_system()
        # errors end the process (main)
        running_values = {n: values[n] for n in RELOAD_PARAMETERS}
        self._running = (ModelConfig.from_values(values), running_values)
        self._segmenter = load_segmenter(self._running[0])
        self._lut = palette_lut(self._segmenter.palette)
        self._alpha = float(values['overlay_alpha'])
        self._enabled = frozenset(values['outputs'])
        # (config, parameter values) of the switch the worker is asked for; the lock is reentrant
        # because a failed switch sets the parameters back from the worker while holding it
        self._reload_request: tuple[ModelConfig, dict[str, Any]] | None = None
        with self._reload_lock:
            self._restoring = False
            self._pending_sets = 0
        self._model_error = ''
        self._refused = (
            ''  # the last refused run-time change (for /diagnostics), until the next model load
        )
        self._memory_budget_mb = int(values['memory_budget_mb'])
        self._log_model()

        output_qos = QoSProfile(
            depth=int(values['output_depth']),
            reliability=_RELIABILITY[values['output_reliability']],
            durability=_DURABILITY[values['output_durability']],
        )
        self._cameras = [
            CameraOutputs(
                self,
                i,
                topic,
                ns,
                values['transport'],
                values['input_reliability'],
                int(values['input_depth']),
                output_qos,
                self._on_frame,
                subscribe_as=name,
            )
            for i, (topic, ns, name) in enumerate(zip(topics, namespaces, subscribe_as))
        ]
        self._silence_after = float(values['no_input_warning_s'])
        self._silence: dict[str, str] = {}  # topic -> why no frame arrives
        self._losses: dict[
            str, tuple[float, int, str]
        ] = {}  # topic -> (when, lost so far, why) of the last loss

        self._input_rate, self._output_rate = RateMeter(), RateMeter()
        self._latency = LatencyWindow()
        # The first frame of each input size per loaded model is kept out of the latency window:
        # it builds that size's CUDA graph (and compiles, with torch_compile), 4.6 s on an H100,
        # and would stand in the window's p99 for its next 500 frames. Reported on its own.
        self._sizes_seen: tuple[object, set] = (None, set())
        # where a steady-state frame's time goes, for the same frames as the latency window:
        # waiting for the worker, reading the message, the segmenter, making and publishing outputs
        self._stages = {name: LatencyWindow() for name in STAGES}
        self._first_frames, self._first_frame_ms = 0, float('nan')
        self._malformed_frames = 0  # dropped as malformed (failed frames are counted apart)
        self._failed_frames = 0
        self._last_bad, self._last_failure = '', ''
        # per camera: (consecutive masks with one class everywhere, its name); one camera's varied
        # masks do not hide another's uniform ones, and a camera that has sent no frame for
        # no_input_warning_s no longer counts
        self._single_class: dict[str, tuple[int, str]] = {}
        self._busy_since: float | None = None  # the worker's current frame or load began
        # dropped as malformed, failed, published: at the last /diagnostics
        self._reported = (0, 0, 0)
        self._skipped = 0
        self._throttle = WarningThrottle(5.0)
        if _SET_PHASES:
            self.add_post_set_parameters_callback(self._apply_parameters)
        else:
            self._apply_after_set = True
        # not a lifecycle publisher: an inactive node still reports (its lifecycle state among the
        # values)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._diagnostics_timer = self.create_timer(
            float(values['diagnostics_period']), self._publish_diagnostics, clock=_steady()
        )
        self._mailbox = LatestFrameMailbox()
        self._stop = threading.Event()
        self._worker = threading.Thread(
            target=self._work,
            args=(self._mailbox, self._stop),
            name='segmentation_worker',
            daemon=True,
        )
        self._worker.start()
        self._stage = 'inactive'

    def _input_topic(self, topic: str, transport: str) -> str:
        """
        Return the topic to subscribe for an ``image_topics`` entry: resolved, then by transport.

        Resolved as rclpy resolves a subscription's name (node namespace, ``~``, remapping), so
        that the camera_info and output topics derived from it follow ``-r __ns:=/robot1`` and
        ``-r /camera/image_raw:=/front/image_raw`` as the image does; ``transport: compressed``
        on a base topic takes image_transport's ``<base>/compressed``.
        """
        try:
            resolved = self.resolve_topic_name(topic)
        except RuntimeError as exc:  # rclpy's RCLError: "failed to resolve name: why, at file"
            why = str(exc).split(', at ')[0].removeprefix('failed to resolve name: ')
            raise ParameterError(
                'image_topics', f'{topic[:80]!r} is not a valid topic name ({why[:200]})'
            ) from None
        return transport_topic(resolved, transport)

    def _subscription_name(self, topic: str, resolved: str) -> str:
        """
        Return the name to create the image subscription with, so it lands on the resolved topic.

        rcl remaps a subscription's name when it creates it, and remapping applies once: the
        resolved name, remapped again, could move (rules ``/a:=/b`` and ``/b:=/c`` sent the
        camera ``/a`` to ``/c``; two that swap names swapped it back). So a raw camera subscribes
        by its expanded name, which rcl remaps once; a compressed one by the resolved base topic
        with ``/compressed``, as image_transport names it. ``resolved``: :meth:`_input_topic`'s.
        """
        if resolved != self.resolve_topic_name(topic):  # a transport suffix was added
            return resolved
        return self.resolve_topic_name(topic, only_expand=True)

    def _activate(self) -> None:
        """
        Subscribe to the cameras and publish the class legend.

        The subscriptions follow the cameras' publishers' QoS.
        """
        for cam in self._cameras:
            cam.start_input(self)
            cam.publish_legend(self._segmenter, self.get_clock().now().to_msg())
        self._input_timer = self.create_timer(1.0, self._check_inputs, clock=_steady())
        # within 0.1 s of a publisher matching or an incompatible-QoS event, not at the next second
        self._recheck_timer = self.create_timer(
            RECHECK_PERIOD_S, self._follow_publishers, clock=_steady()
        )
        self._stage = 'active'
        # the last thing SegmentNode's constructor does: tools and tests wait for these lines, and
        # a signal after them meets a node that is up (it logs its stop summary); one that came
        # while the constructor still had work left ended it silently (a test saw it on a busy CI)
        for cam in self._cameras:
            self.get_logger().info(f'{cam.topic} -> {cam.namespace}/*')

    def _deactivate(self) -> None:
        """Unsubscribe from the cameras; the model, the publishers and the worker stay."""
        for timer in (self._input_timer, self._recheck_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._input_timer = self._recheck_timer = None
        for cam in self._cameras:
            cam.stop_input(self)
            cam.held = None  # an inactive node serves nothing, and a later frame is newer
        self._silence.clear()
        self._single_class = {}
        self._stage = 'inactive'

    def _cleanup(self) -> None:
        """
        Undo :meth:`_configure` (after :meth:`_deactivate`, or after a failed configure).

        Stop the worker, destroy the publishers, drop the model and free its GPU memory.
        """
        self._stop_worker()
        self._apply_after_set = False
        try:
            if _SET_PHASES:
                self.remove_post_set_parameters_callback(self._apply_parameters)
        except ValueError:  # a configure that failed before adding it
            pass
        for timer in (self._input_timer, self._recheck_timer, self._diagnostics_timer):
            if timer is not None:
                self.destroy_timer(timer)
        for cam in self._cameras:
            cam.destroy(self)
        if self._diagnostics_pub is not None:
            self.destroy_publisher(self._diagnostics_pub)
        self._input_timer = self._diagnostics_timer = self._diagnostics_pub = None
        self._recheck_timer = None
        self._cameras = []
        on_cuda = self._segmenter is not None and self._segmenter.device.type == 'cuda'
        self._segmenter = self._lut = None
        if on_cuda:
            gc.collect()
            torch.cuda.empty_cache()
        self._stage = 'unconfigured'

    #: how long a stop waits for the worker; one still loading a model after it (a torch.compile
    #: warm-up takes about 25 s) ends on its own, and its own stop event keeps it from touching
    #: the node again
    WORKER_STOP_WAIT_S = 5.0

    def _stop_worker(self) -> None:
        self._stop.set()
        self._mailbox.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=self.WORKER_STOP_WAIT_S)
        self._worker = None

    def _log_model(self) -> None:
        seg = self._segmenter
        line = f'model {seg.model_name} on {seg.device}, {len(seg.class_names)} classes'
        if seg.warmed_up:
            (height, width), seconds = seg.warmed_up
            line += f', warmed up for {height}x{width} frames in {seconds:.2f} s'
        if not seg.random_weights:
            self.get_logger().info(f'{line} (weights {seg.weights_path})')
        elif str(self.get_parameter('weights').value).strip() == RANDOM:
            self.get_logger().info(f'{line} (RANDOM weights, as asked: masks are meaningless)')
        else:
            self.get_logger().warning(f'{line}: {no_shipped_weights_note(seg.model_name)}')

    @property
    def segmenter(self) -> Segmenter:
        """Return the segmenter in use (replaced atomically on a model switch)."""
        return self._segmenter

    @property
    def dropped_frames(self) -> int:
        """Frames replaced in the mailbox by a newer one before the worker took them."""
        return self._mailbox.dropped

    def idle(self) -> bool:
        """No frame waiting and none being processed."""
        return self._mailbox.idle()

    # -- executor thread -------------------------------------------------------------------------
    def _on_frame(self, camera: int, raw: bytes, msgtype: str) -> None:
        now = time.monotonic()
        self._input_rate.tick(now)
        self._cameras[camera].input.last_frame = now
        self._mailbox.put(camera, Frame(raw, msgtype, now))

    def _follow_publishers(self) -> None:
        for cam in self._cameras:
            if cam.input.recheck:
                cam.input.refresh()

    def _check_inputs(self) -> None:
        """Follow the publishers' QoS and type; say why a topic with publishers stays silent."""
        now = time.monotonic()
        for cam in self._cameras:
            cam.input.refresh()
            cam.refresh_camera_info(self)
            _, counted, _ = self._losses.get(cam.topic, (0.0, 0, ''))
            # DDS saw samples it could not deliver (fragments lost)
            if cam.input.lost_messages > counted:
                reason = loss_reason(cam.topic, cam.input.lost_messages - counted)
                self._losses[cam.topic] = (now, cam.input.lost_messages, reason)
                log, _ = self._throttle.allow(f'lost:{cam.topic}', now)
                if log:
                    self.get_logger().warning(reason)
            reason = cam.input.silence(now, self._silence_after)
            if reason is None:
                self._silence.pop(cam.topic, None)
                continue
            self._silence[cam.topic] = reason
            log, suppressed = self._throttle.allow(f'silent:{cam.topic}', now)
            if log:
                self.get_logger().warning(reason)

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for p in params:
            reason = validate_change(p.name, p.value)
            if reason:
                self.get_logger().warning(f'refused {p.name}={p.value!r}: {reason}')
                if p.name in RELOAD_PARAMETERS:
                    seg = self._segmenter  # None while a lifecycle node is unconfigured
                    running = seg.model_name if seg is not None else 'no model (unconfigured)'
                    self._refused = (
                        f'{p.name}={str(p.value)[:200]!r} ({reason}); still running {running}'
                    )
                return SetParametersResult(successful=False, reason=reason)
        if self._stage != 'unconfigured' and any(p.name in RELOAD_PARAMETERS for p in params):
            with self._reload_lock:
                if not self._restoring:  # rclpy writes the values next, then _apply_parameters
                    self._pending_sets += 1
        if self._apply_after_set and not self._restoring:
            self._apply_when_written(params)
        return SetParametersResult(successful=True)

    def _apply_when_written(self, params: list[Parameter]) -> None:
        """Run :meth:`_apply_parameters` once rclpy has written ``params`` (rclpy before Iron)."""
        timer, tries = None, 0

        def fire() -> None:
            nonlocal tries
            tries += 1
            # a set from another thread than the executor's may still be writing
            written = all(
                _plain(self.get_parameter(p.name).value) == _plain(p.value) for p in params
            )
            if not written and tries < 100:
                return
            self.destroy_timer(timer)
            if self._apply_after_set:  # not cleaned up meanwhile
                self._apply_parameters(params)

        # on the executor, after this set's service call has returned, so after the write; on
        # the steady clock, which runs while a simulation holds /clock still
        timer = self.create_timer(0.001, fire, clock=_steady())

    def _apply_parameters(self, params: list[Parameter]) -> None:
        names = {p.name for p in params}
        for p in params:
            if p.name == 'overlay_alpha':
                self._alpha = float(p.value)
            elif p.name == 'outputs':
                self._enabled = frozenset(p.value)
            elif p.name == 'memory_budget_mb':
                self._memory_budget_mb = int(p.value)
        if names & RELOAD_PARAMETERS:
            with self._reload_lock:
                if self._restoring:  # the worker's own set-back after a failed switch: no load
                    return
                self._pending_sets = max(0, self._pending_sets - 1)
                # read under the lock: a set-back in progress has finished, and what is read is
                # what the parameters hold now (the same values again reload: a file replaced in
                # place is read anew)
                values = {n: self.get_parameter(n).value for n in RELOAD_PARAMETERS}
                self._reload_request = (ModelConfig.from_values(values), values)
            self._mailbox.wake()

    # -- worker thread ---------------------------------------------------------------------------
    def _busy(self, mailbox: LatestFrameMailbox, since: float | None) -> None:
        """Set when the worker's current frame or load began; a stopped worker's say is ignored."""
        if mailbox is self._mailbox:  # a worker left from before a cleanup has another mailbox
            self._busy_since = since

    def _work(self, mailbox: LatestFrameMailbox, stop: threading.Event) -> None:
        while not stop.is_set():
            self._busy(mailbox, time.monotonic())  # a model switch, while frames may wait
            self._reload_if_requested(stop)
            self._busy(mailbox, None)
            item = mailbox.take(timeout=0.1)
            if item is None:
                if not self._serve_held(mailbox, stop):
                    return
                continue
            camera, frame = item
            self._busy(mailbox, time.monotonic())
            try:
                if not self._process_guarded(self._cameras[camera], frame, stop):
                    return
            finally:
                self._busy(mailbox, None)
                mailbox.done()

    def _serve_held(self, mailbox: LatestFrameMailbox, stop: threading.Event) -> bool:
        """
        Segment a held latched frame once one of its camera's outputs has a subscriber.

        A latched image may be all a camera ever sends (a map tile, a stopped camera's last
        frame); it came while nobody listened and was skipped. Its latency counts from now, not
        from its arrival. False when the worker is being stopped.
        """
        if self._stage != 'active':  # a lifecycle node's publishers drop what it would send
            return True
        for camera in self._cameras:
            frame = camera.held
            if frame is None or not camera.wanted(self._enabled):
                continue
            camera.held = None
            self._busy(mailbox, time.monotonic())
            try:
                if not self._process_guarded(
                    camera, dataclasses.replace(frame, received=time.monotonic()), stop
                ):
                    return False
            finally:
                self._busy(mailbox, None)
        return True

    def _process_guarded(self, camera: CameraOutputs, frame: Frame, stop: threading.Event) -> bool:
        """Process one frame; a failure is counted and logged. False when being stopped."""
        try:
            self._process(camera, frame)
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the worker
            if self._stopping(stop):
                # a stop signal shuts the context down before destroy_node stops this thread:
                # the frame's publish then fails, and that is no failed frame
                return False
            self._failed_frames += 1
            self._last_failure = f'{type(exc).__name__}: {str(exc)[:200]}'
            log, suppressed = self._throttle.allow('inference_error')
            if log:
                self.get_logger().error(
                    f'frame from {camera.topic} failed: {exc!r}'
                    + (f' ({suppressed} more suppressed)' if suppressed else '')
                )
        return True

    def _stopping(self, stop: threading.Event) -> bool:
        """Whether this worker is being stopped: asked to, or the context is shut down."""
        return stop.is_set() or not self.context.ok()

    def _process(self, camera: CameraOutputs, frame: Frame) -> None:
        """Convert, infer, publish the outputs somebody listens to."""
        started = time.monotonic()
        wanted = camera.wanted(self._enabled)
        if not wanted:
            self._skipped += 1
            # a latched frame (the input follows a transient-local publisher) may be the last
            # the camera sends: kept, and segmented when an output gains a subscriber
            camera.held = frame if camera.input.durability == 'transient_local' else None
            return
        camera.held = None
        segmenter, lut, alpha = self._segmenter, self._lut, self._alpha
        try:
            msg = read_message(frame.raw, frame.msgtype)
            header = msg.header
            image = camera.decode(msg, frame.msgtype, segmenter.max_input_pixels)
        except ImageDecodeError as exc:
            self._warn_bad_frame(camera.topic, exc)
            return
        decoded = time.monotonic()
        result = segmenter.segment(image, confidence='confidence' in wanted)
        inferred = time.monotonic()
        first = int(result.mask.flat[0])
        uniform = bool((result.mask == first).all())
        streak = self._single_class.get(camera.topic, (0, ''))[0]
        self._single_class[camera.topic] = (
            streak + 1 if uniform else 0,
            segmenter.class_names[first] if uniform and first < len(segmenter.class_names) else '',
        )
        self._publish_outputs(camera, header, image, result, wanted, lut, alpha)
        camera.publish_camera_info(header)
        self._output_rate.tick()
        done = time.monotonic()
        elapsed = done - frame.received
        model, sizes = self._sizes_seen
        if model is not segmenter:
            model, sizes = self._sizes_seen = (segmenter, set())
        if image.shape in sizes:
            self._latency.add(elapsed)
            marks = (frame.received, started, decoded, inferred, done)
            for name, begin, end in zip(STAGES, marks, marks[1:]):
                self._stages[name].add(end - begin)
        else:
            if len(sizes) >= 64:  # bounded whatever sizes a publisher sends
                sizes.clear()
            sizes.add(image.shape)
            self._first_frames += 1
            self._first_frame_ms = elapsed * 1e3

    def _publish_outputs(self, camera, header, image, result, wanted, lut, alpha) -> None:
        if 'mask' in wanted:
            camera.publish('mask', header, result.mask, 'mono8')
        if 'color_mask' in wanted or 'overlay' in wanted:
            colors = colorize(result.mask, lut)
            if 'color_mask' in wanted:
                camera.publish('color_mask', header, colors, 'rgb8')
            if 'overlay' in wanted:
                camera.publish(
                    'overlay',
                    header,
                    overlay(image, result.mask, lut, alpha, color_mask=colors),
                    'rgb8',
                )
        if 'confidence' in wanted:
            camera.publish('confidence', header, result.confidence, '32FC1')

    def _warn_bad_frame(self, topic: str, exc: ImageDecodeError) -> None:
        self._malformed_frames += 1
        self._last_bad = f'{topic}: {str(exc)[:300]}'
        # per camera: one camera's bad frames do not silence another's for the period
        log, suppressed = self._throttle.allow(f'{exc.kind} {topic}')
        if log:
            more = f' ({suppressed} more like it suppressed)' if suppressed else ''
            self.get_logger().warning(f'dropped a bad frame from {topic}: {exc}{more}')

    def _reload_if_requested(self, stop: threading.Event) -> None:
        with self._reload_lock:
            request, self._reload_request = self._reload_request, None
        if request is None:
            return
        config, values = request
        try:
            segmenter = load_segmenter(config)
        except Exception as exc:  # noqa: BLE001 - any failure (CUDA out of memory too) keeps it
            if stop.is_set():
                # a worker stopped by a cleanup while it loaded (past the wait of its stop): the
                # node, maybe configured anew since, is no longer its to report on
                return
            if isinstance(exc, MODEL_INPUT_ERRORS):
                why = str(exc) or type(exc).__name__  # input errors: one line naming the problem
            else:  # a bug or the machine: its type, and one line of its message
                why = f'{type(exc).__name__}: {" ".join(str(exc).split())[:300]}'
            self._model_error = why
            running = getattr(self._segmenter, 'model_name', 'no model')  # None after a cleanup
            restored = ', '.join(self._restore_running_parameters(values))
            back = f" ({restored} set back to the running model's)" if restored else ''
            self.get_logger().error(f'model switch failed, keeping {running}: {why}{back}')
            return
        if stop.is_set():  # cleaned up while loading: the node has no model now
            return
        self._running = (config, values)
        self._segmenter, self._lut, self._model_error = (
            segmenter,
            palette_lut(segmenter.palette),
            '',
        )
        self._refused = ''
        self._single_class = {}
        self._log_model()
        try:
            for cam in self._cameras:
                cam.publish_legend(segmenter, self.get_clock().now().to_msg())
        except Exception as exc:  # noqa: BLE001 - the worker outlives a failed legend
            if not self._stopping(stop):  # a load that finished as the node was stopping
                self.get_logger().error(f'publishing the class legend failed: {exc!r}')

    def _restore_running_parameters(self, failed: dict[str, Any]) -> list[str]:
        """
        Set the model parameters back to the running model's after a failed switch; return names.

        Checks that need the tensors (their shapes, NaN values) or the warm-up run only fail in the
        worker, after set_parameters has answered: without this the parameters would name a model
        that is not running (``ros2 param get`` and a later restart would pick the bad value).
        Only parameters that still hold the failed switch's values are set back, at once: a newer
        request already queued is left to run, and a value a user has set since (its request may
        not be queued yet) is left to its own request.
        """
        with self._reload_lock:
            # a newer request queued, or a user's set validated and about to be written: theirs
            if self._reload_request is not None or self._pending_sets:
                return []
            restore = [
                Parameter(name, value=_plain(value))
                for name, value in sorted(self._running[1].items())
                if _plain(self.get_parameter(name).value) == _plain(failed[name]) != _plain(value)
            ]
            if not restore:
                return []
            self._restoring = True
            try:
                result = self.set_parameters_atomically(restore)
            finally:
                self._restoring = False
        return [p.name for p in restore] if result.successful else []

    # -- diagnostics -----------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        p50, p99 = self._latency.percentiles_ms(50, 99)
        seg = self._segmenter
        # the namespace in the name: /robot1/segment_node and /robot2/segment_node share the
        # absolute /diagnostics, and a monitor keys its rows by name
        status = DiagnosticStatus(name=self.diagnostics_name, hardware_id=str(seg.device))
        failed, out, bad = self._failed_frames, self._output_rate.total, self._malformed_frames
        rss = resident_memory_mb()
        now = time.monotonic()
        # a streak counts while its camera sends frames (its last frame, not its last mask: on a
        # slow device masks come further apart than no_input_warning_s)
        arrived = {c.topic: c.input.last_frame for c in self._cameras}
        streaks = [
            (streak, f'{name} from {topic}' if name else topic)
            for topic, (streak, name) in list(self._single_class.items())  # the worker adds keys
            if now - arrived.get(topic, 0.0) < self._silence_after
        ]
        streak, uniform_class = max(streaks, default=(0, ''))
        level, status.message = assess(
            HealthSnapshot(
                model_error=self._model_error,
                refused_change=self._refused,
                random_weights=seg.random_weights,
                bad_frames=bad - self._reported[0],
                last_bad_reason=self._last_bad,
                failed_frames=failed - self._reported[1],
                last_failure=self._last_failure,
                frames_out=out - self._reported[2],
                single_class_streak=streak,
                single_class_name=uniform_class,
                rss_mb=rss,
                memory_budget_mb=self._memory_budget_mb,
                input_problems=(*self._silence.values(), *self._recent_losses()),
                stalled_s=self._stall_s(),
                worker_alive=self._worker is not None and self._worker.is_alive(),
            )
        )
        status.level = bytes([level])
        self._reported = (bad, failed, out)
        values = {
            'input_rate_hz': f'{self._input_rate.rate():.2f}',
            'output_rate_hz': f'{self._output_rate.rate():.2f}',
            'latency_p50_ms': f'{p50:.1f}',
            'latency_p99_ms': f'{p99:.1f}',
            'latency_samples': str(self._latency.total),
            'stages_p50_p99_ms': ', '.join(
                '{} {:.2f}/{:.2f}'.format(name, *window.percentiles_ms(50, 99))
                for name, window in self._stages.items()
            ),
            'first_frames': str(self._first_frames),
            'first_frame_ms': f'{self._first_frame_ms:.1f}',
            'frames_in': str(self._input_rate.total),
            'frames_out': str(self._output_rate.total),
            'dropped_frames': str(self._mailbox.dropped),
            'bad_frames': str(bad + failed),  # malformed or failed
            'failed_frames': str(failed),
            'resident_memory_mb': f'{rss:.0f}' if rss is not None else 'n/a',
            'skipped_no_subscribers': str(self._skipped),
            'device': str(seg.device),
            'backend': seg.backend.description,
            'model': seg.model_name,
            'weights': seg.weights_path or RANDOM,
            'cameras': ', '.join(c.topic for c in self._cameras),
            'input_qos': ', '.join(
                f'{c.topic}: {c.input.subscribed_type.rsplit("/", 1)[-1]} {c.input.reliability}'
                for c in self._cameras
            ),
            'messages_lost': str(sum(c.input.lost_messages for c in self._cameras)),
            'lifecycle_state': self._stage,
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(msg)

    @property
    def diagnostics_name(self) -> str:
        """Return the name of this node's ``/diagnostics`` status: ``robot1/segment_node: ...``."""
        return f'{self.get_fully_qualified_name().lstrip("/")}: segmentation'

    def _stall_s(self) -> float:
        """Return how long the worker has been busy on one frame or load while frames wait."""
        since = self._busy_since
        if since is None or not len(self._mailbox):
            return 0.0
        return time.monotonic() - since

    def _recent_losses(self) -> list[str]:
        now = time.monotonic()
        return [why for when, _, why in self._losses.values() if now - when < LOSS_MEMORY_S]

    def summary(self) -> str:
        """One line of what the node did, logged when it stops."""
        p50, p99 = self._latency.percentiles_ms(50, 99)
        bad = self._malformed_frames + self._failed_frames
        window = min(self._latency.total, self._latency.size)
        latency = (
            'no frame answered'
            if math.isnan(p50)
            else f'p50 {p50:.1f} ms, p99 {p99:.1f} ms (the last {window} frames)'
        )
        return (
            f'frames in {self._input_rate.total}, out {self._output_rate.total}, dropped '
            f'{self._mailbox.dropped}, bad {bad}, skipped {self._skipped}; latency {latency}'
        )

    def destroy_node(self) -> None:
        line = f'stopping: {self.summary()}' if self._stage != 'unconfigured' else ''
        # after a stop signal rclpy has shut the context down, and a node logger's copy to
        # /rosout then fails with a line of its own on stderr ("Failed to publish log message to
        # rosout"); a destroyed node's logger writes to the console only
        if line and self.context.ok():
            self.get_logger().info(line)
            line = ''
        self._stop_worker()
        logger = self.get_logger()
        super().destroy_node()
        if line:
            logger.info(line)


class SegmentNode(SegmentNodeBase):
    """
    Segments the newest frame of each camera topic in a worker thread; see the module docstring.

    Configured and active from its constructor; a bad model or weights raise there.
    """

    def __init__(self, node_name: str = 'segment_node', **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._configure()
        self._activate()


def _plain(value: Any) -> Any:
    """Return a parameter value with arrays as lists (a service call gives array.array)."""
    return list(value) if isinstance(value, (list, tuple, array.array)) else value


def _steady() -> Clock:
    # the node's housekeeping (QoS checks, /diagnostics) runs on the host's steady clock: a timer
    # on the ROS clock stops while a simulation or `ros2 bag play --start-paused` holds /clock
    # still under use_sim_time, so a best-effort camera was never followed and nothing reported
    return Clock(clock_type=ClockType.STEADY_TIME)


def main(args: list[str] | None = None, node_class: type[SegmentNodeBase] | None = None) -> int:
    """
    Console script ``segment_node``: spin until Ctrl-C or SIGTERM.

    Exit code 2 when the model cannot be loaded.

    The DDS configuration is the environment's: the node sets none (README, "DDS transports").
    ``node_class``: :class:`SegmentNode` by default (``segment_lifecycle_node`` passes its own).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    # handles SIGINT and SIGTERM: the executor stops, the node shuts down cleanly
    rclpy.init(args=args)
    if interrupted():  # SIGINT between the console script's import and rclpy's handler
        rclpy.try_shutdown()
        return 0
    try:
        node = (node_class or SegmentNode)()
    except MODEL_INPUT_ERRORS as exc:
        rclpy.logging.get_logger('segment_node').error(f'cannot start: {exc}')
        rclpy.try_shutdown()
        return 2
    except BaseException as exc:  # stopped while loading the model: a clean exit
        if not stopped(exc):
            raise
        rclpy.try_shutdown()
        return 0
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except BaseException as exc:
        if not stopped(exc):
            raise
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def run(node_class: type[SegmentNodeBase] | None = None) -> None:
    """
    Console script ``segment_node``: :func:`main`, then exit at once.

    Everything ROS is shut down by then; what is left is the interpreter's teardown of torch (and
    CUDA), which takes seconds on a loaded machine, longer than launch waits before escalating to
    SIGKILL.
    """
    code = main(node_class=node_class)
    # os._exit skips atexit: what it would have removed is removed here
    remove_process_export_dir()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == '__main__':
    run()
