"""--ros-args subset: expected values written from the ROS 2 docs (rcl argument rules)."""
import pytest

from video_perception.transport import ros_args
from video_perception.transport.base import ParameterError, ParameterSpec
from video_perception.transport.params import check_value, ParameterStore


def test_params_typed_like_yaml():
    a = ros_args.parse(['--ros-args', '-p', 'i:=3', '-p', 'f:=0.5', '-p', 'b:=true',
                        '--param', 's:=hello', '-p', 'l:=[1, 2]', '-p', 'q:="7"'])
    assert a.parameters_for('n') == {'i': 3, 'f': 0.5, 'b': True, 's': 'hello', 'l': [1, 2],
                                     'q': '7'}


def test_empty_value_is_a_string_and_wildcards(tmp_path):
    assert ros_args.parse(['--ros-args', '-p', 'frame_id:=']).parameters_for('n') == {
        'frame_id': ''}
    f = tmp_path / 'w.yaml'
    f.write_text('/**/det:\n  ros__parameters:\n    a: 1\n')
    a = ros_args.parse(['--ros-args', '--params-file', str(f)])
    assert a.parameters_for('det') == {'a': 1}
    assert a.parameters_for('det', '/robot/left') == {'a': 1}
    assert a.parameters_for('other', '/robot') == {}


def test_rest_and_double_dash():
    a = ros_args.parse(['in', '--ros-args', '-p', 'x:=1', '--', 'out', '--flag'])
    assert a.rest == ['in', 'out', '--flag']


def test_remaps_node_and_namespace():
    a = ros_args.parse(['--ros-args', '-r', 'image:=/camera/image_raw', '--remap',
                        '__node:=det', '-r', '__ns:=/robot', '-r', 'other:a:=b'])
    assert (a.node_name, a.namespace) == ('det', '/robot')
    assert a.remaps_for('det') == [('image', '/camera/image_raw')]
    assert a.remaps_for('other') == [('image', '/camera/image_raw'), ('a', 'b')]


def test_params_file_node_and_wildcard(tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    a: 1\n    b: x\n'
                 'det:\n  ros__parameters:\n    a: 2\n    model:\n      path: m.onnx\n'
                 'robot:\n  other:\n    ros__parameters:\n      a: 9\n')
    a = ros_args.parse(['--ros-args', '--params-file', str(f), '-p', 'b:=y'])
    assert a.parameters_for('det') == {'a': 2, 'b': 'y', 'model.path': 'm.onnx'}
    assert a.parameters_for('other', '/robot') == {'a': 9, 'b': 'y'}
    assert a.parameters_for('zzz') == {'a': 1, 'b': 'y'}
    # later -p beats an earlier file, a later file beats an earlier -p
    a = ros_args.parse(['--ros-args', '-p', 'a:=5', '--params-file', str(f)])
    assert a.parameters_for('det')['a'] == 2


def test_log_level():
    assert ros_args.parse(['--ros-args', '--log-level', 'DEBUG']).log_level == 'debug'
    assert ros_args.parse(['--ros-args', '--log-level', 'det:=warn']).log_level == 'warn'


@pytest.mark.parametrize('argv,needle', [
    (['--ros-args', '--bogus'], "'--bogus'"),
    (['--ros-args', '-p', 'novalue'], 'name:=value'),
    (['--ros-args', '-p'], "'-p' needs a value"),
    (['--ros-args', '-r', '__ns:=relative'], 'absolute'),
    (['--ros-args', '--log-level', 'loud'], "'loud'"),
    (['--ros-args', '--params-file', '/nonexistent.yaml'], '/nonexistent.yaml'),
])
def test_errors_are_one_line(argv, needle):
    with pytest.raises(ros_args.RosArgsError) as err:
        ros_args.parse(argv)
    assert needle in str(err.value) and '\n' not in str(err.value)


@pytest.mark.parametrize('name,node,ns,remaps,expected', [
    ('image', 'n', '/', [], '/image'),
    ('image', 'n', '/robot', [], '/robot/image'),
    ('/abs', 'n', '/robot', [], '/abs'),
    ('~/debug', 'n', '/robot', [], '/robot/n/debug'),
    ('image', 'n', '/robot', [('image', '/camera/image_raw')], '/camera/image_raw'),
    ('image', 'n', '/robot', [('/robot/image', 'cam')], '/robot/cam'),
    ('detections', 'n', '/', [('image', 'x')], '/detections'),
])
def test_resolve_topic(name, node, ns, remaps, expected):
    assert ros_args.resolve_topic(name, node, ns, remaps) == expected


def test_resolve_rejects_bad_names():
    with pytest.raises(ValueError, match='not allow'):
        ros_args.resolve_topic('a-b', 'n', '/')


def test_parameter_checks():
    spec = ParameterSpec('thr', 0.5, 'score threshold', min_value=0.0, max_value=1.0)
    assert check_value(spec, 1) == 1.0
    with pytest.raises(ParameterError, match=r"'thr'.*expected double, got string"):
        check_value(spec, 'high')
    with pytest.raises(ParameterError, match=r"'thr'.*above the maximum 1.0"):
        check_value(spec, 2.0)
    with pytest.raises(ParameterError, match='expected integer, got bool'):
        check_value(ParameterSpec('n', 3, 'count'), True)
    with pytest.raises(ParameterError, match="not one of fp16, fp32"):
        check_value(ParameterSpec('p', 'fp16', 'precision', choices=('fp16', 'fp32')), 'int4')


def test_parameter_store_override_and_callbacks():
    store = ParameterStore({'thr': 0.25})
    assert store.declare(ParameterSpec('thr', 0.5, 'x')) == 0.25
    store.declare(ParameterSpec('model', 'm', 'x', read_only=True))
    seen = []
    store.add_callback(seen.append)
    store.set('thr', 0.75)
    assert seen == [{'thr': 0.75}] and store.get('thr') == 0.75
    with pytest.raises(ParameterError, match='read-only'):
        store.set('model', 'other')
    with pytest.raises(ParameterError, match="'thr'.*expected double"):
        ParameterStore({'thr': 'x'}).declare(ParameterSpec('thr', 0.5, 'x'))


def test_undeclared_overrides_names_each_unknown_once():
    from video_perception.transport.params import undeclared_overrides
    declared = ['score_threshold', 'nms_iou', 'max_detections', 'model_path']
    given = ['score_treshold', 'nms_iou', 'model_pth', 'qos_overrides./cam.reliability',
             'use_sim_time', 'colour']
    lines = undeclared_overrides(given, declared)
    # the declared, ROS's own and qos_overrides names never warn; the others once each, sorted
    assert [ln.split("'")[1] for ln in lines] == ['colour', 'model_pth', 'score_treshold']
    assert "did you mean 'model_path'" in lines[1] and "did you mean 'score_threshold'" in lines[2]
    assert 'did you mean' not in lines[0]
