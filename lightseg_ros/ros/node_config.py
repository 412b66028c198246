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
The segmentation node's parameters: names, defaults, meaning and validation (pure, no rclpy).

``PARAMETERS`` is the single list the node declares from, ``config/segment.yaml`` is checked
against, and the README documents. ``validate_change`` is what the node's set-parameters callback
runs; it returns a reason string for an invalid value.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import re
from typing import Any

from .input_qos import INPUT_RELIABILITIES
from .topics import OUTPUTS, TRANSPORTS
from ..inference.backends import BACKEND_CHOICES
from ..inference.image_codec import DEFAULT_MAX_INPUT_PIXELS
from ..models import get_model_spec, list_models, UnknownModelError
from ..models.shipped import DEFAULT, DEFAULT_MODEL, RANDOM
from ..models.weights import LIMITS, weights_problem

__all__ = [
    'cpu_threads_for',
    'ParamSpec',
    'PARAMETERS',
    'RELOAD_PARAMETERS',
    'ModelConfig',
    'validate_change',
    'RELIABILITIES',
]

RELIABILITIES = ('best_effort', 'reliable')
DURABILITIES = ('volatile', 'transient_local')
# the outputs' folder under the camera namespace: relative name tokens (the rcl name rules)
_RELATIVE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')
RESIZE_POLICIES = ('stretch', 'letterbox')


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    read_only: bool = False
    float_range: tuple[float, float] | None = None
    int_range: tuple[int, int] | None = None
    choices: tuple[str, ...] | None = None


PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec(
        'image_topics',
        ['camera/image_raw'],
        "camera topics to segment; relative names resolve in the node's namespace (and "
        'remappings apply); a name ending in /compressed carries sensor_msgs/CompressedImage',
        read_only=True,
    ),
    ParamSpec(
        'transport',
        'auto',
        'auto (by topic name), raw or compressed (a topic not ending in /compressed is '
        "image_transport's base topic: <topic>/compressed is subscribed)",
        read_only=True,
        choices=TRANSPORTS,
    ),
    ParamSpec(
        'input_reliability',
        'auto',
        'input QoS reliability: auto (reliable when every publisher of the topic offers reliable, '
        'else best effort; followed as publishers come and go), reliable or best_effort',
        read_only=True,
        choices=INPUT_RELIABILITIES,
    ),
    ParamSpec('input_depth', 1, 'input QoS history depth', read_only=True, int_range=(1, 100)),
    ParamSpec(
        'output_reliability',
        'reliable',
        'output QoS reliability (reliable publishers match best-effort and reliable subscribers)',
        read_only=True,
        choices=RELIABILITIES,
    ),
    ParamSpec(
        'output_durability',
        'volatile',
        'output QoS durability: transient_local also serves subscribers that ask for it (a '
        "latched-data viewer, 'ros2 topic echo --qos-durability transient_local'), and gives one "
        'that joins late the last output_depth results at once',
        read_only=True,
        choices=DURABILITIES,
    ),
    ParamSpec(
        'output_depth',
        1,
        'output QoS history depth: 1 keeps only the newest result for a lagging '
        'subscriber; more lets a reliable subscriber recover every result over a lossy link',
        read_only=True,
        int_range=(1, 100),
    ),
    ParamSpec(
        'output_namespace',
        'segmentation',
        'outputs go to <camera namespace>/<output_namespace>/<output>',
        read_only=True,
    ),
    ParamSpec(
        'model',
        DEFAULT_MODEL,
        'registered model name, run with the trained weights the package ships for it while '
        f"'weights' is empty; accepted: {', '.join(list_models())}",
    ),
    ParamSpec(
        'weights',
        '',
        "empty (or 'default') = the package's trained weights for 'model' (random, with a "
        f"warning, when none ship); '{RANDOM}' = random weights; else the path of a lightseg "
        '.safetensors file, whose metadata names the model and classes and takes precedence over '
        "'model'",
    ),
    ParamSpec(
        'num_classes',
        11,
        'classes of a randomly initialised model (11 = CamVid names/colours)',
        int_range=(1, 256),
    ),
    ParamSpec(
        'device', 'auto', 'auto (CUDA when available, fp16 there; else CPU), cpu, cuda or cuda:N'
    ),
    ParamSpec(
        'backend',
        'auto',
        'what runs the network: auto (onnxruntime on CPU when installed, else torch), '
        'torch or onnxruntime (exported once, cached)',
        choices=BACKEND_CHOICES,
    ),
    ParamSpec(
        'torch_compile',
        False,
        'torch backend: run the network through torch.compile (fused kernels; on an H100 '
        '1.65x the frames/s at 512x512) at the cost of a compile of about 25 s at the first '
        'frame of each size, kept in the lightseg cache for later starts; falls back to '
        'uncompiled where it cannot compile',
    ),
    ParamSpec(
        'input_size',
        [0, 0],
        "network input [height, width]; [0, 0] = the weights' size, else the image's own size",
    ),
    ParamSpec(
        'warmup_image_size',
        [0, 0],
        'camera image [height, width] to segment once, black, when a model loads, so that the '
        "first frame of that size is not a camera's (on a GPU it builds the CUDA graph, 2.6 s "
        'on an H100, and compiles with torch_compile, about 25 s there with an empty cache); '
        '[0, 0] = input_size where that is fixed, else none',
    ),
    ParamSpec(
        'max_input_pixels',
        DEFAULT_MAX_INPUT_PIXELS,
        "frames with more pixels (width x height; a compressed image's header is read before "
        'decoding) are dropped with a warning; default 4x a 3840x2160 frame',
        int_range=(1, 100_000_000),
    ),
    ParamSpec(
        'max_inference_pixels',
        0,
        'larger frames are downscaled (keeping aspect) to this many pixels before the network, '
        'and masks scaled back; 0 = twice the area of the images the weights were trained on '
        '(CamVid: 345600)',
        int_range=(0, LIMITS.network_pixels),
    ),
    ParamSpec(
        'memory_budget_mb',
        3072,
        "/diagnostics reports ERROR while the node's resident memory is above "
        'this many MB (0 = not checked)',
        int_range=(0, 1_000_000),
    ),
    ParamSpec(
        'resize',
        'stretch',
        'how images are fitted to input_size: stretch, or letterbox '
        '(keep aspect, pad, crop predictions back)',
        choices=RESIZE_POLICIES,
    ),
    ParamSpec('outputs', list(OUTPUTS), f'enabled outputs, any of: {", ".join(OUTPUTS)}'),
    ParamSpec(
        'overlay_alpha', 0.5, 'weight of the colour mask in the overlay', float_range=(0.0, 1.0)
    ),
    ParamSpec(
        'cpu_threads',
        0,
        "torch CPU threads; 0 = half the cores (at least 1), leaving room for the robot's other "
        "processes: torch's thread pool stalls badly when its cores are oversubscribed",
        read_only=True,
        int_range=(0, 256),
    ),
    ParamSpec(
        'no_input_warning_s',
        5.0,
        'seconds without a frame, while the topic has publishers, before the '
        'node warns (with the likely cause) and /diagnostics goes WARN',
        read_only=True,
        float_range=(0.5, 3600.0),
    ),
    ParamSpec(
        'diagnostics_period',
        1.0,
        'seconds between /diagnostics messages',
        read_only=True,
        float_range=(0.1, 60.0),
    ),
)
PARAMETER_NAMES = frozenset(p.name for p in PARAMETERS)
#: changing any of these reloads the segmenter (in the worker, swapped in atomically)
RELOAD_PARAMETERS = frozenset(
    {
        'model',
        'weights',
        'num_classes',
        'device',
        'backend',
        'torch_compile',
        'input_size',
        'resize',
        'max_input_pixels',
        'max_inference_pixels',
        'warmup_image_size',
    }
)


@dataclass(frozen=True)
class ModelConfig:
    """What the segmenter is built from."""

    model: str
    weights: str
    num_classes: int
    device: str
    input_size: tuple[int, int] | None
    resize: str
    backend: str = 'auto'
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    max_inference_pixels: int = 0  # 0 = from the weights (see Segmenter)
    torch_compile: bool = False
    warmup_image_size: tuple[int, int] | None = None  # None: input_size where fixed, else none

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> 'ModelConfig':
        size = tuple(int(v) for v in values['input_size'])
        warmup = tuple(int(v) for v in values.get('warmup_image_size', (0, 0)))
        return cls(
            model=str(values['model']),
            weights=str(values['weights']),
            num_classes=int(values['num_classes']),
            device=str(values['device']),
            input_size=None if size == (0, 0) else size,  # type: ignore[arg-type]
            resize=str(values['resize']),
            backend=str(values.get('backend', 'auto')),
            max_input_pixels=int(values.get('max_input_pixels', DEFAULT_MAX_INPUT_PIXELS)),
            max_inference_pixels=int(values.get('max_inference_pixels', 0)),
            torch_compile=bool(values.get('torch_compile', False)),
            warmup_image_size=warmup if any(warmup) else None,  # type: ignore[arg-type]
        )


