"""BUV converter on a small COCO-like JSON with the rawframes/ layout (v2i_detr.md §6.2)."""
import json

import cv2
import numpy as np
import pytest

from training.data import convert
from video_perception.dataset import load_video_dataset

VIDEOS = {'benign/x0a1': [0, 7, 14, 21], 'malignant/x3b88488853e8b7d1': [3, 18],
          'benign/x66ef02e7f1b9a0ef': [0, 1]}  # the known duplicate: dropped by default


def _buv(tmp_path, with_video_ids):
    root = tmp_path / 'miccai_buv'
    coco = {'images': [], 'annotations': [],
            'categories': [{'id': 1, 'name': 'benign'}, {'id': 2, 'name': 'malignant'}]}
    if with_video_ids:
        coco['videos'] = [{'id': 10 + k, 'name': v} for k, v in enumerate(VIDEOS)]
    for k, (video, frames) in enumerate(VIDEOS.items()):
        (root / 'rawframes' / video).mkdir(parents=True)
        for num in reversed(frames):  # JSON order is not time order
            name = f'{video}/{num:06d}.png'
            cv2.imwrite(str(root / 'rawframes' / name), np.zeros((30, 40, 3), np.uint8))
            im = {'id': 1000 + len(coco['images']), 'file_name': name, 'height': 30,
                  'width': 40}
            if with_video_ids:
                im.update(video_id=10 + k, frame_id=num)
            coco['images'].append(im)
            cat = 1 if video.startswith('benign') else 2
            coco['annotations'].append({'id': 50 + len(coco['annotations']),
                                        'image_id': im['id'], 'category_id': cat,
                                        'bbox': [num, 2, 10, 35], 'area': 350, 'iscrowd': 0})
    src = root / 'imagenet_vid_train_15frames.json'
    src.write_text(json.dumps(coco))
    return src


@pytest.mark.parametrize('with_video_ids', [False, True])
def test_buv_converts(tmp_path, with_video_ids):
    src = _buv(tmp_path, with_video_ids)
    out = tmp_path / 'out'
    assert convert.main(['buv', str(src), str(out), '--copy', '--fps', '10']) == 0
    ds = load_video_dataset(out, check_files=True)
    assert [v['name'] for v in ds.videos.values()] == ['benign/x0a1',
                                                       'malignant/x3b88488853e8b7d1']
    assert ds.data['categories'][1] == {'id': 2, 'name': 'malignant'}
    for vid, video in zip(ds.videos, VIDEOS):
        ims = [ds.images[i] for i in ds.frames[vid]]
        assert [im['source_frame'] for im in ims] == VIDEOS[video]  # time order restored
        assert [im['timestamp'] for im in ims] == pytest.approx([n / 10 for n in VIDEOS[video]])
        for im in ims:
            (ann,) = ds.anns[im['id']]
            assert ann['bbox'] == [im['source_frame'], 2, 10, 28]  # clipped to height 30
            assert ann['category_id'] == (1 if video.startswith('benign') else 2)
            assert (out / im['file_name']).read_bytes() == \
                (src.parent / 'rawframes' / f"{video}/{im['source_frame']:06d}.png").read_bytes()
    assert convert.main(['buv', str(src), str(tmp_path / 'o2'), '--keep-duplicate']) == 0
    assert len(load_video_dataset(tmp_path / 'o2').videos) == 3


def test_buv_bad_input(tmp_path, capsys):
    src = _buv(tmp_path, False)
    assert convert.main(['buv', str(src.parent), str(tmp_path / 'o')]) == 1
    assert 'pass the annotation JSON' in capsys.readouterr().err
    (src.parent / 'rawframes' / 'benign/x0a1/000007.png').unlink()
    assert convert.main(['buv', str(src), str(tmp_path / 'o')]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and '000007.png not found' in err
