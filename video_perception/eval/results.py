"""The two inputs of ``evaluate``: the ground-truth video JSON and the results file.

Results file (written by detectors and the replay tool)::

    {"outputs":    [{"input_image_id": int, "finish_time": float}],
     "detections": [{"input_image_id": int, "category_id": int,
                     "bbox": [x, y, w, h], "score": float}],
     "categories": [{"id": int, "name": str}]}      # optional: names of the category ids

``finish_time`` is in seconds on the dataset's clock (the images' ``timestamp``). An output with
no detections still has its entry in ``outputs``: ``outputs`` is what the run claims to have
processed, and ``evaluate`` scores the videos it covers. ``categories`` names the category ids
(the model's classes, or the GT's categories when the run had ground truth) so that they can be
put in line with another ground truth by name (``eval.categories``). A plain COCO results list
(``image_id`` instead of ``input_image_id``, no finish times) is accepted for the offline modes.

Ground truth is CocoVID JSON (``videos``; ``images`` with ``video_id``, 0-based ``frame_id`` and,
in this project, ``timestamp`` in seconds; annotations with optional ``instance_id``). Only what
the metrics need is checked here; the dataset reader of ``video_perception.dataset`` validates
the rest.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import tempfile
from typing import Any

import numpy as np


@dataclasses.dataclass
class Results:
    """Detector outputs of a run.

    outputs:    input_image_id -> finish_time in seconds (None for a plain COCO results list)
    detections: input_image_id -> [N, 6] float64 rows (x, y, w, h, score, category_id)
    categories: category id -> name (None: the file does not name them)
    listed:     True when ``outputs`` is the file's own list of processed frames; False for a
                plain COCO results list, where it is only the images that have a detection
    track_ids:  input_image_id -> [N] track id of each detection row (a run with tracking,
                ``streaming``; written as each detection's ``track_id``), or None
    """

    outputs: dict[int, float | None]
    detections: dict[int, np.ndarray]
    categories: dict[int, str] | None = None
    listed: bool = True
    track_ids: dict[int, np.ndarray] | None = None

    @property
    def timed(self) -> bool:
        """True when every output carries a finish time (needed for streaming)."""
        return all(t is not None for t in self.outputs.values())

    def dets_of(self, image_id: int) -> np.ndarray:
        """The [N, 6] detections of one output (empty when it has none)."""
        return self.detections.get(image_id, np.zeros((0, 6)))


@dataclasses.dataclass
class GroundTruth:
    """Ground-truth dataset prepared for pycocotools and for frame pairing.

    dataset:   COCO dict (iscrowd made int; ``ignore`` folded into iscrowd; area filled in)
    images:    image id -> image record
    videos:    video id -> image ids ordered by frame_id (None when images have no video_id)
    video_records: the ``videos`` records of the file (names, fps, ``bag``)
    """

    dataset: dict
    images: dict[int, dict]
    videos: dict[Any, list[int]] | None
    video_fps: dict = dataclasses.field(default_factory=dict)
    video_records: list = dataclasses.field(default_factory=list)

    def restrict(self, image_ids) -> 'GroundTruth':
        """The ground truth of ``image_ids`` only (their annotations, videos and categories)."""
        keep = set(image_ids)
        if keep >= set(self.images):
            return self
        vids = {self.images[i].get('video_id') for i in keep if i in self.images}
        sub = {'images': [im for i, im in self.images.items() if i in keep],
               'annotations': [a for a in self.dataset['annotations'] if a['image_id'] in keep],
               'categories': self.dataset['categories']}
        if self.videos is not None:
            sub['videos'] = [v for v in self.video_records if v.get('id') in vids] or \
                [{'id': v} for v in sorted(vids, key=str)]
        return load_ground_truth(sub)

    def timestamp(self, image_id: int, fps: float | None = None) -> float:
        """The image's ``timestamp``, or frame_id / fps when it has none and fps is given."""
        image = self.images[image_id]
        if image.get('timestamp') is not None:
            return float(image['timestamp'])
        if fps is None:
            fps = self.video_fps.get(image.get('video_id'))
        if fps is None or 'frame_id' not in image:
            raise ValueError(f'ground truth: image {image_id} has no timestamp; expected a '
                             "'timestamp' per image, or 'frame_id' and an fps (--fps or the "
                             "video's 'fps')")
        return float(image['frame_id']) / fps

    def require_videos(self, mode: str) -> dict[Any, list[int]]:
        if self.videos is None:
            raise ValueError(f"ground truth: mode '{mode}' needs 'video_id' and 'frame_id' on "
                             'every image (CocoVID format)')
        return self.videos


def _read_json(source, what: str):
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, encoding='utf-8') as f:
                return json.load(f)
        except FileNotFoundError:
            raise ValueError(f'{what}: file not found: {source}') from None
        except json.JSONDecodeError as e:
            raise ValueError(f'{what}: {source} is not valid JSON ({e})') from None
    return source


