"""Clip sampling against a naive transcription of streamnet.md §3.2 and v2i_detr.md §5.2."""
import itertools

import cv2
import numpy as np
import pytest

from training.data import clips
from video_perception.dataset import DatasetBuilder, VideoDataset, write_video_dataset


def _naive_stream(lengths, N, dt, K, support):
    """The released dataset's rules over a split with global contiguous ids (sid/fid)."""
    sid, fid = [], []
    for s, n in enumerate(lengths):
        sid += [s] * n
        fid += list(range(n))
    out = {}
    for t in range(len(sid)):
        last_fid = lengths[sid[t]] - 1
        if fid[t] == 0 or fid[t] == last_fid:
            out[t] = ([t] * N, t, t, t, t, False)
            continue
        hist = [t - min(k * dt, fid[t]) for k in range(1, N + 1)]
        tgt = t + min(K, last_fid - fid[t])
        sup = t + min(K - 1, last_fid - fid[t]) if support == 'previous' else t
        out[t] = (hist, t, tgt, tgt, sup, True)
    return out


@pytest.mark.parametrize('N,dt,K,support', [(3, 1, 1, 'current'), (1, 1, 1, 'current'),
                                            (3, 2, 1, 'current'), (4, 3, 4, 'previous'),
                                            (3, 1, 6, 'current')])
def test_stream_clip_matches_released_rules(N, dt, K, support):
    lengths = [1, 2, 3, 7, 12]
    want = _naive_stream(lengths, N, dt, K, support)
    cfg = clips.StreamClipConfig(history=N, step=dt, future=K, support=support)
    start = 0
    for v, n in enumerate(lengths):
        frames = list(range(start, start + n))  # image ids of this video, in frame order
        for pos in range(n):
            c = clips.stream_clip(frames, pos, cfg, video_id=v)
            got = (c.history, c.current, c.future, c.target, c.support, c.target_is_future)
            assert got == want[start + pos], (v, pos)
        start += n
    # The split's last ids target real frames of their own video, never an id past the split
    # (the released code's empty-target bug is not reproduced).
    assert max(t[3] for t in want.values()) == start - 1


def test_clamp_boundary_keeps_the_future_at_the_first_frame():
    cfg = clips.StreamClipConfig(history=3, future=2, boundary='clamp')
    frames = [10, 11, 12, 13]
    c = clips.stream_clip(frames, 0, cfg)
    assert (c.history, c.target, c.target_is_future) == ([10, 10, 10], 12, True)
    c = clips.stream_clip(frames, 3, cfg)  # last frame: nothing after it
    assert (c.history, c.target, c.target_is_future) == ([12, 11, 10], 13, False)
    with pytest.raises(ValueError, match="boundary 'x'"):
        clips.stream_clip(frames, 1, clips.StreamClipConfig(boundary='x'))
    with pytest.raises(IndexError):
        clips.stream_clip(frames, 4, cfg)


def test_teacher_clip_against_naive():
    for n, length, stride, pos in itertools.product((1, 2, 5, 9), (1, 3, 5), (1, 2),
                                                    range(9)):
        if pos >= n:
            continue
        frames = [100 + i for i in range(n)]
        causal = clips.teacher_clip(frames, pos, length, stride, 'causal')
        want = [100 + min(max(pos - (length - 1 - i) * stride, 0), n - 1) for i in range(length)]
        assert causal.frames == want and causal.key == frames[pos]
        assert causal.key_index == length - 1
        centred = clips.teacher_clip(frames, pos, length, stride, 'centred')
        want = [100 + min(max(pos + (i - length // 2) * stride, 0), n - 1)
                for i in range(length)]
        assert centred.frames == want and centred.key_index == length // 2


def _dataset(tmp_path, n=3, size=(40, 60)):
    b = DatasetBuilder([(1, 'thing')])
    vid = b.add_video('v', fps=30)
    rng = np.random.default_rng(1)
    for k in range(n):
        cv2.imwrite(str(tmp_path / f'{k}.png'), rng.integers(0, 255, size + (3,), np.uint8))
        iid = b.add_image(vid, f'{k}.png', size[0], size[1], k / 30)
        b.add_box(iid, 1, [5 + k, 6, 20, 10])
        b.add_box(iid, 1, [50, 30, 10, 10], ignore=True)
    write_video_dataset(b.build(), tmp_path)
    return VideoDataset(b.build(), tmp_path)


def test_one_augmentation_for_the_whole_clip(tmp_path):
    ds = _dataset(tmp_path)
    aug = clips.draw_clip_aug(np.random.default_rng(3), flip_prob=1.0, scale_range=(0.5, 0.9))
    assert aug.flip and 0.5 <= aug.scale <= 0.9
    assert aug == clips.draw_clip_aug(np.random.default_rng(3), 1.0, (0.5, 0.9))
    ids = [0, 0, 1, 2]  # a clamped history repeats frame 0
    imgs = clips.load_clip_images(ds, ids, aug)
    new_h, new_w = round(40 * aug.scale), round(60 * aug.scale)
    for iid, img in zip(ids, imgs):
        raw = cv2.imread(str(tmp_path / f'{iid}.png'))
        want = cv2.resize(np.ascontiguousarray(raw[:, ::-1]), (new_w, new_h),
                          interpolation=cv2.INTER_LINEAR)
        np.testing.assert_array_equal(img, want)


def test_box_augmentation_matches_the_pixels(tmp_path):
    """A box drawn into a mask, flipped and resized like the image, ends where the box does."""
    ds = _dataset(tmp_path)
    for aug in (clips.ClipAug(True, 1.0), clips.ClipAug(False, 2.0), clips.ClipAug(True, 1.5)):
        boxes, cats = clips.clip_targets(ds, 1, aug)
        assert cats.tolist() == [1]  # the ignore region is left out
        mask = np.zeros((40, 60), np.uint8)
        mask[6:16, 6:26] = 255  # box [6, 6, 20, 10] covers pixels 6..25 x 6..15
        mask = clips.apply_aug_image(mask, aug)
        ys, xs = np.nonzero(mask > 127)
        np.testing.assert_allclose(boxes[0], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                   atol=1.0)


def test_clean_boxes():
    boxes = np.array([[-5, 2, 10, 8], [10, 10, 10.5, 30], [58, 1, 70, 3], [70, 1, 80, 3]],
                     np.float32)
    keep = clips.clean_boxes_xyxy(boxes, 40, 60, min_size=1)
    assert keep.tolist() == [True, False, True, False]
    np.testing.assert_allclose(boxes[0], [0, 2, 10, 8])
    np.testing.assert_allclose(boxes[2], [58, 1, 60, 3])


def test_anchors_cover_every_frame(tmp_path):
    ds = _dataset(tmp_path)
    assert clips.anchors(ds) == [(0, 0), (0, 1), (0, 2)]
