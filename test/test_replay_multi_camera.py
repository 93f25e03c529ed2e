"""Multi-camera replay (``replay.multi``, ``replay --cameras``): a bag with two camera topics at
different rates and sizes through one batched detector. At zero latency each camera's outputs
equal its single-camera replay; at a fixed latency the batches and drops equal a naive
set-based schedule written here; and the command end to end in its own process."""
import json
import subprocess
import sys

import batch_bundles
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from video_perception import bagio, msgs
from video_perception.detector import CameraBatch, load_detector
from video_perception.eval.results import load_results
from video_perception.image_codec import ImageDecodeError
from video_perception.replay.engine import LatencyModel, run_replay
from video_perception.replay.multi import run_multi_replay
from video_perception.sources import FrameSource, SourceFrame

T0 = 100_000_000_000
# topic, (h, w), period ns, frames: 25 Hz and ~16.7 Hz, meeting every 120 ms
CAMERAS = [('/cam_a/image', (64, 96), 40_000_000, 12), ('/cam_b/image', (48, 80), 60_000_000, 8)]
TOPICS = [c[0] for c in CAMERAS]


@pytest.fixture(scope='module')
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp('mc_bundles')
    return {'streamnet': batch_bundles.make_streamnet_bundle(str(root / 'sn'), (1, 2)),
            'v2i': batch_bundles.make_v2i_bundle(str(root / 'v2i'), (1, 2))}


@pytest.fixture(scope='module')
def bag(tmp_path_factory):
    """Both cameras in one bag, written in receive order as a recorder would."""
    rng = np.random.default_rng(3)
    items = []
    for topic, (h, w), period, n in CAMERAS:
        for k in range(n):
            stamp = T0 + k * period
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            msg = msgs.Image(header=msgs.Header(stamp=msgs.Time.from_ns(stamp),
                                                frame_id=topic.split('/')[1]),
                             height=h, width=w, encoding='bgr8', step=3 * w,
                             data=img.reshape(-1))
            items.append((stamp + 1000, topic, msg))
    path = tmp_path_factory.mktemp('mc_bag') / 'two_cams'
    with bagio.write_bag(path) as writer:
        for receive, topic, msg in sorted(items, key=lambda t: t[:2]):
            writer.write(topic, msg, receive)
    return path


def _load(path):
    return load_detector(path, 'onnxruntime', log=lambda _: None, score_threshold=0.05)


def _multi(bag, bundle, latency):
    det = _load(bundle)
    sources = [FrameSource(bag, t).frames() for t in TOPICS]
    return run_multi_replay(sources, ['a', 'b'], CameraBatch(det, 2), latency,
                            det.bundle.pixel_format)


@pytest.mark.parametrize('family', ['streamnet', 'v2i'])
def test_zero_latency_equals_single_camera_replay(bag, bundles, family):
    run = _multi(bag, bundles[family], LatencyModel(0.0))
    assert any(len(b.members) == 2 for b in run.batches)    # the batched graph did run
    for c, topic in enumerate(TOPICS):
        det = _load(bundles[family])
        single = run_replay(FrameSource(bag, topic).frames(), det, LatencyModel(0.0),
                            det.bundle.pixel_format)
        multi = run.runs[c]
        assert [o.index for o in multi.outputs] == [o.index for o in single.outputs] \
            == list(range(CAMERAS[c][3]))
        assert multi.dropped == single.dropped == 0
        for a, b in zip(multi.outputs, single.outputs):
            assert a.stamp_ns == b.stamp_ns and a.finish_ns == b.finish_ns
            assert len(a.dets) == len(b.dets) > 0
            np.testing.assert_allclose(a.dets.boxes_xyxy, b.dets.boxes_xyxy, atol=1e-3)
            np.testing.assert_allclose(a.dets.scores, b.dets.scores, atol=1e-5)
            np.testing.assert_array_equal(a.dets.class_ids, b.dets.class_ids)


