"""``video-perception replay`` with ground truth that names only some of the model's classes, and
through ``--class-map``: a real two-class ONNX bundle whose 'person' query is a confident false
positive, so a class that leaked into the scoring would halve the AP the other class earns (the
known answer: 1.0, the 'square' query finds the square exactly)."""
import json
import os
import subprocess
import sys

import pytest
import tiny_bundles
import torch
from test_replay_cli import square_set  # noqa: F401 (a fixture)

from video_perception.bundle import write_model_json
from video_perception.tools import replay

pytestmark = pytest.mark.xdist_group('replay_cli')


class TwoClassBox(tiny_bundles.TinyBox):
    """Query 0: the square's exact box as class 1 ('square'); query 1: a fixed box in the
    middle as class 0 ('person'), scored higher; query 2: no object."""

    def forward(self, image):
        _, boxes = super().forward(image)                       # [1, Q, 4]
        s = self.logit_scale
        logits = torch.stack([torch.stack([-s, s / 2, -s]), torch.stack([s, -s, -s]),
                              torch.stack([-s, -s, s])]).view(1, 3, 3)   # [1, Q, C + 1]
        return logits + 0.0 * boxes[:, :, :1], boxes


@pytest.fixture(scope='module')
def two_class_bundle(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('two_class'))
    model = TwoClassBox().eval()
    torch.onnx.export(model, (torch.zeros(1, 3, tiny_bundles.H, tiny_bundles.W),),
                      os.path.join(root, 'student.onnx'), input_names=['image'],
                      output_names=['pred_logits', 'pred_boxes'], opset_version=17,
                      dynamo=False)
    write_model_json(root, {
        'family': 'v2i', 'variant': 'two_class_box', 'input': tiny_bundles._common(),
        'classes': ['person', 'square'], 'graphs': {'student': 'student.onnx'},
        'output': {'kind': 'detr_softmax', 'num_queries': 3},
        'provenance': {'note': 'test fixture: a square finder and a false person'}})
    return root


def gt_variant(square_set, tmp_path, name, categories=None):  # noqa: F811
    data = json.loads(square_set.read_text())
    data['categories'] = categories or [{'id': 3, 'name': name}]
    for im in data['images']:  # the frames stay where the source dataset is
        im['file_name'] = str(square_set.parent / im['file_name'])
    path = tmp_path / f'gt_{name}.json'
    path.write_text(json.dumps(data))
    return path


def run(args, capsys):
    rc = replay.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_gt_naming_a_subset_drops_the_other_class(two_class_bundle, square_set,  # noqa: F811
                                                  tmp_path, capsys):
    gt = gt_variant(square_set, tmp_path, 'square')
    out = tmp_path / 'out'
    rc, stdout, err = run([square_set, '--model', two_class_bundle, '--gt', gt, '--out', out,
                           '--latency', '0', '--score-threshold', '0.01'], capsys)
    assert rc == 0, err
    report = json.loads((out / 'report.json').read_text())
    assert report['AP'] == pytest.approx(1.0) and report['offline']['AP'] == pytest.approx(1.0)
    assert report['classes']['dropped_model_classes'] == ['person']
    assert 'model classes dropped (not in GT) | person' in stdout
    res = json.loads((out / 'results.json').read_text())
    assert len(res['outputs']) == 10 and {d['category_id'] for d in res['detections']} == {3}
    assert res['categories'] == [{'id': 3, 'name': 'square'}]
    # The results name their categories: evaluate takes them on another GT by name.
    from video_perception.tools.evaluate import main as evaluate
    blob = gt_variant(square_set, tmp_path, 'blob')
    (tmp_path / 'map.json').write_text('{"square": "blob"}')
    assert evaluate([str(blob), str(out / 'results.json'), '--class-map',
                     str(tmp_path / 'map.json'), '--out', str(tmp_path / 'e.json')]) == 0
    assert json.loads((tmp_path / 'e.json').read_text())['AP'] == pytest.approx(1.0)


def test_class_map_subprocess(two_class_bundle, square_set, tmp_path):  # noqa: F811
    """The real command: GT calls the square 'blob' and has a 'cyclist' no class maps to."""
    cats = [{'id': 3, 'name': 'blob'}, {'id': 4, 'name': 'cyclist'}]
    gt = gt_variant(square_set, tmp_path, 'blob', cats)
    data = json.loads(gt.read_text())
    data['annotations'].append({'id': 99, 'image_id': 100, 'category_id': 4,
                                'bbox': [60, 40, 20, 20], 'area': 400, 'iscrowd': 0})
    gt.write_text(json.dumps(data))
    (tmp_path / 'map.yaml').write_text('square: blob\n')
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, '-m', 'video_perception.cli', 'replay', str(square_set), '--model',
         two_class_bundle, '--gt', str(gt), '--class-map', str(tmp_path / 'map.yaml'),
         '--out', str(out), '--latency', '0', '--score-threshold', '0.01'],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if 'warning' in ln]
    assert len(warnings) == 1 and "GT category 'cyclist' (1 annotations)" in warnings[0]
    report = json.loads((out / 'report.json').read_text())
    # pycocotools averages blob (AP 1) and cyclist (AP 0, one box, never detected)
    assert report['offline']['AP'] == pytest.approx(0.5)
    assert report['classes']['class_map'] == {'square': 'blob'}
    assert report['classes']['gt_categories_without_class'] == ['cyclist']


@pytest.mark.parametrize('text,expected', [
    (None, 'file not found'),
    ('square: [blob\n', 'not valid YAML'),
    ('squares: blob\n', "'squares' is not a model class"),
    ('square: bob\n', "maps to 'bob'"),
])
def test_bad_class_map_fails_before_the_clip(two_class_bundle, square_set, tmp_path,  # noqa
                                             capsys, text, expected):
    gt = gt_variant(square_set, tmp_path, 'blob')
    cmap = tmp_path / 'map.yaml'
    if text is not None:
        cmap.write_text(text)
    out = tmp_path / 'out'
    rc, stdout, err = run([square_set, '--model', two_class_bundle, '--gt', gt, '--out', out,
                           '--class-map', cmap], capsys)
    assert rc == 2 and err.count('\n') == 1 and expected in err, err
    assert err.startswith(f'video-perception replay: error: --class-map {cmap}')
    assert not out.exists() and not list(tmp_path.glob('out.tmp-*'))


def test_class_map_without_gt_is_refused(two_class_bundle, square_set, tmp_path,  # noqa: F811
                                         capsys):
    (tmp_path / 'map.yaml').write_text('square: blob\n')
    rc, _, err = run([square_set.parent / 'frames', '--model', two_class_bundle, '--out',
                      tmp_path / 'out', '--class-map', tmp_path / 'map.yaml'], capsys)
    assert rc == 2 and 'needs ground truth' in err and err.count('\n') == 1


def test_results_without_gt_name_the_model_classes(two_class_bundle, square_set,  # noqa: F811
                                                   tmp_path, capsys):
    out = tmp_path / 'out'
    rc, _, err = run([square_set.parent / 'frames', '--model', two_class_bundle, '--out', out,
                      '--latency', '0', '--score-threshold', '0.01', '--fps', '25'], capsys)
    assert rc == 0, err
    res = json.loads((out / 'results.json').read_text())
    assert res['categories'] == [{'id': 0, 'name': 'person'}, {'id': 1, 'name': 'square'}]
    assert {d['category_id'] for d in res['detections']} == {0, 1}
