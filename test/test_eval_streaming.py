"""Streaming pairing against a naive O(n*m) reference; streaming AP against pycocotools run on
the reference pairing; zero latency gives offline AP on the real BDD100K case."""
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from coco_reference import pycocotools_stats
from video_perception.eval.kstep import evaluate_offline
from video_perception.eval.results import load_ground_truth, load_results
from video_perception.eval.streaming import evaluate_streaming, pair_streaming

FPS = 10.0


def make_gt(n_frames_per_video, start_times, seed=0):
    """CocoVID GT: one moving box per frame, frame i of a video at start + i / FPS."""
    rng = random.Random(seed)
    images, anns = [], []
    iid = 100
    for vid, (n, t0) in enumerate(zip(n_frames_per_video, start_times)):
        for f in range(n):
            iid += 1
            images.append({'id': iid, 'video_id': vid, 'frame_id': f, 'timestamp': t0 + f / FPS,
                           'width': 200, 'height': 200, 'file_name': f'{vid}/{f}.jpg'})
            for c in (1, 2):
                x, y = 10 + 8 * f + rng.uniform(0, 3), 20 * c + rng.uniform(0, 3)
                anns.append({'id': len(anns) + 1, 'image_id': iid, 'category_id': c,
                             'bbox': [x, y, 30, 20], 'area': 600.0, 'iscrowd': 0})
    videos = [{'id': v, 'name': f'v{v}', 'fps': FPS} for v in range(len(start_times))]
    return {'images': images, 'annotations': anns, 'videos': videos,
            'categories': [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]}


def naive_pairing(gt, outputs):
    """outputs: list of (input_image_id, finish) in file order -> GT id -> input id or None."""
    images = {im['id']: im for im in gt['images']}
    used = {}
    for gid, img in images.items():
        best = None
        for n, (iid, fin) in enumerate(outputs):
            src = images[iid]
            if src['video_id'] != img['video_id'] or fin > img['timestamp']:
                continue
            key = (fin, src['frame_id'], n)
            if best is None or key > best[0]:
                best = (key, iid)
        used[gid] = best[1] if best else None
    return used


def results_json(gt, outputs, det_of_gt_frame=True, jitter=0.0, seed=0):
    """Each output detects its own frame's GT boxes (shifted by jitter) with random scores."""
    rng = random.Random(seed)
    by_img = {}
    for a in gt['annotations']:
        by_img.setdefault(a['image_id'], []).append(a)
    dets = []
    for iid, _ in outputs:
        for a in by_img.get(iid, []):
            x, y, w, h = a['bbox']
            dets.append({'input_image_id': iid, 'category_id': a['category_id'],
                         'bbox': [x + rng.uniform(-jitter, jitter), y, w, h],
                         'score': rng.uniform(0.1, 1.0)})
    return {'outputs': [{'input_image_id': i, 'finish_time': t} for i, t in outputs],
            'detections': dets}


# Latencies in whole frames (ties with later frames' times) and between frames.
LATENCY = st.one_of(st.sampled_from([0.0, 0.1, 0.2, 0.3]), st.floats(0.0, 0.45))


@st.composite
def streams(draw):
    n_videos = draw(st.integers(1, 3))
    lengths = [draw(st.integers(1, 8)) for _ in range(n_videos)]
    starts = [draw(st.sampled_from([0.0, 0.0, 0.05, 1.0])) for _ in range(n_videos)]
    gt = make_gt(lengths, starts)
    outputs = []
    for im in gt['images']:
        if draw(st.booleans()) or draw(st.booleans()):  # about 3 in 4 frames produce an output
            outputs.append((im['id'], im['timestamp'] + draw(LATENCY)))
    order = draw(st.permutations(range(len(outputs))))
    return gt, [outputs[i] for i in order]


