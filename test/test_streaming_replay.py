"""Streamer offline: ``evaluate --forecast kalman`` against ground truth of objects at constant
velocity (the forecast made for each GT frame must be the GT box once the filter has locked on,
also when the worker takes every third frame), and ``replay --forecast kalman`` (track ids in
results.json, the same streaming AP as ``evaluate`` gives on that file, shrinking-tail frames
as the rule says, a sweep with the Streamer curve)."""
import json

import numpy as np
import pytest

import test_replay_cli
from video_perception.eval import metrics
from video_perception.eval.results import load_ground_truth, load_results
from video_perception.streaming.offline import Forecaster
from video_perception.tools import evaluate

bundles, square_set = test_replay_cli.bundles, test_replay_cli.square_set   # fixtures
FPS = 25.0


def moving_gt(n=40):
    """Two videos of 640x480 at 25 fps; in each a car (class 1) and a person (class 2) move at
    constant velocity, in pixels per frame."""
    images, anns, videos = [], [], []
    motion = [((100, 200, 60, 40), (4, 1), 1), ((400, 100, 30, 60), (-3, 2), 2)]
    for v in range(2):
        videos.append({'id': v, 'name': f'v{v}', 'fps': FPS})
        for k in range(n):
            iid = 1000 * v + k
            images.append({'id': iid, 'video_id': v, 'frame_id': k, 'timestamp': 10 * v + k / FPS,
                           'width': 640, 'height': 480, 'file_name': f'{v}/{k}.png'})
            for o, ((x, y, w, h), (vx, vy), c) in enumerate(motion):
                anns.append({'id': len(anns) + 1, 'image_id': iid, 'category_id': c,
                             'bbox': [x + vx * k, y + vy * k, w, h], 'iscrowd': 0})
    return {'videos': videos, 'images': images, 'annotations': anns,
            'categories': [{'id': 1, 'name': 'car'}, {'id': 2, 'name': 'person'}]}


def served(gt_json, stride, delay_frames):
    """Results of a worker that processes every ``stride``-th frame, exactly right on its own
    frame, finishing ``delay_frames`` periods after it."""
    outputs, dets = [], []
    boxes = {}
    for a in gt_json['annotations']:
        boxes.setdefault(a['image_id'], []).append(a)
    for im in gt_json['images']:
        if im['frame_id'] % stride:
            continue
        outputs.append({'input_image_id': im['id'],
                        'finish_time': im['timestamp'] + delay_frames / FPS})
        for a in boxes[im['id']]:
            dets.append({'input_image_id': im['id'], 'category_id': a['category_id'],
                         'bbox': a['bbox'], 'score': 0.9})
    return {'outputs': outputs, 'detections': dets}


@pytest.mark.parametrize('stride,delay', [(1, 0.5), (3, 2.5)])
def test_forecast_for_each_gt_frame_is_the_gt_box_once_locked_on(stride, delay):
    gt_json = moving_gt()
    gt, res = load_ground_truth(gt_json), load_results(served(gt_json, stride, delay))
    plain = metrics.score_mode('streaming', gt, res)
    fc = Forecaster()
    scored = metrics.score_mode('streaming', gt, res, forecast=fc)
    truth = {}
    for a in gt_json['annotations']:
        truth.setdefault(a['image_id'], {})[a['category_id']] = np.array(a['bbox'], float)
    checked = 0
    for gid, rows in scored.paired.items():
        if gt.images[gid]['frame_id'] < 25:         # the filter locks on over ~20 outputs
            continue
        assert sorted(rows[:, 5].astype(int)) == [1, 2]
        for row in rows:
            np.testing.assert_allclose(row[:4], truth[gid][int(row[5])], atol=0.05)
            checked += 1
    assert checked >= 2 * 2 * 14
    assert scored.coco.stats['AP'] > plain.coco.stats['AP'] + 0.2
    report = scored.extra['forecast']
    # horizon: the GT frame's time minus the used output's frame time, in frames
    # (stride 3, 2.5 frames late: frame 5 still gets the output of frame 0)
    assert report['horizon_frames_max'] == pytest.approx({1: 1, 3: 5}[stride])
    assert fc.last.tracks == 4                       # one track per object per video


