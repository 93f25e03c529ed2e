"""The registered metrics: ``evaluate`` and ``replay`` write the same rows for the same results,
and those rows hold the numbers of pycocotools and of a hand count."""
import contextlib
import io
import json

import numpy as np
import pytest

from coco_reference import pycocotools_stats
from video_perception.cli import main as top_main
from video_perception.eval import metrics
from video_perception.eval.report import build_report, markdown_table
from video_perception.eval.results import load_ground_truth, load_results, result_rows
from video_perception.replay import scoring

FPS = 10.0
N_FRAMES = 6
PROCESSED = (0, 1, 2, 4)   # frames 3 and 5 dropped; each output finishes half a frame late
LATENCY_S = 0.05


def lesion_box(f: int) -> list[float]:
    """One lesion per frame moving 8 px a frame: a detection one frame old still has its centre
    inside the lesion, one two frames old does not."""
    return [10.0 + 8 * f, 20.0, 30.0, 20.0]


def make_case():
    images = [{'id': 100 + f, 'video_id': 0, 'frame_id': f, 'timestamp': f / FPS, 'width': 200,
               'height': 100, 'file_name': f'v/{f}.jpg'} for f in range(N_FRAMES)]
    anns = [{'id': f + 1, 'image_id': 100 + f, 'category_id': 1, 'bbox': lesion_box(f),
             'area': 600.0, 'iscrowd': 0} for f in range(N_FRAMES)]
    gt = {'videos': [{'id': 0, 'name': 'v', 'fps': FPS}], 'images': images, 'annotations': anns,
          'categories': [{'id': 1, 'name': 'lesion'}]}
    dets = []
    for f in PROCESSED:
        dets.append({'input_image_id': 100 + f, 'category_id': 1, 'bbox': lesion_box(f),
                     'score': 0.9})
        dets.append({'input_image_id': 100 + f, 'category_id': 1,
                     'bbox': [150.0, 60.0, 20.0, 20.0], 'score': 0.6})   # hits nothing
    outputs = [{'input_image_id': 100 + f, 'finish_time': f / FPS + LATENCY_S}
               for f in PROCESSED]
    return gt, {'outputs': outputs, 'detections': dets}


def pycocotools_ap(gt_json, dets, img_ids=None) -> float:
    return float(pycocotools_stats(gt_json, dets, img_ids)[0])


@pytest.fixture(scope='module')
def reports(tmp_path_factory):
    """(evaluate's report.md, replay's report.md, replay's report, gt json, results json)."""
    d = tmp_path_factory.mktemp('metrics')
    gt_json, res_json = make_case()
    (d / 'gt.json').write_text(json.dumps(gt_json))
    (d / 'results.json').write_text(json.dumps(res_json))
    with contextlib.redirect_stdout(io.StringIO()):
        assert top_main(['evaluate', str(d / 'gt.json'), str(d / 'results.json'), '--mode',
                         'streaming', '--lesion-protocol', 'centroid', '--score-thr', '0.5',
                         '--out', str(d / 'eval.json')]) == 0
    gt = load_ground_truth(d / 'gt.json')
    replay_report = scoring.score(gt, load_results(d / 'results.json'), 'centroid', 0.5,
                                  frames=N_FRAMES)[0]
    return ((d / 'eval.md').read_text(), markdown_table(replay_report), replay_report, gt_json,
            res_json)


def test_evaluate_and_replay_write_the_same_rows(reports):
    evaluate_md, replay_md, *_ = reports
    lines = [line for line in evaluate_md.splitlines() if line]
    replay_lines = replay_md.splitlines()
    # every row of evaluate's report is in replay's, in the same order (replay adds rows:
    # offline AP, sAP_K, its own counts)
    pos = [replay_lines.index(line) for line in lines]
    assert pos == sorted(pos)
    assert any(line.startswith('| lesion f1 |') for line in lines)
    assert any(line.startswith('| streaming |') for line in lines)


