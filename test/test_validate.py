"""The validation layer (video_perception/validate.py) against independent references.

* ROS names: rclpy's own validators (``rclpy.validate_*``, which call rcl and rmw's C code) on
  random strings; our Python implementation of those rules must say yes and no exactly where rcl
  and rmw do.
* Numbers: a naive reference predicate (``math.isfinite`` and the bounds written out) on random
  values of every JSON/YAML type, NaN and the infinities included; the refusal is one line that
  names the field.
* Node parameters: every parameter of both node families through ``check_value`` (what both
  transports call, at start and at run time) and through the DDS transport's ParameterStore.
* Flags: the argparse types on random text, against ``float()`` and the bounds.
* model.json: random values for the fields the runtime reads, against the documented ranges.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import shutil

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from video_perception import validate
from video_perception.bundle import BundleError, load_bundle
from video_perception.node_core import parameter_specs
from video_perception.transport.base import ParameterError, ParameterSpec
from video_perception.transport.params import ParameterStore, check_value

REPO = pathlib.Path(__file__).resolve().parents[1]
SN = REPO / 'models' / 'streamnet_tiny_synth'
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

rclpy = pytest.importorskip('rclpy', reason='rclpy is the reference for the ROS name rules')


def _rclpy_ok(fn, name) -> bool:
    try:
        fn(name)
        return True
    except Exception:  # noqa: BLE001 - rclpy raises InvalidTopicNameException and kin
        return False


# names made of what the rules care about, plus a few characters they refuse
NAME_CHARS = st.sampled_from(list('ab_Z09/~{}') + [' ', '-', '.', 'é', ':', '*'])
NAMES = st.one_of(st.text(NAME_CHARS, max_size=14),
                  st.lists(st.from_regex(r'[a-z_][a-z0-9_]{0,4}', fullmatch=True), min_size=1,
                           max_size=4).map('/'.join),
                  # at the length limits: 245 (namespace), 247 (topic), 255 (node name)
                  st.builds(lambda n, head: head + 'a' * (n - len(head)),
                            st.integers(240, 260), st.sampled_from(['/', '/b/', '', '~/'])))


@SETTINGS
@given(NAMES)
@example('~0')      # found by this test: rcl checks the character after '~' only before a third
@example('~ab')
def test_name_rules_agree_with_rcl_and_rmw(name):
    from rclpy.validate_full_topic_name import validate_full_topic_name
    from rclpy.validate_namespace import validate_namespace
    from rclpy.validate_node_name import validate_node_name
    from rclpy.validate_topic_name import validate_topic_name
    for ours, theirs in ((validate.topic_name_problem, validate_topic_name),
                         (validate.full_topic_name_problem, validate_full_topic_name),
                         (validate.node_name_problem, validate_node_name),
                         (validate.namespace_problem, validate_namespace)):
        assert (ours(name) is None) == _rclpy_ok(theirs, name), (ours.__name__, name,
                                                                 ours(name))


@pytest.mark.parametrize('kind, name, ok', [
    ('topic name', 'image', True), ('topic name', '~/debug', True),
    ('topic name', '/a b', False), ('topic name', 'a//b', False), ('topic name', '/7up', False),
    ('topic name', 'cam/', False), ('node name', 'streamnet_node', True),
    ('node name', '1node', False), ('node name', 'a/b', False), ('namespace', '/', True),
    ('namespace', '/robot/front', True), ('namespace', 'robot', False),
    ('fully qualified topic name', '/' + 'a' * 246, True),
    ('fully qualified topic name', '/' + 'a' * 247, False),
])
def test_ros_name_lines(kind, name, ok):
    if ok:
        assert validate.ros_name('f', name, kind) == name
        return
    with pytest.raises(validate.InputError) as err:
        validate.ros_name('parameter x', name, kind)
    text = str(err.value)
    assert text.startswith('parameter x: ') and repr(name)[:60] in text and '\n' not in text


ANY_VALUE = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 20,
                                                                                  10 ** 20),
                      st.booleans(), st.none(), st.text(max_size=5),
                      st.lists(st.integers(), max_size=2))


def _reference_number(value, integer, lo, hi):
    """True when ``value`` must be accepted: written out from the rules, not from the code."""
    if isinstance(value, bool):
        return False
    if integer:
        return isinstance(value, int) and -2 ** 63 <= value < 2 ** 63 and lo <= value <= hi
    if not isinstance(value, (int, float)):
        return False
    return math.isfinite(float(value)) and lo <= float(value) <= hi


@SETTINGS
@given(ANY_VALUE, st.booleans(), st.floats(-100, 100), st.floats(0, 100))
def test_number_accepts_exactly_finite_values_in_range(value, integer, lo, width):
    lo, hi = (int(lo), int(lo) + int(width)) if integer else (lo, lo + width)
    expected = _reference_number(value, integer, lo, hi)
    try:
        got = validate.number('thing.field', value, integer=integer, lo=lo, hi=hi)
    except validate.InputError as exc:
        assert not expected, (value, exc)
        text = str(exc)
        assert text.startswith('thing.field: ') and '\n' not in text
        assert ('expected' in text) and len(text) < 300
        return
    assert expected, value
    assert got == value and isinstance(got, int if integer else float)


def _specs():
    return {s.name: s for family in ('streamnet', 'v2i') for s in parameter_specs(family)}


def _reference_parameter(spec: ParameterSpec, value) -> bool:
    default = spec.default
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        integer = isinstance(default, int)
        lo = -math.inf if spec.min_value is None else spec.min_value
        hi = math.inf if spec.max_value is None else spec.max_value
        return _reference_number(value, integer, lo, hi)
    if isinstance(default, str):
        return isinstance(value, str) and (spec.choices is None or value in spec.choices)
    return isinstance(value, list)


@SETTINGS
@given(st.sampled_from(sorted(_specs())), st.one_of(ANY_VALUE, st.sampled_from(
    [float('nan'), float('inf'), -float('inf'), 0.5, 1, 'auto', 'cpu', 'input', '', -1])))
def test_every_node_parameter_at_start_and_at_run_time(name, value):
    """check_value (rclpy and DDS at declaration, rclpy's on-set check) and the DDS
    ParameterStore.set (a change through set_parameters_simple) accept and refuse alike."""
    spec = _specs()[name]
    expected = _reference_parameter(spec, value)
    try:
        check_value(spec, value)
        ok = True
    except ParameterError as exc:
        ok = False
        assert f"parameter '{name}'" in str(exc) and '\n' not in str(exc)
    assert ok == expected, (name, value)
    store = ParameterStore({})
    store.declare(ParameterSpec(name, spec.default, '', spec.min_value, spec.max_value,
                                spec.choices))
    try:
        store.set(name, value)
        assert expected
    except ParameterError:
        assert not expected
        assert store.get(name) == spec.default           # a refused value changes nothing


def test_nan_is_refused_for_every_double_parameter():
    doubles = [s for s in _specs().values() if isinstance(s.default, float)]
    assert len(doubles) >= 4
    for spec in doubles:
        for bad in (float('nan'), float('inf'), -float('inf')):
            with pytest.raises(ParameterError, match='not a finite number'):
                check_value(spec, bad)


@SETTINGS
@given(st.one_of(st.text(max_size=8), st.sampled_from(['nan', 'inf', '-inf', '0', '1e400',
                                                       '-0.0', '1e-9', ' 3 ', '2'])))
def test_flag_types_against_float(text):
    try:
        reference = float(text)
        expected = math.isfinite(reference) and reference > 0
    except ValueError:
        expected = False
    try:
        got = validate.arg_positive(text)
    except argparse.ArgumentTypeError as exc:
        assert not expected and '\n' not in str(exc) and 'expected' in str(exc)
        return
    assert expected and got == reference


@pytest.fixture(scope='module')
def bundle_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp('b') / 'bundle'
    shutil.copytree(SN, root)
    return root


FIELD_RULES = {      # model.json field -> (path, reference predicate)
    'pad_value': (('input', 'pad_value'),
                  lambda v: type(v) is int and 0 <= v <= 255),
    'scale': (('input', 'scale'),
              lambda v: type(v) in (int, float) and math.isfinite(v) and v > 0),
    'pixel_format': (('input', 'pixel_format'), lambda v: v in ('bgr', 'rgb')),
    'height': (('input', 'height'), lambda v: type(v) is int and 1 <= v <= 16384),
    'history_step': (('history', 'step'), lambda v: type(v) is int and 1 <= v <= 1000),
}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(FIELD_RULES)),
       st.one_of(ANY_VALUE, st.sampled_from([300, -1, 255, 0, 'yuv', 'rgb', 1e-3, 2.0])))
def test_model_json_fields_checked_at_load(bundle_copy, field, value):
    """load_bundle refuses exactly the values the documented ranges refuse (the graphs'
    own agreement, bundle_check, comes after; height is also set against them there)."""
    from video_perception.bundle import check_fields
    keys, rule = FIELD_RULES[field]
    meta = json.loads((SN / 'model.json').read_text())
    meta[keys[0]][keys[1]] = value
    expected = rule(value)
    try:
        check_fields(meta, 'model.json')
    except BundleError as exc:
        assert not expected, (field, value)
        assert '.'.join(keys) in str(exc) and '\n' not in str(exc)
        return
    assert expected, (field, value)


@pytest.mark.parametrize('edit, words', [
    (lambda m: m['input'].update(pad_value=300), ['input.pad_value', '300', '255']),
    (lambda m: m['input'].update(pixel_format='yuv'), ['input.pixel_format', 'yuv', 'bgr']),
    (lambda m: m['input'].update(std=[1.0, 0.0, 1.0]), ['input.std[1]', '0.0']),
    (lambda m: m['input'].update(mean=[0, 0]), ['input.mean', 'list of 3']),
    (lambda m: m['input'].update(letterbox='middle'), ['input.letterbox', 'middle']),
    (lambda m: m.update(classes=['car', 'car']), ['classes', "'car'", 'twice']),
    (lambda m: m.update(classes=[]), ['classes', 'at least one']),
    (lambda m: m['history'].update(step=0), ['history.step', '0']),
    (lambda m: m['output'].update(strides=[8, 'x']), ['output.strides', "'x'"]),
])
def test_model_json_refusals_name_the_field(tmp_path, edit, words):
    root = tmp_path / 'bundle'
    shutil.copytree(SN, root)
    meta = json.loads((root / 'model.json').read_text())
    edit(meta)
    (root / 'model.json').write_text(json.dumps(meta))
    with pytest.raises(BundleError) as err:
        load_bundle(str(root))
    assert all(w in str(err.value) for w in words) and '\n' not in str(err.value), err.value


def test_device_cuda_never_falls_back_to_the_cpu():
    """Explicit means explicit: device cuda with backend auto gets a CUDA backend or a refusal
    (here, without a GPU, the refusal); device auto alone falls back, in one line that says so;
    tensorrt on the CPU is refused before anything loads."""
    from video_perception.backends import onnxruntime_backend, tensorrt_backend, torch_backend
    from video_perception.backends.base import BackendError, BackendOptions
    from video_perception.backends.select import load_backend
    bundle = load_bundle(str(SN))
    cuda_here = (tensorrt_backend.available() is None or onnxruntime_backend.has_cuda()
                 or torch_backend.has_cuda())
    lines = []
    if cuda_here:
        backend = load_backend(bundle, 'auto', BackendOptions(device='cuda'), log=lines.append)
        assert backend.device == 'cuda'
        backend.close()
    else:
        with pytest.raises(BackendError, match='device "cuda" asked for') as err:
            load_backend(bundle, 'auto', BackendOptions(device='cuda'), log=lines.append)
        assert 'device:=auto' in str(err.value) and not lines
        backend = load_backend(bundle, 'auto', BackendOptions(device='auto'), log=lines.append)
        assert backend.device == 'cpu' and len(lines) == 1 and 'fallback on CPU' in lines[0]
        backend.close()
    with pytest.raises(BackendError, match='tensorrt.*"cpu"'):
        load_backend(bundle, 'tensorrt', BackendOptions(device='cpu'), log=lines.append)
    with pytest.raises(BackendError, match="device: 'gpu' is not one of auto, cpu, cuda"):
        load_backend(bundle, 'onnxruntime', BackendOptions(device='gpu'))


def test_duplicates_are_named():
    from video_perception.eval.categories import map_classes
    from video_perception.multi_camera_plan import camera_layout
    with pytest.raises(ParameterError, match=r"'/a' appears twice .positions 0 and 1"):
        camera_layout(['/a', '/a'], [])
    with pytest.raises(ParameterError, match=r"'image' appears twice \(as '/image'\)"):
        camera_layout(['/image', 'image'], [], lambda t: '/' + t.lstrip('/'))
    with pytest.raises(ParameterError, match="camera_names.*'bad name'"):
        camera_layout(['/a'], ['bad name'])
    cats = [{'id': 1, 'name': 'car'}, {'id': 2, 'name': 'car'}]
    with pytest.raises(ValueError, match="categories 1 and 2 are both named 'car'"):
        map_classes(['car'], cats)
    cats = [{'id': 1, 'name': 'pedestrian'}, {'id': 2, 'name': 'car'}]
    mapping = map_classes(['person', 'pedestrian', 'car'], cats, {'person': 'pedestrian'})
    assert mapping.cat_ids == [1, 1, 2]
    warning = [w for w in mapping.warnings() if 'merged' in w]
    assert len(warning) == 1 and "'person', 'pedestrian'" in warning[0]
    # each mapped explicitly: meant, no warning
    mapping = map_classes(['person', 'pedestrian'], cats,
                          {'person': 'pedestrian', 'pedestrian': 'pedestrian'})
    assert not [w for w in mapping.warnings() if 'merged' in w]


@pytest.mark.parametrize('suffix, text', [('.yaml', 'person: car\nperson: truck\n'),
                                          ('.json', '{"person": "car", "person": "truck"}')])
def test_class_map_key_given_twice_is_refused(tmp_path, suffix, text):
    from video_perception.eval.categories import load_class_map
    path = tmp_path / f'map{suffix}'
    path.write_text(text)
    with pytest.raises(ValueError, match=r"--class-map .*'person' appears twice"):
        load_class_map(path)
