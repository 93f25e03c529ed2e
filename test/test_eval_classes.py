"""``evaluate`` on ground truth that names only some of the model's classes, through a class map,
and on results that cover only some of the GT's videos: each against pycocotools run directly on
a hand-restricted GT, and the BDD100K known answer (0.3129270786) kept through a class map and
through a GT with a second, uncovered video. The real command runs as a subprocess."""
import copy
import json
import subprocess
import sys

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from coco_reference import pycocotools_stats
from test_eval_streaming import bdd_case
from video_perception.eval.categories import load_class_map, map_classes
from video_perception.tools.evaluate import main

BDD_AP = 0.3129270786
PROG = 'video-perception evaluate: error:'


def coco_ap(gt_json: dict, dets: list, plus_one=True) -> float:
    """Reference: pycocotools on its own (BDD's +1 px on predicted width and height)."""
    dets = [dict(d, bbox=[d['bbox'][0], d['bbox'][1], d['bbox'][2] + plus_one,
                          d['bbox'][3] + plus_one]) for d in dets]
    return float(pycocotools_stats(gt_json, dets)[0])


def as_coco(rj: dict) -> list:
    return [{'image_id': d['input_image_id'], 'category_id': d['category_id'],
             'bbox': d['bbox'], 'score': d['score']} for d in rj['detections']]


@pytest.fixture(scope='module')
def bdd(shared_data):
    gt_json, rj = bdd_case(shared_data)
    return gt_json, rj


def named(rj, gt_json, rename=None):
    """The results with 'categories': the GT's names, some renamed to the model's."""
    rename = rename or {}
    return dict(rj, categories=[{'id': c['id'], 'name': rename.get(c['name'], c['name'])}
                                for c in gt_json['categories']])


def write(path, obj):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return str(path)


