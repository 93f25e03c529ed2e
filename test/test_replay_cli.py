"""``video-perception replay`` end to end with real tiny bundles: the real bag, synthetic bags in
both storages, streaming AP == offline AP at zero latency, drops against a naive schedule, and
bad input (truncated bag, missing model, bad ground truth) leaving nothing behind."""
import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest
import tiny_bundles
from coco_reference import pycocotools_stats
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from test_replay_simulate import tick_reference

from video_perception.tools import replay

pytestmark = pytest.mark.xdist_group('replay_cli')
MSG_DEFS = pathlib.Path(__file__).resolve().parents[1] / 'video_perception' / 'msg_defs'


@pytest.fixture(scope='module')
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp('bundles')
    return {'streamnet': tiny_bundles.make_streamnet_bundle(str(root / 'sn')),
            'v2i': tiny_bundles.make_v2i_bundle(str(root / 'v2i'))}


@pytest.fixture(scope='module')
def square_set(tmp_path_factory):
    """One video at 25 fps: a bright 16x16 square moving 3 px right per frame on 96x64 (the
    tiny bundles' input size, so no scaling); GT category 'square' as the bundles name it."""
    root = tmp_path_factory.mktemp('square')
    (root / 'frames').mkdir()
    images, anns = [], []
    for k in range(10):
        img = np.full((64, 96, 3), 30, np.uint8)
        x, y = 10 + 3 * k, 20
        img[y:y + 16, x:x + 16] = 255
        cv2.imwrite(str(root / 'frames' / f'{k:03d}.png'), img)
        images.append({'id': 100 + k, 'file_name': f'frames/{k:03d}.png', 'height': 64,
                       'width': 96, 'video_id': 7, 'frame_id': k, 'timestamp': k * 0.04})
        anns.append({'id': k + 1, 'image_id': 100 + k, 'category_id': 3,
                     'bbox': [x, y, 16, 16], 'area': 256, 'iscrowd': 0})
    data = {'videos': [{'id': 7, 'name': 'square', 'fps': 25.0}], 'images': images,
            'annotations': anns, 'categories': [{'id': 3, 'name': 'square'}]}
    (root / 'dataset.json').write_text(json.dumps(data))
    return root / 'dataset.json'


def run_cli(args, capsys):
    rc = replay.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def pycocotools_offline_ap(gt_path, results_path) -> float:
    """Reference: each output scored against its own frame by pycocotools directly."""
    res = json.loads(pathlib.Path(results_path).read_text())
    dets = [{'image_id': d['input_image_id'], 'category_id': d['category_id'],
             'bbox': d['bbox'], 'score': d['score']} for d in res['detections']]
    return float(pycocotools_stats(gt_path, dets)[0])