def naive_schedule(latency_ns):
    """Reference: repeatedly start at max(free, earliest unconsumed arrival); of the frames
    arrived by then, each camera's newest is in the batch and the rest are dropped."""
    left = [(T0 + k * period, c, k) for c, (_, _, period, n) in enumerate(CAMERAS)
            for k in range(n)]
    free, batches, dropped = None, [], {0: [], 1: []}
    while left:
        start = min(t for t, _, _ in left)
        start = start if free is None else max(free, start)
        arrived = [x for x in left if x[0] <= start]
        left = [x for x in left if x[0] > start]
        members = []
        for c in (0, 1):
            mine = sorted(k for t, cc, k in arrived if cc == c)
            if mine:
                members.append((c, mine[-1]))
                dropped[c] += mine[:-1]
        free = start + latency_ns
        batches.append((members, start, free))
    return batches, dropped


@pytest.mark.parametrize('latency_s', [0.05, 0.07, 0.13])
def test_fixed_latency_schedule_matches_naive_loop(bag, bundles, latency_s):
    run = _multi(bag, bundles['streamnet'], LatencyModel(latency_s))
    want, dropped = naive_schedule(int(round(latency_s * 1e9)))
    assert [(b.members, b.start_ns, b.finish_ns) for b in run.batches] == want
    assert sum(len(d) for d in dropped.values()) > 0        # the latency does overtake frames
    for c in (0, 1):
        cam = run.runs[c]
        assert cam.dropped == len(dropped[c])
        assert len(cam.frames) == CAMERAS[c][3]
        got = [(o.index, o.start_ns, o.finish_ns) for o in cam.outputs]
        assert got == [(k, s, f) for m, s, f in want for cc, k in m if cc == c]