def load_ground_truth(source) -> GroundTruth:
    """Reads CocoVID ground truth (a path or an already loaded dict).

    Annotations with ``ignore`` true become ``iscrowd=1``: pycocotools overwrites its own
    ``ignore`` flag with ``iscrowd``, so this is the only way an ignore region is honoured.
    """
    if isinstance(source, (str, os.PathLike)) and pathlib.Path(source).is_dir():
        source = pathlib.Path(source) / 'dataset.json'
    data = _read_json(source, 'ground truth')
    if isinstance(data, dict) and 'videos' in data:
        # A CocoVID file: the dataset reader's validation says exactly what is wrong.
        from video_perception.dataset import VideoDataset
        problems = VideoDataset(data, pathlib.Path('.'), 'ground truth').validate()
        if problems:
            more = f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''
            raise ValueError('; '.join(problems[:3]) + more)
    if not isinstance(data, dict) or not all(k in data for k in ('images', 'annotations',
                                                                 'categories')):
        raise ValueError("ground truth: expected a JSON object with 'images', 'annotations' "
                         "and 'categories'")
    images = {}
    for img in data['images']:
        if 'id' not in img:
            raise ValueError(f"ground truth: image without 'id': {str(img)[:80]}")
        images[int(img['id'])] = img
    cat_ids = {int(c['id']) for c in data['categories']}
    anns = []
    for i, a in enumerate(data['annotations']):
        bbox = a.get('bbox')
        if a.get('image_id') not in images:
            raise ValueError(f"ground truth: annotation {a.get('id', i)} refers to unknown "
                             f"image_id {a.get('image_id')}")
        if a.get('category_id') not in cat_ids:
            raise ValueError(f"ground truth: annotation {a.get('id', i)} has unknown "
                             f"category_id {a.get('category_id')}")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise ValueError(f"ground truth: annotation {a.get('id', i)} bbox must be "
                             '[x, y, w, h]')
        crowd = int(bool(a.get('iscrowd', 0)) or bool(a.get('ignore', 0)))
        anns.append({**a, 'id': a.get('id', i + 1), 'iscrowd': crowd,
                     'area': float(a.get('area', bbox[2] * bbox[3]))})
    dataset = {'images': list(images.values()), 'annotations': anns,
               'categories': data['categories']}
    videos = None
    if images and all('video_id' in im and 'frame_id' in im for im in images.values()):
        videos = {}
        for iid, im in images.items():
            videos.setdefault(im['video_id'], []).append(iid)
        for vid, ids in videos.items():
            ids.sort(key=lambda j: images[j]['frame_id'])
    video_fps = {v['id']: float(v['fps']) for v in data.get('videos', [])
                 if isinstance(v, dict) and v.get('fps')}
    records = [v for v in data.get('videos', []) if isinstance(v, dict)]
    return GroundTruth(dataset, images, videos, video_fps, records)


def _num(value, what: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'results: {what} of entry {index} must be a finite number, '
                         f'got {value!r}')
    return float(value)


def _int(value, what: str, index: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f'results: {what} of entry {index} must be an integer, got {value!r}')
    return int(value)


def _parse_detections(items, key: str) -> dict[int, list]:
    per_image: dict[int, list] = {}
    for i, d in enumerate(items):
        if not isinstance(d, dict) or key not in d:
            raise ValueError(f"results: detection {i} needs '{key}'")
        bbox = d.get('bbox')
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4):
            raise ValueError(f'results: detection {i} bbox must be [x, y, w, h], got {bbox!r}')
        row = [_num(v, 'bbox', i) for v in bbox]
        if row[2] < 0 or row[3] < 0:
            raise ValueError(f'results: detection {i} has a negative width or height: {bbox}')
        row.append(_num(d.get('score'), 'score', i))
        row.append(_num(d.get('category_id'), 'category_id', i))
        per_image.setdefault(_int(d[key], key, i), []).append(row)
    return per_image


