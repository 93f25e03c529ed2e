"""Launch files and parameter YAMLs checked without ROS: they name only parameters the nodes
declare (with values of the declared type and range) and executables setup.py installs.

Launch files are parsed with ``ast`` (``launch`` is not importable here), so this test does not
depend on ROS being installed.
"""
import ast
import fnmatch
import importlib
import pathlib

import pytest
import yaml

from video_perception.node_core import parameter_specs
from video_perception.transport.params import check_value

REPO = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
CONFIG_YAMLS = sorted((REPO / 'config').glob('*.yaml'))
# ROS parameters every rclpy node has without declaring them
ROS_BUILTIN_PARAMETERS = {'use_sim_time'}


def console_scripts():
    """name -> 'module:function' from setup.py's entry_points, read with ast."""
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == 'console_scripts':
                    entries = ast.literal_eval(value)
                    return dict((e.split('=')[0].strip(), e.split('=')[1].strip())
                                for e in entries)
    raise AssertionError('setup.py has no console_scripts')


def node_parameters():
    """executable -> {name: ParameterSpec} for the detector nodes setup.py installs."""
    out = {}
    for name, target in console_scripts().items():
        module = importlib.import_module(target.split(':')[0])
        family = getattr(module, 'FAMILY', None)
        if family:
            out[name] = {s.name: s for s in parameter_specs(family)}
    return out


def _node_calls(tree):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == 'Node']


def _one_camera_calls(tree):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', '') == 'one_camera_launch']


HELPER_TREE = ast.parse((REPO / 'video_perception' / 'ros_launch.py').read_text())
HELPER_PARAMETERS = [ast.literal_eval(n.value) for n in HELPER_TREE.body
                     if isinstance(n, ast.Assign) and n.targets[0].id == 'NODE_PARAMETERS'][0]


def test_one_camera_launch_helper():
    """The Node that streamnet.launch.py and v2i.launch.py start (through one_camera_launch):
    this package's executable by its own name (the YAML keys), in the namespace argument, its
    image remapped to the camera argument, every parameter from the launch argument of its
    name after the params_file."""
    consts = {n.targets[0].id: n.value for n in HELPER_TREE.body if isinstance(n, ast.Assign)}
    assert consts['PACKAGE'].value == 'video_perception'
    assert [p[0] for p in HELPER_PARAMETERS] == ['model_path', 'backend', 'input_type']
    (call,) = _node_calls(HELPER_TREE)
    kw = {k.arg: ast.unparse(k.value) for k in call.keywords}
    assert kw['package'] == 'PACKAGE' and kw['executable'] == kw['name'] == 'executable'
    assert kw['namespace'] == "LaunchConfiguration('namespace')"
    assert kw['remappings'] == "[('image', LaunchConfiguration('camera'))]"
    assert kw['parameters'] == ("[LaunchConfiguration('params_file'), {name: "
                                "LaunchConfiguration(name) for name, _, _ in params}]")
    declared = [c.args[0].value if c.args and isinstance(c.args[0], ast.Constant) else None
                for c in ast.walk(HELPER_TREE)
                if isinstance(c, ast.Call)
                and getattr(c.func, 'id', '') == 'DeclareLaunchArgument']
    assert {'camera', 'namespace', 'params_file'} <= set(declared)


def _executables_of(call, tree):
    kw = {k.arg: k.value for k in call.keywords}
    exe = kw['executable']
    if isinstance(exe, ast.Constant):
        return [exe.value]
    # a variable: the module's CONFIGS dict lists the executables it may take
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', '') == 'CONFIGS':
            return list(ast.literal_eval(node.value))
    raise AssertionError(f'cannot tell which executable {ast.dump(exe)} names')


def test_there_are_launch_files_and_setup_installs_them():
    names = {p.name for p in LAUNCH_FILES}
    assert {'streamnet.launch.py', 'v2i.launch.py', 'multi_camera.launch.py',
            'bag_replay.launch.py'} <= names
    for p in LAUNCH_FILES:      # setup.py's data_files glob
        assert fnmatch.fnmatch(f'launch/{p.name}', 'launch/*launch.[pxy][yma]*')
    assert set(node_parameters()) == {'streamnet_node', 'v2i_node'}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_declared_things(path):
    tree = ast.parse(path.read_text())
    declared = node_parameters()
    scripts = console_scripts()
    calls = _node_calls(tree)
    one_camera = _one_camera_calls(tree)
    assert calls or one_camera, f'{path.name} starts no Node'
    for call in one_camera:      # the Node is ros_launch.py's (test_one_camera_launch_helper)
        exe, config = (a.value for a in call.args[:2])
        assert exe in scripts, f'{path.name}: executable {exe} is not installed by setup.py'
        assert (REPO / 'config' / config).is_file(), f'{path.name}: {config}'
        extra = [ast.literal_eval(k.value) for k in call.keywords if k.arg == 'extra']
        for name, default, _ in list(HELPER_PARAMETERS) + list(extra[0] if extra else []):
            assert name in declared[exe], f'{path.name}: {exe} does not declare {name!r}'
            if default is not None:
                check_value(declared[exe][name], yaml.safe_load(default))
    assert any(isinstance(n, ast.FunctionDef) and n.name == 'generate_launch_description'
               for n in tree.body)
    for call in calls:
        kw = {k.arg: k.value for k in call.keywords}
        assert isinstance(kw.get('package'), ast.Constant) and \
            kw['package'].value == 'video_perception'
        for exe in _executables_of(call, tree):
            assert exe in scripts, f'{path.name}: executable {exe} is not installed by setup.py'
            params = declared[exe]
            for item in kw['parameters'].elts:
                if isinstance(item, ast.Dict):
                    for key, value in zip(item.keys, item.values):
                        assert key.value in set(params) | ROS_BUILTIN_PARAMETERS, \
                            f'{path.name}: {exe} does not declare parameter {key.value!r}'
                        if isinstance(value, ast.Constant) and key.value in params:
                            check_value(params[key.value], value.value)
        if 'name' in kw and isinstance(kw['name'], ast.Constant):
            assert kw['name'].value in scripts     # YAML keys use the executable's name
        if 'remappings' not in kw:     # a batched node reads its `cameras`, not `image`
            keys = {k.value for item in kw['parameters'].elts if isinstance(item, ast.Dict)
                    for k in item.keys}
            assert 'cameras' in keys, f'{path.name}: a Node without remappings nor cameras'
            continue
        remaps = ast.literal_eval(ast.Tuple(elts=[e.elts[0] for e in kw['remappings'].elts],
                                            ctx=ast.Load()))
        assert set(remaps) == {'image'}, f'{path.name}: remaps {remaps}; the node reads image'
    for const in ast.walk(tree):
        if isinstance(const, ast.Constant) and isinstance(const.value, str) \
                and const.value.endswith(('.yaml', '.rviz', '.xml')):
            assert (REPO / 'config' / const.value).is_file(), f'{path.name}: {const.value}'


