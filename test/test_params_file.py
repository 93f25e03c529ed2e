"""ROS 2 parameter files (``--ros-args --params-file FILE``) on both transports.

* Which node keys apply to which node (``/**``, a bare node name, ``/ns/node``, ``ns/node``,
  ``*`` and ``**`` wildcards) and which value wins when several keys match: the DDS transport's
  parser (``ros_args.parameters_for``) against rclpy's own resolution of the same file
  (``Node._parameter_overrides``, which rcl_yaml_param_parser and rclpy compute): rclpy is the
  reference. A key rcl refuses (``/n*``) is refused by ours too.
* End to end: a real ``streamnet_node`` on each transport started with the shipped-style file
  (``/**`` plus a namespaced ``/robot/streamnet_node`` key), its ``detections/labels`` read by
  ``video-perception echo`` on the same transport: the threshold the node publishes is the one
  the namespaced key set. A bad value in the file (NaN, out of range) and a bad key are one line
  and exit 2 on both, before the model loads.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
import yaml

from video_perception.transport import ros_args

REPO = pathlib.Path(__file__).resolve().parents[1]
SN = REPO / 'models' / 'streamnet_tiny_synth'
BIN = pathlib.Path(sys.executable).parent

KEYS = ['/**', '**', 'n', '/n', 'ns/n', '/ns/n', '/ns/*', '/*', '/**/n', '/ns/**', '/x/n',
        'ns/*', '/ns/sub/n', '/*/n', '/ns/**/n', '/n/**', '/**/ns/*', '/*/*']
NODES = [('n', '/'), ('n', '/ns'), ('n', '/ns/sub'), ('nn', '/ns')]


# rclpy's resolution, in a child process of the real-ROS tier (its Fast DDS profile, a domain of
# its own): one context and one node per (file, node) case, as a user's process would have
_RCLPY_CHILD = """
import json, sys
import rclpy
out = []
for path, node, namespace in json.loads(sys.stdin.read()):
    context = rclpy.Context()
    rclpy.init(args=['x', '--ros-args', '--params-file', path], context=context)
    try:
        n = rclpy.create_node(node, namespace=namespace, context=context,
                              start_parameter_services=False, enable_rosout=False)
        try:
            out.append({k: p.value for k, p in n._parameter_overrides.items()})
        finally:
            n.destroy_node()
    finally:
        context.try_shutdown()
