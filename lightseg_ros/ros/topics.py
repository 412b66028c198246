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
Topic names of the segmentation node: where each camera's outputs go (pure, no rclpy).

A camera topic ``/cam/image_raw`` (or ``/cam/image_raw/compressed``) has the camera namespace
``/cam``; its outputs are ``/cam/segmentation/{mask,color_mask,overlay,confidence,class_legend}``.
When two input topics share a namespace, each uses its own topic name instead
(``/cam/left/segmentation/...`` for ``/cam/left``).
"""

from __future__ import annotations

__all__ = [
    'OUTPUTS',
    'base_topic',
    'is_compressed_topic',
    'camera_namespace',
    'camera_info_topic',
    'output_namespaces',
    'output_topic',
    'transport_topic',
]

#: image outputs the node can publish, in the order they are computed
OUTPUTS: tuple[str, ...] = ('mask', 'color_mask', 'overlay', 'confidence')
COMPRESSED_SUFFIX = '/compressed'
TRANSPORTS = ('auto', 'raw', 'compressed')


def is_compressed_topic(topic: str, transport: str = 'auto') -> bool:
    """
    Tell whether ``topic`` carries ``sensor_msgs/CompressedImage``.

    By ``transport``, or by name when ``auto``.
    """
    if transport not in TRANSPORTS:
        raise ValueError(f'unknown transport {transport!r}; accepted: {", ".join(TRANSPORTS)}')
    if transport == 'auto':
        return topic.rstrip('/').endswith(COMPRESSED_SUFFIX)
    return transport == 'compressed'


def transport_topic(topic: str, transport: str) -> str:
    """
    Return the topic that carries ``topic``'s images in ``transport``.

    image_transport publishes a camera's compressed images on ``<base topic>/compressed``:
    ``/cam/image_raw`` in ``compressed`` -> ``/cam/image_raw/compressed``. A name that already
    ends in ``/compressed``, and every name in ``raw`` or ``auto``, is returned unchanged.
    """
    if transport == 'compressed' and not topic.rstrip('/').endswith(COMPRESSED_SUFFIX):
        return topic.rstrip('/') + COMPRESSED_SUFFIX
    return topic


def base_topic(topic: str) -> str:
    """Return an image topic without image_transport's ``/compressed`` (and a trailing ``/``)."""
    topic = topic.rstrip('/')
    return topic[: -len(COMPRESSED_SUFFIX)] if topic.endswith(COMPRESSED_SUFFIX) else topic


def camera_namespace(topic: str) -> str:
    """
    Return the namespace of a camera topic.

    ``/cam/image_raw`` -> ``/cam``; ``/image`` -> ``""`` (root); ``image`` -> ``""`` (relative).
    """
    base = base_topic(topic)
    return base.rsplit('/', 1)[0] if '/' in base else ''


def camera_info_topic(topic: str) -> str:
    """
    Return the camera_info topic beside an image topic.

    ``/cam/image_raw`` -> ``/cam/camera_info``.
    """
    ns = camera_namespace(topic)
    return (
        f'{ns}/camera_info' if ns else ('/camera_info' if topic.startswith('/') else 'camera_info')
    )


def output_namespaces(topics: list[str], suffix: str = 'segmentation') -> list[str]:
    """
    Return the output namespace of each input topic, unique even when cameras share one.

    A camera's outputs go under its namespace; cameras that would share one go under their own
    topic names instead. ValueError when two topics still meet (one camera listed twice, or in
    two transports: ``/cam/image_raw`` and ``/cam/image_raw/compressed``).
    """
    if len(set(topics)) != len(topics):
        raise ValueError(f'image_topics lists a topic twice: {topics}')
    bases = [base_topic(t) for t in topics]
    for i, base in enumerate(bases):
        if base in bases[:i]:
            raise ValueError(
                f'image_topics lists one camera twice: {topics[bases.index(base)]} and '
                f'{topics[i]} carry the same images in two transports; list one of them'
            )
    chosen = [camera_namespace(t) for t in topics]
    # a camera that shares its namespace moves to its own name, which may meet another's
    # namespace (/a/image, /a/b/image and /a/b: /a/b twice); the base names are all different, so
    # at most one pass per topic ends it
    for _ in topics:
        shared = {ns for ns in chosen if chosen.count(ns) > 1}
        if not shared:
            break
        chosen = [base if ns in shared else ns for ns, base in zip(chosen, bases)]
    result = []
    for topic, ns in zip(topics, chosen):
        joined = f'{ns}/{suffix}' if ns else suffix
        result.append(('/' + suffix) if ns == '' and topic.startswith('/') else joined)
    return result


def output_topic(namespace: str, name: str) -> str:
    return f'{namespace}/{name}'
