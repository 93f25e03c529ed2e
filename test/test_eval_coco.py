"""COCO AP (known BDD100K answer), K-step pairing against pycocotools on hand-relabelled
detections, the results loader's errors and latency statistics."""
import json

import numpy as np
import pytest

from coco_reference import pycocotools_stats
from test_eval_streaming import bdd_case, make_gt, results_json
from video_perception.eval.coco_ap import evaluate_coco, precision_recall_curves
from video_perception.eval.kstep import evaluate_kstep, evaluate_offline, pair_kstep, sap_k_sweep
from video_perception.eval.latency import latency_stats
from video_perception.eval.results import load_ground_truth, load_results


def test_bdd_known_answer(shared_data):
    gt_json, rj = bdd_case(shared_data)
    gt, res = load_ground_truth(gt_json), load_results(rj)
    r = evaluate_offline(gt, res, bdd_plus_one=True)
    # BDD100K's own evaluator: 0.3129270786 / 0.5209 / 0.3135
    assert r.stats['AP'] == pytest.approx(0.3129270786, abs=1e-6)
    assert r.stats['AP50'] == pytest.approx(0.5209, abs=5e-5)
    assert r.stats['AP75'] == pytest.approx(0.3135, abs=5e-5)
    # without the +1 pixel convention the number is a different one
    assert evaluate_offline(gt, res).stats['AP'] == pytest.approx(0.33108, abs=1e-4)
    recall, precision = precision_recall_curves(r, 0.5)
    assert recall.shape == (101,) and np.nanmean(precision) == pytest.approx(r.stats['AP50'])


def test_ignore_flag_is_crowd_and_empty_results():
    gt_json = make_gt([4], [0.0])
    gt_json['annotations'][0]['ignore'] = 1
    outputs = [(im['id'], im['timestamp']) for im in gt_json['images']]
    rj = results_json(gt_json, outputs, jitter=3.0)
    ours = evaluate_offline(load_ground_truth(gt_json), load_results(rj)).stats
    crowd = json.loads(json.dumps(gt_json))
    crowd['annotations'][0]['iscrowd'] = 1
    plain = [{**d, 'image_id': d.pop('input_image_id')} for d in rj['detections']]
    ref = pycocotools_stats(crowd, plain)
    assert ours['AP'] == pytest.approx(ref[0], abs=1e-12)
    assert ours['AP'] != pytest.approx(pycocotools_stats(gt_json, plain)[0], abs=1e-9)
    empty = evaluate_coco(load_ground_truth(gt_json), {}).stats
    assert empty['AP'] == 0.0 and empty['AP50'] == 0.0


@pytest.mark.parametrize('k', [1, 3])
def test_kstep_againstpycocotools_stats(k):
    gt_json = make_gt([7, 5], [0.0, 3.0], seed=1)
    outputs = [(im['id'], im['timestamp']) for im in gt_json['images']]
    rj = results_json(gt_json, outputs, jitter=2.0, seed=2)
    gt, res = load_ground_truth(gt_json), load_results(rj)
    ours, pairing = evaluate_kstep(gt, res, k)
    # by hand: image ids are 101.. in frame order, video 0 has 7 frames, video 1 has 5
    frame = {im['id']: (im['video_id'], im['frame_id']) for im in gt_json['images']}
    ident = {v: i for i, v in frame.items()}
    relabelled = []
    for d in rj['detections']:
        v, f = frame[d['input_image_id']]
        if (v, f + k) in ident:
            relabelled.append({'image_id': ident[(v, f + k)], 'category_id': d['category_id'],
                               'bbox': d['bbox'], 'score': d['score']})
    kept = sorted(i for i, (v, f) in frame.items() if f >= k)
    ref = pycocotools_stats(gt_json, relabelled, kept)
    assert [ours.stats[x] for x in ('AP', 'AP50', 'AP75')] == pytest.approx(ref[:3], abs=1e-12)
    assert len(pairing.dropped) == 2 * k and pairing.image_ids == kept
    assert sap_k_sweep(gt, res, ks=[k])[k] == ours.stats['AP']
    assert sap_k_sweep(gt, {k: res}, ks=[k])[k] == ours.stats['AP']


def test_kstep_zero_is_offline():
    gt_json = make_gt([5], [0.0])
    rj = results_json(gt_json, [(im['id'], im['timestamp']) for im in gt_json['images']], 2.0)
    gt, res = load_ground_truth(gt_json), load_results(rj)
    assert pair_kstep(gt, res, 0).dets.keys() == res.detections.keys()
    assert evaluate_kstep(gt, res, 0)[0].stats == evaluate_offline(gt, res).stats


@pytest.mark.parametrize('payload, message', [
    ({'outputs': []}, 'expected'),
    ({'outputs': [{'finish_time': 1.0}], 'detections': []}, "needs 'input_image_id'"),
    ({'outputs': [{'input_image_id': 1}, {'input_image_id': 1}], 'detections': []},
     'two outputs'),
    ({'outputs': [], 'detections': [{'input_image_id': 1, 'category_id': 1,
                                     'bbox': [0, 0, 1, 1], 'score': 0.5}]}, 'no entry'),
    ([{'image_id': 1, 'category_id': 1, 'bbox': [0, 0, 1], 'score': 0.5}], 'bbox must be'),
    ([{'image_id': 1, 'category_id': 1, 'bbox': [0, 0, 1, 1], 'score': 'x'}], 'score'),
    ([{'image_id': 1, 'category_id': 1, 'bbox': [0, 0, -1, 1], 'score': 0.5}], 'negative'),
    ([{'image_id': 'a', 'category_id': 1, 'bbox': [0, 0, 1, 1], 'score': 0.5}],
     'image_id of entry 0 must be an integer'),
])
def test_results_errors_are_one_line(payload, message):
    with pytest.raises(ValueError, match=message) as e:
        load_results(payload)
    assert '\n' not in str(e.value)


def test_unknown_image_or_category():
    gt = load_ground_truth(make_gt([2], [0.0]))
    with pytest.raises(ValueError, match='not in the ground truth'):
        evaluate_coco(gt, load_results([{'image_id': 7, 'category_id': 1, 'bbox': [0, 0, 1, 1],
                                         'score': 0.5}]).detections)
    with pytest.raises(ValueError, match='unknown category_id 9'):
        evaluate_coco(gt, load_results([{'image_id': 101, 'category_id': 9,
                                         'bbox': [0, 0, 1, 1], 'score': 0.5}]).detections)


def test_latency_stats_by_hand():
    s = latency_stats([4.0, 1.0, 3.0, 2.0])
    # linear: p95 at rank 0.95 * 3 = 2.85 between 3 and 4
    assert s == {'n': 4, 'median': 2.5, 'p95': pytest.approx(3.85), 'max': 4.0, 'mean': 2.5}
    assert latency_stats([])['n'] == 0