print(json.dumps(out))
"""


def _rclpy_overrides(cases, env):
    """The parameters rclpy gives node ``namespace/node`` from each file (its own matching)."""
    r = subprocess.run([sys.executable, '-c', _RCLPY_CHILD], input=json.dumps(cases), env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.ros_tier
def test_node_keys_resolve_as_rclpy_does(tmp_path, ros_env):
    # one key at a time: does it apply? then every key in one file, each with its own value:
    # the same one wins
    cases = []
    for i, key in enumerate(KEYS):
        path = tmp_path / f'k{i}.yaml'
        path.write_text(yaml.safe_dump({key: {'ros__parameters': {'p': i}}}))
        cases += [(str(path), node, ns) for node, ns in NODES]
    path = tmp_path / 'all.yaml'
    path.write_text(yaml.safe_dump({k: {'ros__parameters': {'p': i, f'q{i}': True}}
                                    for i, k in enumerate(KEYS)}, sort_keys=False))
    cases += [(str(path), node, ns) for node, ns in NODES]
    theirs = _rclpy_overrides(cases, ros_env)
    differ = [(pathlib.Path(f).name, node, ns, ours)
              for (f, node, ns), ref in zip(cases, theirs)
              if (ours := ros_args.parse(['--ros-args', '--params-file', f]).parameters_for(
                  node, ns)) != ref]
    assert not differ


@pytest.mark.parametrize('key', ['/n*', '/ns/a b', '/1ns/n'])
def test_a_key_rcl_refuses_is_one_line(tmp_path, key):
    path = tmp_path / 'p.yaml'
    path.write_text(yaml.safe_dump({key: {'ros__parameters': {'p': 1}}}))
    with pytest.raises(ros_args.RosArgsError) as err:
        ros_args.parse(['--ros-args', '--params-file', str(path)])
    assert repr(key) in str(err.value) and '\n' not in str(err.value)
    try:
        import rclpy
    except ImportError:
        return
    context = rclpy.Context()
    with pytest.raises(Exception):       # the reference refuses it as well
        rclpy.init(args=['x', '--ros-args', '--params-file', str(path)], context=context)
    context.try_shutdown()


PARAMS = f"""\
/**:
  ros__parameters:
    model_path: {SN}
    backend: onnxruntime
    threads: 1
    score_threshold: 0.3
/robot/streamnet_node:
  ros__parameters:
    score_threshold: {{threshold}}
"""


def _env(base, transport):
    return {**base, 'VIDEO_PERCEPTION_TRANSPORT': transport, 'PYTHONPATH': str(REPO),
            'OMP_NUM_THREADS': '1'}


def _node(env, path, *extra):
    return subprocess.Popen([str(BIN / 'streamnet_node'), '--ros-args', '--params-file',
                             str(path), *extra], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@pytest.fixture(params=['dds', 'rclpy'])
def transport_env(request, tmp_path, ros_domain):
    if request.param == 'rclpy':
        import ros_tier
        reason = ros_tier.missing()
        if reason:
            pytest.skip(reason)
        return _env(ros_tier.make_env(tmp_path, 'rclpy'), 'rclpy')
    return _env(dict(os.environ), 'dds')


SET_NAN_RCLPY = """
import json, math, rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
rclpy.init()
node = rclpy.create_node('setter')
client = node.create_client(SetParameters, '/robot/streamnet_node/set_parameters')
assert client.wait_for_service(timeout_sec=30.0)
value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=math.nan)
future = client.call_async(SetParameters.Request(
    parameters=[Parameter(name='score_threshold', value=value)]))
rclpy.spin_until_future_complete(node, future, timeout_sec=30.0)
result = future.result().results[0]
print(json.dumps({'successful': result.successful, 'reason': result.reason}))
"""


def _set_nan_at_run_time(env) -> str:
    """NaN for score_threshold through the transport's run-time path: rclpy's parameter
    service (a child rclpy node, as ``ros2 param set`` does) or the DDS transport's
    set_parameters_simple; the refusal text."""
    if env['VIDEO_PERCEPTION_TRANSPORT'] == 'rclpy':
        import ros_tier
        result = ros_tier.last_json(ros_tier.start_python(SET_NAN_RCLPY, env), 60.0)
        assert not result['successful']
        return result['reason']
    from video_perception.transport.dds_transport import set_parameters_remote
    set_parameters_remote('/robot/streamnet_node', {'score_threshold': float('nan')},
                          timeout=30.0)
    return ''


def test_params_file_end_to_end(tmp_path, transport_env):
    path = tmp_path / 'streamnet.yaml'
    path.write_text(PARAMS.format(threshold=0.45))
    node = _node(transport_env, path, '-r', '__ns:=/robot')
    try:
        echo = subprocess.run(
            [sys.executable, '-m', 'video_perception.cli', 'echo', '/robot/detections/labels',
             '--type', 'vision_msgs/msg/LabelInfo', '--count', '1', '--timeout', '60',
             '--json'], env=transport_env, capture_output=True, text=True, timeout=120)
        reason = _set_nan_at_run_time(transport_env) if echo.returncode == 0 else ''
        time.sleep(1.0)                   # the DDS node logs the refusal on its own thread
    finally:
        node.terminate()
        err = node.communicate(timeout=30)[1]
    assert echo.returncode == 0, echo.stderr[-2000:] + err[-2000:]
    # at run time NaN is refused alike on both transports, in one line naming the parameter
    if transport_env['VIDEO_PERCEPTION_TRANSPORT'] == 'rclpy':
        assert 'score_threshold' in reason and 'nan' in reason and '\n' not in reason, reason
    else:
        refusal = "parameter 'score_threshold': nan is not a finite number"
        assert len([ln for ln in err.splitlines() if refusal in ln]) == 1, err[-2000:]
    label = json.loads(echo.stdout.strip().splitlines()[-1])
    assert label['threshold'] == pytest.approx(0.45)       # the namespaced key's, not /**'s
    assert [c['class_name'] for c in label['class_map']][:3] == ['person', 'bicycle', 'car']
    assert 'Traceback' not in err


@pytest.mark.parametrize('threshold, words', [
    ('.nan', ["parameter 'score_threshold'", 'nan', 'not a finite number']),
    ('1.5', ["parameter 'score_threshold'", '1.5', 'above the maximum 1.0']),
    ("'high'", ["parameter 'score_threshold'", 'expected double', "'high'"]),
])
def test_a_bad_value_in_the_file_is_one_line_and_exit_2(tmp_path, transport_env,
                                                        threshold, words):
    path = tmp_path / 'streamnet.yaml'
    path.write_text(PARAMS.format(threshold=threshold))
    node = _node(transport_env, path, '-r', '__ns:=/robot')
    try:
        _, err = node.communicate(timeout=90)
    finally:
        node.kill()
    assert node.returncode == 2, err
    lines = [ln for ln in err.splitlines() if all(w in ln for w in words)]
    assert len(lines) == 1, err
    assert 'Traceback' not in err and 'configured' not in err and 'warm-up' not in err
