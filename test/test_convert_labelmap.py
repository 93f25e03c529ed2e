"""Label-map converter on the real vocalfolds sample, against scipy.ndimage.label."""
import cv2
import numpy as np
import pytest
from scipy import ndimage

from training.data import convert
from video_perception.dataset import load_video_dataset


def _scipy_boxes(label_map, value):
    """8-connected components of label == value, by scipy (an independent implementation)."""
    comps, _ = ndimage.label(label_map == value, structure=np.ones((3, 3), int))
    boxes = []
    for sl in ndimage.find_objects(comps):
        ys, xs = sl
        boxes.append((xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start))
    return sorted(boxes)


def test_vocalfolds_pathology_boxes(shared_data, tmp_path):
    src = shared_data / 'vocalfolds'
    rc = convert.main(['labelmap', str(src), str(tmp_path), '--class-value', '4',
                       '--class-name', 'pathology', '--fps', '25'])
    assert rc == 0
    ds = load_video_dataset(tmp_path, check_files=True)
    assert ds.data['categories'] == [{'id': 4, 'name': 'pathology'}]
    assert [v['name'] for v in ds.videos.values()] == ['patient1/seq1', 'patient1/seq2']
    total = 0
    for vid, seq, n_frames, n_tumour in ((0, 'seq1', 32, 30), (1, 'seq2', 34, 28)):
        ids = ds.frames[vid]
        labels = sorted((src / 'annot' / 'patient1' / seq).glob('*.png'))
        assert len(ids) == len(labels) == n_frames
        with_box = 0
        for iid, lab in zip(ids, labels):
            im = ds.images[iid]
            assert im['source_frame'] == int(lab.stem)
            assert im['timestamp'] == pytest.approx(int(lab.stem) / 25)
            assert im['file_name'].endswith(f'img/patient1/{seq}/{lab.name}')
            want = _scipy_boxes(cv2.imread(str(lab), cv2.IMREAD_GRAYSCALE), 4)
            got = sorted(tuple(int(v) for v in a['bbox']) for a in ds.anns[iid])
            assert got == want, lab
            with_box += bool(got)
            total += len(got)
        assert with_box == n_tumour  # data/README: tumour visible in 30 and 28 frames
    assert total == len(ds.data['annotations'])


def test_labelmap_bad_input(shared_data, tmp_path, capsys):
    src = shared_data / 'vocalfolds'
    rc = convert.main(['labelmap', str(src), str(tmp_path), '--class-value', '4',
                       '--class-value', '5', '--class-name', 'pathology'])
    assert rc == 1
    assert '2 --class-value but 1 --class-name' in capsys.readouterr().err
    rc = convert.main(['labelmap', str(src), str(tmp_path), '--class-value', '4',
                       '--labels-dir', 'nothing'])
    assert rc == 1
    assert 'nothing: not a folder (set --labels-dir)' in capsys.readouterr().err
