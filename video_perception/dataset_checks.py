"""The canonical video dataset's rules (``dataset.py`` describes the format), checked: every
problem one line naming the file, the record and what was expected. ``VideoDataset.validate`` and
so ``load_video_dataset`` run them; a dataset is valid when the list is empty.

The checks read the loaded dataset's raw records and indexes (``data``, ``videos``, ``images``,
``categories``, ``frames``, ``root``, ``name``), not the file, so a converter's output and a
ground truth given as a dict are checked alike.
"""
from __future__ import annotations

import math
from typing import List

# Boxes may stick out of the image by this much before validation complains: converters that
# clip to the image in floating point leave errors of this order.
BOX_TOLERANCE_PX = 0.01


def num_or(value, default):
    """``value`` when it is a number (int or float, not bool), else ``default``."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def dataset_problems(ds, check_files: bool = False) -> List[str]:
    """Every problem of the loaded dataset ``ds`` (a ``VideoDataset``), one line each.

    Checks unique ids, the video/image/category references, 0-based contiguous frame_id per
    video, increasing timestamps, finite positive boxes inside their image and, with
    ``check_files``, that every frame file exists.
    """
    out: List[str] = []
    _check_records(ds, out)
    _check_frames(ds, out)
    _check_annotations(ds, out)
    if check_files:
        for im in ds.data['images']:
            name = im.get('file_name') if isinstance(im, dict) else None
            if isinstance(name, str) and not (ds.root / name).is_file():
                out.append(f"{ds.name}: image {im['id']}: frame file {im['file_name']!r} "
                           f'not found under {ds.root}')
    return out


def _check_records(ds, out: List[str]) -> None:
    for key, required in (('videos', {'id': int, 'name': str}),
                          ('categories', {'id': int, 'name': str}),
                          ('images', {'id': int, 'file_name': str, 'height': int,
                                      'width': int, 'video_id': int, 'frame_id': int}),
                          ('annotations', {'id': int, 'image_id': int, 'category_id': int,
                                           'bbox': list})):
        seen = set()
        for n, rec in enumerate(ds.data[key]):
            what = f'{ds.name}: {key}[{n}]'
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
    for im in ds.data['images']:
        if not isinstance(im, dict):
            continue
        if im.get('video_id') not in ds.videos:
            out.append(f"{ds.name}: image {im.get('id')}: video_id {im.get('video_id')} "
                       'not in videos')
        if num_or(im.get('height'), 0) <= 0 or num_or(im.get('width'), 0) <= 0:
            out.append(f"{ds.name}: image {im.get('id')}: size {im.get('width')}x"
                       f"{im.get('height')} is not positive")
        stamp = im.get('timestamp')
        if stamp is not None and not (num_or(stamp, None) is not None
                                      and math.isfinite(stamp)):
            out.append(f"{ds.name}: image {im.get('id')}: timestamp {stamp!r} is not a "
                       'finite number of seconds')


def _check_frames(ds, out: List[str]) -> None:
    for vid, ids in ds.frames.items():
        video = ds.videos.get(vid)
        if video is None:
            continue
        label = f"{ds.name}: video {vid} {video.get('name')!r}"
        if not ids:
            out.append(f'{label}: has no images')
            continue
        prev_fid, prev_t = None, None
        for iid in ids:
            im = ds.images[iid]
            fid, stamp = im.get('frame_id'), im.get('timestamp')
            if not isinstance(fid, int):
                continue
            if prev_fid is None and fid != 0:
                out.append(f'{label}: first frame_id is {fid} at image {iid}, expected 0')
            elif prev_fid is not None and fid == prev_fid:
                out.append(f'{label}: frame_id {fid} repeated at image {iid}')
            elif prev_fid is not None and fid != prev_fid + 1:
                out.append(f'{label}: frame_id jumps from {prev_fid} to {fid} at image {iid}')
            if num_or(stamp, None) is not None and prev_t is not None and stamp <= prev_t:
                out.append(f'{label}: timestamp {stamp} at image {iid} (frame_id {fid}) is '
                           f'not after the previous frame\'s {prev_t}')
            prev_fid, prev_t = fid, num_or(stamp, None)


def _check_annotations(ds, out: List[str]) -> None:
    tol = BOX_TOLERANCE_PX
    for ann in ds.data['annotations']:
        if not isinstance(ann, dict):
            continue
        label = f"{ds.name}: annotation {ann.get('id')}"
        im = ds.images.get(ann.get('image_id'))
        if im is None:
            out.append(f"{label}: image_id {ann.get('image_id')} not in images")
        if ann.get('category_id') not in ds.categories:
            out.append(f"{label}: category_id {ann.get('category_id')} not in categories")
        bbox = ann.get('bbox')
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(num_or(v, None) is not None and math.isfinite(v) for v in bbox)):
            out.append(f'{label}: bbox {bbox!r} is not 4 finite numbers [x, y, w, h]')
            continue
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            out.append(f'{label}: bbox {bbox} has non-positive width or height')
        elif im is not None and num_or(im.get('width'), None) and num_or(im.get('height'), None):
            W, H = im['width'], im['height']
            if x < -tol or y < -tol or x + w > W + tol or y + h > H + tol:
                out.append(f'{label}: bbox {bbox} outside image {W}x{H} '
                           f"(image {im['id']})")
        if 'area' in ann and not (num_or(ann['area'], None) is not None and ann['area'] >= 0):
            out.append(f"{label}: area {ann['area']!r} is not a non-negative number")
