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
Helpers for tests that run real nodes over DDS.

A probe node that publishes and records topics.
"""

from __future__ import annotations

from collections import defaultdict
import threading
import time
from typing import Any

from lightseg_ros.ros.node_session import NodeSession, send_until_answered, start_with_retries
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy


def fresh_domain() -> int:
    """
    Return a DDS domain for one node/probe pair.

    101-232: apart from conftest's session domains 1-100.

    DDS discovery between freshly started processes on this machine now and then never completes
    (the node is up, the probe never matches it: seen in about one full run in three, in different
    tests); a pair that gets a fresh domain, and a retry with another one, is immune to that.
    """
    import random

    return random.SystemRandom().randint(101, 232)


class Probe:
    """
    A node in the test process spinning in a background thread.

    It records every message it subscribes to.
    """

    def __init__(self, name: str, domain_id: int | None = None) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.messages: dict[str, list] = defaultdict(list)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def subscribe(self, msg_type, topic: str, *, latched: bool = False, qos=None):
        """
        Record ``topic``.

        ``qos`` default: reliable depth 50 (transient local when ``latched``).
        """
        qos = qos or QoSProfile(
            depth=50,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
        )

        def record(msg, topic=topic):
            with self.cond:
                self.messages[topic].append(msg)
                self.cond.notify_all()

        return self.node.create_subscription(msg_type, topic, record, qos)

    def publisher(self, msg_type, topic: str, reliable: bool = True):
        qos = QoSProfile(
            depth=10,
            reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        )
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_for(self, topic: str, predicate=lambda m: True, timeout: float = 20.0) -> Any:
        """
        Return the first recorded message on ``topic`` satisfying ``predicate``.

        AssertionError on timeout.
        """
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages[topic]:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f'nothing matching on {topic} within {timeout} s '
                        f'({len(self.messages[topic])} messages)'
                    )
                self.cond.wait(left)

    def send_until_answered(self, send, topic: str, timeout: float = 30.0, every: float = 1.0):
        """
        Call ``send()`` every ``every`` s until ``topic`` has a message stamped as one it sent.

        ``send`` publishes a frame and returns its header stamp's ``sec``; the answer is returned.
        The node computes an output only for subscribers its own publisher has matched, which a
        sleep after the probe's side of discovery does not promise on a loaded machine: an answered
        frame does.
        """
        found = []

        def answered(stamp: int) -> bool:
            found[:] = [m for m in self.messages[topic] if m.header.stamp.sec == stamp][:1]
            return bool(found)

        if not send_until_answered(send, answered, self.cond, timeout, every):
            raise AssertionError(f'no frame sent was answered on {topic} within {timeout} s')
        return found[0]

    def wait_until(self, condition, timeout: float = 30.0, what='condition') -> None:
        """
        Wait until ``condition`` holds.

        ``what``: a description, or a callable giving one when the wait times out (e.g. a log).
        """
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f'timed out waiting for {what() if callable(what) else what}')
            time.sleep(0.05)

    def close(self) -> None:
        self.executor.shutdown()
        # the spin thread ends before its context does: a thread still between two waits when the
        # context went down raised "failed to initialize wait set" at the end of a CI run
        self.thread.join(timeout=5)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def call(probe: Probe, client, request, timeout: float = 60.0, resend_every: float | None = None):
    """
    Call a service of ``probe.session``'s node and return its response.

    ``resend_every``: for a request that may be repeated (a query), send it again after that many
    seconds without an answer. Fast DDS drops a response ("failed to send response (timeout)")
    when the server has matched the client's request writer but not yet its response reader, which
    a loaded 2-core machine shows right after start; a repeated request is answered once both are.
    """
    session = getattr(probe, 'session', None)
    deadline = time.monotonic() + timeout
    while True:
        future = client.call_async(request)
        wait = deadline - time.monotonic()
        if resend_every is not None:
            wait = min(wait, resend_every)
        try:
            probe.wait_until(
                future.done,
                max(wait, 0.0),
                lambda: f'{client.srv_name}; node log:\n{session.tail() if session else "-"}',
            )
            return future.result()
        except AssertionError:
            client.remove_pending_request(future)
            if resend_every is None or time.monotonic() >= deadline:
                raise


def set_params(probe: Probe, timeout: float = 60.0, **values) -> list:
    """
    Set the node's parameters through ``probe.params``; return the SetParametersResult list.

    Each value's parameter type is rclpy's inference from the Python value (int, float, str, a
    list of str). A parameter change is sent once (a model switch must not run twice), so the first
    call on a probe first sends an empty request, a no-op the node answers with no results, until
    one is answered: after that the service's response path to this client is matched (see
    :func:`call`).
    """
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    params = [Parameter(name, value=value).to_parameter_msg() for name, value in values.items()]
    assert probe.params.wait_for_service(timeout_sec=10)
    if not getattr(probe, 'params_ready', False):
        assert (
            call(probe, probe.params, SetParameters.Request(), timeout, resend_every=5.0).results
            == []
        )
        probe.params_ready = True
    return call(probe, probe.params, SetParameters.Request(parameters=params), timeout).results


def NodeProcess(
    module: str, ros_args: list[str], extra_env: dict[str, str] | None = None
) -> NodeSession:
    """
    Return a node run as its own process, as the package's tools start one.

    Its output is kept; ``stop()`` = SIGINT. It runs on the CPU unless ``ros_args`` set
    ``device``: tests compare its masks with the CPU's, bit for bit (test_cuda.py sets cuda).
    """
    if not any(str(arg).startswith('device:=') for arg in ros_args):
        ros_args = [*ros_args, '-p', 'device:=cpu']
    return NodeSession(
        {}, module=module, ros_args=ros_args, env={'OMP_NUM_THREADS': '1', **(extra_env or {})}
    )


def start_node_and_probe(
    module: str,
    ros_args: list[str],
    *,
    prepare,
    ready,
    timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> tuple[NodeSession, Probe]:
    """
    Start a node process and a :class:`Probe` on a fresh DDS domain.

    Retried as the package's tools retry
    (:func:`~lightseg_ros.ros.node_session.start_with_retries`). ``prepare(probe)`` creates the
    probe's subscriptions and publishers; ``ready(probe)`` says when the node is up;
    ``probe.session`` is the node.
    """
    import uuid

    def start(attempt: int) -> Probe:
        domain = fresh_domain()
        node = NodeProcess(module, ros_args, {'ROS_DOMAIN_ID': str(domain), **(env or {})})
        probe = Probe(f'probe_{uuid.uuid4().hex[:6]}', domain_id=domain)
        probe.domain, probe.session = domain, node
        prepare(probe)
        return probe

    def is_ready(probe: Probe) -> bool:
        return probe.session.wait_until(lambda: ready(probe), timeout, "the node's topics")

    def close(probe: Probe) -> None:
        probe.close()
        probe.session.stop()

    probe = start_with_retries(start, is_ready, close)
    return probe.session, probe
