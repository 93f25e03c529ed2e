"""V2I training data against OpenCV-read frames and hand-computed boxes."""
import cv2
import numpy as np
import pytest
import torch

from training.data.v2i import V2IClips, collate_v2i
from training.models.detr.distill import valid_ratios
from v2i_train_fixtures import box_of, write_tiny_video

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_tiny_video(tmp_path_factory.mktemp('v2i_data'), videos=2, frames=8)


def _ref(root, name, size_hw, flip=False):
    """The frame as the spec says: read, flip, resize (bilinear), RGB, /255, ImageNet norm."""
    img = cv2.imread(str(root / name))
    if flip:
        img = img[:, ::-1]
    img = cv2.resize(np.ascontiguousarray(img), (size_hw[1], size_hw[0]),
                     interpolation=cv2.INTER_LINEAR)
    rgb = img[..., ::-1].astype(np.float32) / 255
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)


@pytest.mark.parametrize('mode,pos,want,key', [('causal', 5, [3, 4, 5], 2),
                                               ('causal', 0, [0, 0, 0], 2),
                                               ('centred', 5, [4, 5, 6], 1),
                                               ('centred', 7, [6, 7, 7], 1)])
def test_teacher_clip_frames_and_key(video, mode, pos, want, key):
    ds = V2IClips(str(video), (32, 40), clip_mode=mode, videos=['vid1'])
    s = ds[pos]
    assert s['key_index'] == key and s['clip'].shape == (3, 3, 32, 40)
    for t, f in enumerate(want):
        ref = _ref(video.parent, f'vid1/{f:03d}.png', (32, 40))
        assert np.abs(s['clip'][t].numpy() - ref).max() < 1e-5, (t, f)
    # the key frame's GT, normalised cxcywh of the unpadded image (scale cancels)
    box = box_of(pos, 64, 80)
    tgt = s['target']
    assert tgt['image_id'] == ds.ds.frames[1][pos] and tgt['size'].tolist() == [32, 40]
    assert tgt['scale'] == pytest.approx(0.5)
    if box is None:
        assert tgt['boxes'].shape == (0, 4) and tgt['labels'].shape == (0,)
    else:
        x, y, w, h = box
        want_box = [(x + w / 2) / 80, (y + h / 2) / 64, w / 80, h / 64]
        assert np.allclose(tgt['boxes'].numpy(), [want_box], atol=1e-6)
        assert tgt['labels'].tolist() == [0]                        # category 7 -> label 0


def test_flip_is_shared_by_the_whole_clip(video):
    ds = V2IClips(str(video), (32, 40), flip_prob=1.0, videos=['vid0'])
    s = ds[5]
    for t, f in enumerate([3, 4, 5]):
        ref = _ref(video.parent, f'vid0/{f:03d}.png', (32, 40), flip=True)
        assert np.abs(s['clip'][t].numpy() - ref).max() < 1e-5
    x, y, w, h = box_of(5, 64, 80)
    x1 = 80 - (x + w)                                               # mirrored by hand
    assert np.allclose(s['target']['boxes'].numpy(),
                       [[(x1 + w / 2) / 80, (y + h / 2) / 64, w / 80, h / 64]], atol=1e-6)
    # random flips: one decision per clip, a function of (seed, epoch, index)
    ds = V2IClips(str(video), (32, 40), flip_prob=0.5, seed=3)
    seen = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        s = ds[5]
        flips = []
        for t, f in enumerate([3, 4, 5]):
            plain = _ref(video.parent, f'vid0/{f:03d}.png', (32, 40))
            flipped = _ref(video.parent, f'vid0/{f:03d}.png', (32, 40), flip=True)
            d0 = np.abs(s['clip'][t].numpy() - plain).max()
            d1 = np.abs(s['clip'][t].numpy() - flipped).max()
            assert min(d0, d1) < 1e-5
            flips.append(d1 < d0)
        assert len(set(flips)) == 1
        seen.add(flips[0])
        assert torch.equal(ds[5]['clip'], s['clip'])               # same epoch, same draw
    assert seen == {True, False}


def test_collate_pads_with_masks(video):
    a = V2IClips(str(video), (32, 40), videos=['vid0'])[1]
    b = V2IClips(str(video), (24, 30), videos=['vid0'])[1]          # fit scale 0.375 -> 24x30
    batch = collate_v2i([a, b])
    assert batch['clips'].shape == (2, 3, 3, 32, 40) and batch['masks'].shape == (2, 32, 40)
    assert torch.equal(batch['images'], batch['clips'][:, 2])
    m = batch['masks']
    assert not m[0].any()
    assert not m[1, :24, :30].any() and m[1, 24:].all() and m[1, :, 30:].all()
    assert torch.equal(batch['clips'][1, :, :, :24, :30], b['clip'])
    assert (batch['clips'][1, :, :, 24:] == 0).all() and (batch['clips'][1, ..., 30:] == 0).all()
    assert torch.allclose(batch['targets'][1]['boxes'], a['target']['boxes'], atol=1e-6)
    # the TFD's valid ratios (w, h) equal the unmasked share counted from the mask
    vr = valid_ratios(batch['images'], batch['targets'])
    counted = torch.stack([(~m).any(1).float().mean(1), (~m).any(2).float().mean(1)], 1)
    assert torch.allclose(vr, counted)


def test_bad_input_messages(video):
    with pytest.raises(ValueError, match="video 'nope' not found"):
        V2IClips(str(video), (32, 40), videos=['nope'])
    with pytest.raises(ValueError, match='clip_mode'):
        V2IClips(str(video), (32, 40), clip_mode='future')
    with pytest.raises(ValueError, match='scale_range'):
        V2IClips(str(video), (32, 40), scale_range=(0.5, 1.5))


@pytest.mark.parametrize('mode,key', [('causal', -1), ('centred', 1)])
def test_teacher_decodes_the_frame_the_data_calls_key(video, mode, key):
    import dataclasses

    from training.exps.v2i_base import V2IExp, V2IExpConfig
    cfg = dataclasses.replace(V2IExpConfig(), model='v2i_teacher_tiny', train_json=str(video),
                              val_json=str(video), test_json=str(video), input_size=(32, 40),
                              clip_mode=mode)
    exp = V2IExp(cfg)
    train = exp.dataset('train')
    teacher = exp.build_model(train)
    sample = train[4]
    assert teacher.teacher_cfg.key_frame % 3 == sample['key_index'] and \
        teacher.teacher_cfg.key_frame == key
    assert torch.allclose(sample['clip'][sample['key_index']],
                          torch.from_numpy(_ref(video.parent, 'vid0/004.png', (32, 40))),
                          atol=1e-5)
