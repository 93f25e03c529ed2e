"""Streaming evaluation under real latency: runtimes drawn from a latency file (against scipy's
chi-square test of the file's distribution), a hand schedule's sAP, deadline-miss rate and stale
share against a naive millisecond loop and pycocotools, the sweep's re-scheduling against
running the detector, and sAP falling as latency grows on a constructed case."""
import json

import numpy as np
import pytest
from scipy import stats
import test_replay_cli
from coco_reference import pycocotools_stats

from video_perception.detections import Detections
from video_perception.eval.results import GroundTruth
from video_perception.image_codec import ImageDecodeError
from video_perception.replay import outputs, scoring
from video_perception.replay.engine import LatencyModel, run_replay
from video_perception.replay.latency_model import (SampledLatency, latency_file_dict,
                                                   load_latency_file, parse_latency,
                                                   parse_speeds)
from video_perception.replay.sweep import reschedule, run_sweep
from video_perception.sources import SourceFrame

bundles, square_set = test_replay_cli.bundles, test_replay_cli.square_set   # fixtures
run_cli = test_replay_cli.run_cli
PERIOD_MS = 40          # 25 fps
STEP_PX = 2             # the square's motion per frame: IoU 0.78 one frame late, 0.6 two


# ---------------------------------------------------------------- latency files and sampling

def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_latency_file_formats_read_the_same_values(tmp_path):
    ms = [12.5, 30.0, 7.25]
    files = [
        _write(tmp_path, 'replay.json', json.dumps(latency_file_dict(
            [v / 1000 for v in ms], model='x'))),   # what replay writes
        _write(tmp_path, 'seconds.json', json.dumps({'unit': 's',
                                                     'latencies': [v / 1000 for v in ms]})),
        _write(tmp_path, 'list.json', json.dumps(ms)),
        _write(tmp_path, 'toolkit.json', json.dumps({'type': 'empirical',
                                                     'samples': [v / 1000 for v in ms]})),
        _write(tmp_path, 'plain.txt', '\n'.join(map(str, ms)) + '\n'),
        _write(tmp_path, 'cols.csv', 'frame,latency_ms\n' + '\n'.join(
            f'{i},{v}' for i, v in enumerate(ms))),
    ]
    for path in files:
        np.testing.assert_allclose(load_latency_file(path), np.array(ms) / 1000, rtol=1e-12,
                                   err_msg=path.name)


@pytest.mark.parametrize('name,text,match', [
    ('empty.json', '[]', 'no latencies'),
    ('neg.json', '[5, -1]', '>= 0'),
    ('unit.json', '{"unit": "us", "latencies": [1]}', 'unit'),
    ('shape.json', '{"values": [1]}', 'expected'),
    ('bad.json', '[1, ', 'not JSON'),
    ('words.csv', 'a,b\n1,2\n', 'latency_ms'),
    ('text.txt', '12\nfast\n', 'one number'),
])
def test_bad_latency_files_are_one_line_errors(tmp_path, name, text, match):
    path = _write(tmp_path, name, text)
    with pytest.raises(ValueError, match=match) as info:
        parse_latency(str(path))
    assert str(path) in str(info.value) and '\n' not in str(info.value)


def test_latency_and_speed_arguments():
    with pytest.raises(ValueError, match='no such latency file'):
        parse_latency('missing/latency.json')
    assert parse_latency('0.05', 2.0).latency(1.0) == pytest.approx(0.025)
    for bad in ('fast', '-1'):
        with pytest.raises(ValueError, match="expected 'measured', seconds"):
            parse_latency(bad)
    assert parse_speeds('0.5, 1,2,4,8') == [0.5, 1.0, 2.0, 4.0, 8.0]
    for bad in ('0', '1,1', 'fast', '-2', ''):
        with pytest.raises(ValueError, match='--speed'):
            parse_speeds(bad)