def run_cli(argv):
    """The real command in its own process: (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, '-m', 'video_perception.cli', 'evaluate', *argv],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def test_class_map_keeps_the_bdd_known_answer(bdd, tmp_path):
    gt_json, rj = bdd
    gt = write(tmp_path / 'gt.json', gt_json)
    # the model says 'person' and 'motorbike' where BDD says 'pedestrian' and 'motorcycle'
    res = write(tmp_path / 'res.json', named(rj, gt_json, {'pedestrian': 'person',
                                                           'motorcycle': 'motorbike'}))
    cmap = write(tmp_path / 'map.yaml',
                 '# model class: GT category\nperson: pedestrian\nmotorbike: motorcycle\n')
    rc, out, err = run_cli([gt, res, '--bdd-plus-one', '--class-map', cmap, '--out',
                            str(tmp_path / 'r.json')])
    assert rc == 0 and err == '', err
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['AP'] == pytest.approx(BDD_AP, abs=1e-6)
    assert report['classes']['class_map'] == {'person': 'pedestrian', 'motorbike': 'motorcycle'}
    assert report['classes']['dropped_model_classes'] == []
    assert 'person -> pedestrian' in out
    # without the map, 'person' is dropped and 'pedestrian' scores 0: the reference drops the
    # pedestrian detections (id 1, 191 GT boxes) and keeps every category in the mean
    rc, out, err = run_cli([gt, res, '--bdd-plus-one', '--out', str(tmp_path / 'r2.json')])
    assert rc == 0
    lines = err.splitlines()
    assert len(lines) == 2 and all(ln.startswith('video-perception evaluate: warning: GT '
                                                 'category') for ln in lines), err
    assert "'pedestrian' (191 annotations)" in lines[0] and 'AP is 0' in lines[0]
    report = json.loads((tmp_path / 'r2.json').read_text())
    ref = coco_ap(gt_json, [d for d in as_coco(rj) if d['category_id'] not in (1, 7)])
    assert report['AP'] == pytest.approx(ref, abs=1e-12) and ref < BDD_AP - 0.05
    assert report['classes']['dropped_model_classes'] == ['person', 'motorbike']
    assert report['classes']['gt_categories_without_class'][:1] == ['pedestrian']


def test_gt_with_a_subset_of_the_classes(bdd, tmp_path, capsys):
    """GT with only 'car': the other classes' detections are dropped, AP is car's AP."""
    gt_json, rj = bdd
    car = {**gt_json, 'categories': [c for c in gt_json['categories'] if c['name'] == 'car'],
           'annotations': [a for a in gt_json['annotations'] if a['category_id'] == 3]}
    gt = write(tmp_path / 'car.json', car)
    res = write(tmp_path / 'res.json', named(rj, gt_json))
    assert main([gt, res, '--bdd-plus-one', '--out', str(tmp_path / 'r.json')]) == 0
    assert capsys.readouterr().err == ''
    report = json.loads((tmp_path / 'r.json').read_text())
    ref = coco_ap(car, [d for d in as_coco(rj) if d['category_id'] == 3])
    assert report['AP'] == pytest.approx(ref, abs=1e-12)
    # the same number is car's slice of the full evaluation (pycocotools' per-category AP)
    full = COCO()
    full.dataset = copy.deepcopy(gt_json)
    full.createIndex()
    dets = [dict(d, bbox=[*d['bbox'][:2], d['bbox'][2] + 1, d['bbox'][3] + 1])
            for d in as_coco(rj)]
    ev = COCOeval(full, full.loadRes(dets), 'bbox')
    ev.evaluate()
    ev.accumulate()
    prec = ev.eval['precision'][:, :, ev.params.catIds.index(3), 0, 2]
    assert report['AP'] == pytest.approx(prec[prec > -1].mean(), abs=1e-12)
    assert sorted(report['classes']['dropped_model_classes']) == sorted(
        c['name'] for c in gt_json['categories'] if c['name'] != 'car')
    assert report['classes']['gt_categories_without_class'] == []


def doubled(gt_json):
    """The BDD GT with a second video: a copy of the first under new ids."""
    out = copy.deepcopy(gt_json)
    shift = 10 ** 6
    out['videos'].append({**out['videos'][0], 'id': 155, 'name': 'copy'})
    out['images'] += [{**im, 'id': im['id'] + shift, 'video_id': 155,
                       'file_name': 'copy/' + im['file_name']} for im in gt_json['images']]
    out['annotations'] += [{**a, 'id': a['id'] + shift, 'image_id': a['image_id'] + shift}
                           for a in gt_json['annotations']]
    return out, shift


def test_results_for_one_of_two_videos_score_that_video(bdd, tmp_path):
    gt_json, rj = bdd
    two, shift = doubled(gt_json)
    gt = write(tmp_path / 'two.json', two)
    res = write(tmp_path / 'res.json', rj)
    rc, out, err = run_cli([gt, res, '--bdd-plus-one', '--out', str(tmp_path / 'r.json')])
    assert rc == 0
    assert err.count('\n') == 1 and 'cover 1 of the 2 GT videos' in err and '155' in err, err
    report = json.loads((tmp_path / 'r.json').read_text())
    assert report['AP'] == pytest.approx(BDD_AP, abs=1e-6)
    assert report['coverage']['covered'] == 1 and report['coverage']['left_out'] == [155]
    assert report['n_images'] == len(gt_json['images'])
    assert 'GT videos scored' in out
    # A video whose outputs are all empty is still covered: its boxes become misses.
    empty = dict(rj, outputs=rj['outputs'] + [{'input_image_id': im['id'] + shift,
                                               'finish_time': im['frame_id'] / 5.0}
                                              for im in gt_json['images']])
    res2 = write(tmp_path / 'res2.json', empty)
    assert main([gt, res2, '--bdd-plus-one', '--out', str(tmp_path / 'r2.json')]) == 0
    report = json.loads((tmp_path / 'r2.json').read_text())
    assert 'coverage' not in report
    assert report['AP'] == pytest.approx(coco_ap(two, as_coco(rj)), abs=1e-12)
    assert report['AP'] < BDD_AP - 0.1


def test_streaming_and_plain_list_coverage(bdd, tmp_path, capsys):
    """Streaming restricts the same way; a plain COCO list covers the videos it has boxes in."""
    gt_json, rj = bdd
    two, _ = doubled(gt_json)
    gt = write(tmp_path / 'two.json', two)
    res = write(tmp_path / 'res.json', rj)
    assert main([gt, res, '--mode', 'streaming', '--fps', '5', '--bdd-plus-one', '--out',
                 str(tmp_path / 's.json')]) == 0
    assert json.loads((tmp_path / 's.json').read_text())['AP'] == pytest.approx(BDD_AP, abs=1e-6)
    plain = write(tmp_path / 'plain.json', as_coco(rj))
    capsys.readouterr()
    assert main([gt, plain, '--bdd-plus-one', '--out', str(tmp_path / 'p.json')]) == 0
    err = capsys.readouterr().err
    assert 'names only the images with a detection' in err and err.count('\n') == 1
    assert json.loads((tmp_path / 'p.json').read_text())['AP'] == pytest.approx(BDD_AP, abs=1e-6)


BAD_MAPS = [
    ('missing', None, 'file not found'),
    ('bad.yaml', 'person: [pedestrian\n', 'not valid YAML (line'),
    ('bad.json', '{"person": }', 'not valid JSON'),
    ('list.yaml', '- person\n- pedestrian\n', 'expected a mapping of model class name'),
    ('empty.yaml', '', 'got an empty file'),
    ('nested.yaml', 'person: {a: b}\n', 'expected model class name: GT category name'),
    ('unknown.yaml', 'persn: pedestrian\n', "'persn' is not a model class"),
    ('value.yaml', 'person: pedestrain\n', "maps to 'pedestrain'"),
    ('reversed.yaml', 'pedestrian: person\n', 'the map goes model class -> GT category'),
]


@pytest.mark.parametrize('name,text,expected', BAD_MAPS, ids=[b[0] for b in BAD_MAPS])
def test_bad_class_map_is_one_line(bdd, tmp_path, capsys, name, text, expected):
    gt_json, rj = bdd
    gt = write(tmp_path / 'gt.json', gt_json)
    res = write(tmp_path / 'res.json', named(rj, gt_json, {'pedestrian': 'person'}))
    cmap = tmp_path / name
    if text is not None:
        cmap.write_text(text)
    assert main([gt, res, '--class-map', str(cmap), '--out', str(tmp_path / 'r.json')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'{PROG} --class-map {cmap}') and err.count('\n') == 1, err
    assert expected in err
    assert not (tmp_path / 'r.json').exists()


def test_class_map_needs_named_results_subprocess(bdd, tmp_path):
    gt_json, rj = bdd
    cmap = write(tmp_path / 'map.yaml', 'person: pedestrian\n')
    rc, out, err = run_cli([write(tmp_path / 'gt.json', gt_json),
                            write(tmp_path / 'res.json', rj), '--class-map', cmap])
    assert rc == 2 and out == '' and 'Traceback' not in err
    assert err.count('\n') == 1 and 'does not name its categories' in err


def test_map_classes_rules():
    cats = [{'id': 4, 'name': 'vehicle'}, {'id': 9, 'name': 'pedestrian'},
            {'id': 11, 'name': 'sign'}]
    anns = [{'category_id': 11}] * 3
    m = map_classes(['person', 'car', 'truck', 'dog'], cats,
                    {'person': 'pedestrian', 'car': 'vehicle', 'truck': 'vehicle', 'dog': None},
                    anns)
    assert m.cat_ids == [9, 4, 4, None] and m.dropped == ['dog'] and m.method == 'class map'
    assert m.unmapped == {'sign': 3} and len(m.warnings()) == 1
    assert map_classes(['sign', 'bird'], cats).cat_ids == [11, None]
    # no name in common and as many classes as categories: the training order
    assert map_classes(['a', 'b', 'c'], cats).cat_ids == [4, 9, 11]
    with pytest.raises(ValueError, match='no name in common'):
        map_classes(['a', 'b'], cats)
    with pytest.raises(ValueError, match='maps no class'):
        map_classes(['a', 'b'], cats, {'a': None})


def test_load_class_map_json_and_yaml(tmp_path):
    (tmp_path / 'm.json').write_text('{"person": "pedestrian", "dog": null}')
    (tmp_path / 'm.yml').write_text('person: pedestrian\ntraffic light: null\n')
    assert load_class_map(tmp_path / 'm.json') == {'person': 'pedestrian', 'dog': None}
    assert load_class_map(tmp_path / 'm.yml') == {'person': 'pedestrian', 'traffic light': None}


def test_image_coverage_without_videos(tmp_path, capsys):
    """GT without videos: each image is its own unit; the reference is pycocotools on the GT
    cut by hand to the images the results list in 'outputs' (one of them with no box)."""
    images = [{'id': i, 'width': 100, 'height': 100, 'file_name': f'{i}.jpg'} for i in (1, 2, 3)]
    anns = [{'id': i, 'image_id': i, 'category_id': 1, 'bbox': [10, 10, 30, 30], 'area': 900,
             'iscrowd': 0} for i in (1, 2, 3)]
    gt_json = {'images': images, 'annotations': anns, 'categories': [{'id': 1, 'name': 'a'}]}
    dets = [{'input_image_id': 1, 'category_id': 1, 'bbox': [11, 10, 30, 30], 'score': 0.9}]
    rj = {'outputs': [{'input_image_id': 1}, {'input_image_id': 2}], 'detections': dets}
    gt = write(tmp_path / 'gt.json', gt_json)
    assert main([gt, write(tmp_path / 'r.json', rj), '--out', str(tmp_path / 'o.json')]) == 0
    assert 'cover 2 of the 3 GT images' in capsys.readouterr().err
    cut = {**gt_json, 'images': images[:2], 'annotations': anns[:2]}
    ref = coco_ap(cut, as_coco(rj), plus_one=False)
    assert json.loads((tmp_path / 'o.json').read_text())['AP'] == pytest.approx(ref, abs=1e-12)
    assert 0.2 < ref < 0.8
    none = {'outputs': [{'input_image_id': 7}], 'detections': []}
    assert main([gt, write(tmp_path / 'n.json', none)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(PROG) and err.count('\n') == 1 and 'nothing to score' in err
