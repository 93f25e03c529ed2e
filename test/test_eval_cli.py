"""``video-perception evaluate`` end to end (BDD100K known answer through the CLI, one-line
errors, exit 2) and the MP4 writer read back with cv2.VideoCapture."""
import json

import cv2
import numpy as np
import pytest

from test_eval_streaming import bdd_case, make_gt, results_json
from video_perception.cli import main as top_main
from video_perception.tools.evaluate import main
from video_perception.eval.results import load_ground_truth, load_results
from video_perception.eval.video import count_mp4_frames, render_clip, write_mp4


@pytest.fixture(scope='module')
def bdd_files(shared_data, tmp_path_factory):
    gt_json, rj = bdd_case(shared_data)
    d = tmp_path_factory.mktemp('bdd')
    (d / 'results.json').write_text(json.dumps(rj))
    return shared_data / 'bdd100k_eval_case' / 'cocoformat_track_sample_annotations.json', d


def test_cli_bdd_offline_known_answer(bdd_files, capsys):
    gt, d = bdd_files
    out = d / 'offline.json'
    rc = top_main(['evaluate', str(gt), str(d / 'results.json'), '--mode', 'offline',
                   '--bdd-plus-one', '--out', str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report['AP'] == pytest.approx(0.3129270786, abs=1e-6)
    assert report['AP50'] == pytest.approx(0.5209, abs=5e-5)
    assert report['AP75'] == pytest.approx(0.3135, abs=5e-5)
    assert {'APs', 'APm', 'APl'} <= report.keys()
    assert '| offline | 31.3 | 52.1 | 31.4 |' in capsys.readouterr().out
    assert (d / 'offline.md').read_text().startswith('| mode |')


def test_cli_bdd_streaming_zero_latency(bdd_files):
    gt, d = bdd_files
    out = d / 'streaming.json'
    assert main([str(gt), str(d / 'results.json'), '--mode', 'streaming', '--fps', '5',
                 '--bdd-plus-one', '--out', str(out)]) == 0
    report = json.loads(out.read_text())
    assert report['AP'] == pytest.approx(0.3129270786, abs=1e-6)
    assert report['in_time'] == 1.0 and report['mean_lag_frames'] == 0.0
    assert report['latency_s']['max'] == 0.0


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    gt_json = make_gt([3], [0.0])
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps(gt_json))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"outputs": [')
    plain = tmp_path / 'plain.json'
    plain.write_text(json.dumps([{'image_id': 101, 'category_id': 1, 'bbox': [0, 0, 5, 5],
                                  'score': 0.9}]))
    broken_gt = tmp_path / 'broken.json'
    broken_gt.write_text(json.dumps({**gt_json, 'images': gt_json['images'][1:]}))
    cases = [[str(tmp_path / 'missing.json'), str(plain)],
             [str(gt), str(bad)],
             [str(gt), str(plain), '--mode', 'streaming'],
             [str(broken_gt), str(plain)],
             [str(gt), str(plain), '--mode', 'kstep', '--k', '0'],
             [str(gt), str(plain), '--mode', 'sideways']]
    for argv in cases:
        capsys.readouterr()
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse's own errors
            rc = e.code
        err = capsys.readouterr().err
        assert rc == 2, argv
        assert err.startswith('video-perception evaluate: error:') and err.count('\n') == 1, err


def test_cli_kstep_lesion_and_plots(tmp_path):
    gt_json = make_gt([6, 6], [0.0, 1.0])
    outputs = [(im['id'], im['timestamp'] + 0.03) for im in gt_json['images']]
    (tmp_path / 'gt.json').write_text(json.dumps(gt_json))
    (tmp_path / 'res.json').write_text(json.dumps(results_json(gt_json, outputs)))
    out = tmp_path / 'r.json'
    assert main([str(tmp_path / 'gt.json'), str(tmp_path / 'res.json'), '--mode', 'kstep',
                 '--k', '2', '--lesion-protocol', 'iou', '--score-thr', '0', '--out', str(out),
                 '--plots', str(tmp_path / 'plots')]) == 0
    report = json.loads(out.read_text())
    # boxes move 8 px per frame: after 2 frames IoU = (30-16)*20/(2*600-(30-16)*20) < 0.5
    assert report['k'] == 2 and report['n_dropped_outputs'] == 4 and report['n_images'] == 8
    assert report['lesion']['tp'] == 0 and report['lesion']['n_gt'] == 16
    assert report['latency_s']['median'] == pytest.approx(0.03)
    img = cv2.imread(str(tmp_path / 'plots' / 'pr_curves.png'))
    assert img is not None and img.shape[2] == 3


def test_mp4_round_trip_and_render(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(7)]
    assert write_mp4(frames, tmp_path / 'a.mp4', 10.0) == 7
    assert count_mp4_frames(tmp_path / 'a.mp4') == 7
    gt_json = make_gt([5], [0.0])
    for im in gt_json['images']:
        cv2.imwrite(str(tmp_path / im['file_name'].replace('/', '_')),
                    np.zeros((200, 200, 3), np.uint8))
        im['file_name'] = im['file_name'].replace('/', '_')
    outputs = [(im['id'], im['timestamp']) for im in gt_json['images']]
    res = load_results(results_json(gt_json, outputs))
    pngs, mp4 = render_clip(load_ground_truth(gt_json), res.detections, tmp_path,
                            tmp_path / 'clip', score_thr=0.0)
    assert len(pngs) == 5 and count_mp4_frames(mp4) == 5
    first = cv2.imread(str(pngs[0]))
    # a detection box is drawn where the first GT box is (colour differs from the black frame)
    x, y, w, h = gt_json['annotations'][0]['bbox']
    assert first[int(y) - 3:int(y + h) + 3, int(x) - 3:int(x + w) + 3].max() > 0
    assert first[150:, 150:].max() == 0
