"""The bad-input matrix, validation part (issue 23 items 3-5): values a user gives, each through
the real command in its own process, in the style of test/test_bad_inputs.py (whose fixtures
this reuses; the Case and its runner are test/matrix.py's): the exit status, no traceback,
exactly one stderr line naming the field or flag, the value and what was expected, and the
output path exactly as it was.

Node cases also assert that the refusal came before the model loaded (no "warm-up" or
"configured" line). They run on the DDS transport; the ``rclpy`` ones on real rclpy. The table
is docs/RELIABILITY.md's "Values" section; keep the two together.
"""
from __future__ import annotations

import json

import pytest

from matrix import Case, run_case
from test_bad_inputs import SN, _bundle, _file, _frames, _replay, _set


def _node(*ros):
    return lambda t: ['--ros-args', '-p', f'model_path:={SN}', '-p', 'backend:=onnxruntime',
                      *ros]


def _params_file(tmp, text):
    return _file(tmp, 'params.yaml', text.replace('SN', str(SN)).encode())


def _gt_and_results(tmp, categories, class_map=None):
    """A one-frame GT and a results file naming its categories (as replay writes them)."""
    gt = {'images': [{'id': 1, 'video_id': 0, 'frame_id': 0, 'timestamp': 0.0, 'width': 64,
                      'height': 48, 'file_name': '0/0.jpg'}],
          'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [1, 1, 9, 9],
                           'area': 81.0, 'iscrowd': 0}],
          'videos': [{'id': 0, 'name': 'v0', 'fps': 30.0}], 'categories': categories}
    results = {'outputs': [{'input_image_id': 1, 'finish_time': 0.0}],
               'detections': [{'input_image_id': 1, 'category_id': 0, 'bbox': [1, 1, 9, 9],
                               'score': 0.9}],
               'categories': [{'id': 0, 'name': 'person'}, {'id': 1, 'name': 'car'}]}
    argv = ['evaluate', _file(tmp, 'gt.json', json.dumps(gt).encode()),
            _file(tmp, 'results.json', json.dumps(results).encode()), '--mode', 'offline']
    if class_map is not None:
        argv += ['--class-map', _file(tmp, 'map.yaml', class_map.encode())]
    return argv


NODE = dict(program='streamnet_node')
RCLPY = dict(program='streamnet_node', env={'VIDEO_PERCEPTION_TRANSPORT': 'rclpy'})