@pytest.mark.parametrize('path', CONFIG_YAMLS, ids=lambda p: p.name)
def test_yaml_names_declared_parameters_with_valid_values(path):
    declared = node_parameters()
    data = yaml.safe_load(path.read_text())
    assert data, f'{path.name} is empty'
    for key, body in data.items():
        node = key.rstrip('/').split('/')[-1]
        assert node in declared, f'{path.name}: {key} names no installed node'
        params = body['ros__parameters']
        for name, value in params.items():
            assert name in declared[node], f'{path.name}: {node} does not declare {name!r}'
            check_value(declared[node][name], value)
        # every declared parameter is documented in the YAML (the camera lists as comments:
        # ROS's YAML parser rejects an empty array, PlanSys2/ros2_planning_system#122)
        text = path.read_text()
        assert all(f'# {name}: [' in text for name in ('cameras', 'camera_names'))
        assert set(declared[node]) - set(params) <= {'simulate_latency_ms', 'cameras',
                                                     'camera_names'}, \
            f'{path.name} leaves out {sorted(set(declared[node]) - set(params))}'


def test_yaml_is_read_by_the_dds_transport_for_a_namespaced_node():
    from video_perception.transport import ros_args
    args = ros_args.parse(['--ros-args', '--params-file', str(REPO / 'config' / 'streamnet.yaml'),
                           '-p', 'score_threshold:=0.5'])
    params = args.parameters_for('streamnet_node', '/front')
    assert params['nms_iou'] == 0.65 and params['score_threshold'] == 0.5
    assert args.parameters_for('v2i_node', '/front') == {'score_threshold': 0.5}


def test_every_parameter_has_a_description_and_ranges_hold_defaults():
    for family in ('streamnet', 'v2i'):
        for spec in parameter_specs(family):
            assert len(spec.description) > 10, spec.name
            check_value(spec, spec.default)


def test_rviz_config_shows_camera_and_annotated_image():
    rviz = yaml.safe_load((REPO / 'config' / 'video_perception.rviz').read_text())
    topics = [d['Topic']['Value'] for d in rviz['Visualization Manager']['Displays']]
    assert topics == ['/camera/image_raw', '/detections/image']


def test_multi_camera_launch_has_both_layouts():
    """Batched: one Node with the camera list and names; per_camera: one Node per camera, its
    image remapped; both layouts put a camera's outputs on /<name>/detections."""
    tree = ast.parse((REPO / 'launch' / 'multi_camera.launch.py').read_text())
    consts = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and isinstance(n.value, (ast.Tuple, ast.Dict))}
    assert consts['LAYOUTS'] == ('batched', 'per_camera')
    args = {c.args[0].value: {k.arg: k.value for k in c.keywords} for c in ast.walk(tree)
            if isinstance(c, ast.Call) and getattr(c.func, 'id', '') == 'DeclareLaunchArgument'}
    assert args['layout']['default_value'].value == 'batched'
    spec = node_parameters()['streamnet_node']['batch_timeout_ms']
    check_value(spec, yaml.safe_load(args['batch_timeout_ms']['default_value'].value))
    calls = _node_calls(tree)
    batched = [c for c in calls if 'remappings' not in {k.arg for k in c.keywords}]
    per_camera = [c for c in calls if c not in batched]
    assert len(batched) == 1 and len(per_camera) == 1
    kw = {k.arg: k.value for k in batched[0].keywords}
    params = [item for item in kw['parameters'].elts if isinstance(item, ast.Dict)][0]
    values = {k.value: v for k, v in zip(params.keys, params.values)}
    assert ast.unparse(values['cameras']) == 'cameras'
    assert ast.unparse(values['camera_names']) == 'spaces'
    assert 'namespace' not in kw         # outputs at /<name>/detections, as per camera
    kw = {k.arg: k.value for k in per_camera[0].keywords}
    assert ast.unparse(kw['namespace']) == 'space'