def test_evaluate_cli_forecast_and_its_bad_input(tmp_path, capsys):
    gt_json = moving_gt(20)
    (tmp_path / 'gt.json').write_text(json.dumps(gt_json))
    (tmp_path / 'res.json').write_text(json.dumps(served(gt_json, 1, 0.5)))
    args = [str(tmp_path / 'gt.json'), str(tmp_path / 'res.json'), '--mode', 'streaming']
    assert evaluate.main(args + ['--forecast', 'kalman', '--out', str(tmp_path / 'r.json')]) == 0
    out = capsys.readouterr().out
    assert 'kalman to each GT frame' in out
    assert json.loads((tmp_path / 'r.json').read_text())['forecast']['method'] == 'kalman'
    assert evaluate.main(args[:2] + ['--mode', 'offline', '--forecast', 'kalman']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '--forecast' in err and 'streaming' in err


def test_replay_streamer_track_ids_schedule_and_evaluate_agree(tmp_path, capsys, bundles,
                                                               square_set):
    """The tiny V2I bundle on the moving square at a fixed 60 ms (1.5 frames of 40 ms): with
    the shrinking tail the worker waits every time (x = 0.5 >= 1 - 0.5) and serves frames
    0, 2, 4, ... as each arrives; the one square keeps one track id; evaluate on the written
    results gives the replay's streaming AP."""
    out = tmp_path / 'st'
    rc, _, err = test_replay_cli.run_cli(
        [square_set, '--model', bundles['v2i'], '--out', out, '--latency', '0.06',
         '--forecast', 'kalman', '--schedule', 'shrinking-tail', '--backend', 'onnxruntime'],
        capsys)
    assert rc == 0, err
    res = json.loads((out / 'results.json').read_text())
    # (the last frame has no next one to wait for: it is served)
    assert sorted(o['input_image_id'] for o in res['outputs']) == [100, 102, 104, 106, 108, 109]
    assert {d['track_id'] for d in res['detections']} == {0}
    report = json.loads((out / 'report.json').read_text())
    assert report['forecast']['method'] == 'kalman' and report['replay']['schedule'] == \
        'shrinking-tail'
    gt = load_ground_truth(str(square_set))
    again = metrics.score_mode('streaming', gt, load_results(str(out / 'results.json')),
                               forecast=Forecaster())
    assert again.coco.stats['AP'] == pytest.approx(report['AP'], abs=1e-12)
    # a sweep draws the Streamer beside the plain detector, one run per speed each
    sweep = tmp_path / 'sw'
    rc, _, err = test_replay_cli.run_cli(
        [square_set, '--model', bundles['v2i'], '--out', sweep, '--latency', '0.06',
         '--speed', '0.5,2', '--forecast', 'kalman', '--schedule', 'shrinking-tail',
         '--backend', 'onnxruntime'], capsys)
    assert rc == 0, err
    table = json.loads((sweep / 'sweep.json').read_text())
    assert [p['speed'] for p in table['streamer']['speeds']] == [0.5, 2.0]
    assert (sweep / 'speed_2' / 'streamer' / 'results.json').is_file()
    assert (sweep / 'plots' / 'latency_sweep.png').stat().st_size > 10_000
    assert '0.5 streamer' in (sweep / 'sweep.md').read_text()


def test_replay_bag_holds_what_a_kalman_node_publishes(tmp_path, capsys, bundles, square_set):
    """At 9 or 11 ms (under the 40 ms period; two values: a fixed latency trips the latency
    plot's histogram, a bug of its own) every frame is served; the bag's /detections are the
    square's track forecast to the next frame, stamped at it, with its track id; once the filter
    has locked on the box is the next frame's square (3 px right per frame), not this one's."""
    out = tmp_path / 'bag_run'
    (tmp_path / 'lat.json').write_text('[9.0, 11.0]')
    rc, _, err = test_replay_cli.run_cli(
        [square_set, '--model', bundles['v2i'], '--out', out, '--latency', tmp_path / 'lat.json',
         '--forecast', 'kalman', '--backend', 'onnxruntime'], capsys)
    assert rc == 0, err
    msgs = [(t, m) for topic, t, m in test_replay_cli.read_bag(out / 'bag')
            if topic == '/detections']
    assert len(msgs) == 10
    for k, (received, msg) in enumerate(msgs):
        frame_ns = int(round(k * 0.04 * 1e9))
        assert received - frame_ns in (9_000_000, 11_000_000)         # the finish time
        assert test_replay_cli.stamp_ns(msg.header) == frame_ns + 40_000_000   # the next frame
        (det,) = msg.detections
        assert det.id == '0'
        if k >= 5:
            cx = 10 + 3 * (k + 1) + 8
            assert det.bbox.center.position.x == pytest.approx(cx, abs=0.5)
            assert det.bbox.size_x == pytest.approx(16, abs=0.5)
