"""BUV breast-ultrasound video (CVA-Net, v2i_detr.md §6.2): COCO-like JSON + ``rawframes/``.

Layout: ``miccai_buv/rawframes/{benign,malignant}/<video>/<6-digit frame>.png`` and a COCO-style
JSON (``train.json`` / ``val.json``, or CVA-Net's ``imagenet_vid_train_15frames.json`` /
``imagenet_vid_val.json``) whose ``images[].file_name`` is relative to rawframes/. SRC is that
JSON file; ``--frames-root`` defaults to ``rawframes/`` beside it.

Videos are the JSON's ``video_id`` when images carry one, else the folder of ``file_name``
(``benign/<video>``). Frames are ordered by the JSON's ``frame_id`` (else the number in the file
name); frame_id in the output is the rank among the frames the JSON lists (the 15-frame subsample
has gaps) and timestamp = source frame number / ``--fps``, so the gaps stay visible in time.
Image, annotation and category ids are kept (CVA-Net: benign and malignant as classes).
The known duplicate video (``benign/x66ef02e7f1b9a0ef`` = ``malignant/x3b88488853e8b7d1``,
CVA-Net issue #12) is dropped unless ``--keep-duplicate``.
"""
from __future__ import annotations

import json
import pathlib
import posixpath

from training.data.converters.common import frame_number, natural_key
from video_perception.dataset import DatasetBuilder, clip_box_xywh
from video_perception.validate import arg_positive

DUPLICATE_VIDEO = 'benign/x66ef02e7f1b9a0ef'


def add_arguments(group) -> None:
    group.add_argument('--frames-root', type=pathlib.Path, default=None,
                       help='folder file_name is relative to (default: rawframes/ by the JSON)')
    group.add_argument('--fps', type=arg_positive, default=30.0,
                       help='frame rate of the source frame numbers (not given by BUV)')
    group.add_argument('--keep-duplicate', action='store_true',
                       help=f'keep {DUPLICATE_VIDEO} (a copy of a malignant video)')


def convert(args) -> dict:
    src = args.src
    if src.is_dir():
        raise ValueError(f'{src}: pass the annotation JSON (e.g. {src}/train.json) as SRC')
    try:
        with open(src, encoding='utf-8') as f:
            coco = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f'{src}: not a readable COCO JSON ({e})') from None
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(coco.get(key), list):
            raise ValueError(f'{src}: key {key!r} missing; expected COCO-style BUV JSON')
    frames_root = args.frames_root or src.resolve().parent / 'rawframes'
    names = {v['id']: v.get('name') for v in coco.get('videos', []) if 'id' in v}
    groups: dict = {}
    for im in coco['images']:
        folder = posixpath.dirname(im['file_name'])
        key = im.get('video_id', folder)
        groups.setdefault(key, []).append(im)
    anns: dict[int, list] = {}
    for ann in coco['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)
    builder = DatasetBuilder(coco['categories'])
    for key in sorted(groups, key=lambda k: natural_key(str(k))):
        images = groups[key]
        name = names.get(key) or posixpath.dirname(images[0]['file_name'])
        if not args.keep_duplicate and name.rstrip('/').endswith(DUPLICATE_VIDEO):
            continue
        for im in images:
            im['_num'] = im['frame_id'] if 'frame_id' in im else frame_number(im['file_name'])
        images.sort(key=lambda im: im['_num'])
        vid = builder.add_video(name, fps=args.fps,
                                **({'source_video_id': key} if key != name else {}))
        for im in images:
            path = frames_root / im['file_name']
            if not path.is_file() and (src.parent / im['file_name']).is_file():
                path = src.parent / im['file_name']
            iid = builder.add_image(vid, args.sink.place(path, name), im['height'], im['width'],
                                    im['_num'] / args.fps, image_id=im['id'],
                                    source_frame=im['_num'])
            for ann in anns.get(im['id'], []):
                box = clip_box_xywh(ann['bbox'], im['width'], im['height'])
                if box is not None:
                    builder.add_box(iid, ann['category_id'], box, ann_id=ann.get('id'),
                                    ignore=bool(ann.get('iscrowd', 0)),
                                    **({'instance_id': ann['instance_id']}
                                       if 'instance_id' in ann else {}))
    return builder.build()
