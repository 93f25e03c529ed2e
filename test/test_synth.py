"""Synthetic benchmarks: determinism, forecasting matters (pycocotools), lesion traits, bags."""
import json

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from coco_reference import pycocotools_stats
from training.data import synth
from video_perception.dataset import load_video_dataset


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.mark.parametrize('preset,size', [('driving', '96x160'), ('lesion', '96x96'),
                                         ('lesion_ambiguous', '96x96')])
def test_same_seed_same_bytes(tmp_path, preset, size):
    runs = {}
    for name, seed in (('a', 5), ('b', 5), ('c', 6)):
        assert synth.main([preset, str(tmp_path / name), '--seed', str(seed), '--videos', '2',
                           '--frames', '12', '--size', size]) == 0
        runs[name] = _files(tmp_path / name)
    assert len(runs['a']) == 1 + 2 * 12
    assert runs['a'] == runs['b']
    assert runs['a']['dataset.json'] != runs['c']['dataset.json']
    assert runs['a']['frames/' + preset + '_000/000003.png'] != \
        runs['c']['frames/' + preset + '_000/000003.png']
    ds = load_video_dataset(tmp_path / 'a', check_files=True)
    assert (ds.images[0]['height'], ds.images[0]['width']) == tuple(map(int, size.split('x')))


@pytest.fixture(scope='module')
def driving(tmp_path_factory):
    out = tmp_path_factory.mktemp('driving')
    synth.generate('driving', out, seed=11, videos=3, frames=40)
    return load_video_dataset(out, check_files=True)


def test_driving_forecasting_matters(driving):
    ds = driving
    now = [{'image_id': a['image_id'], 'category_id': a['category_id'], 'bbox': a['bbox'],
            'score': 1.0} for a in ds.data['annotations'] if not a['iscrowd']]
    # Frame t's boxes judged at t + 1 (the first frame of each video gets none).
    nxt = {a: b for ids in ds.frames.values() for a, b in zip(ids[:-1], ids[1:])}
    shifted = [dict(d, image_id=nxt[d['image_id']]) for d in now if d['image_id'] in nxt]
    path = ds.root / 'dataset.json'
    # greedy matching of near-identical boxes costs a little
    assert pycocotools_stats(path, now)[0] > 0.99
    ap_next = pycocotools_stats(path, shifted)[0]
    print('offline AP of current boxes against the next frame:', ap_next)
    assert ap_next < 0.8, ap_next
    # Same instance, consecutive frames: the centre moves several pixels on average.
    key = {(ds.images[a['image_id']]['video_id'], ds.images[a['image_id']]['frame_id'],
            a['instance_id']): a['bbox'] for a in ds.data['annotations'] if not a['iscrowd']}
    moves = [np.hypot(q[0] + q[2] / 2 - p[0] - p[2] / 2, q[1] + q[3] / 2 - p[1] - p[3] / 2)
             for (v, f, i), p in key.items() if (q := key.get((v, f + 1, i)))]
    assert np.mean(moves) > 2.5