CASES = [
    # -- node parameters (-p): NaN, infinities, ranges, types
    Case('node-param-nan', _node('-p', 'score_threshold:=.nan'), 2,
         ["'score_threshold'", 'nan', 'not a finite number'], **NODE),
    Case('node-param-inf', _node('-p', 'nms_iou:=.inf'), 2,
         ["'nms_iou'", 'inf', 'not a finite number'], **NODE),
    Case('node-param-negative', _node('-p', 'max_detections:=-5'), 2,
         ["'max_detections'", '-5', 'below the minimum 1'], **NODE),
    Case('node-param-huge-int', _node('-p', 'threads:=99999999999999999999'), 2,
         ["'threads'", '99999999999999999999', '64-bit'], **NODE),
    Case('node-param-wrong-type', _node('-p', 'publish_image:=3'), 2,
         ["'publish_image'", 'expected bool', 'integer 3'], **NODE),
    Case('node-param-nan-rclpy', _node('-p', 'score_threshold:=.nan'), 2,
         ["'score_threshold'", 'nan', 'not a finite number'], **RCLPY),
    # -- names by the ROS rules, before the model loads
    Case('node-remap-space', _node('-r', 'image:=a b'), 2,
         ["-r 'image:=a b'", 'not a valid ROS topic name', "' '"], **NODE),
    Case('node-remap-space-rclpy', _node('-r', 'image:=a b'), 2,
         ["-r 'image:=a b'", 'not a valid ROS topic name'], **RCLPY),
    Case('node-remap-repeated-slash', _node('-r', 'image:=/cam//raw'), 2,
         ["'/cam//raw'", "repeated '/'"], **NODE),
    Case('node-name-digit', _node('-r', '__node:=1node'), 2,
         ["'1node'", 'node name', 'start with a number'], **NODE),
    Case('node-namespace-trailing-slash', _node('-r', '__ns:=/robot/'), 2,
         ["'/robot/'", 'namespace', "end with a '/'"], **NODE),
    Case('node-camera-topic-space', _node('-p', "cameras:=['/a b', '/c']"), 2,
         ["'cameras'", "'/a b'", 'not a valid ROS topic name'], **NODE),
    # -- duplicates
    Case('node-cameras-twice', _node('-p', 'cameras:=[/a, /a]'), 2,
         ["'cameras'", "'/a'", 'appears twice'], **NODE),
    Case('node-cameras-twice-after-resolution', _node('-p', 'cameras:=[image, /image]'), 2,
         ["'cameras'", "'/image'", 'appears twice'], **NODE),
    Case('node-camera-names-twice', _node('-p', 'cameras:=[/a, /b]', '-p',
                                          'camera_names:=[x, x]'), 2,
         ["'camera_names'", "'x'", 'appears twice'], **NODE),
    Case('gt-category-names-twice', lambda t: _gt_and_results(
        t, [{'id': 1, 'name': 'car'}, {'id': 2, 'name': 'car'}]), 2,
         ['categories 1 and 2', "'car'", 'distinct']),
    Case('class-map-key-twice', lambda t: _gt_and_results(
        t, [{'id': 1, 'name': 'car'}, {'id': 2, 'name': 'pedestrian'}],
        'person: pedestrian\nperson: car\n'), 2, ['--class-map', "'person'", 'twice']),
    # -- explicit means explicit
    Case('node-device-cuda', _node('-p', 'device:=cuda', '-p', 'backend:=auto'), 2,
         ['device "cuda"', 'device:=auto'], **NODE),
    Case('node-tensorrt-on-cpu', _node('-p', 'backend:=tensorrt', '-p', 'device:=cpu'), 2,
         ['tensorrt', '"cpu"', 'expected'], **NODE),
    # -- parameter files
    Case('params-file-nan', lambda t: ['--ros-args', '--params-file', _params_file(
        t, '/**:\n  ros__parameters:\n    model_path: SN\n    score_threshold: .nan\n')], 2,
         ["'score_threshold'", 'nan'], **NODE),
    Case('params-file-bad-key', lambda t: ['--ros-args', '--params-file', _params_file(
        t, '/robot/stream*:\n  ros__parameters:\n    model_path: SN\n')], 2,
         ['--params-file', "'/robot/stream*'", 'expected'], **NODE),
    Case('params-file-not-yaml', lambda t: ['--ros-args', '--params-file', _params_file(
        t, '/**:\n  ros__parameters:\n    threads: [1\n')], 2,
         ['--params-file', 'not valid YAML', 'line'], **NODE),
    # -- model.json, field by field at load
    Case('bundle-pad-value', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['input', 'pad_value'], 300))), 2, ['input.pad_value', '300', '255'], keep=['OUT']),
    Case('bundle-pixel-format', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['input', 'pixel_format'], 'yuv'))), 2, ['input.pixel_format', 'yuv', 'bgr'],
         keep=['OUT']),
    Case('bundle-scale-nan', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['input', 'scale'], float('nan')))), 2, ['input.scale', 'nan', 'finite'], keep=['OUT']),
    Case('bundle-std-zero', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['input', 'std'], [1.0, 0.0, 1.0]))), 2, ['input.std[1]', '0.0', '> 0'], keep=['OUT']),
    Case('bundle-classes-twice', lambda t: _replay(_frames(t), _bundle(t, _set(
        ['classes'], ['car'] * 8))), 2, ['classes', "'car'", 'twice'], keep=['OUT']),
    # -- latency files: the first bad value named
    Case('latency-file-nan', lambda t: _replay(_frames(t), str(SN), '--latency', _file(
        t, 'lat.json', b'{"unit": "ms", "latencies": [12.5, NaN]}')), 2,
         ['lat.json', 'value 1', 'nan', 'finite'], keep=['OUT']),
    Case('latency-file-negative', lambda t: _replay(_frames(t), str(SN), '--latency', _file(
        t, 'lat.csv', b'latency_ms\n5\n-3\n')), 2,
         ['lat.csv', 'value 1', '-3.0', '>= 0'], keep=['OUT']),
    # -- flags of the commands
    Case('replay-fps-nan', lambda t: _replay(_frames(t), str(SN), '--fps', 'nan'), 2,
         ['--fps', 'nan', '> 0'], keep=['OUT']),
    Case('replay-score-threshold-range', lambda t: _replay(_frames(t), str(SN),
                                                           '--score-threshold', '2'), 2,
         ['--score-threshold', '2', '[0.0, 1.0]'], keep=['OUT']),
    Case('replay-threads-negative', lambda t: _replay(_frames(t), str(SN), '--threads', '-1'),
         2, ['--threads', '-1', 'minimum 0'], keep=['OUT']),
    Case('evaluate-score-thr-inf', lambda t: _gt_and_results(
        t, [{'id': 1, 'name': 'car'}]) + ['--score-thr', 'inf'], 2, ['--score-thr', 'inf']),
    Case('publish-rate-nan', lambda t: ['publish', 'sim:64x48', '--rate', 'nan'], 2,
         ['--rate', 'nan', 'finite']),
    Case('echo-timeout-zero', lambda t: ['echo', '/x', '--timeout', '0'], 2,
         ['--timeout', '0', '> 0']),
    Case('synth-frames-zero', lambda t: ['synth', 'driving', str(t / 'o'), '--frames', '0'], 2,
         ['--frames', '0', 'minimum 1'], keep=['o']),
    Case('convert-fps-negative', lambda t: ['convert', 'frames', _frames(t), str(t / 'out'),
                                            '--fps', '-30'], 2, ['--fps', '-30', '> 0'],
         keep=['out']),
    Case('check-bundle-tolerance-nan', lambda t: ['check-bundle', str(SN), '--score-tol', 'nan'],
         2, ['--score-tol', 'nan', 'finite']),
    Case('train-override-nan', lambda t: ['train', 'toy_mlp', f'output_dir={t}/runs', 'lr=nan'],
         2, ['config "lr"', 'nan', 'finite'], keep=['runs']),
]