def read_bag(path):
    """(topic, receive ns, message) with rosbags' own deserialiser."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    for f in sorted(MSG_DEFS.glob('*.msg')):
        store.register(get_types_from_msg(f.read_text(), f'vision_msgs/msg/{f.stem}'))
    with Reader(path) as reader:
        return [(c.topic, t, store.deserialize_cdr(raw, c.msgtype))
                for c, t, raw in reader.messages()]


def stamp_ns(header):
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def test_zero_latency_streaming_ap_equals_offline_ap(bundles, square_set, tmp_path, capsys):
    out = tmp_path / 'out'
    rc, stdout, err = run_cli([square_set, '--model', bundles['streamnet'], '--out', out,
                               '--latency', '0', '--score-threshold', '0.01'], capsys)
    assert rc == 0, err
    report = json.loads((out / 'report.json').read_text())
    ref = pycocotools_offline_ap(square_set, out / 'results.json')
    assert 0.05 < ref < 0.95  # a forecast one step ahead: neither a miss nor perfect
    assert report['AP'] == pytest.approx(ref, abs=1e-12)
    assert report['offline']['AP'] == pytest.approx(ref, abs=1e-12)
    assert report['in_time'] == 1.0 and report['replay']['dropped'] == 0
    assert set(report['sap_k']) == {str(k) for k in range(1, 7)}
    assert 'streaming AP' in stdout
    for name in ('report.md', 'plots/pr_curves.png', 'bag/metadata.yaml'):
        assert (out / name).exists()


def test_fixed_latency_drops_as_naive_schedule(bundles, square_set, tmp_path, capsys):
    out = tmp_path / 'out'
    rc, _, err = run_cli([square_set, '--model', bundles['v2i'], '--out', out, '--latency',
                          '0.025', '--speed', '0.5'], capsys)   # 50 ms at 25 fps (40 ms frames)
    assert rc == 0, err
    res = json.loads((out / 'results.json').read_text())
    runs, dropped = tick_reference([40 * k for k in range(10)], [50] * 10)
    assert [o['input_image_id'] - 100 for o in res['outputs']] == [f for f, _, _ in runs]
    np.testing.assert_allclose([o['finish_time'] for o in res['outputs']],
                               [e / 1000 for _, _, e in runs], atol=1e-9)
    report = json.loads((out / 'report.json').read_text())
    assert report['replay']['dropped'] == len(dropped) > 0
    assert report['in_time'] == 0.0


def test_real_bag_round_trip(bundles, shared_data, tmp_path, capsys):
    from video_perception.detector import load_detector
    bag = shared_data / 'rosbag2_images_real' / 'images.bag'
    out = tmp_path / 'out'
    rc, _, err = run_cli([bag, '--model', bundles['streamnet'], '--out', out, '--latency', '0',
                          '--save-images', '--video'], capsys)
    assert rc == 0, err
    inputs = [m for t, _, m in read_bag(bag)]
    written = read_bag(out / 'bag')
    dets = [(t, r, m) for t, r, m in written if t == '/detections']
    images = [m for t, _, m in written if t == '/detections/image']
    labels = [m for t, _, m in written if t == '/detections/labels']
    # the input's stamps are not normalised (nanosec = 1e9): the same instants
    assert [stamp_ns(m.header) for _, _, m in dets] == [stamp_ns(m.header) for m in inputs] \
        == [0, 1_000_000_000, 2_000_000_000]
    assert [r for _, r, _ in dets] == [stamp_ns(m.header) for m in inputs]   # latency 0
    assert {m.header.frame_id for _, _, m in dets} == {'camera_optical_frame'}
    assert [(m.width, m.height, m.encoding) for m in images] == [(2, 2, 'bgr8')] * 3
    assert [(c.class_id, c.class_name) for c in labels[0].class_map] == [(0, 'square')]
    # boxes: the detector run directly on the frames, decoded here with numpy
    det = load_detector(bundles['streamnet'], 'onnxruntime', log=lambda s: None)
    for inp, (_, _, msg) in zip(inputs, dets):
        gray = np.frombuffer(inp.data, np.uint8).reshape(inp.height, inp.step)[:, :inp.width]
        d = det.detect(np.repeat(gray[:, :, None], 3, axis=2), stamp_ns(inp.header))
        got = [(b.bbox.center.position.x, b.bbox.center.position.y, b.bbox.size_x,
                b.bbox.size_y, b.results[0].hypothesis.score) for b in msg.detections]
        want = [((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, s)
                for (x1, y1, x2, y2), s in zip(d.boxes_xyxy.tolist(), d.scores.tolist())]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    res = json.loads((out / 'results.json').read_text())
    assert [o['input_image_id'] for o in res['outputs']] == [0, 1, 2]
    cap = cv2.VideoCapture(str(out / 'replay.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


@pytest.fixture(scope='module', params=['sqlite3', 'mcap'])
def synth_bag(request, tmp_path_factory):
    from training.data.synth import generate
    root = tmp_path_factory.mktemp(f'synth_{request.param}')
    gt = generate('lesion', root, seed=3, videos=2, frames=6, size=(64, 64),
                  bag=request.param)
    return request.param, root / 'bags' / 'lesion_001', gt


def test_synthetic_bag_both_storages(bundles, synth_bag, tmp_path, capsys):
    storage, bag, gt = synth_bag
    out = tmp_path / 'out'
    rc, _, err = run_cli([bag, '--model', bundles['v2i'], '--gt', gt, '--out', out,
                          '--latency', '0', '--score-threshold', '0.01'], capsys)
    assert rc == 0, err
    suffix = '.mcap' if storage == 'mcap' else '.db3'
    assert len(list((out / 'bag').glob(f'*{suffix}'))) == 1
    in_stamps = [stamp_ns(m.header) for _, _, m in read_bag(bag)]
    out_msgs = [m for t, _, m in read_bag(out / 'bag') if t == '/detections']
    assert [stamp_ns(m.header) for m in out_msgs] == in_stamps
    data = json.loads(pathlib.Path(gt).read_text())
    video = next(v['id'] for v in data['videos'] if v['name'] == 'lesion_001')
    ids = [im['id'] for im in sorted(data['images'], key=lambda im: im['frame_id'])
           if im['video_id'] == video]
    res = json.loads((out / 'results.json').read_text())
    assert [o['input_image_id'] for o in res['outputs']] == ids   # matched by timestamp
    report = json.loads((out / 'report.json').read_text())
    assert report['replay']['match'] == 'timestamp'
    assert report['n_images'] == len(ids)   # only the replayed video is scored
    assert 'lesion' in report and 0.0 <= report['lesion']['f1'] <= 1.0
    # streaming at zero latency == offline, against pycocotools on the replayed video only
    sub = dict(data, images=[im for im in data['images'] if im['id'] in ids],
               annotations=[a for a in data['annotations'] if a['image_id'] in ids])
    (tmp_path / 'sub.json').write_text(json.dumps(sub))
    ref = pycocotools_offline_ap(tmp_path / 'sub.json', out / 'results.json')
    assert report['AP'] == pytest.approx(ref, abs=1e-12)


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _nothing_left(out: pathlib.Path):
    assert not out.exists()
    assert not list(out.parent.glob(out.name + '.tmp-*'))


def test_truncated_bag_exit_2_and_nothing_written(bundles, synth_bag, tmp_path, capsys):
    storage, bag, _ = synth_bag
    broken = tmp_path / 'broken'
    shutil.copytree(bag, broken)
    data_file = next(p for p in broken.iterdir() if p.suffix in ('.db3', '.mcap'))
    size = data_file.stat().st_size
    with open(data_file, 'r+b') as f:
        f.truncate(size // 2)
    out = tmp_path / 'out'
    rc, _, err = run_cli([broken, '--model', bundles['v2i'], '--out', out], capsys)
    assert rc == 2
    assert 'bag' in _one_error_line(err)
    _nothing_left(out)


def test_bad_inputs_exit_2_one_line(bundles, square_set, tmp_path, capsys):
    out = tmp_path / 'out'
    rc, _, err = run_cli([square_set, '--model', tmp_path / 'nope', '--out', out], capsys)
    assert rc == 2 and 'nope' in _one_error_line(err)
    _nothing_left(out)
    bad_gt = tmp_path / 'gt.json'
    bad_gt.write_text(json.dumps({'images': []}))
    rc, _, err = run_cli([square_set, '--model', bundles['v2i'], '--gt', bad_gt, '--out', out],
                         capsys)
    assert rc == 2 and 'ground truth' in _one_error_line(err)
    _nothing_left(out)
    rc, _, err = run_cli([square_set, '--model', bundles['v2i'], '--out', out, '--latency',
                          'soon'], capsys)
    assert rc == 2 and '--latency' in _one_error_line(err)
    _nothing_left(out)
    out.mkdir()
    rc, _, err = run_cli([square_set, '--model', bundles['v2i'], '--out', out], capsys)
    assert rc == 2 and 'already exists' in _one_error_line(err)


def test_corrupt_message_mid_bag_removes_partial_output(bundles, tmp_path, capsys):
    """The first frame is processed and written to the output bag before the third message
    fails to deserialise (the simulator looks one frame ahead): nothing is left behind."""
    from rosbags.rosbag2 import Writer
    store = get_typestore(Stores.ROS2_HUMBLE)
    names = ('sensor_msgs/msg/Image', 'std_msgs/msg/Header', 'builtin_interfaces/msg/Time')
    Image, Header, Time = (store.types[n] for n in names)
    bag = tmp_path / 'corrupt'
    with Writer(bag, version=8) as writer:
        conn = writer.add_connection('/camera/image_raw', Image.__msgtype__, typestore=store)
        img = Image(header=Header(stamp=Time(sec=0, nanosec=0), frame_id='cam'), height=2,
                    width=2, encoding='bgr8', is_bigendian=0, step=6,
                    data=np.zeros(12, np.uint8))
        writer.write(conn, 0, store.serialize_cdr(img, Image.__msgtype__))
        img.header.stamp = Time(sec=0, nanosec=40_000_000)
        writer.write(conn, 40_000_000, store.serialize_cdr(img, Image.__msgtype__))
        writer.write(conn, 80_000_000, b'\x00\x01\x00\x00garbage')
    out = tmp_path / 'out'
    rc, _, err = run_cli([bag, '--model', bundles['v2i'], '--out', out, '--save-images'], capsys)
    assert rc == 2
    assert 'bag' in _one_error_line(err)
    _nothing_left(out)


def test_measured_latency_scaled_keeps_the_newest_frame_rule(bundles, square_set, tmp_path,
                                                             capsys):
    out = tmp_path / 'out'
    rc, _, err = run_cli([square_set, '--model', bundles['v2i'], '--out', out, '--latency',
                          'measured', '--speed', '0.0005'], capsys)  # >= 0.1 ms -> >= 0.2 s
    assert rc == 0, err
    res = json.loads((out / 'results.json').read_text())
    arrival = {100 + k: 0.04 * k for k in range(10)}
    outs = [(o['input_image_id'], o['finish_time']) for o in res['outputs']]
    # runs of >= 0.2 s in a 0.4 s video (10 frames, 40 ms): a second run only if the first
    # finished before the video's end (the sAP toolkit's n / fps), on the wall time measured
    assert 1 <= len(outs) <= 2 and outs[0][0] == 100
    for (prev, prev_finish), (cur, finish) in zip(outs, outs[1:]):
        start = max(arrival[cur], prev_finish)
        assert start < 0.4
        assert finish - start >= 0.2                     # every run took its scaled time
        assert arrival[cur] <= prev_finish + 1e-9        # busy: the next frame had arrived
        assert cur + 1 not in arrival or arrival[cur + 1] > prev_finish - 1e-9  # the newest
