"""The canonical video dataset: COCO JSON extended for video (the CocoVID convention).

One ``dataset.json`` holds ``videos`` [{id, name, fps?}], ``images`` [{id, file_name (relative to
the JSON's folder), height, width, video_id, frame_id (0-based, contiguous per video), timestamp
(seconds)}], ``annotations`` [{id, image_id, category_id, bbox [x, y, w, h], area, iscrowd,
instance_id?, ignore?, visibility?}] and ``categories`` [{id, name}]. Category ids are those of the
source dataset. pycocotools' ``COCO()`` loads the file as it is (the extra keys are ignored).

Ignore regions (MOT distractors) carry ``iscrowd: 1`` and ``ignore: 1``: COCOeval overwrites
``ignore`` with ``iscrowd``, so ``iscrowd`` is what makes a detection on them neither TP nor FP.

This module lives in the runtime (not ``training``) because replay and evaluate read it too.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import tempfile
from dataclasses import dataclass, field

import numpy as np

from video_perception.dataset_checks import (BOX_TOLERANCE_PX,  # noqa: F401 - importable here too
                                             dataset_problems, num_or)

DEFAULT_FPS = 30.0


class DatasetError(ValueError):
    """A dataset file that is not a valid canonical video dataset; the message says why."""


@dataclass
class VideoDataset:
    """A loaded dataset with indexes; ``data`` is the raw JSON dict (do not mutate it).

    Attributes:
        data: the JSON object as read.
        root: folder that ``file_name`` paths are relative to (the JSON's folder).
        name: how messages name the file (its base name).
        videos / images / categories: id -> record.
        frames: video id -> image ids ordered by frame_id.
        anns: image id -> annotation records of that image (file order).
    """

    data: dict
    root: pathlib.Path
    name: str = 'dataset.json'
    videos: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    categories: dict = field(default_factory=dict)
    frames: dict = field(default_factory=dict)
    anns: dict = field(default_factory=dict)

    def __post_init__(self):
        for key in ('videos', 'images', 'annotations', 'categories'):
            if not isinstance(self.data.get(key), list):
                raise DatasetError(f'{self.name}: top-level key {key!r} missing or not a list')
        self.videos = {v.get('id'): v for v in self.data['videos'] if isinstance(v, dict)}
        self.images = {im.get('id'): im for im in self.data['images'] if isinstance(im, dict)}
        self.categories = {c.get('id'): c for c in self.data['categories'] if isinstance(c, dict)}
        self.frames = {vid: [] for vid in self.videos}
        for im in self.images.values():
            self.frames.setdefault(im.get('video_id'), []).append(im['id'])
        for ids in self.frames.values():
            ids.sort(key=lambda i: num_or(self.images[i].get('frame_id'), -1))
        self.anns = {i: [] for i in self.images}
        for ann in self.data['annotations']:
            if isinstance(ann, dict):
                self.anns.setdefault(ann.get('image_id'), []).append(ann)

    # -- access -------------------------------------------------------------------------------

    def image_path(self, image_id: int) -> pathlib.Path:
        """Absolute path of an image's frame file."""
        return self.root / self.images[image_id]['file_name']

    def fps(self, video_id: int) -> float:
        """Frame rate of a video: its ``fps`` if given, else the median timestamp step."""
        video = self.videos[video_id]
        if video.get('fps'):
            return float(video['fps'])
        stamps = [self.images[i].get('timestamp') for i in self.frames[video_id]]
        if len(stamps) > 1 and all(s is not None for s in stamps):
            step = float(np.median(np.diff(stamps)))
            if step > 0:
                return 1.0 / step
        return DEFAULT_FPS

    def timestamp(self, image_id: int) -> float:
        """Seconds on the dataset's clock: ``timestamp``, or frame_id / fps when absent."""
        im = self.images[image_id]
        if im.get('timestamp') is not None:
            return float(im['timestamp'])
        return float(im['frame_id']) / self.fps(im['video_id'])

    def frame_boxes(self, image_id: int, with_ignored: bool = False):
        """Ground truth of one frame as arrays.

        Returns:
            (boxes_xyxy [N, 4] float32 in pixels, category_ids [N] int64, ignored [N] bool).
            Ignore regions (iscrowd or ignore) are left out unless ``with_ignored``.
        """
        rows, cats, ign = [], [], []
        for ann in self.anns.get(image_id, []):
            ignored = bool(ann.get('iscrowd', 0)) or bool(ann.get('ignore', 0))
            if ignored and not with_ignored:
                continue
            x, y, w, h = ann['bbox']
            rows.append((x, y, x + w, y + h))
            cats.append(ann['category_id'])
            ign.append(ignored)
        boxes = np.asarray(rows, dtype=np.float32).reshape(-1, 4)
        return boxes, np.asarray(cats, dtype=np.int64), np.asarray(ign, dtype=bool)

    # -- validation ---------------------------------------------------------------------------

    def validate(self, check_files: bool = False) -> list[str]:
        """Every problem found, one line each (empty when the dataset is valid).

        Checks unique ids, the video/image/category references, 0-based contiguous frame_id per
        video, increasing timestamps, finite positive boxes inside their image and, with
        ``check_files``, that every frame file exists (``dataset_checks.py``).
        """
        return dataset_problems(self, check_files)


def load_video_dataset(path, check_files: bool = False, validate: bool = True) -> VideoDataset:
    """Read and (by default) validate a canonical dataset.

    Args:
        path: ``dataset.json`` or the folder holding it.
        check_files: also check that every frame file exists.
        validate: raise on any problem (the message lists the first ten and the count).

    Raises:
        DatasetError: unreadable JSON, wrong structure, or validation problems.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / 'dataset.json'
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f'{path}: no such dataset file') from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f'{path}: not valid JSON ({e})') from None
    if not isinstance(data, dict):
        raise DatasetError(f'{path}: expected a JSON object with videos/images/annotations/'
                           f'categories, got {type(data).__name__}')
    ds = VideoDataset(data, path.parent, path.name)
    if validate:
        problems = ds.validate(check_files)
        if problems:
            more = f' (and {len(problems) - 10} more)' if len(problems) > 10 else ''
            raise DatasetError('; '.join(problems[:10]) + more)
    return ds


def write_video_dataset(data, path) -> pathlib.Path:
    """Write a dataset dict (or ``VideoDataset``) as JSON, atomically (temp file + rename).

    Returns:
        The path written: ``path`` when it ends in .json, else ``path/dataset.json``.
    """
    if isinstance(data, VideoDataset):
        data = data.data
    path = pathlib.Path(path)
    if path.suffix.lower() != '.json':
        path = path / 'dataset.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + path.name, suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(data, f, separators=(',', ':'), allow_nan=False)
            f.write('\n')
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class DatasetBuilder:
    """Accumulates videos, frames and boxes in the canonical layout (used by converters, synth).

    Ids are assigned 0, 1, 2, ... unless given; frame_id is the order in which a video's images
    are added, so add them in time order.
    """

    def __init__(self, categories):
        """Args: categories: iterable of (id, name) or {id, name} dicts."""
        self.categories = [dict(c) if isinstance(c, dict) else {'id': int(c[0]), 'name': c[1]}
                           for c in categories]
        self.videos: list[dict] = []
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self._next_frame: dict[int, int] = {}

    def add_video(self, name: str, fps: float | None = None, video_id: int | None = None,
                  **extra) -> int:
        vid = len(self.videos) if video_id is None else int(video_id)
        record = {'id': vid, 'name': str(name)}
        if fps:
            record['fps'] = float(fps)
        record.update(extra)
        self.videos.append(record)
        self._next_frame[vid] = 0
        return vid

    def add_image(self, video_id: int, file_name: str, height: int, width: int,
                  timestamp: float, image_id: int | None = None, **extra) -> int:
        iid = len(self.images) if image_id is None else int(image_id)
        frame_id = self._next_frame[video_id]
        self._next_frame[video_id] = frame_id + 1
        record = {'id': iid, 'file_name': str(file_name).replace(os.sep, '/'),
                  'height': int(height), 'width': int(width), 'video_id': int(video_id),
                  'frame_id': frame_id, 'timestamp': float(timestamp)}
        record.update(extra)
        self.images.append(record)
        return iid

    def add_box(self, image_id: int, category_id: int, bbox_xywh, instance_id=None,
                ignore: bool = False, ann_id: int | None = None, **extra) -> int:
        aid = len(self.annotations) if ann_id is None else int(ann_id)
        x, y, w, h = (float(v) for v in bbox_xywh)
        record = {'id': aid, 'image_id': int(image_id), 'category_id': int(category_id),
                  'bbox': [x, y, w, h], 'area': w * h, 'iscrowd': int(bool(ignore))}
        if ignore:
            record['ignore'] = 1
        if instance_id is not None:
            record['instance_id'] = instance_id
        record.update(extra)
        self.annotations.append(record)
        return aid

    def build(self) -> dict:
        return {'videos': self.videos, 'images': self.images, 'annotations': self.annotations,
                'categories': self.categories}


def clip_box_xywh(bbox_xywh, width: float, height: float):
    """Clip an [x, y, w, h] box to the image; None when nothing of it is left."""
    x, y, w, h = (float(v) for v in bbox_xywh)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return None
    x1, y1 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x2, y2 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    if x2 <= x1 or y2 <= y1:
        return None
    return [x1, y1, x2 - x1, y2 - y1]