def test_driving_scene_properties(driving):
    ds = driving
    anns = ds.data['annotations']
    assert [c['name'] for c in ds.data['categories']] == [
        'person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'traffic_light', 'stop_sign']
    assert len({a['category_id'] for a in anns}) >= 6
    vis = np.array([a['visibility'] for a in anns if not a['iscrowd']])
    assert (vis < 0.9).sum() > 10  # partly occluded boxes exist
    assert any(a['iscrowd'] for a in anns)  # heavily occluded ones become ignore regions
    # Approaching objects grow: some track's box height rises by > 30 % within a video.
    tracks = {}
    for a in anns:
        im = ds.images[a['image_id']]
        tracks.setdefault((im['video_id'], a['instance_id']), []).append(
            (im['frame_id'], a['bbox'][3]))
    growth = [max(h for _, h in t[len(t) // 2:]) / t[0][1] for t in map(sorted, tracks.values())
              if len(t) > 10 and t[0][1] > 4]
    assert max(growth) > 1.3
    # Ego-motion: the ground texture shifts between frames (OpenCV phase correlation).
    shifts = []
    for ids in ds.frames.values():
        imgs = [cv2.imread(str(ds.image_path(i)), cv2.IMREAD_GRAYSCALE).astype(np.float32)
                for i in ids[:10]]
        for a, b in zip(imgs[:-1], imgs[1:]):
            (dx, _), _ = cv2.phaseCorrelate(a[-40:], b[-40:])
            shifts.append(abs(dx))
    assert np.mean(shifts) > 0.5


def test_lesion_preset(tmp_path):
    synth.generate('lesion', tmp_path, seed=3, videos=8, frames=40, size=(128, 128))
    ds = load_video_dataset(tmp_path, check_files=True)
    assert ds.data['categories'] == [{'id': 1, 'name': 'lesion'}]
    empty = [i for i in ds.images if not ds.anns[i]]
    assert 0 < len(empty) < 0.6 * len(ds.images)  # the lesion is sometimes out of view
    contrast = np.array([a['contrast'] for a in ds.data['annotations']])
    assert (contrast < 0.25).any() and (contrast > 0.5).any()  # barely visible ... clear
    # Low contrast: inside a faint lesion box the image differs little from a ring around it.
    a = min(ds.data['annotations'], key=lambda a: a['contrast'])
    img = cv2.imread(str(ds.image_path(a['image_id']))).astype(np.float32)
    x, y, w, h = (int(v) for v in a['bbox'])
    ring = np.zeros(img.shape[:2], bool)
    ring[max(y - h // 2, 0):y + h + h // 2, max(x - w // 2, 0):x + w + w // 2] = True
    ring[y:y + h, x:x + w] = False
    inner = img[y:y + h, x:x + w].mean(axis=(0, 1))
    assert np.abs(inner - img[ring].mean(axis=0)).max() < 15


def _box_vs_ring(img, bbox):
    """Largest per-channel difference between a box's mean colour and a ring around it."""
    x, y, w, h = (int(v) for v in bbox)
    ring = np.zeros(img.shape[:2], bool)
    ring[max(y - h // 2, 0):y + h + h // 2, max(x - w // 2, 0):x + w + w // 2] = True
    ring[y:y + h, x:x + w] = False
    return np.abs(img[y:y + h, x:x + w].mean(axis=(0, 1)) - img[ring].mean(axis=0)).max()


def test_lesion_ambiguous_preset(tmp_path):
    synth.generate('lesion_ambiguous', tmp_path, seed=4, videos=6, frames=30)
    ds = load_video_dataset(tmp_path, check_files=True)
    tracks = {}
    for a in ds.data['annotations']:
        im = ds.images[a['image_id']]
        tracks.setdefault((im['video_id'], a['instance_id']), []).append((im['frame_id'], a))
    pairs, n_faded = [], 0
    for track in tracks.values():
        track.sort(key=lambda t: t[0])
        by_frame = dict(track)
        run = 0
        for f, a in track:
            run = run + 1 if a['faded'] and by_frame.get(f - 1, {}).get('faded') else \
                int(a['faded'])
            assert run <= 3, 'a fade lasts 1 to 3 frames'
            if not a['faded']:
                continue
            n_faded += 1
            assert f > 0 and a['contrast'] <= 0.12 * 0.8 + 1e-4
            seen = by_frame.get(f - run - 1)   # the visible frame just before the window
            if seen is not None:
                assert not seen['faded'] and seen['contrast'] >= 0.45
                pairs.append((seen, a))
    assert n_faded >= 5 and len(pairs) >= 5
    # In pixels: a faded lesion stands out of its surroundings far less than the same lesion a
    # few frames earlier, which is what a 3-frame clip can use and a single frame cannot.

    def diff(a):
        return _box_vs_ring(cv2.imread(str(ds.image_path(a['image_id']))).astype(np.float32),
                            a['bbox'])
    visible = np.median([diff(v) for v, _ in pairs])
    faded = np.median([diff(f) for _, f in pairs])
    assert visible > 1.5 * faded, (visible, faded)  # faded ~ the texture's own variation


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_reads_back_frame_for_frame(tmp_path, storage):
    synth.generate('driving', tmp_path, seed=2, videos=2, frames=6, size=(64, 96), bag=storage)
    ds = load_video_dataset(tmp_path)
    ts = get_typestore(Stores.ROS2_HUMBLE)
    for vid, video in ds.videos.items():
        with Reader(tmp_path / video['bag']) as reader:
            (conn,) = reader.connections
            assert (conn.topic, conn.msgtype) == ('/camera/image_raw', 'sensor_msgs/msg/Image')
            msgs = [(t, ts.deserialize_cdr(raw, conn.msgtype)) for _, t, raw in
                    reader.messages()]
        ids = ds.frames[vid]
        assert len(msgs) == len(ids) == 6
        for iid, (log_ns, msg) in zip(ids, msgs):
            want = cv2.imread(str(ds.image_path(iid)))
            assert msg.encoding == 'bgr8'
            got = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
            np.testing.assert_array_equal(got, want)
            stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            assert stamp_ns == log_ns == round(ds.timestamp(iid) * 1e9)


def test_synth_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit):
        synth.main(['driving', str(tmp_path), '--size', '10x10'])
    assert '--size' in capsys.readouterr().err
    assert synth.main(['lesion', str(tmp_path), '--frames', '1']) == 1
    assert 'frames >= 2' in capsys.readouterr().err
    assert json.loads(json.dumps({'ok': 1}))  # nothing else written
    assert not (tmp_path / 'dataset.json').exists()
