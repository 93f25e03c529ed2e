"""The detector nodes as real rclpy managed nodes, driven from another process.

Each node runs in its own process under ``VIDEO_PERCEPTION_TRANSPORT=rclpy`` with a known-answer
tiny bundle (``test/tiny_bundles.py``); the test process is a plain rclpy node that publishes
frames, collects detections and drives the node through the rcl services a ROS user has:
``<node>/change_state`` and ``<node>/get_state`` (lifecycle_msgs), ``<node>/describe_parameters``,
``<node>/get_parameters`` and ``<node>/set_parameters`` (rcl_interfaces). The reference is ROS's
own: the lifecycle state ids of lifecycle_msgs/State, the ParameterType codes, and whether
detections arrive at all.
"""
import random
import shutil
import signal
import time

import pytest

import tiny_bundles
from ros_helpers import NodeProcess, RosClient, count_after, loopback_ros_env, need_ros, wait_for

pytestmark = [pytest.mark.ros_tier, pytest.mark.xdist_group('ros_nodes')]

SQUARE_SCORE = 0.9025           # tiny_motion's one box (objectness 0.95 x class 0.95)


@pytest.fixture(scope='module')
def bundles(tmp_path_factory):
    need_ros()
    root = tmp_path_factory.mktemp('bundles')
    return {'streamnet': tiny_bundles.make_streamnet_bundle(str(root / 'sn')),
            'v2i': tiny_bundles.make_v2i_bundle(str(root / 'v2i'))}


@pytest.fixture
def ros_env(tmp_path, monkeypatch):
    need_ros()
    return loopback_ros_env(tmp_path, monkeypatch)


@pytest.fixture
def client(ros_env):
    c = RosClient()
    yield c
    c.close()


def start(tmp_path, env, family, bundle, *params):
    args = ['-p', f'model_path:={bundle}', '-p', 'threads:=1', '-r', 'image:=/cam']
    for p in params:
        args += ['-p', p]
    return NodeProcess(tmp_path, env, f'{family}_node', *args)


def get_state(client, node):
    from lifecycle_msgs.srv import GetState
    return client.call(GetState, f'/{node}/get_state', GetState.Request()).current_state


def change_state(client, node, transition_id) -> bool:
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    request = ChangeState.Request(transition=Transition(id=transition_id))
    return client.call(ChangeState, f'/{node}/change_state', request).success


def served_after(client, dets, t0, count=3, timeout=15.0) -> bool:
    return wait_for(lambda: count_after(dets, t0, client.lock) >= count, timeout)


def silent_for(client, dets, seconds=1.5, settle=0.5) -> bool:
    """No detection for ``seconds`` once ``settle`` s have let the last in-flight one land."""
    time.sleep(settle)
    t0 = time.monotonic()
    time.sleep(seconds)
    return count_after(dets, t0, client.lock) == 0


