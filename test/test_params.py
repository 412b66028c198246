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

"""Parameters as users type them: ``-p rate_hz:=15`` is a number, ``-p rate_hz:=fast`` one line."""

import uuid

from lightseg_ros.ros.params import declare, run_time_types
import pytest
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
import rclpy
from rclpy.context import Context
from rclpy.node import Node
from rclpy.parameter import Parameter


@pytest.fixture
def node_with():
    made = []

    def make(*overrides: str) -> Node:
        context = Context()
        args = ['--ros-args'] + [a for o in overrides for a in ('-p', o)]
        rclpy.init(args=args, context=context)
        node = Node(f'params_{uuid.uuid4().hex[:6]}', context=context)
        made.append((node, context))
        return node

    yield make
    for node, context in made:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def descriptor() -> ParameterDescriptor:
    return ParameterDescriptor(
        description='frames per second',
        floating_point_range=[FloatingPointRange(from_value=0.1, to_value=1000.0)],
    )


def test_a_whole_number_for_a_double_parameter_is_that_number(node_with):
    node = node_with('rate_hz:=15', 'other:=2.5')
    assert declare(node, 'rate_hz', 10.0, descriptor()) == 15.0
    param = node.get_parameter('rate_hz')
    assert param.type_ == Parameter.Type.DOUBLE and param.value == 15.0
    assert declare(node, 'other', 1.0, descriptor()) == 2.5  # the usual path is untouched
    assert declare(node, 'unset', 10.0, descriptor()) == 10.0


def test_other_type_mismatches_are_one_clear_value_error(node_with):
    node = node_with('rate_hz:=fast', 'width:=640.5', 'alpha:=true')
    with pytest.raises(ValueError, match=r"^parameter rate_hz must be a number; got 'fast'$"):
        declare(node, 'rate_hz', 10.0, descriptor())
    assert not node.has_parameter('rate_hz')
    with pytest.raises(
        ValueError, match=r"^parameter width: .*'DOUBLE', expecting type 'INTEGER'"
    ):
        declare(node, 'width', 640, ParameterDescriptor())
    with pytest.raises(ValueError, match='parameter alpha must be a number; got .True.'):
        declare(node, 'alpha', 0.5, descriptor())


def test_segment_node_takes_an_integer_alpha_and_refuses_a_word_in_one_line(capfd):
    from lightseg_ros.ros.segment_node import main

    argv = ['--ros-args', '-p', 'overlay_alpha:=half', '-r', f'__node:=p_{uuid.uuid4().hex[:6]}']
    assert main(argv) == 2
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(lines) == 1 and "parameter overlay_alpha must be a number; got 'half'" in lines[0]
    assert 'Traceback' not in err
    from lightseg_ros.ros.segment_node import SegmentNode

    rclpy.init(args=argv[:2] + ['overlay_alpha:=1', '-p', 'weights:=random'] + argv[3:])
    try:
        node = SegmentNode()
        assert node.get_parameter('overlay_alpha').value == 1.0 and node._alpha == 1.0
        # typing is dynamic now: the node's own check refuses what is not a number in range
        for value in ('abc', True, 1.5):
            assert not node.set_parameters([Parameter('overlay_alpha', value=value)])[0].successful
        assert node.set_parameters([Parameter('overlay_alpha', value=0)])[0].successful
        assert node._alpha == 0.0
        node.destroy_node()
    finally:
        rclpy.try_shutdown()


def test_an_empty_list_is_an_empty_list_of_the_parameters_type(node_with):
    # rclpy leaves `-p name:=[]` declared but unset (it cannot type an empty list): reading it
    # raised ParameterUninitializedException, a traceback in the node
    node = node_with('topics:=[]', 'size:=[]', 'cams:=[]')
    read_only = ParameterDescriptor(description='cameras', read_only=True)
    assert declare(node, 'topics', ['/camera/image_raw'], read_only) == []
    param = node.get_parameter('topics')
    assert param.type_ == Parameter.Type.STRING_ARRAY and param.value == []
    assert node.describe_parameter('topics').read_only  # made read-only once set
    refused = node.set_parameters([Parameter('topics', Parameter.Type.STRING_ARRAY, ['/x'])])
    assert not refused[0].successful
    assert declare(node, 'size', [0, 0], ParameterDescriptor()) == []
    assert node.get_parameter('size').type_ == Parameter.Type.INTEGER_ARRAY
    changed = node.set_parameters([Parameter('size', Parameter.Type.INTEGER_ARRAY, [4, 4])])
    assert changed[0].successful and list(node.get_parameter('size').value) == [4, 4]
    # a list parameter given no override keeps its default
    assert declare(node, 'other', ['/a'], read_only) == ['/a']


def test_an_empty_list_for_a_parameter_that_is_not_a_list_is_one_value_error(node_with):
    node = node_with('model:=[]', 'rate_hz:=[]', 'count:=[]')
    with pytest.raises(ValueError, match=r'^parameter model must be a string; got an empty list$'):
        declare(node, 'model', 'ghostnet', ParameterDescriptor(read_only=True))
    assert not node.has_parameter('model')
    with pytest.raises(ValueError, match=r'^parameter rate_hz must be a number; got an empty'):
        declare(node, 'rate_hz', 10.0, descriptor())
    with pytest.raises(ValueError, match=r'^parameter count must be an integer; got an empty'):
        declare(node, 'count', 3, ParameterDescriptor())


