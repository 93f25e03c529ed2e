"""Argoverse-HD annotation JSON (train.json, val.json, test-meta.json) into the canonical format.

The source is COCO JSON plus: ``images`` with ``sid`` (sequence index), ``fid`` (frame index in
the sequence from 0) and ``name`` (file name); ``sequences`` (hash strings); ``seq_dirs``
(``split/<hash>/ring_front_center`` relative to ``Argoverse-1.1/tracking/``); ``categories`` with
ids 0..7 (person, bicycle, car, motorcycle, bus, truck, traffic_light, stop_sign), kept as they
are. Image and annotation ids are kept, so result files keyed by Argoverse ids still line up; an
annotation's ``track`` becomes ``instance_id``. Timestamps are fid / 30 s (the 30 Hz clock of the
sAP toolkit) unless the image carries ``timestamp``, or ``--timestamps name`` takes them from the
nanoseconds in the file name (relative to the sequence's first frame).
"""
from __future__ import annotations

import json
import pathlib

from training.data.converters.common import frame_number
from video_perception.dataset import DatasetBuilder, clip_box_xywh

FPS = 30.0
CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck', 'traffic_light',
           'stop_sign')


def add_arguments(group) -> None:
    group.add_argument('--images-root', type=pathlib.Path, default=None,
                       help='folder the seq_dirs are relative to (Argoverse-1.1/tracking); '
                            'default: ../../Argoverse-1.1/tracking from the JSON')
    group.add_argument('--timestamps', choices=('fid', 'name'), default='fid',
                       help='fid: fid / 30 s; name: nanoseconds in the file name')
    group.add_argument('--skip-missing', action='store_true',
                       help='leave out frames whose file is absent (whole sequences only)')


def convert(args) -> dict:
    src = args.src
    try:
        with open(src, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f'{src}: not a readable Argoverse-HD JSON ({e})') from None
    for key in ('images', 'sequences', 'seq_dirs', 'categories'):
        if key not in meta:
            raise ValueError(f'{src}: key {key!r} missing; expected an Argoverse-HD JSON '
                             '(images with sid/fid/name, sequences, seq_dirs, categories)')
    root = args.images_root or src.resolve().parent.parent.parent / 'Argoverse-1.1' / 'tracking'
    builder = DatasetBuilder(meta['categories'])
    by_seq: dict[int, list] = {}
    for im in meta['images']:
        if not all(k in im for k in ('id', 'sid', 'fid', 'name')):
            raise ValueError(f"{src}: image {im.get('id')} lacks one of id/sid/fid/name")
        by_seq.setdefault(int(im['sid']), []).append(im)
    anns: dict[int, list] = {}
    for ann in meta.get('annotations', []):
        anns.setdefault(ann['image_id'], []).append(ann)
    missing = []
    for sid in sorted(by_seq):
        if sid >= len(meta['seq_dirs']):
            raise ValueError(f"{src}: sid {sid} but only {len(meta['seq_dirs'])} seq_dirs")
        seq_dir = root / meta['seq_dirs'][sid]
        frames = sorted(by_seq[sid], key=lambda im: im['fid'])
        files = [seq_dir / im['name'] for im in frames]
        absent = [p for p in files if not p.is_file()]
        if absent:
            missing.append(absent[0])
            if args.skip_missing:
                continue
            raise ValueError(f'frame {absent[0]} not found ({len(absent)} of sequence {sid} '
                             'missing); set --images-root or pass --skip-missing')
        name = meta['sequences'][sid] if sid < len(meta['sequences']) else str(sid)
        vid = builder.add_video(name, fps=FPS, sid=sid)
        t0 = frame_number(frames[0]['name']) if args.timestamps == 'name' else 0
        for im, path in zip(frames, files):
            if 'timestamp' in im:
                stamp = float(im['timestamp'])
            elif args.timestamps == 'name':
                stamp = (frame_number(im['name']) - t0) * 1e-9
            else:
                stamp = im['fid'] / FPS
            iid = builder.add_image(vid, args.sink.place(path, name), im['height'],
                                    im['width'], stamp, image_id=im['id'], sid=sid,
                                    fid=im['fid'])
            for ann in anns.get(im['id'], []):
                box = clip_box_xywh(ann['bbox'], im['width'], im['height'])
                if box is None:
                    continue
                track = ann.get('track', ann.get('track_id', ann.get('instance_id')))
                builder.add_box(iid, ann['category_id'], box, instance_id=track,
                                ignore=bool(ann.get('iscrowd', 0) or ann.get('ignore', 0)),
                                ann_id=ann.get('id'))
    if not builder.images:
        raise ValueError(f'{src}: no frame found under {root} (first missing: {missing[0]})'
                         if missing else f'{src}: no images')
    return builder.build()