def test_lifecycle_transitions_driven_from_another_process(tmp_path, ros_env, client, bundles):
    from lifecycle_msgs.msg import State, Transition
    from vision_msgs.msg import Detection2DArray, LabelInfo
    from rclpy.qos import DurabilityPolicy, QoSProfile
    dets = client.collect(Detection2DArray, '/detections')
    labels = client.collect(LabelInfo, '/detections/labels',
                            QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    client.publish_frames('/cam')
    node = start(tmp_path, ros_env, 'streamnet', bundles['streamnet'], 'autostart:=false')
    try:
        assert get_state(client, 'streamnet_node').id == State.PRIMARY_STATE_UNCONFIGURED
        assert silent_for(client, dets) and not labels          # no model, nothing published

        assert change_state(client, 'streamnet_node', Transition.TRANSITION_CONFIGURE)
        assert get_state(client, 'streamnet_node').label == 'inactive'
        assert wait_for(lambda: labels)                         # configure loaded the model
        assert labels[0][1].class_map[0].class_name == 'square'
        assert silent_for(client, dets, settle=0.0)             # inactive: not serving

        assert change_state(client, 'streamnet_node', Transition.TRANSITION_ACTIVATE)
        assert get_state(client, 'streamnet_node').id == State.PRIMARY_STATE_ACTIVE
        assert served_after(client, dets, time.monotonic())
        out = dets[-1][1]
        assert out.header.frame_id == 'cam'
        score = out.detections[0].results[0].hypothesis.score
        assert score == pytest.approx(SQUARE_SCORE, abs=1e-3)

        assert change_state(client, 'streamnet_node', Transition.TRANSITION_DEACTIVATE)
        assert get_state(client, 'streamnet_node').label == 'inactive'
        assert silent_for(client, dets)
        assert change_state(client, 'streamnet_node', Transition.TRANSITION_ACTIVATE)
        assert served_after(client, dets, time.monotonic())     # serves again after a pause

        assert change_state(client, 'streamnet_node', Transition.TRANSITION_DEACTIVATE)
        assert change_state(client, 'streamnet_node', Transition.TRANSITION_CLEANUP)
        assert get_state(client, 'streamnet_node').id == State.PRIMARY_STATE_UNCONFIGURED
        assert not change_state(client, 'streamnet_node', Transition.TRANSITION_ACTIVATE)
        assert change_state(client, 'streamnet_node', Transition.TRANSITION_CONFIGURE)
        assert change_state(client, 'streamnet_node', Transition.TRANSITION_INACTIVE_SHUTDOWN)
        assert get_state(client, 'streamnet_node').id == State.PRIMARY_STATE_FINALIZED
        assert silent_for(client, dets, settle=0.0)
    finally:
        rc = node.stop(signal.SIGINT)
    assert rc == 0 and 'Traceback' not in node.stderr, node.stderr


def test_autostart_active_and_a_failed_configure_reported(tmp_path, ros_env, client, bundles):
    from lifecycle_msgs.msg import State, Transition
    from vision_msgs.msg import Detection2DArray
    bundle = tmp_path / 'v2i'
    shutil.copytree(bundles['v2i'], bundle)
    dets = client.collect(Detection2DArray, '/detections')
    client.publish_frames('/cam')
    node = start(tmp_path, ros_env, 'v2i', str(bundle))
    try:
        assert get_state(client, 'v2i_node').id == State.PRIMARY_STATE_ACTIVE
        assert served_after(client, dets, time.monotonic())
        assert change_state(client, 'v2i_node', Transition.TRANSITION_DEACTIVATE)
        assert change_state(client, 'v2i_node', Transition.TRANSITION_CLEANUP)
        # the bundle is gone: configure fails, in one logged line, and the node stays managed
        bundle.rename(tmp_path / 'v2i_moved')
        assert not change_state(client, 'v2i_node', Transition.TRANSITION_CONFIGURE)
        assert get_state(client, 'v2i_node').id == State.PRIMARY_STATE_UNCONFIGURED
        failed = [line for line in node.stderr.splitlines() if 'configure failed' in line]
        assert len(failed) == 1 and str(bundle) in failed[0], node.stderr
        (tmp_path / 'v2i_moved').rename(bundle)
        assert change_state(client, 'v2i_node', Transition.TRANSITION_CONFIGURE)
        assert change_state(client, 'v2i_node', Transition.TRANSITION_ACTIVATE)
        assert served_after(client, dets, time.monotonic())
    finally:
        rc = node.stop(signal.SIGTERM)
    assert rc == 0 and 'Traceback' not in node.stderr, node.stderr

    broken = start(tmp_path, ros_env, 'v2i', str(tmp_path / 'no_such_bundle'))
    assert broken.wait_exit() == 2
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and 'cannot start' in lines[0] and 'no_such_bundle' in lines[0], lines


def _param_value(value):
    from rcl_interfaces.msg import ParameterType, ParameterValue
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


def set_params(client, node, **values):
    """``<node>/set_parameters`` with exactly the Python types given; the SetParametersResults."""
    from rcl_interfaces.msg import Parameter
    from rcl_interfaces.srv import SetParameters
    request = SetParameters.Request(parameters=[Parameter(name=k, value=_param_value(v))
                                                for k, v in values.items()])
    return client.call(SetParameters, f'/{node}/set_parameters', request).results


def get_params(client, node, *names):
    from rcl_interfaces.srv import GetParameters
    return client.call(GetParameters, f'/{node}/get_parameters',
                       GetParameters.Request(names=list(names))).values


def test_parameters_described_and_set_through_rcl_services(tmp_path, ros_env, client, bundles):
    from rcl_interfaces.msg import ParameterType
    from rcl_interfaces.srv import DescribeParameters
    from vision_msgs.msg import Detection2DArray
    dets = client.collect(Detection2DArray, '/detections')
    client.publish_frames('/cam')
    # an integer for a double at start: accepted and stored as 1.0 (above the square's score)
    node = start(tmp_path, ros_env, 'streamnet', bundles['streamnet'], 'score_threshold:=1')
    try:
        value = get_params(client, 'streamnet_node', 'score_threshold')[0]
        assert (value.type, value.double_value) == (ParameterType.PARAMETER_DOUBLE, 1.0)
        names = ['score_threshold', 'max_detections', 'model_path', 'backend', 'autostart']
        desc = {d.name: d for d in client.call(
            DescribeParameters, '/streamnet_node/describe_parameters',
            DescribeParameters.Request(names=names)).descriptors}
        score = desc['score_threshold']
        assert score.type == ParameterType.PARAMETER_DOUBLE and 'score' in score.description
        assert [(r.from_value, r.to_value) for r in score.floating_point_range] == [(0.0, 1.0)]
        assert not score.read_only and not score.integer_range
        assert desc['max_detections'].type == ParameterType.PARAMETER_INTEGER
        assert [(r.from_value, r.to_value) for r in desc['max_detections'].integer_range] == [
            (1, 1000)]
        assert desc['model_path'].read_only and desc['model_path'].description
        assert 'tensorrt' in desc['backend'].additional_constraints
        assert desc['autostart'].read_only
        assert desc['autostart'].type == ParameterType.PARAMETER_BOOL

        assert served_after(client, dets, time.monotonic())
        assert all(not m.detections for _, m in dets)            # threshold 1.0: nothing kept

        for threshold, expect_box in ((0, True), (0.95, False), (0.5, True)):
            result = set_params(client, 'streamnet_node', score_threshold=threshold)[0]
            assert result.successful, result.reason
            after = client.node.get_clock().now().nanoseconds  # frames stamped later see it
            value = get_params(client, 'streamnet_node', 'score_threshold')[0]
            assert (value.type, value.double_value) == (ParameterType.PARAMETER_DOUBLE,
                                                        float(threshold))

            def later():
                with client.lock:
                    return [m for _, m in dets if m.header.stamp.sec * 10 ** 9
                            + m.header.stamp.nanosec > after]
            assert wait_for(lambda: len(later()) >= 3, 15.0)
            assert all(bool(m.detections) == expect_box for m in later()), threshold

        rejected = {'score_threshold': 1.5, 'max_detections': 2.5, 'model_path': '/elsewhere',
                    'stamp_mode': 'sometimes', 'publish_image': 'yes'}
        for name, bad in rejected.items():
            result = set_params(client, 'streamnet_node', **{name: bad})[0]
            assert not result.successful and result.reason, name
            assert '\n' not in result.reason
        value = get_params(client, 'streamnet_node', 'score_threshold')[0]
        assert value.double_value == 0.5                          # unchanged by the rejections
    finally:
        rc = node.stop(signal.SIGINT)
    assert rc == 0 and 'Traceback' not in node.stderr, node.stderr


@pytest.mark.parametrize('param, expected', [
    ('score_threshold:=1.5', "parameter 'score_threshold': 1.5 is above the maximum 1.0"),
    ('max_detections:=2.5', "parameter 'max_detections': expected integer, got double 2.5"),
    ('backend:=tpu', "parameter 'backend': 'tpu' is not one of auto, tensorrt"),
])
def test_bad_parameter_at_start_is_one_line_and_exit_2(tmp_path, ros_env, bundles, param,
                                                       expected):
    if param.startswith('max_detections'):      # this one through a --params-file
        name, value = param.split(':=')
        path = tmp_path / 'params.yaml'
        path.write_text(f'streamnet_node:\n  ros__parameters:\n    {name}: {value}\n')
        node = NodeProcess(tmp_path, ros_env, 'streamnet_node', '-p',
                           f"model_path:={bundles['streamnet']}", '--params-file', str(path))
    else:
        node = start(tmp_path, ros_env, 'streamnet', bundles['streamnet'], param)
    assert node.wait_exit() == 2
    lines = node.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert 'Reason' not in lines[0] and 'Invalid parameter' not in lines[0]


def stop_cycles(tmp_path, ros_env, client, bundles, cycles):
    """Start, serve frames, stop by SIGINT / SIGTERM in turn (at a random point of the 1 Hz
    diagnostics period), ``cycles`` times; every stop must be clean: exit 0, no traceback."""
    from vision_msgs.msg import Detection2DArray
    dets = client.collect(Detection2DArray, '/detections')
    client.publish_frames('/cam', rate=30.0)
    for i in range(cycles):
        t0 = time.monotonic()
        node = start(tmp_path, ros_env, 'streamnet', bundles['streamnet'], 'publish_image:=true')
        try:
            assert served_after(client, dets, t0, count=2, timeout=60.0), node.stderr
            time.sleep(random.uniform(0.0, 1.0))
        finally:
            sig = (signal.SIGINT, signal.SIGTERM)[i % 2]
            rc = node.stop(sig)
        err = node.stderr
        assert rc == 0 and 'Traceback' not in err and '[ERROR]' not in err, (i, sig, err)


def test_clean_stop_20_cycles_with_frames_flowing(tmp_path, ros_env, client, bundles):
    """20 stops (about two minutes): the old stop order failed at the 7th."""
    stop_cycles(tmp_path, ros_env, client, bundles, cycles=20)
