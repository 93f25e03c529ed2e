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

# Boxes may stick out of the image by this much before validation complains: converters that
# clip to the image in floating point leave errors of this order.
BOX_TOLERANCE_PX = 0.01
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
            ids.sort(key=lambda i: _num(self.images[i].get('frame_id'), -1))
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
        ``check_files``, that every frame file exists.
        """
        out: list[str] = []
        self._check_records(out)
        self._check_frames(out)
        self._check_annotations(out)
        if check_files:
            for im in self.data['images']:
                name = im.get('file_name') if isinstance(im, dict) else None
                if isinstance(name, str) and not (self.root / name).is_file():
                    out.append(f"{self.name}: image {im['id']}: frame file {im['file_name']!r} "
                               f'not found under {self.root}')
        return out

    def _check_records(self, out):
        for key, required in (('videos', {'id': int, 'name': str}),
                              ('categories', {'id': int, 'name': str}),
                              ('images', {'id': int, 'file_name': str, 'height': int,
                                          'width': int, 'video_id': int, 'frame_id': int}),
                              ('annotations', {'id': int, 'image_id': int, 'category_id': int,
                                               'bbox': list})):
            seen = set()
            for n, rec in enumerate(self.data[key]):
                what = f'{self.name}: {key}[{n}]'
                if not isinstance(rec, dict):
                    out.append(f'{what}: expected an object, got {type(rec).__name__}')
                    continue
                for name, typ in required.items():
                    value = rec.get(name)
                    if typ is int and isinstance(value, float) and value.is_integer():
                        continue
                    if not isinstance(value, typ) or isinstance(value, bool):
                        out.append(f'{what}: {name!r} missing or not {typ.__name__} '
                                   f'(got {value!r})')
                if rec.get('id') in seen:
                    out.append(f"{what}: duplicate id {rec.get('id')}")
                seen.add(rec.get('id'))
        for im in self.data['images']:
            if not isinstance(im, dict):
                continue
            if im.get('video_id') not in self.videos:
                out.append(f"{self.name}: image {im.get('id')}: video_id {im.get('video_id')} "
                           'not in videos')
            if _num(im.get('height'), 0) <= 0 or _num(im.get('width'), 0) <= 0:
                out.append(f"{self.name}: image {im.get('id')}: size {im.get('width')}x"
                           f"{im.get('height')} is not positive")
            stamp = im.get('timestamp')
            if stamp is not None and not (_num(stamp, None) is not None
                                          and math.isfinite(stamp)):
                out.append(f"{self.name}: image {im.get('id')}: timestamp {stamp!r} is not a "
                           'finite number of seconds')

    def _check_frames(self, out):
        for vid, ids in self.frames.items():
            video = self.videos.get(vid)
            if video is None:
                continue
            label = f"{self.name}: video {vid} {video.get('name')!r}"
            if not ids:
                out.append(f'{label}: has no images')
                continue
            prev_fid, prev_t = None, None
            for iid in ids:
                im = self.images[iid]
                fid, stamp = im.get('frame_id'), im.get('timestamp')
                if not isinstance(fid, int):
                    continue
                if prev_fid is None and fid != 0:
                    out.append(f'{label}: first frame_id is {fid} at image {iid}, expected 0')
                elif prev_fid is not None and fid == prev_fid:
                    out.append(f'{label}: frame_id {fid} repeated at image {iid}')
                elif prev_fid is not None and fid != prev_fid + 1:
                    out.append(f'{label}: frame_id jumps from {prev_fid} to {fid} at image {iid}')
                if _num(stamp, None) is not None and prev_t is not None and stamp <= prev_t:
                    out.append(f'{label}: timestamp {stamp} at image {iid} (frame_id {fid}) is '
                               f'not after the previous frame\'s {prev_t}')
                prev_fid, prev_t = fid, _num(stamp, None)

    def _check_annotations(self, out):
        tol = BOX_TOLERANCE_PX
        for ann in self.data['annotations']:
            if not isinstance(ann, dict):
                continue
            label = f"{self.name}: annotation {ann.get('id')}"
            im = self.images.get(ann.get('image_id'))
            if im is None:
                out.append(f"{label}: image_id {ann.get('image_id')} not in images")
            if ann.get('category_id') not in self.categories:
                out.append(f"{label}: category_id {ann.get('category_id')} not in categories")
            bbox = ann.get('bbox')
            if not (isinstance(bbox, list) and len(bbox) == 4
                    and all(_num(v, None) is not None and math.isfinite(v) for v in bbox)):
                out.append(f'{label}: bbox {bbox!r} is not 4 finite numbers [x, y, w, h]')
                continue
            x, y, w, h = bbox
            if w <= 0 or h <= 0:
                out.append(f'{label}: bbox {bbox} has non-positive width or height')
            elif im is not None and _num(im.get('width'), None) and _num(im.get('height'), None):
                W, H = im['width'], im['height']
                if x < -tol or y < -tol or x + w > W + tol or y + h > H + tol:
                    out.append(f'{label}: bbox {bbox} outside image {W}x{H} '
                               f"(image {im['id']})")
            if 'area' in ann and not (_num(ann['area'], None) is not None and ann['area'] >= 0):
                out.append(f"{label}: area {ann['area']!r} is not a non-negative number")


def _num(value, default):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


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