def test_rows_hold_pycocotools_and_the_hand_count(reports):
    evaluate_md, replay_md, report, gt_json, res_json = reports
    # Streaming pairing by hand: frame g is scored against the newest output finished by g/FPS.
    used = {1: 0, 2: 1, 3: 2, 4: 2, 5: 4}
    paired = [{**d, 'image_id': 100 + g} for g, s in used.items()
              for d in res_json['detections'] if d['input_image_id'] == 100 + s]
    ap = pycocotools_ap(gt_json, paired)
    offline = pycocotools_ap(gt_json, [{**d, 'image_id': d['input_image_id']}
                                       for d in res_json['detections']],
                             [100 + f for f in PROCESSED])
    assert report['AP'] == pytest.approx(ap, abs=1e-12)
    assert report['offline']['AP'] == pytest.approx(offline, abs=1e-12)
    # Centroid protocol at 0.5: lesions of frames 1, 2, 3, 5 hit (one frame old), frame 0 has no
    # output yet and frame 4's is two frames old (a miss and an FP); five far boxes are FPs.
    tp, fp, fn = 4, 1 + 5, 2
    p, r = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * p * r / (p + r)
    les = report['lesion']
    assert (les['tp'], les['fp'], les['fn']) == (tp, fp, fn)
    assert les['f1'] == pytest.approx(f1)
    for md in (evaluate_md, replay_md):
        assert f'| lesion f1 | {f1:.4f} |' in md
        assert f'| lesion precision | {p:.4f} |' in md
        assert f'| streaming | {100 * ap:.1f} |' in md
        assert f'| latency median (ms) | {1000 * LATENCY_S:.1f} |' in md
    assert f'| offline (processed frames) | {100 * offline:.1f} |' in replay_md
    # the replay's end-of-run rows and the demo's numbers come from the same records
    brief = dict(metrics.brief_rows(report))
    assert brief['streaming AP'] == f'{100 * ap:.1f}'
    assert brief['lesion F1 (centroid @ 0.5)'] == f'{f1:.4f}'
    head = metrics.headline(json.loads(json.dumps(report)))
    assert head['AP'] == pytest.approx(ap) and head['lesion_F1'] == pytest.approx(f1)
    assert head['latency_median_ms'] == pytest.approx(1000 * LATENCY_S)


def test_result_rows_against_a_loop():
    rng = np.random.default_rng(0)
    x1y1 = rng.uniform(0, 300, (5, 2))
    xyxy = np.concatenate([x1y1, x1y1 + rng.uniform(1, 100, (5, 2))], 1).astype(np.float32)
    scores, classes, cat_ids, scale = rng.uniform(0, 1, 5), [2, 0, 1, 1, 0], [3, 7, 11], 1.6
    rows = result_rows(xyxy, scores, classes, cat_ids, scale)
    for row, (x1, y1, x2, y2), s, c in zip(rows, xyxy.astype(np.float64), scores, classes):
        ref = [x1 / scale, y1 / scale, (x2 - x1) / scale, (y2 - y1) / scale, s, cat_ids[c]]
        assert row == pytest.approx(ref, abs=1e-9)
    assert result_rows(np.zeros((0, 4)), [], [], cat_ids).shape == (0, 6)


def test_unknown_metric_and_mode_are_one_line_errors():
    with pytest.raises(ValueError, match="metric 'f3'"):
        metrics.compute('f3', None)
    with pytest.raises(ValueError, match="mode 'online'"):
        metrics.score_mode('online', None, None)


def test_a_registered_metric_is_computed_and_printed(monkeypatch):
    gt_json, res_json = make_case()
    record = metrics.Metric('n_outputs', 'quantity', lambda n: [('outputs', str(n))],
                            compute=lambda s: len(s.results.outputs))
    monkeypatch.setitem(metrics.METRICS, 'n_outputs', record)
    scored = metrics.score_mode('offline', load_ground_truth(gt_json), load_results(res_json))
    report = build_report('offline', scored.coco,
                          n_outputs=metrics.compute('n_outputs', scored))
    assert f'| outputs | {len(PROCESSED)} |' in markdown_table(report).splitlines()
