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
Input QoS that matches whatever publishes the camera, and why frames may not arrive.

Pure, no rclpy.

A subscription must match its publishers' QoS to receive anything, and for camera-sized frames the
match decides more than compatibility: with stock DDS settings a reliable publisher reaches a
reliable subscription intact, but a best-effort one loses almost every frame, because a frame is
many UDP fragments and best effort never repairs a lost one. REP-2003 asks drivers to publish with
the system-default (reliable) QoS; some publish sensor-data (best-effort) QoS.

``auto`` follows rosbag2's rule (``adapt_request_to_offers``): reliable when every publisher offers
reliable, best effort otherwise. With no publisher yet, reliable: what drivers should offer. The
durability follows the same rule: transient local when every publisher offers it (an image
published once, latched, before the node came), volatile otherwise. The
node re-checks the offers periodically and when DDS reports an incompatible QoS, and re-creates the
subscription when the choice changes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sources.bags import COMPRESSED_TYPE, IMAGE_TYPE

__all__ = [
    'INPUT_RELIABILITIES',
    'Offer',
    'camera_info_qos',
    'choose_durability',
    'choose_reliability',
    'choose_transport',
    'loss_reason',
    'silence_reason',
]

INPUT_RELIABILITIES = ('auto', 'reliable', 'best_effort')


@dataclass(frozen=True)
class Offer:
    """What one publisher on an input topic offers."""

    reliability: str  # "reliable" | "best_effort" | other (unknown, system default)
    topic_type: str  # e.g. "sensor_msgs/msg/Image"
    durability: str = 'volatile'  # "volatile" | "transient_local" | other


def camera_info_qos(offers: list[Offer]) -> tuple[str, str]:
    """
    Return the (reliability, durability) of a camera_info subscription for its publishers' offers.

    A driver that publishes camera_info once, latched (reliable, transient local, as static
    calibration publishers do), reaches only a transient-local subscription, which in turn never
    matches a volatile publisher: so transient local where there are publishers and every one
    offers it reliably, else best effort and volatile, which matches every publisher.
    """
    latched = [o.durability == 'transient_local' and o.reliability == 'reliable' for o in offers]
    if latched and all(latched):
        return 'reliable', 'transient_local'
    return 'best_effort', 'volatile'


def choose_reliability(requested: str, offers: list[Offer]) -> str:
    """
    Return the input subscription's reliability.

    It follows the ``input_reliability`` parameter and the publishers' offers.
    """
    if requested not in INPUT_RELIABILITIES:
        raise ValueError(
            f'unknown input reliability {requested!r}; accepted: {", ".join(INPUT_RELIABILITIES)}'
        )
    if requested != 'auto':
        return requested
    # With no publisher yet, wait reliable (REP-2003's default, and our image_source's): waiting
    # best effort, then moving to reliable once a reliable camera came, lost its first frames in
    # the swap (the demo received 29 of 30). A best-effort driver that comes later logs one
    # "requesting incompatible QoS" warning; the node follows it within 0.1 s of that event.
    if any(o.reliability == 'best_effort' for o in offers):
        return 'best_effort'
    return 'reliable'


def choose_durability(offers: list[Offer]) -> str:
    """
    Return the input subscription's durability for its publishers' offers.

    Transient local when there are publishers and every one offers it: a latched image published
    before the node subscribed then arrives (the newest of it is segmented, as any frame). A
    transient-local subscription never matches a volatile publisher, so volatile otherwise.
    """
    if offers and all(o.durability == 'transient_local' for o in offers):
        return 'transient_local'
    return 'volatile'


def choose_transport(transport: str, by_name: bool, offers: list[Offer]) -> bool:
    """
    Decide whether to subscribe to ``CompressedImage``.

    As ``transport`` says, or for ``auto`` as the topic's publishers publish (their type), else by
    the topic's name (``by_name``).
    """
    if transport != 'auto':
        return transport == 'compressed'
    types = {o.topic_type for o in offers}
    if types == {COMPRESSED_TYPE}:
        return True
    if types == {IMAGE_TYPE}:
        return False
    return by_name


_LOSS_FIX = (
    'A camera frame is many UDP fragments and best effort never repairs one: publish the camera '
    'with reliable QoS (REP-2003), or give every process on the host the shared-memory profile '
    "(README, 'DDS transports')"
)


def loss_reason(topic: str, lost: int) -> str:
    """
    Say what to report when DDS reports ``lost`` more messages on ``topic`` than last time.

    ``lost`` is compared with the count at the last check.
    """
    return f'{lost} frames on {topic} lost in transport (counted by DDS). {_LOSS_FIX}'


def silence_reason(
    topic: str,
    offers: list[Offer],
    *,
    subscribed_type: str,
    subscribed_reliability: str,
    lost_messages: int,
    seconds: float,
    arrived: bool = False,
) -> str | None:
    """
    Explain why no frame arrived on ``topic`` for ``seconds`` although publishers exist.

    The reason comes with the fix; None when nobody publishes (then silence is expected).
    ``arrived``: frames came on this subscription before, so transport settings are not what
    keeps them away.
    """
    if not offers:
        return None
    head = f'no frame on {topic} for {seconds:.0f} s although {len(offers)} publisher(s) exist'
    other_types = sorted({o.topic_type for o in offers} - {subscribed_type})
    if other_types:
        return (
            f'{head}: they publish {", ".join(other_types)}, the node subscribes '
            f"{subscribed_type}; set the node's 'transport' parameter (raw or compressed) to match"
        )
    if subscribed_reliability == 'reliable' and any(
        o.reliability == 'best_effort' for o in offers
    ):
        return (
            f'{head}: a best-effort publisher cannot reach a reliable subscription; set '
            'input_reliability to auto or best_effort'
        )
    if lost_messages or any(o.reliability == 'best_effort' for o in offers):
        lost = f' ({lost_messages} messages reported lost)' if lost_messages else ''
        return f'{head}: frames are lost in transport{lost}. {_LOSS_FIX}'
    if arrived:
        return f'{head}: frames came before, so the publisher has paused or stopped sending'
    return (
        f'{head}: none arrived; check that both sides use the same DDS transport settings '
        "(README, 'DDS transports': a participant with FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA "
        'never matches one without) and the same ROS_DOMAIN_ID'
    )