def test_sampled_latencies_follow_the_file_distribution(tmp_path):
    values_ms = [10, 20, 20, 20, 60]          # 20 ms three times as likely as 10 or 60
    path = _write(tmp_path, 'lat.json', json.dumps({'unit': 'ms', 'latencies': values_ms}))
    model = parse_latency(str(path), speed=2.0, seed=7)
    assert isinstance(model, SampledLatency)
    draws = np.array([model.latency(123.0) for _ in range(6000)])   # the wall time is ignored
    support = np.array([0.005, 0.010, 0.030])                       # halved: speed 2
    idx = np.argmin(np.abs(draws[:, None] - support[None]), axis=1)
    np.testing.assert_allclose(draws, support[idx], rtol=1e-12)     # only recorded values
    counts = np.bincount(idx, minlength=3)
    chi = stats.chisquare(counts, f_exp=len(draws) * np.array([0.2, 0.6, 0.2]))
    assert chi.pvalue > 1e-3, counts
    again = parse_latency(str(path), speed=2.0, seed=7)
    assert [again.latency(0) for _ in range(50)] == list(draws[:50])  # seeded: reproducible
    other = parse_latency(str(path), speed=2.0, seed=8)
    assert [other.latency(0) for _ in range(50)] != list(draws[:50])


# ------------------------------------------------------------------------ a constructed clip

class OracleDetector:
    """The ground-truth box of the frame it is given (by stamp): offline AP 1, so streaming AP
    only measures how late the outputs are. Records the stamps it saw."""

    bundle = None

    def __init__(self, boxes_by_stamp):
        self.boxes, self.seen, self.resets = boxes_by_stamp, [], 0

    def detect(self, frame, stamp_ns):
        self.seen.append(stamp_ns)
        return Detections(np.array([self.boxes[stamp_ns]], np.float32), np.array([0.9]),
                          np.array([0]))

    def reset(self, reason='asked'):
        self.resets += 1


def _clip(n=16, bad=()):
    """(frames, GroundTruth, detector): one video, a 16 px square moving STEP_PX per frame."""
    images, anns, frames, boxes = [], [], [], {}
    for k in range(n):
        x = 10 + STEP_PX * k
        stamp = k * PERIOD_MS * 1_000_000
        images.append({'id': 100 + k, 'file_name': f'{k}.png', 'height': 64, 'width': 96,
                       'video_id': 1, 'frame_id': k, 'timestamp': k * PERIOD_MS / 1000})
        anns.append({'id': k + 1, 'image_id': 100 + k, 'category_id': 1,
                     'bbox': [x, 20, 16, 16], 'area': 256.0, 'iscrowd': 0})
        boxes[stamp] = [x, 20, x + 16, 36]

        def load(k=k):
            if k in bad:
                raise ImageDecodeError(f'frame {k}: corrupt')
            return np.zeros((64, 96, 3), np.uint8)
        frames.append(SourceFrame(k, stamp, stamp, 'cam', load, image_id=100 + k, segment=1))
    data = {'videos': [{'id': 1, 'name': 'v'}], 'images': images, 'annotations': anns,
            'categories': [{'id': 1, 'name': 'square'}]}
    gt = GroundTruth(data, {im['id']: im for im in images}, {1: [im['id'] for im in images]})
    return frames, gt, data, OracleDetector(boxes)


def _score(run, gt):
    results, _ = outputs.build_results(run, [1], {f.index: 100 + f.index for f in run.frames},
                                       gt)
    report, _, _, _ = scoring.score(gt, results, lesion=False)
    return report


def naive_runs(n, latencies_ms, bad=()):
    """The vehicle, one millisecond at a time: a one-frame slot, a detector that takes the
    newest frame when free; the k-th frame it processes takes latencies_ms[k] (a bad frame
    takes no time and gives nothing); the video ends at n periods (the sAP toolkit's n / fps):
    nothing starts then. Returns [(frame, finish_ms)] of the outputs."""
    slot, busy_until, used, out = None, 0, 0, []
    for t in range(n * PERIOD_MS):
        if t % PERIOD_MS == 0 and t // PERIOD_MS < n:
            slot = t // PERIOD_MS
        while slot is not None and busy_until <= t:
            if slot in bad:
                slot = None
                continue
            busy_until = t + latencies_ms[used]
            used += 1
            out.append((slot, busy_until))
            slot = None
    return out