# one or two per class run in the default suite; the rest are marked slow (each case is a
# process start of a few seconds on the shared 2-core machine)
DEFAULT = {'node-param-nan', 'node-param-nan-rclpy', 'node-remap-space',
           'node-remap-space-rclpy', 'node-camera-topic-space', 'node-cameras-twice',
           'gt-category-names-twice', 'node-device-cuda', 'params-file-nan', 'bundle-pad-value',
           'bundle-pixel-format', 'replay-fps-nan', 'publish-rate-nan', 'train-override-nan'}
PARAMS = [pytest.param(c, id=c.id, marks=() if c.id in DEFAULT else pytest.mark.slow)
          for c in CASES]


def _cuda_here() -> bool:
    from video_perception.backends import onnxruntime_backend, tensorrt_backend, torch_backend
    return (tensorrt_backend.available() is None or onnxruntime_backend.has_cuda()
            or torch_backend.has_cuda())


@pytest.mark.parametrize('case', PARAMS)
def test_bad_value(case: Case, tmp_path, ros_domain):
    if case.env.get('VIDEO_PERCEPTION_TRANSPORT') == 'rclpy':
        import ros_tier
        if ros_tier.missing():
            pytest.skip(ros_tier.missing())
    if case.id == 'node-device-cuda' and _cuda_here():
        pytest.skip('a CUDA backend is present: device:=cuda is served here')
    r = run_case(case, tmp_path)
    if case.program != 'video-perception':
        text = r.stdout + r.stderr
        assert 'warm-up' not in text and 'configured' not in text, 'refused after the model'


def test_matrix_is_wide_enough():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    assert DEFAULT <= {c.id for c in CASES}