def load_results(source) -> Results:
    """Reads a results file (path or loaded JSON); one-line ValueError on anything malformed."""
    data = _read_json(source, 'results')
    if isinstance(data, list):
        per_image = _parse_detections(data, 'image_id')
        outputs = {iid: None for iid in per_image}
    elif isinstance(data, dict) and 'outputs' in data and 'detections' in data:
        outputs = {}
        for i, o in enumerate(data['outputs']):
            if not isinstance(o, dict) or 'input_image_id' not in o:
                raise ValueError(f"results: output {i} needs 'input_image_id'")
            iid = _int(o['input_image_id'], 'input_image_id', i)
            if iid in outputs:
                raise ValueError(f'results: two outputs for input_image_id {iid}')
            t = o.get('finish_time')
            outputs[iid] = None if t is None else _num(t, 'finish_time', i)
        per_image = _parse_detections(data['detections'], 'input_image_id')
        orphans = sorted(set(per_image) - set(outputs))
        if orphans:
            raise ValueError(f'results: detections for input_image_id {orphans[0]} which has '
                             f"no entry in 'outputs' ({len(orphans)} such ids)")
    else:
        raise ValueError("results: expected {'outputs': [...], 'detections': [...]} or a COCO "
                         'results list')
    dets = {k: np.asarray(v, dtype=np.float64).reshape(-1, 6) for k, v in per_image.items()}
    names = _parse_categories(data.get('categories') if isinstance(data, dict) else None)
    if names is not None:
        used = {int(c) for rows in dets.values() for c in rows[:, 5]} - set(names)
        if used:
            raise ValueError(f'results: detections have category_id {min(used)}, which '
                             "'categories' does not name")
    return Results(outputs, dets, names, not isinstance(data, list))


def _parse_categories(items) -> dict[int, str] | None:
    if items is None:
        return None
    if not isinstance(items, list):
        raise ValueError("results: 'categories' must be a list of {\"id\", \"name\"}")
    names = {}
    for i, c in enumerate(items):
        if not isinstance(c, dict) or not isinstance(c.get('name'), str):
            raise ValueError(f"results: category {i} needs 'id' and a text 'name', got "
                             f'{str(c)[:60]}')
        names[_int(c.get('id'), 'category id', i)] = c['name']
    return names


def remap_categories(results: Results, id_map: dict[int, int | None]) -> Results:
    """``results`` with each category id replaced by ``id_map``'s (None: detection removed);
    every output keeps its entry, so a frame whose detections all go still counts as processed."""
    dets = {}
    for iid, rows in results.detections.items():
        new = np.array([id_map[int(c)] if id_map[int(c)] is not None else -1
                        for c in rows[:, 5]], np.float64)
        keep = new >= 0
        dets[iid] = np.concatenate([rows[keep, :5], new[keep, None]], 1).reshape(-1, 6)
    return Results(dict(results.outputs), dets, None, results.listed)


def result_rows(boxes_xyxy, scores, class_indices, cat_ids, scale: float = 1.0) -> np.ndarray:
    """Detections of one image -> its [N, 6] result rows (x, y, w, h, score, category_id).

    Args:
        boxes_xyxy: [N, 4] (x1, y1, x2, y2) in the pixels of an image ``scale`` times the original
        scores: [N]
        class_indices: [N] indices into ``cat_ids`` (a model's class list)
        cat_ids: class index -> COCO category id of the ground truth (None: a class the ground
            truth does not score; its detections are left out)
        scale: the boxes are divided by it (in float64) to give original pixels
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4) / scale
    rows = np.zeros((len(boxes), 6))
    rows[:, :2], rows[:, 2:4] = boxes[:, :2], boxes[:, 2:] - boxes[:, :2]
    rows[:, 4] = np.asarray(scores, np.float64).reshape(-1)
    cats = [cat_ids[int(c)] for c in np.asarray(class_indices).reshape(-1)]
    keep = np.array([c is not None for c in cats], bool)
    rows = rows[keep]
    rows[:, 5] = [c for c in cats if c is not None]
    return rows


def results_to_json(results: Results) -> dict:
    """The canonical JSON object of ``results`` (the inverse of ``load_results``)."""
    outputs = [{'input_image_id': int(k), 'finish_time': t} for k, t in results.outputs.items()]
    dets = []
    for iid, rows in results.detections.items():
        tracks = (results.track_ids or {}).get(iid)
        for n, (x, y, w, h, s, c) in enumerate(rows):
            dets.append({'input_image_id': int(iid), 'category_id': int(c),
                         'bbox': [float(x), float(y), float(w), float(h)], 'score': float(s)})
            if tracks is not None:
                dets[-1]['track_id'] = int(tracks[n])
    out = {'outputs': outputs, 'detections': dets}
    if results.categories is not None:
        out['categories'] = [{'id': int(k), 'name': v}
                             for k, v in sorted(results.categories.items())]
    return out


def write_json_atomic(path, obj) -> None:
    """Writes JSON to a temporary file beside ``path`` and renames it (survives a crash)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + '.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def save_results(path, results: Results) -> None:
    """Writes ``results`` as the canonical results file."""
    write_json_atomic(path, results_to_json(results))