def test_a_read_only_double_given_a_whole_number_is_a_read_only_double(node_with):
    node = node_with('rate_hz:=15')
    read_only = descriptor()
    read_only.read_only = True
    assert declare(node, 'rate_hz', 10.0, read_only) == 15.0
    param = node.get_parameter('rate_hz')
    assert param.type_ == Parameter.Type.DOUBLE and param.value == 15.0
    assert node.describe_parameter('rate_hz').read_only


@pytest.mark.parametrize(
    'override, message',
    [
        ('image_topics:=[]', 'image_topics must list at least one topic'),
        ('input_size:=[]', 'input_size must be [height, width]'),
        ('model:=[]', 'parameter model must be a string; got an empty list'),
        ('outputs:=[]', 'outputs must list at least one of: mask, '),
    ],
)
def test_segment_node_refuses_an_empty_list_in_one_line(capfd, override, message):
    from lightseg_ros.ros.segment_node import main

    name = f'p_{uuid.uuid4().hex[:6]}'
    argv = ['--ros-args', '-p', override, '-p', 'weights:=random', '-r', f'__node:={name}']
    assert main(argv) == 2
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(lines) == 1 and message in lines[0], err[-2000:]
    assert 'Traceback' not in err


def test_a_value_outside_the_declared_range_is_one_value_error(node_with):
    # rclpy raised InvalidParameterValueException from declare_parameter: a traceback in the node
    node = node_with('alpha:=2.0', 'depth:=0', 'rate_hz:=-1', 'ratio:=.nan')
    with pytest.raises(ValueError, match=r'^parameter alpha must be in \[0.0, 1.0\]; got 2.0$'):
        declare(node, 'alpha', 0.5, _ranged(0.0, 1.0))
    with pytest.raises(ValueError, match=r'^parameter depth must be in \[1, 100\]; got 0$'):
        declare(node, 'depth', 1, _int_ranged(1, 100))
    # a whole number for a double goes through the relaxed path: the same line
    with pytest.raises(ValueError, match=r'^parameter rate_hz must be in \[0.1, 1000.0\]; got -1'):
        declare(node, 'rate_hz', 10.0, descriptor())
    assert not node.has_parameter('rate_hz')
    with pytest.raises(ValueError, match=r'^parameter ratio must be in \[0.0, 1.0\]; got nan$'):
        declare(node, 'ratio', 0.5, _ranged(0.0, 1.0))


def _ranged(lo: float, hi: float) -> ParameterDescriptor:
    ranges = [FloatingPointRange(from_value=lo, to_value=hi)]
    return ParameterDescriptor(floating_point_range=ranges)


def _int_ranged(lo: int, hi: int) -> ParameterDescriptor:
    from rcl_interfaces.msg import IntegerRange

    return ParameterDescriptor(integer_range=[IntegerRange(from_value=lo, to_value=hi, step=1)])


@pytest.mark.parametrize(
    'override, message',
    [
        ('overlay_alpha:=2.0', 'parameter overlay_alpha must be in [0.0, 1.0]; got 2.0'),
        ('output_depth:=0', 'parameter output_depth must be in [1, '),
        ('cpu_threads:=-1', 'parameter cpu_threads must be in [0, '),
    ],
)
def test_segment_node_refuses_a_value_out_of_range_in_one_line(capfd, override, message):
    from lightseg_ros.ros.segment_node import main

    name = f'p_{uuid.uuid4().hex[:6]}'
    argv = ['--ros-args', '-p', override, '-p', 'weights:=random', '-r', f'__node:={name}']
    assert main(argv) == 2
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if 'cannot start' in line]
    assert len(lines) == 1 and message in lines[0], err[-2000:]
    assert 'Traceback' not in err


def test_at_run_time_a_whole_number_for_a_double_is_that_double_and_a_mismatch_is_worded(
    node_with, capfd
):
    """``ros2 param set /segment_node overlay_alpha 1`` was "expected '3' got '2'"."""
    node = node_with()
    declare(node, 'alpha', 0.5, _ranged(0.0, 1.0))
    declare(node, 'sizes', [1.5, 2.5], ParameterDescriptor())
    declare(node, 'name', 'x', ParameterDescriptor())
    node.add_pre_set_parameters_callback(run_time_types(node))
    assert node.set_parameters([Parameter('alpha', value=1)])[0].successful
    assert node.get_parameter('alpha').type_ == Parameter.Type.DOUBLE
    assert node.get_parameter('alpha').value == 1.0
    assert node.set_parameters([Parameter('sizes', value=[3, 4])])[0].successful
    assert node.get_parameter('sizes').value == [3.0, 4.0]
    # the range still applies to the number it became
    assert not node.set_parameters([Parameter('alpha', value=2)])[0].successful
    assert node.get_parameter('alpha').value == 1.0
    # other mismatches stay refused, and the log says what was expected in words
    assert not node.set_parameters([Parameter('alpha', value='high')])[0].successful
    assert not node.set_parameters([Parameter('name', value=3)])[0].successful
    err = capfd.readouterr().err
    assert "refused alpha='high': alpha must be a number, got a string" in err, err
    assert "refused name='3': name must be a string, got an integer" in err, err
    assert node.get_parameter('name').value == 'x'
    # an empty list of any element type is an empty list of the declared type, for the node's
    # own check to judge (rclpy's Parameter(value=[]) is a BYTE_ARRAY)
    assert node.set_parameters([Parameter('sizes', value=[])])[0].successful
    assert node.get_parameter('sizes').type_ == Parameter.Type.DOUBLE_ARRAY
    assert list(node.get_parameter('sizes').value) == []
