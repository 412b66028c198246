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
``segment_lifecycle_node``: ``segment_node`` as a ROS 2 managed (lifecycle) node.

Same parameters, topics and behaviour as :mod:`lightseg_ros.ros.segment_node` (the work is its
:class:`~lightseg_ros.ros.segment_node.SegmentNodeBase`); the standard lifecycle services
(``<node>/change_state``, ``<node>/get_state``, ...) drive it, as nav2's lifecycle_manager or
launch's lifecycle events do:

* start: unconfigured; the parameters are declared, and those that can change at run time can be
  set (the read-only ones, such as ``image_topics``, ``transport`` and the QoS, only at start: a
  configure they fail says to restart the node);
* configure: check the parameters, load the model, create the publishers, start the worker (a bad
  model or weights: the transition fails with one log line, the node stays unconfigured);
* activate: subscribe to the cameras, publish the class legend; outputs are published only while
  active;
* deactivate: unsubscribe from the cameras; the model stays loaded;
* cleanup (and shutdown): stop the worker, destroy the publishers, drop the model (and its GPU
  memory).

/diagnostics is published while configured, with the state as ``lifecycle_state``.
Run: ``ros2 run lightseg_ros segment_lifecycle_node`` or ``python -m
lightseg_ros.ros.segment_lifecycle_node``.
"""

from __future__ import annotations

import functools
from typing import Any

from rclpy.lifecycle import LifecycleNodeMixin, LifecycleState, TransitionCallbackReturn

from .node_config import PARAMETERS
from .segment_node import MODEL_INPUT_ERRORS, ParameterError, SegmentNodeBase
from .segment_node import run as _run

__all__ = ['SegmentLifecycleNode', 'configure_error', 'run']


def configure_error(exc: Exception) -> str:
    """
    Return the one log line for a failed configure.

    It says what is wrong and, for a refused parameter, what is accepted.
    """
    line = f'configure failed, staying unconfigured: {exc}'
    if isinstance(exc, ParameterError):
        spec = next(p for p in PARAMETERS if p.name == exc.name)
        if 'accepted' not in exc.reason:
            line += f'; accepted {exc.name}: {spec.description}'
        if spec.read_only:  # rclpy refuses a set of it: only a restart changes it
            line += f'; {exc.name} is read-only: restart the node with a valid one'
        else:
            line += f'; set {exc.name} and configure again'
    return line


def _logged(callback):
    """
    Log an exception raised in a transition callback.

    rclpy turns such an exception into ERROR without a word: say what it was.
    """

    @functools.wraps(callback)
    def wrapper(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            return callback(self, state)
        except Exception as exc:
            self.get_logger().error(f'{callback.__name__} failed: {exc!r}')
            raise

    return wrapper


class SegmentLifecycleNode(LifecycleNodeMixin, SegmentNodeBase):
    """:class:`SegmentNodeBase`'s steps run by lifecycle transitions; see the module docstring."""

    def __init__(self, node_name: str = 'segment_node', **kwargs: Any) -> None:
        SegmentNodeBase.__init__(self, node_name, **kwargs)
        LifecycleNodeMixin.__init__(self)
        self.get_logger().info(
            'unconfigured: the configure transition loads the model, activate starts '
            f'segmenting (ros2 lifecycle set {self.get_fully_qualified_name()} configure)'
        )

    @_logged
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ParameterError, *MODEL_INPUT_ERRORS) as exc:
            self._cleanup()
            self.get_logger().error(configure_error(exc))
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info('configured (inactive)')
        return super().on_configure(state)

    @_logged
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        # enables the lifecycle publishers (the legend goes out next)
        result = super().on_activate(state)
        self._activate()
        self.get_logger().info('active')
        return result

    @_logged
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self.get_logger().info('inactive: not taking frames, model kept')
        return super().on_deactivate(state)

    @_logged
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        ran = self.summary()  # the counters go with the model: said before they are dropped
        self._cleanup()
        self.get_logger().info(f'unconfigured: model and publishers released; {ran}')
        return super().on_cleanup(state)

    @_logged
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return super().on_shutdown(state)

    @_logged
    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(
            f'a transition from {state.label} raised; releasing everything (unconfigured)'
        )
        self._release()
        return super().on_error(state)

    def _release(self) -> None:
        if self._stage == 'active':
            self._deactivate()
        if self._stage != 'unconfigured':
            # destroy_node says it only for a configured node, which this no longer is
            self.get_logger().info(f'stopping: {self.summary()}')
            self._cleanup()


def run() -> None:
    """Console script ``segment_lifecycle_node``."""
    _run(SegmentLifecycleNode)


if __name__ == '__main__':
    run()