def cpu_threads_for(requested: int) -> int:
    """
    Return the torch CPU threads for the ``cpu_threads`` parameter.

    That is ``requested``, or half the cores (>= 1) for 0.
    """
    return requested if requested > 0 else max(1, (os.cpu_count() or 2) // 2)


def validate_change(name: str, value: Any) -> str | None:
    """
    None when ``value`` is acceptable for parameter ``name``, else the reason it is refused.

    Never raises: whatever a client sends (or a weights file holds), the set-parameters call is
    answered.
    """
    try:
        return _validate(name, value)
    # a value of an unexpected type, or a check that failed
    except Exception as exc:  # noqa: BLE001
        return (
            f'{name}: invalid value {str(value)[:80]!r} ({type(exc).__name__}: {str(exc)[:200]})'
        )


def _validate(name: str, value: Any) -> str | None:
    spec = next((p for p in PARAMETERS if p.name == name), None)
    if spec is None:
        return None  # not ours (e.g. use_sim_time)
    if spec.choices is not None and value not in spec.choices:
        return f'{name} must be one of {", ".join(spec.choices)}; got {value!r}'
    if spec.float_range is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        return f'{name} must be a number; got {str(value)[:80]!r}'
    if (
        spec.float_range is not None
        and not spec.float_range[0] <= float(value) <= spec.float_range[1]
    ):
        return f'{name} must be in [{spec.float_range[0]}, {spec.float_range[1]}]; got {value}'
    if spec.int_range is not None and not spec.int_range[0] <= int(value) <= spec.int_range[1]:
        return f'{name} must be in [{spec.int_range[0]}, {spec.int_range[1]}]; got {value}'
    if name == 'model' and value not in list_models():
        try:
            get_model_spec(value)
        except UnknownModelError as exc:  # names the accepted models and any plugin that failed
            return str(exc)
    if name == 'weights' and str(value).strip() not in ('', DEFAULT, RANDOM):
        # the schema check of models.weights (header only; the full load is in the worker)
        return weights_problem(os.path.expanduser(str(value).strip()))
    if name == 'outputs':
        unknown = [v for v in value if v not in OUTPUTS]
        if unknown:
            return f'unknown outputs {unknown}; accepted: {", ".join(OUTPUTS)}'
        if not list(value):  # a node that would publish nothing (deactivate a lifecycle node)
            return f'outputs must list at least one of: {", ".join(OUTPUTS)}'
    if name == 'input_size':
        size = list(value)
        lo, hi = LIMITS.side
        if len(size) != 2 or size != [0, 0] and not all(lo <= int(v) <= hi for v in size):
            return (
                f'input_size must be [height, width] with each in [{lo}, {hi}], or [0, 0]; '
                f'got {size}'
            )
        if size[0] * size[1] > LIMITS.network_pixels:
            return f'input_size {size[0]}x{size[1]} is more than {LIMITS.network_pixels} pixels'
    if name == 'warmup_image_size':
        size = list(value)
        if len(size) != 2 or size != [0, 0] and not all(1 <= int(v) <= 65535 for v in size):
            return (
                'warmup_image_size must be [height, width] with each in [1, 65535], or [0, 0]; '
                f'got {size}'
            )
    if name == 'device':
        from ..inference.segmenter import select_device

        try:
            select_device(str(value))
        except ValueError as exc:
            return str(exc)
    if name == 'image_topics' and (not value or any(not t for t in value)):
        return 'image_topics must list at least one topic'
    if name == 'output_namespace' and not _RELATIVE_NAME.fullmatch(str(value)):
        return (
            'output_namespace must be a relative name: letters, digits and _ (not starting with a '
            f"digit) joined by single '/', e.g. segmentation; got {str(value)[:80]!r}"
        )
    return None