def naive_report(data, outs, n):
    """sAP by pairing each GT frame with the latest output finished by its time (loop) and
    pycocotools; deadline misses and stale frames counted by loops."""
    dets, lags = [], []
    for i in range(n):
        done = [(finish, j) for j, finish in outs if finish <= i * PERIOD_MS]
        if not done:
            continue
        j = max(done)[1]
        lags.append(i - j)
        x = 10 + STEP_PX * j
        dets.append({'image_id': 100 + i, 'category_id': 1, 'bbox': [x, 20, 16, 16],
                     'score': 0.9})
    counted = [(j, f) for j, f in outs if j + 1 < n]
    missed = sum(f > (j + 1) * PERIOD_MS for j, f in counted)
    return {'AP': float(pycocotools_stats(data, dets)[0]),
            'stale': sum(lag >= 2 for lag in lags) / n, 'missed': missed,
            'counted': len(counted)}


class ListLatency(LatencyModel):
    """The k-th processed frame takes the k-th value (seconds)."""

    def __init__(self, values_s):
        super().__init__(None, 1.0)
        self.values, self.k = list(values_s), 0

    def latency_ns(self, wall_s):
        self.k += 1
        return int(round(self.values[self.k - 1] * 1e9))


def test_hand_schedule_sap_miss_rate_and_stale_share_against_a_naive_loop():
    n, bad = 16, {9}
    lat_ms = [30, 90, 50, 20, 130, 35, 60, 45, 25, 70, 15, 40, 80, 30, 20, 55]
    frames, gt, data, det = _clip(n, bad)
    run = run_replay(frames, det, ListLatency([v / 1000 for v in lat_ms]))
    ref_outs = naive_runs(n, lat_ms, bad)
    assert [(o.index, o.finish_ns // 1_000_000) for o in run.outputs] == ref_outs
    report = _score(run, gt)
    ref = naive_report(data, ref_outs, n)
    assert 0.05 < ref['AP'] < 0.95 and 0 < ref['missed'] < ref['counted']
    assert report['AP'] == pytest.approx(ref['AP'], abs=1e-12)
    assert report['deadline_miss'] == {'rate': ref['missed'] / ref['counted'],
                                       'missed': ref['missed'], 'outputs': ref['counted']}
    assert report['stale'] == pytest.approx(ref['stale'], abs=1e-12) and report['stale'] > 0


def test_reschedule_equals_running_the_detector(tmp_path):
    frames, gt, _, _ = _clip(16, bad={5})
    frames2 = [SourceFrame(f.index + 16, f.stamp_ns, f.stamp_ns, 'cam', f.load,
                           image_id=f.image_id, segment=2) for f in frames]   # a second video
    path = _write(tmp_path, 'lat.json', json.dumps([15, 55, 35, 95, 20]))
    boxes = _clip(16)[3].boxes
    for make in (lambda: LatencyModel(0.05, 0.5), lambda: parse_latency(str(path), 1.5, 7)):
        ceiling = run_replay(frames + frames2, OracleDetector(boxes), LatencyModel(0.0))
        direct = run_replay(frames + frames2, OracleDetector(boxes), make())
        again = reschedule(ceiling, make())
        key = [(o.index, o.stream, o.start_ns, o.finish_ns) for o in direct.outputs]
        assert [(o.index, o.stream, o.start_ns, o.finish_ns) for o in again.outputs] == key
        assert (again.dropped, again.bad, again.streams) == (direct.dropped, direct.bad, 2)
        assert again.dropped > 0 and again.bad == 2
    # measured: each run takes the wall time the zero-latency pass recorded, over the speed
    walls = {o.index: o.wall_s for o in ceiling.outputs}
    slow = reschedule(ceiling, LatencyModel(None, 0.001))
    np.testing.assert_allclose([o.latency_s for o in slow.outputs],
                               [walls[o.index] / 0.001 for o in slow.outputs], atol=2e-9)


def test_sweep_sap_falls_as_latency_grows_and_history_detectors_rerun():
    frames, gt, _, det = _clip(24)
    speeds = [8.0, 2.0, 1.0, 0.5, 0.25]      # 4 ms ... 128 ms runtime, 40 ms frames
    sweep = run_sweep(lambda: iter(frames), det, LatencyModel(0.032), speeds)
    assert not sweep.rerun and len(det.seen) == 24     # ran once, on every frame
    assert _score(sweep.ceiling, gt)['offline']['AP'] == pytest.approx(1.0)
    reports = [_score(sweep.runs[s], gt) for s in speeds]
    aps = [r['AP'] for r in reports]
    misses = [r['deadline_miss']['rate'] for r in reports]
    assert all(a >= b for a, b in zip(aps, aps[1:])) and aps[0] > aps[-1] + 0.2, aps
    assert all(a <= b for a, b in zip(misses, misses[1:])) and misses[0] == 0, misses
    assert misses[-1] == 1.0

    class History(OracleDetector):
        bundle = type('B', (), {'history_frames': 2})()
    hist = History(det.boxes)
    sweep = run_sweep(lambda: iter(frames), hist, LatencyModel(0.032), [1.0, 0.25])
    processed = [len(sweep.runs[s].outputs) for s in (1.0, 0.25)]
    assert sweep.rerun and hist.resets == 2
    assert len(hist.seen) == 24 + sum(processed)        # every speed ran the detector again
    assert processed[1] < processed[0]


# ------------------------------------------------------------------------------ the command

def test_replay_sweep_cli(bundles, square_set, tmp_path, capsys):
    out = tmp_path / 'sweep'
    lat = _write(tmp_path, 'lat.csv', 'latency_ms\n20\n45\n90\n')
    args = [square_set, '--model', bundles['streamnet'], '--out', out, '--latency', lat,
            '--seed', '5', '--speed', '0.25,1,4', '--score-threshold', '0.01']
    rc, stdout, err = run_cli(args, capsys)
    assert rc == 0, err
    sweep = json.loads((out / 'sweep.json').read_text())
    assert [p['speed'] for p in sweep['speeds']] == [0.25, 1.0, 4.0]
    assert sweep['detector_rerun_per_speed'] is True          # StreamNet's buffer
    processed = [p['processed'] for p in sweep['speeds']]
    assert processed[0] < processed[1] <= processed[2] == 10
    for p in sweep['speeds']:
        report = json.loads((out / f"speed_{p['speed']:g}" / 'report.json').read_text())
        assert report['AP'] == p['AP'] and report['deadline_miss']['rate'] == p['deadline_miss']
        assert report['replay']['latency'].startswith('sampled from')
    assert (out / 'plots' / 'latency_sweep.png').stat().st_size > 10_000
    assert 'deadline-miss rate' in stdout and 'every frame, 0 ms' in stdout
    assert json.loads((out / 'latency.json').read_text())['unit'] == 'ms'
    rc, _, err = run_cli(args[:4] + [tmp_path / 'again'] + args[5:], capsys)   # same seed
    assert rc == 0, err
    again = json.loads((tmp_path / 'again' / 'sweep.json').read_text())
    assert [p['AP'] for p in again['speeds']] == [p['AP'] for p in sweep['speeds']]
    for bad, match in ((['--speed', '1,1'], 'repeated'),
                       (['--speed', '1,2', '--video'], '--video')):
        rc, _, err = run_cli(args[:3] + ['--out', tmp_path / 'bad'] + bad, capsys)
        assert rc == 2 and match in err and err.count('\n') == 1
