"""Ground truth for a replay: which GT image each source frame is, and the model's classes as GT
category ids.

Frames are matched to GT images

1. by image id, when the source is the ground-truth dataset itself;
2. else by ``timestamp``: a frame's header stamp (seconds) within half a frame period of a GT
   image's timestamp (the nearest wins; each GT image takes at most one frame). Used when the
   candidate GT images have distinct timestamps (one video, or ``--gt-video``, or a video whose
   name or ``bag`` is the source's name) and at least one frame matches;
3. else by order: the k-th frame is the k-th GT image (videos in file order, frames by
   frame_id), which needs as many frames as GT images.

Finish times go onto the dataset's clock anchored at each output's own input frame:
``finish_gt = timestamp(input image) + (finish - stamp)``, so a latency is the same on both clocks
and an output with zero latency finishes exactly at its frame's GT time.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Optional, Sequence

import numpy as np

from video_perception.eval.results import GroundTruth, load_ground_truth


@dataclasses.dataclass
class Match:
    """frame index -> GT image id; ``method`` 'image_id', 'timestamp' or 'order'; ``videos``: the
    GT videos the frames belong to (None: GT without videos)."""

    frame_to_image: dict[int, int]
    method: str
    videos: Optional[list]


def _ts(gt: GroundTruth, iid: int) -> Optional[float]:
    try:
        return gt.timestamp(iid)
    except ValueError:
        return None


def _ordered_ids(gt: GroundTruth, videos=None) -> list[int]:
    if gt.videos is None:
        return sorted(gt.images)
    return [i for vid, ids in gt.videos.items() if videos is None or vid in videos for i in ids]


def _pick_video(gt: GroundTruth, gt_video, source_path) -> Optional[list]:
    """The GT video(s) the source is: --gt-video, the only one, or the one named like it."""
    if gt.videos is None:
        return None
    if gt_video is not None:
        hits = [v for v in gt.videos if str(v) == str(gt_video)]
        names = {v.get('id'): v.get('name') for v in _video_records(gt)}
        hits = hits or [v for v in gt.videos if names.get(v) == str(gt_video)]
        if not hits:
            raise ValueError(f'--gt-video {gt_video}: no video with that id or name in the '
                             f'ground truth (videos: {list(gt.videos)[:8]})')
        return hits
    if len(gt.videos) == 1:
        return list(gt.videos)
    if source_path is not None:
        src = pathlib.Path(source_path)
        names = {src.name, src.stem, src.parent.name if src.suffix in ('.db3', '.mcap') else ''}
        for v in _video_records(gt):
            bag = pathlib.Path(str(v.get('bag', ''))).name
            if v.get('id') in gt.videos and (v.get('name') in names or (bag and bag in names)):
                return [v['id']]
    return None


def _video_records(gt: GroundTruth) -> list[dict]:
    """The ``videos`` records of the GT file (load_ground_truth keeps images, not videos)."""
    return list(getattr(gt, 'video_records', []))


def load_gt(source) -> GroundTruth:
    """``load_ground_truth`` (a path or a dict) plus the raw ``videos`` records (names,
    ``bag``), which matching uses to find the video a source is."""
    import json
    gt = load_ground_truth(source)
    if isinstance(source, dict):
        data = source
    else:
        p = pathlib.Path(source)
        with open(p / 'dataset.json' if p.is_dir() else p, encoding='utf-8') as f:
            data = json.load(f)
    gt.video_records = [v for v in data.get('videos', []) if isinstance(v, dict)]
    return gt


def match_frames(frame_stamps_ns: Sequence[int], gt: GroundTruth,
                 frame_image_ids: Optional[Sequence[Optional[int]]] = None,
                 source_is_gt: bool = False, gt_video=None, source_path=None) -> Match:
    """Matches source frames (by position) to GT image ids; see the module docstring.

    Raises:
        ValueError: nothing matches by timestamp and the counts differ (one line, with numbers).
    """
    n = len(frame_stamps_ns)
    if source_is_gt and frame_image_ids is not None:
        m = {k: int(i) for k, i in enumerate(frame_image_ids) if i is not None and i in gt.images}
        vids = sorted({gt.images[i].get('video_id') for i in m.values()}, key=str) \
            if gt.videos is not None else None
        return Match(m, 'image_id', vids)
    videos = _pick_video(gt, gt_video, source_path)
    cand = _ordered_ids(gt, videos)
    stamps = np.asarray(frame_stamps_ns, np.int64) / 1e9
    gts = [_ts(gt, i) for i in cand]
    if cand and all(t is not None for t in gts):
        gts = np.asarray(gts, np.float64)
        order = np.argsort(gts, kind='stable')
        sorted_t = gts[order]
        if len(sorted_t) < 2 or np.min(np.diff(sorted_t)) > 0:
            periods = [np.median(np.diff(sorted_t))] if len(sorted_t) > 1 else []
            if n > 1 and np.any(np.diff(stamps) > 0):
                periods.append(np.median(np.diff(stamps)[np.diff(stamps) > 0]))
            tol = 0.5 * (min(periods) if periods else 1 / 30)
            m = _nearest(stamps, sorted_t, order, cand, tol)
            if m:
                vids = videos if videos is not None else (
                    sorted({gt.images[i]['video_id'] for i in m.values()}, key=str)
                    if gt.videos is not None else None)
                return Match(m, 'timestamp', vids)
        elif videos is None:
            raise ValueError(f'ground truth has {len(gt.videos or [])} videos on overlapping '
                             'clocks and none is named like the source; choose one with '
                             '--gt-video ID|NAME')
    if len(cand) != n:
        raise ValueError(f'ground truth: cannot match {n} source frames to {len(cand)} GT '
                         'images: no header stamp is within half a frame of a GT timestamp, '
                         'and matching by order needs equal counts')
    return Match({k: i for k, i in enumerate(cand)}, 'order', videos or (
        list(gt.videos) if gt.videos is not None else None))


def _nearest(stamps, sorted_t, order, cand, tol) -> dict[int, int]:
    best: dict[int, tuple] = {}  # GT position -> (distance, frame)
    for k, s in enumerate(stamps):
        j = int(np.searchsorted(sorted_t, s))
        for jj in (j - 1, j):
            if 0 <= jj < len(sorted_t):
                d = abs(sorted_t[jj] - s)
                if d <= tol + 1e-9 and (jj not in best or d < best[jj][0]):
                    best[jj] = (d, k)
    return {k: cand[int(order[jj])] for jj, (_, k) in best.items()}


def restrict_gt(gt: GroundTruth, videos: Optional[list], image_ids=None) -> GroundTruth:
    """The GT limited to ``videos`` (or to ``image_ids`` when GT has no videos), so frames
    that were not replayed do not count as misses."""
    if videos is not None:
        keep = {i for i, im in gt.images.items() if im.get('video_id') in set(videos)}
    elif image_ids is not None:
        keep = set(image_ids)
    else:
        return gt
    return gt.restrict(keep)


def category_map(class_names: Sequence[str], gt: Optional[GroundTruth]) -> list[int]:
    """Category id of each model class index (None: a class the GT lacks), by name or else in
    the training order (``eval.categories.map_classes``); without GT the class index itself.

    Raises:
        ValueError: the model's classes and the GT's categories cannot be put in line.
    """
    if gt is None:
        return list(range(len(class_names)))
    from video_perception.eval.categories import map_classes
    return map_classes(class_names, gt.dataset['categories']).cat_ids
