"""Argoverse-HD converter: a small annotated file in test-meta.json's schema, and real frames."""
import json

import cv2
import numpy as np
import pytest

from training.data import convert
from video_perception.dataset import load_video_dataset


def _meta(shared_data):
    with open(shared_data / 'argoverse_hd_sample' / 'test-meta.json') as f:
        return json.load(f)


def _annotated(shared_data, tmp_path):
    """Two sequences in the official schema (sid/fid/name, sequences, seq_dirs), with boxes."""
    real = _meta(shared_data)
    root = tmp_path / 'Argoverse-1.1' / 'tracking'
    meta = {k: real[k] for k in ('categories', 'coco_subset', 'coco_mapping')}
    meta['sequences'] = real['sequences'][:2]
    meta['seq_dirs'] = real['seq_dirs'][:2]
    meta['images'], meta['annotations'] = [], []
    tiny = np.zeros((8, 8, 3), np.uint8)
    for sid, n in ((0, 4), (1, 3)):
        folder = root / meta['seq_dirs'][sid]
        folder.mkdir(parents=True)
        for fid in range(n):
            name = f'ring_front_center_{315972720000000000 + sid * 10**10 + fid * 33300000}.jpg'
            cv2.imwrite(str(folder / name), tiny)
            meta['images'].append({'id': len(meta['images']), 'sid': sid, 'fid': fid,
                                   'name': name, 'width': 1920, 'height': 1200})
    boxes = [(0, 2, [100, 200, 50, 40], 11), (0, 0, [1900, 100, 40, 30], 12),
             (1, 2, [10, 20, 30, 40], 11), (5, 7, [500, 600, 20, 20], 3)]
    for k, (iid, cat, box, track) in enumerate(boxes):
        meta['annotations'].append({'id': 100 + k, 'image_id': iid, 'category_id': cat,
                                    'bbox': box, 'area': box[2] * box[3], 'iscrowd': 0,
                                    'track': track})
    src = tmp_path / 'Argoverse-HD' / 'annotations' / 'val.json'
    src.parent.mkdir(parents=True)
    src.write_text(json.dumps(meta))
    return src, meta


def test_argoverse_schema_converts(shared_data, tmp_path):
    src, meta = _annotated(shared_data, tmp_path)
    out = tmp_path / 'out'
    # Default images root: Argoverse-1.1/tracking beside Argoverse-HD/.
    assert convert.main(['argoverse-hd', str(src), str(out), '--symlink']) == 0
    ds = load_video_dataset(out, check_files=True)
    assert ds.data['categories'] == meta['categories']  # ids 0..7 kept
    assert [v['name'] for v in ds.videos.values()] == meta['sequences']
    assert sorted(ds.images) == list(range(7))  # Argoverse image ids kept
    for im in meta['images']:
        got = ds.images[im['id']]
        assert (got['frame_id'], got['video_id']) == (im['fid'], im['sid'])
        assert got['timestamp'] == pytest.approx(im['fid'] / 30)
        assert (out / got['file_name']).is_symlink()
    anns = {a['id']: a for a in ds.data['annotations']}
    assert anns[100]['bbox'] == [100, 200, 50, 40] and anns[100]['instance_id'] == 11
    assert anns[101]['bbox'] == [1900, 100, 20, 30]  # clipped at x = 1920
    assert anns[103]['category_id'] == 7 and anns[103]['image_id'] == 5
    # Timestamps from the nanoseconds in the names: 33.3 ms apart.
    assert convert.main(['argoverse-hd', str(src), str(tmp_path / 'o2'),
                         '--timestamps', 'name']) == 0
    ds2 = load_video_dataset(tmp_path / 'o2')
    assert [ds2.timestamp(i) for i in ds2.frames[1]] == pytest.approx([0, 0.0333, 0.0666])


def test_missing_frames_and_real_test_meta(shared_data, tmp_path, capsys):
    src, meta = _annotated(shared_data, tmp_path)
    for p in (tmp_path / 'Argoverse-1.1' / 'tracking' / meta['seq_dirs'][1]).iterdir():
        p.unlink()
    assert convert.main(['argoverse-hd', str(src), str(tmp_path / 'o')]) == 1
    assert '(3 of sequence 1 missing)' in capsys.readouterr().err
    assert convert.main(['argoverse-hd', str(src), str(tmp_path / 'o'), '--skip-missing']) == 0
    assert len(load_video_dataset(tmp_path / 'o').videos) == 1
    # The official test-meta.json (no annotations, frames not here): a clear one-line refusal.
    real = shared_data / 'argoverse_hd_sample' / 'test-meta.json'
    (tmp_path / 'roots').mkdir()    # apart from OUT: an OUT inside an input is refused
    assert convert.main(['argoverse-hd', str(real), str(tmp_path / 'o3'),
                         '--images-root', str(tmp_path / 'roots')]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'not found' in err and '--images-root' in err


def test_real_sample_frames_in_argoverse_schema(shared_data, tmp_path):
    """The 80 real frames as one Argoverse-HD sequence; name timestamps vs the file names."""
    folder = shared_data / 'argoverse_hd_sample' / 'frames'
    names = sorted(p.name for p in folder.glob('*.jpg'))
    meta = {k: _meta(shared_data)[k] for k in ('categories',)}
    meta.update(sequences=['sample'], seq_dirs=['frames'], annotations=[],
                images=[{'id': i, 'sid': 0, 'fid': i, 'name': n, 'width': 1920, 'height': 1200}
                        for i, n in enumerate(names)])
    src = tmp_path / 'meta.json'
    src.write_text(json.dumps(meta))
    rc = convert.main(['argoverse-hd', str(src), str(tmp_path / 'o'), '--timestamps', 'name',
                       '--images-root', str(shared_data / 'argoverse_hd_sample')])
    assert rc == 0
    ds = load_video_dataset(tmp_path / 'o', check_files=True)
    ns = [int(n.rsplit('_', 1)[1].split('.')[0]) for n in names]
    want = [(v - ns[0]) / 1e9 for v in ns]
    assert [ds.timestamp(i) for i in ds.frames[0]] == pytest.approx(want, abs=1e-9)
    assert np.median(np.diff(want)) == pytest.approx(1 / 30, abs=2e-4)  # 30 Hz camera
    img = cv2.imread(str(ds.image_path(0)))
    assert img.shape == (1200, 1920, 3)