@settings(max_examples=150, deadline=None)
@given(streams())
def test_pairing_matches_naive_reference(stream):
    gt_json, outputs = stream
    gt = load_ground_truth(gt_json)
    res = load_results(results_json(gt_json, outputs))
    pairing = pair_streaming(gt, res)
    ref = naive_pairing(gt_json, outputs)
    assert pairing.used == ref
    images = {im['id']: im for im in gt_json['images']}
    hit = [g for g, s in ref.items() if s is not None]
    assert pairing.in_time == pytest.approx(sum(ref[g] == g for g in ref) / len(ref))
    assert pairing.n_missing == len(ref) - len(hit)
    if hit:
        lag = np.mean([images[g]['frame_id'] - images[ref[g]]['frame_id'] for g in hit])
        assert pairing.mean_lag_frames == pytest.approx(lag)
    else:
        assert np.isnan(pairing.mean_lag_frames)


def test_streaming_ap_equals_pycocotools_on_reference_pairing():
    gt_json = make_gt([12, 9], [0.0, 5.0], seed=3)
    rng = random.Random(4)
    outputs = [(im['id'], im['timestamp'] + rng.choice([0.0, 0.02, 0.07, 0.13, 0.25]))
               for im in gt_json['images'] if rng.random() < 0.8]
    rj = results_json(gt_json, outputs, jitter=4.0, seed=5)
    ap, pairing, lat = evaluate_streaming(load_ground_truth(gt_json), load_results(rj))
    ref = naive_pairing(gt_json, outputs)
    relabelled = [{'image_id': g, 'category_id': d['category_id'], 'bbox': d['bbox'],
                   'score': d['score']}
                  for g, s in ref.items() if s is not None
                  for d in rj['detections'] if d['input_image_id'] == s]
    expected = pycocotools_stats(gt_json, relabelled)
    assert [ap.stats[k] for k in ('AP', 'AP50', 'AP75')] == pytest.approx(expected[:3], abs=1e-12)
    assert 0 < ap.stats['AP'] < 1 and 0 < pairing.in_time < 1 and pairing.mean_lag_frames > 0
    assert lat['max'] == pytest.approx(0.25) and lat['n'] == len(outputs)


def test_causality_and_missing_times_are_rejected():
    gt_json = make_gt([3], [0.0])
    gt = load_ground_truth(gt_json)
    early = results_json(gt_json, [(gt_json['images'][1]['id'], 0.0)])
    with pytest.raises(ValueError, match='before its input frame time'):
        pair_streaming(gt, load_results(early))
    plain = [{'image_id': 101, 'category_id': 1, 'bbox': [0, 0, 1, 1], 'score': 0.5}]
    with pytest.raises(ValueError, match="needs 'finish_time'"):
        pair_streaming(gt, load_results(plain))


def bdd_case(shared_data):
    """BDD100K GT and its Scalabel predictions as a canonical results object (x1y1x2y2 -> xywh),
    every output finishing at its own frame's time (5 fps)."""
    d = shared_data / 'bdd100k_eval_case'
    gt_json = json.loads((d / 'cocoformat_track_sample_annotations.json').read_text())
    preds = json.loads((d / 'bbox_predictions.json').read_text())
    name_to_id = {im['file_name']: im['id'] for im in gt_json['images']}
    cat = {c['name']: c['id'] for c in gt_json['categories']}
    dets = [{'input_image_id': name_to_id[p['name']], 'category_id': cat[p['category']],
             'bbox': [p['bbox'][0], p['bbox'][1], p['bbox'][2] - p['bbox'][0],
                      p['bbox'][3] - p['bbox'][1]], 'score': p['score']} for p in preds]
    outputs = [{'input_image_id': im['id'], 'finish_time': im['frame_id'] / 5.0}
               for im in gt_json['images']]
    return gt_json, {'outputs': outputs, 'detections': dets}


def test_bdd_zero_latency_streaming_equals_offline(shared_data):
    gt_json, rj = bdd_case(shared_data)
    gt = load_ground_truth(gt_json)
    res = load_results(rj)
    offline = evaluate_offline(gt, res, bdd_plus_one=True)
    streaming, pairing, _ = evaluate_streaming(gt, res, fps=5.0, bdd_plus_one=True)
    assert offline.stats['AP'] == pytest.approx(0.3129270786, abs=1e-6)
    assert streaming.stats == offline.stats
    assert pairing.in_time == 1.0 and pairing.mean_lag_frames == 0.0
