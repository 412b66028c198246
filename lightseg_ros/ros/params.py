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

from collections.abc import Callable
import copy
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

__all__ = ['declare', 'is_number', 'run_time_types']


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
_TYPE_WORDS = {
    Parameter.Type.BOOL: 'true or false',
    Parameter.Type.INTEGER: 'an integer',
    Parameter.Type.DOUBLE: 'a number',
    Parameter.Type.STRING: 'a string',
    Parameter.Type.BYTE_ARRAY: 'a list of bytes',
    Parameter.Type.BOOL_ARRAY: 'a list of true/false',
    Parameter.Type.INTEGER_ARRAY: 'a list of integers',
    Parameter.Type.DOUBLE_ARRAY: 'a list of numbers',
    Parameter.Type.STRING_ARRAY: 'a list of strings',
}
_ARRAYS = {
    Parameter.Type.BYTE_ARRAY,
    Parameter.Type.BOOL_ARRAY,
    Parameter.Type.INTEGER_ARRAY,
    Parameter.Type.DOUBLE_ARRAY,
    Parameter.Type.STRING_ARRAY,
}
_WIDENED = {  # what `ros2 param set` gives for a whole number, as the declared type
    (Parameter.Type.DOUBLE, Parameter.Type.INTEGER): lambda v: float(v),
    (Parameter.Type.DOUBLE_ARRAY, Parameter.Type.INTEGER_ARRAY): lambda v: [float(x) for x in v],
}


def run_time_types(node: Node) -> Callable[[list[Parameter]], list[Parameter]]:
    """
    Return a pre-set-parameters callback for ``node`` that takes values as users type them.

    ``ros2 param set /segment_node overlay_alpha 1`` sends an INTEGER, which rclpy refuses for a
    DOUBLE parameter with "Wrong parameter type, expected '3' got '2'" (enum numbers): a whole
    number (or a list of them) for a double (list) is passed on as that double. Any other type
    mismatch is still refused by rclpy; the node's log then says in words what was expected.
    """

    def callback(params: list[Parameter]) -> list[Parameter]:
        passed = []
        for param in params:
            if node.has_parameter(param.name) and param.type_ != Parameter.Type.NOT_SET:
                declared = node.get_parameter(param.name).type_
                widen = _WIDENED.get((declared, param.type_))
                if widen is not None:
                    param = Parameter(param.name, declared, widen(param.value))
                elif declared in _ARRAYS and param.type_ in _ARRAYS and len(param.value) == 0:
                    # an empty list has no element type: `ros2 param set` sends a BOOL_ARRAY,
                    # rclpy's Parameter(value=[]) a BYTE_ARRAY; the node's own check says
                    # whether empty is acceptable
                    param = Parameter(param.name, declared, [])
                elif declared != param.type_ and not node.describe_parameter(
                    param.name
                ).dynamic_typing:
                    node.get_logger().warning(
                        f'refused {param.name}={str(param.value)[:80]!r}: {param.name} must be '
                        f'{_TYPE_WORDS.get(declared, declared.name)}, got '
                        f'{_TYPE_WORDS.get(param.type_, param.type_.name)}'
                    )
            passed.append(param)
        return passed

    return callback


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
