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
Declaring parameters the way users type them.

``ros2 run ... -p rate_hz:=15`` (or ``overlay_alpha: 1`` in a params file) gives an INTEGER, and
rclpy refuses it for a DOUBLE parameter with an exception that would end the node in a traceback.
``-p image_topics:=[]`` (or ``image_topics: []`` in a params file) is an empty list, whose type
rclpy cannot tell: it leaves the parameter declared but unset, and the node's first read of it
raises ParameterUninitializedException.
:func:`declare` takes a whole number for a double parameter as that number, an empty list for a
list parameter as an empty list of that parameter's type (the node's own checks then say whether
empty is acceptable), and turns every other type mismatch, an empty list for a parameter that is
not a list included, into a ValueError naming the parameter, which the nodes report in one line.
"""

from __future__ import annotations

import copy
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

__all__ = ['declare', 'is_number']


def is_number(value: Any) -> bool:
    """Return True for an int or a float (bool is not a number here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def declare(node: Node, name: str, default: Any, descriptor: ParameterDescriptor) -> Any:
    """
    Declare parameter ``name`` on ``node`` and return its value.

    Where the user gave an integer for a double parameter, the parameter is declared with dynamic
    typing (rclpy has no other way to accept it) and set to the same value as a double, so it
    reads and shows as a double; later changes are checked by the node's own validation.
    Where the user gave an empty list, a list parameter is set to an empty list of its type.
    A read-only parameter is declared writable and made read-only once its value is settled: rclpy
    neither sets nor undeclares a read-only parameter, and both fixes above need one of the two.
    """
    writable = copy.copy(descriptor)
    writable.read_only = False
    try:
        value = node.declare_parameter(name, default, writable).value
    except InvalidParameterValueException as exc:  # outside the descriptor's range
        raise ValueError(_out_of_range(name, descriptor, exc)) from None
    except InvalidParameterTypeException as exc:
        if not isinstance(default, float):
            raise ValueError(f'parameter {name}: {_expected(exc)}') from None
        value = _as_double(node, name, default, writable)
    if value is None:  # an override rclpy could not type: an empty list
        if not isinstance(default, (list, tuple)):
            node.undeclare_parameter(name)
            raise ValueError(
                f'parameter {name} must be {_KINDS.get(type(default), type(default).__name__)}; '
                'got an empty list'
            )
        kind = Parameter.Type(node.describe_parameter(name).type)
        node.set_parameters([Parameter(name, kind, [])])
        value = []
    if descriptor.read_only:
        final = copy.copy(descriptor)
        final.type = node.get_parameter(name).type_.value  # the type the value settled on
        node.set_descriptor(name, final)
    return value


_KINDS = {bool: 'true or false', int: 'an integer', float: 'a number', str: 'a string'}


def _as_double(node: Node, name: str, default: float, writable: ParameterDescriptor) -> float:
    relaxed = copy.copy(writable)
    relaxed.dynamic_typing = True
    value = node.declare_parameter(name, default, relaxed).value
    if not is_number(value):
        node.undeclare_parameter(name)
        raise ValueError(f'parameter {name} must be a number; got {str(value)[:80]!r}')
    value = float(value)
    result = node.set_parameters([Parameter(name, Parameter.Type.DOUBLE, value)])[0]
    if not result.successful:  # outside the descriptor's range
        node.undeclare_parameter(name)
        raise ValueError(_out_of_range(name, writable, result.reason))
    return value


def _out_of_range(name: str, descriptor: ParameterDescriptor, why: object) -> str:
    """One line for a value outside a parameter's declared range."""
    for ranges in (descriptor.floating_point_range, descriptor.integer_range):
        if ranges:
            lo, hi = ranges[0].from_value, ranges[0].to_value
            # rclpy's reason: "... out of range Min: 0.0, Max: 1.0, value: 2.0: name"
            got = str(why).rsplit('value: ', 1)[-1].rsplit(':', 1)[0][:80]
            return f'parameter {name} must be in [{lo}, {hi}]; got {got}'
    return f'parameter {name}: {str(why)[:200]}'


def _expected(exc: InvalidParameterTypeException) -> str:
    # rclpy's message: "Trying to set parameter 'x' to '1' of type 'INTEGER', expecting type
    # 'DOUBLE': x"; the part before the last colon says it all
    return str(exc).rsplit(':', 1)[0][:200]
