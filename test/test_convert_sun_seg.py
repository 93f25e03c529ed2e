"""SUN-SEG converter on small synthetic masks in the documented layout (v2i_detr.md §6.1)."""
import cv2
import numpy as np

from training.data import convert
from video_perception.dataset import load_video_dataset

# case -> per frame: list of filled rectangles (x1, y1, x2, y2) inclusive, drawn in the mask
CASES = {
    'case1_1': [[(10, 12, 29, 40)], [(12, 14, 31, 42), (50, 5, 52, 7)], []],
    'case10_2': [[(0, 0, 5, 5)], [(60, 40, 63, 47)]],
    'case2_3': [[(20, 20, 30, 30)]],
}


def _write_split(root, cases=CASES, size=(48, 64)):
    for case, frames in cases.items():
        for k, rects in enumerate(frames):
            stem = f'case_M_2018_{case}_image{k + 1:04d}'
            img = np.full(size + (3,), 90, np.uint8)
            mask = np.zeros(size, np.uint8)
            for x1, y1, x2, y2 in rects:
                mask[y1:y2 + 1, x1:x2 + 1] = 255
            for sub, name, arr in (('Frame', stem + '.jpg', img), ('GT', stem + '.png', mask)):
                (root / sub / case).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / sub / case / name), arr)


def test_sun_seg_components_and_whole(tmp_path):
    root = tmp_path / 'SUN-SEG'
    _write_split(root / 'TestHardDataset')
    _write_split(root / 'TrainDataset', {'case5_1': [[(1, 1, 2, 2)], []]})
    out = tmp_path / 'out'
    assert convert.main(['sun-seg', str(root), str(out), '--split', 'TestHardDataset']) == 0
    ds = load_video_dataset(out, check_files=True)
    # Natural order of case folders: case1_1, case2_3, case10_2.
    assert [v['name'] for v in ds.videos.values()] == ['case1_1', 'case2_3', 'case10_2']
    assert ds.data['categories'] == [{'id': 1, 'name': 'polyp'}]
    for vid, case in zip(ds.videos, ['case1_1', 'case2_3', 'case10_2']):
        ids = ds.frames[vid]
        assert len(ids) == len(CASES[case])
        for k, iid in enumerate(ids):
            want = sorted([x1, y1, x2 - x1 + 1, y2 - y1 + 1] for x1, y1, x2, y2 in CASES[case][k])
            got = sorted([int(v) for v in a['bbox']] for a in ds.anns[iid])
            assert got == want, (case, k)
            assert ds.images[iid]['timestamp'] == k / 30
            assert (ds.images[iid]['width'], ds.images[iid]['height']) == (64, 48)
    # --boxes whole: one box around both components of case1_1 frame 2.
    out2 = tmp_path / 'out2'
    assert convert.main(['sun-seg', str(root / 'TestHardDataset'), str(out2),
                         '--boxes', 'whole']) == 0
    ds2 = load_video_dataset(out2)
    assert [a['bbox'] for a in ds2.anns[1]] == [[12, 5, 41, 38]]


def test_sun_seg_errors(tmp_path, capsys):
    root = tmp_path / 'SUN-SEG'
    _write_split(root / 'TrainDataset')
    assert convert.main(['sun-seg', str(root), str(tmp_path / 'o')]) == 1
    assert "pass --split one of ['TrainDataset']" in capsys.readouterr().err
    next((root / 'TrainDataset' / 'GT' / 'case2_3').iterdir()).unlink()
    assert convert.main(['sun-seg', str(root), str(tmp_path / 'o'), '--split',
                         'TrainDataset']) == 1
    err = capsys.readouterr().err
    assert 'no mask' in err and 'case2_3' in err
