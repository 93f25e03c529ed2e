"""StreamNet samples against OpenCV and hand-made ground truth (spec §3.2, §6)."""
import json

import cv2
import numpy as np
import pytest
import torch

from training.data.streamnet import StreamNetBatcher, StreamNetClips, multiscale_size

H0, W0 = 100, 150          # source frames (aspect differs from the 64x128 input: padding)
SIZE = (64, 128)
BOXES = {t: [[10 + 5 * t, 20, 30, 40]] for t in range(5)}      # xywh, category 3 ('car')


def _frame(t):
    img = np.zeros((H0, W0, 3), np.uint8)
    img[..., 0] = 40 * t                       # the frame's id, readable after resizing
    img[:, :W0 // 2, 1] = 200                  # left half marked, to see flips
    img[..., 2] = np.arange(W0, dtype=np.uint8)[None, :]
    return img


@pytest.fixture()
def dataset(tmp_path):
    images, anns = [], []
    (tmp_path / 'frames').mkdir()
    for t in range(5):
        cv2.imwrite(str(tmp_path / 'frames' / f'{t}.png'), _frame(t))
        images.append({'id': 100 + t, 'file_name': f'frames/{t}.png', 'height': H0, 'width': W0,
                       'video_id': 7, 'frame_id': t, 'timestamp': t / 30})
        for j, box in enumerate(BOXES[t]):
            anns.append({'id': len(anns) + 1, 'image_id': 100 + t, 'category_id': 3,
                         'bbox': box, 'area': box[2] * box[3], 'iscrowd': 0})
    data = {'videos': [{'id': 7, 'name': 'v', 'fps': 30.0}], 'images': images,
            'annotations': anns, 'categories': [{'id': 1, 'name': 'person'},
                                                {'id': 3, 'name': 'car'}]}
    path = tmp_path / 'dataset.json'
    path.write_text(json.dumps(data))
    return str(path)


def _yolox_preproc(img):
    """YOLOX >= 0.2 ``preproc``: top-left letterbox, pad 114, int() sizes (reference)."""
    r = min(SIZE[0] / img.shape[0], SIZE[1] / img.shape[1])
    out = np.full((*SIZE, 3), 114, np.uint8)
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                         interpolation=cv2.INTER_LINEAR)
    out[:resized.shape[0], :resized.shape[1]] = resized
    return out, r


def _chw(img):
    return torch.from_numpy(img.transpose(2, 0, 1).copy())


def test_sample_frames_order_letterbox_and_targets(dataset):
    ds = StreamNetClips(dataset, SIZE, history=3, flip_prob=0.0)
    assert ds.class_names == ['person', 'car'] and len(ds) == 5
    s = ds[2]                                     # t = 2: history [1, 0, 0] (clamped)
    expect = [_yolox_preproc(_frame(t))[0] for t in (2, 1, 0, 0)]
    assert torch.equal(s['frames'], torch.cat([_chw(e) for e in expect], 0))
    assert torch.equal(s['future'], _chw(_yolox_preproc(_frame(3))[0]))
    r = _yolox_preproc(_frame(0))[1]
    x, y, w, h = BOXES[3][0]                      # target = GT(t + 1), class index 1 ('car')
    np.testing.assert_allclose(s['targets'][0].numpy(),
                               [1, (x + w / 2) * r, (y + h / 2) * r, w * r, h * r], rtol=1e-6)
    assert s['targets'][1:].abs().sum() == 0 and s['targets'].shape == (50, 5)
    x, y, w, h = BOXES[2][0]                      # support = GT(t)
    np.testing.assert_allclose(s['support'][0, 1].item(), (x + w / 2) * r, rtol=1e-6)
    assert s['target_is_future'] and s['image_id'] == 102 and s['target_id'] == 103


def test_first_frame_uses_itself_everywhere(dataset):
    s = StreamNetClips(dataset, SIZE, history=3, flip_prob=0.0)[0]
    one = _chw(_yolox_preproc(_frame(0))[0])
    assert torch.equal(s['frames'], torch.cat([one] * 4, 0)) and torch.equal(s['future'], one)
    assert not s['target_is_future'] and s['target_id'] == 100


def test_flip_is_the_same_for_every_frame_and_both_label_sets(dataset):
    s = StreamNetClips(dataset, SIZE, history=3, flip_prob=1.0)[3]
    expect = [_yolox_preproc(cv2.flip(_frame(t), 1))[0] for t in (3, 2, 1, 0)]
    assert torch.equal(s['frames'], torch.cat([_chw(e) for e in expect], 0))
    assert torch.equal(s['future'], _chw(_yolox_preproc(cv2.flip(_frame(4), 1))[0]))
    r = _yolox_preproc(_frame(0))[1]
    for key, t in (('targets', 4), ('support', 3)):
        x, y, w, h = BOXES[t][0]
        assert s[key][0, 1].item() == pytest.approx((W0 - x - w / 2) * r, rel=1e-6)


def test_augmentation_depends_only_on_seed_epoch_index(dataset):
    ds = StreamNetClips(dataset, SIZE, history=1, flip_prob=0.5, seed=3)
    flips = []
    for epoch in range(8):
        ds.set_epoch(epoch)
        a = ds[2]['frames']
        assert torch.equal(a, ds[2]['frames'])                   # repeatable
        flips.append(bool(a[1, 0, 0] != 200))                   # left column marked?
    assert len(set(flips)) == 2                                  # both outcomes occur


def test_multiscale_resizes_frames_and_labels_together():
    batch = {'frames': torch.randint(0, 255, (2, 6, 64, 128), dtype=torch.uint8),
             'future': torch.randint(0, 255, (2, 3, 64, 128), dtype=torch.uint8),
             'targets': torch.tensor([[[1, 64.0, 32.0, 20.0, 10.0]]]).repeat(2, 1, 1),
             'support': torch.zeros(2, 1, 5)}
    batcher = StreamNetBatcher((64, 128), (6, 10), every=10, seed=1, fixed_from_step=100)
    sizes = {batcher.size_at(s) for s in range(10, 20)}
    assert len(sizes) == 1                                         # one size per 10 steps
    assert len({batcher.size_at(s) for s in range(0, 100, 10)}) > 1
    assert batcher.size_at(100) == (64, 128) and batcher.size_at(150) == (64, 128)
    step = next(s for s in range(0, 100, 10) if batcher.size_at(s) != (64, 128))
    h, w = batcher.size_at(step)
    assert (h, w) == (16 * int(0.5 * (w // 16)), w) and 96 <= w <= 160
    out = batcher(batch, step, torch.device('cpu'))
    ref = torch.nn.functional.interpolate(batch['frames'].float(), size=(h, w),
                                          mode='bilinear', align_corners=False)
    assert torch.equal(out['frames'], ref)
    sx, sy = w / 128, h / 64
    assert torch.allclose(out['targets'][0, 0],
                          torch.tensor([1, 64 * sx, 32 * sy, 20 * sx, 10 * sy]))
    assert multiscale_size(5, 0, (64, 128), (0, 0)) == (64, 128)
