"""MOTChallenge (MOT17/MOT20) sequences: ``seqinfo.ini``, ``img1/``, ``gt/gt.txt``.

SRC is one sequence folder (it holds seqinfo.ini) or a split folder of sequences. gt.txt rows
are ``frame, id, x, y, w, h, flag, class, visibility``:

* pedestrians = ``flag == 1 and class == 1`` -> category 1 'pedestrian';
* distractors (class 2 person on vehicle, 7 static person, 8 distractor, 12 reflection) and
  pedestrians with ``flag == 0`` -> ignore regions (``iscrowd: 1, ignore: 1``, category 1), so a
  detection on them is neither a hit nor a false positive, as in the MOT benchmark;
* every other class (vehicles, occluders...) is dropped.

Box coordinates are kept as written (MOT's 1-based pixels, like mmtracking's and ByteTrack's
converters do), then clipped to the image; boxes with nothing left are dropped. ``visibility``
and the MOT class are kept on each annotation; ``instance_id`` is the track id (unique within
its video). Only frames on disk are used (``seqinfo.ini``'s seqLength is the full sequence's):
frame_id is the rank of the frame on disk, timestamp = (frame number - 1) / frameRate.
"""
from __future__ import annotations

import configparser
import pathlib

import numpy as np
from tqdm import tqdm

from training.data.converters.common import frame_number, list_images
from video_perception.dataset import DatasetBuilder, clip_box_xywh

PEDESTRIAN = 1
DISTRACTOR_CLASSES = (2, 7, 8, 12)


def add_arguments(group) -> None:
    """MOT has no options of its own: everything comes from seqinfo.ini and gt.txt."""


def read_seqinfo(seq_dir: pathlib.Path) -> dict:
    """seqinfo.ini's [Sequence] section with typed values."""
    path = seq_dir / 'seqinfo.ini'
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise ValueError(f'{path}: missing or unreadable')
    if 'Sequence' not in parser:
        raise ValueError(f'{path}: no [Sequence] section')
    sec = parser['Sequence']
    try:
        return {'name': sec.get('name', seq_dir.name), 'imDir': sec.get('imDir', 'img1'),
                'frameRate': float(sec['frameRate']), 'seqLength': int(sec['seqLength']),
                'imWidth': int(sec['imWidth']), 'imHeight': int(sec['imHeight']),
                'imExt': sec.get('imExt', '.jpg')}
    except (KeyError, ValueError) as e:
        raise ValueError(f'{path}: bad or missing key ({e}); expected frameRate, seqLength, '
                         'imWidth, imHeight') from None


def read_gt(path: pathlib.Path) -> np.ndarray:
    """gt.txt as a float array [R, 9] (frame, id, x, y, w, h, flag, class, visibility)."""
    if not path.is_file():
        return np.zeros((0, 9))
    try:
        rows = np.loadtxt(path, delimiter=',', ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f'{path}: not a MOT gt file ({e})') from None
    if rows.size and rows.shape[1] < 9:
        raise ValueError(f'{path}: {rows.shape[1]} columns, expected 9 '
                         '(frame,id,x,y,w,h,flag,class,visibility)')
    return rows.reshape(-1, rows.shape[1] if rows.size else 9)[:, :9]


def sequence_dirs(src: pathlib.Path) -> list[pathlib.Path]:
    if (src / 'seqinfo.ini').is_file():
        return [src]
    seqs = sorted(p for p in src.iterdir() if (p / 'seqinfo.ini').is_file())
    if not seqs:
        raise ValueError(f'{src}: no MOT sequence (a folder with seqinfo.ini) here or below')
    return seqs


def convert(args) -> dict:
    builder = DatasetBuilder([(PEDESTRIAN, 'pedestrian')])
    for seq_dir in sequence_dirs(args.src):
        info = read_seqinfo(seq_dir)
        width, height = info['imWidth'], info['imHeight']
        frames = [p for p in list_images(seq_dir / info['imDir'])
                  if p.suffix.lower() == info['imExt'].lower()]
        if not frames:
            raise ValueError(f"{seq_dir / info['imDir']}: no {info['imExt']} frames")
        gt = read_gt(seq_dir / 'gt' / 'gt.txt')
        vid = builder.add_video(info['name'], fps=info['frameRate'])
        by_frame: dict[int, list] = {}
        for row in gt:
            by_frame.setdefault(int(row[0]), []).append(row)
        for path in tqdm(frames, desc=info['name'], leave=False):
            num = frame_number(path)
            iid = builder.add_image(vid, args.sink.place(path, info['name']), height, width,
                                    (num - 1) / info['frameRate'], source_frame=num)
            for row in by_frame.get(num, []):
                flag, cls, vis = int(row[6]), int(row[7]), float(row[8])
                if cls == PEDESTRIAN:
                    ignore = flag != 1
                elif cls in DISTRACTOR_CLASSES:
                    ignore = True
                else:
                    continue
                box = clip_box_xywh(row[2:6], width, height)
                if box is None:
                    continue
                builder.add_box(iid, PEDESTRIAN, box, instance_id=int(row[1]), ignore=ignore,
                                visibility=vis, mot_class=cls)
    return builder.build()
