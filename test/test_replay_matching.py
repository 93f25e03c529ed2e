"""Ground-truth matching of replayed frames: by timestamp within half a frame, else by order;
finish times onto the dataset's clock; model classes onto category ids."""
import numpy as np
import pytest

from video_perception.detections import Detections
from video_perception.replay.engine import FrameRecord, OutputRecord, ReplayRun
from video_perception.replay.matching import category_map, load_gt, match_frames, restrict_gt
from video_perception.replay.outputs import build_results


def gt_data(videos=((0, 5),), fps=10.0, t0=0.0):
    images, iid = [], 1
    for vid, n in videos:
        for k in range(n):
            images.append({'id': iid, 'file_name': f'{vid}/{k}.png', 'height': 10, 'width': 10,
                           'video_id': vid, 'frame_id': k, 'timestamp': t0 + k / fps})
            iid += 1
    return {'videos': [{'id': v, 'name': f'clip{v}'} for v, _ in videos], 'images': images,
            'annotations': [], 'categories': [{'id': 5, 'name': 'car'}, {'id': 2, 'name': 'bus'}]}


def test_timestamp_match_with_jitter_and_missing_frames():
    gt = load_gt(gt_data())
    # frames at 0, 0.1 + 40 ms jitter, 0.3 - 49 ms, 0.455 (more than half a frame from 0.4)
    stamps = [0, 140_000_000, 251_000_000, 455_000_000]
    m = match_frames(stamps, gt)
    assert m.method == 'timestamp'
    assert m.frame_to_image == {0: 1, 1: 2, 2: 4}


def test_order_match_when_clocks_differ_and_counts_error():
    gt = load_gt(gt_data())
    wall = [1_700_000_000_000_000_000 + k * 100_000_000 for k in range(5)]
    m = match_frames(wall, gt)
    assert m.method == 'order' and m.frame_to_image == {k: k + 1 for k in range(5)}
    with pytest.raises(ValueError, match='cannot match 4 source frames to 5'):
        match_frames(wall[:4], gt)


def test_several_videos_on_one_clock_need_a_choice():
    gt = load_gt(gt_data(videos=((0, 3), (1, 3))))
    stamps = [0, 100_000_000, 200_000_000]
    with pytest.raises(ValueError, match='--gt-video'):
        match_frames(stamps, gt)
    assert match_frames(stamps, gt, gt_video='1').frame_to_image == {0: 4, 1: 5, 2: 6}
    assert match_frames(stamps, gt, gt_video='clip0').frame_to_image == {0: 1, 1: 2, 2: 3}


def test_finish_times_on_the_dataset_clock():
    gt = load_gt(gt_data(t0=100.0))   # GT clock starts at 100 s, frames at 0..
    dets = Detections(np.array([[1, 2, 4, 6]], np.float32), np.array([0.5]), np.array([1]))
    run = ReplayRun([FrameRecord(k, k * 100_000_000, 0, None) for k in range(5)],
                    [OutputRecord(2, 0, 200_000_000, 230_000_000, 260_000_000, 0, 0.0, dets)])
    m = match_frames([f.stamp_ns for f in run.frames], gt)
    results, left_out = build_results(run, category_map(['car', 'bus'], gt),
                                      m.frame_to_image, gt)
    assert left_out == 0 and results.outputs == {3: pytest.approx(100.26)}
    np.testing.assert_allclose(results.detections[3], [[1, 2, 3, 4, 0.5, 2]])


def test_category_map_by_name_then_sorted_ids():
    gt = load_gt(gt_data())
    assert category_map(['bus', 'car'], gt) == [2, 5]
    assert category_map(['a', 'b'], gt) == [2, 5]
    assert category_map(['a', 'b', 'c'], None) == [0, 1, 2]
    with pytest.raises(ValueError, match='do not match'):
        category_map(['a', 'b', 'c'], gt)


def test_restrict_gt_to_replayed_video():
    gt = load_gt(gt_data(videos=((0, 3), (1, 4))))
    sub = restrict_gt(gt, [1])
    assert sorted(sub.images) == [4, 5, 6, 7] and list(sub.videos) == [1]