def _cli(*args):
    return subprocess.run([sys.executable, '-m', 'video_perception.cli', 'replay',
                           *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_end_to_end(bag, bundles, tmp_path):
    out = tmp_path / 'out'
    proc = _cli(bag, '--cameras', ','.join(TOPICS), '--model', bundles['streamnet'], '--out',
                out, '--latency', '0.07', '--score-threshold', '0.05')
    assert proc.returncode == 0, proc.stderr
    want, dropped = naive_schedule(70_000_000)
    table = proc.stdout
    assert '| quantity | /cam_a/image | /cam_b/image |' in table
    for c, name in enumerate(['cam_a_image', 'cam_b_image']):
        processed = [(k, f) for m, _, f in want for cc, k in m if cc == c]
        res = load_results(out / name / 'results.json')
        assert sorted(res.outputs) == [k for k, _ in processed]     # ids: source positions
        for k, finish in processed:
            assert res.outputs[k] == pytest.approx(finish / 1e9)
        with Reader(out / name / 'bag') as reader:
            times = [t for conn, t, _ in reader.messages() if conn.topic == '/detections']
        assert times == [f for _, f in processed]
        assert f'| dropped | {len(dropped[0])} | {len(dropped[1])} |' in table
    lat = json.loads((out / 'latency.json').read_text())
    assert len(lat['latencies']) == len(want)
    assert (out / 'cameras.md').read_text().strip() in table


@pytest.mark.parametrize('args,expected', [
    (['--cameras', '/cam_a/image'], 'expected two or more image topics'),
    (['--cameras', '/cam_a/image,/nope'], "topic '/nope' is not an image topic"),
    (['--cameras', ','.join(TOPICS), '--topic', '/cam_a/image'], '--topic takes one camera'),
    (['--cameras', ','.join(TOPICS), '--gt', 'a.json'], 'one dataset JSON per camera'),
])
def test_cli_bad_cameras_one_line_nothing_written(bag, bundles, tmp_path, capsys, args,
                                                  expected):
    from video_perception.tools import replay
    out = tmp_path / 'out'
    rc = replay.main([str(bag), '--model', bundles['streamnet'], '--out', str(out), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and expected in err[0], err
    assert not out.exists() and not list(tmp_path.iterdir())


def _gt_for_camera(path, c, run):
    """A dataset for camera c on the bag's clock (ids 1000 c + k), its boxes the zero-latency
    run's best detection of each frame, so every category has ground truth."""
    _, (h, w), period, n = CAMERAS[c]
    best = {o.index: o.dets for o in run.runs[c].outputs}
    images, anns = [], []
    for k in range(n):
        iid = 1000 * (c + 1) + k
        images.append({'id': iid, 'file_name': f'{k}.png', 'height': h, 'width': w,
                       'video_id': 1, 'frame_id': k, 'timestamp': (T0 + k * period) / 1e9})
        j = int(np.argmax(best[k].scores))
        x0, y0, x1, y1 = (float(v) for v in best[k].boxes_xyxy[j])
        anns.append({'id': iid, 'image_id': iid, 'category_id': int(best[k].class_ids[j]) + 1,
                     'bbox': [x0, y0, x1 - x0, y1 - y0], 'area': (x1 - x0) * (y1 - y0),
                     'iscrowd': 0})
    path.write_text(json.dumps({
        'videos': [{'id': 1, 'name': TOPICS[c], 'fps': 1e9 / period}], 'images': images,
        'annotations': anns, 'categories': [{'id': i + 1, 'name': s}
                                            for i, s in enumerate('abc')]}))
    return path


def offline_ap_reference(gt_path, results_path) -> float:
    """pycocotools itself, each output against its own frame, over the processed frames (a GT
    cut down to them: frames never processed are not offline misses)."""
    from test_replay_cli import pycocotools_offline_ap
    done = {o['input_image_id'] for o in json.loads(results_path.read_text())['outputs']}
    data = json.loads(gt_path.read_text())
    data['images'] = [i for i in data['images'] if i['id'] in done]
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] in done]
    cut = gt_path.with_name(gt_path.stem + '_processed.json')
    cut.write_text(json.dumps(data))
    return pycocotools_offline_ap(cut, results_path)


def test_cli_ground_truth_per_camera(bag, bundles, tmp_path):
    run = _multi(bag, bundles['streamnet'], LatencyModel(0.0))
    gts = [_gt_for_camera(tmp_path / f'gt{c}.json', c, run) for c in (0, 1)]
    out = tmp_path / 'out'
    proc = _cli(bag, '--cameras', ','.join(TOPICS), '--model', bundles['streamnet'], '--out',
                out, '--latency', '0.07', '--score-threshold', '0.05', '--gt',
                ','.join(map(str, gts)))
    assert proc.returncode == 0, proc.stderr
    for c, name in enumerate(['cam_a_image', 'cam_b_image']):
        report = json.loads((out / name / 'report.json').read_text())
        assert report['replay']['camera'] == TOPICS[c]
        assert report['replay']['matched_frames'] == CAMERAS[c][3]
        assert (out / name / 'report.md').is_file() and list((out / name / 'plots').iterdir())
        res = load_results(out / name / 'results.json')
        assert res.outputs and all(1000 * (c + 1) <= i < 1000 * (c + 2) for i in res.outputs)
        assert report['offline']['AP'] == pytest.approx(
            offline_ap_reference(gts[c], out / name / 'results.json'), abs=1e-6)


def _frames(period, n, shape, bad=()):
    def load(k):
        if k in bad:
            raise ImageDecodeError(f'frame {k}: truncated')
        return np.full(shape + (3,), 10 * k, np.uint8)
    return [SourceFrame(k, T0 + k * period, T0 + k * period, 'cam', lambda k=k: load(k))
            for k in range(n)]


def test_bad_frame_leaves_its_batch_and_counts_for_its_camera(bundles):
    det = _load(bundles['v2i'])
    run = run_multi_replay([_frames(40_000_000, 4, (64, 96), bad={2}),
                            _frames(40_000_000, 4, (48, 80))], ['a', 'b'],
                           CameraBatch(det, 2), LatencyModel(0.0), det.bundle.pixel_format)
    assert [b.members for b in run.batches] == [[(0, 0), (1, 0)], [(0, 1), (1, 1)], [(1, 2)],
                                                [(0, 3), (1, 3)]]
    assert (run.runs[0].bad, run.runs[1].bad) == (1, 0)
    assert [o.index for o in run.runs[0].outputs] == [0, 1, 3]


def test_camera_stamps_going_back_is_one_line_error(bundles):
    det = _load(bundles['v2i'])
    back = _frames(40_000_000, 3, (64, 96))
    back[2].stamp_ns = back[0].stamp_ns
    with pytest.raises(ValueError, match=r'camera b: frame 2 stamp .* before the previous one'):
        run_multi_replay([_frames(40_000_000, 3, (64, 96)), back], ['a', 'b'],
                         CameraBatch(det, 2), LatencyModel(0.01), det.bundle.pixel_format)
