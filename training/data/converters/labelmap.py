"""Label-map video (e.g. ../shared/data/vocalfolds): frames plus per-pixel class maps.

Layout: SRC/<images-dir>/<video path>/<frame>.png and SRC/<labels-dir>/<video path>/<frame>.png
with the same relative names (vocalfolds: img/patient1/seq1/0001.png, annot/patient1/seq1/...).
Every folder under the labels dir that holds label maps is one video, named by its relative
path. ``--class-value V --class-name NAME`` (repeatable, paired in order) makes category V; its
boxes are the bounding rectangles of the **8-connected** components of ``label == V``
(cv2.connectedComponentsWithStats). Frame numbers come from the file names (the last group of
digits); frame_id is the rank of a frame in its video and timestamp = frame number / fps, so
sub-sampled videos keep their real time gaps.
"""
from __future__ import annotations

import pathlib

from tqdm import tqdm

from training.data.converters.common import (frame_number, image_size, list_images,
                                             mask_to_boxes, read_mask)
from video_perception.dataset import DatasetBuilder
from video_perception.validate import arg_natural, arg_positive


def add_arguments(group) -> None:
    group.add_argument('--class-value', type=arg_natural, action='append', required=True,
                       help='label value that becomes a category (repeatable); its boxes are '
                            'the bounding rectangles of the 8-connected components')
    group.add_argument('--class-name', action='append', default=None,
                       help='name of that category, paired with --class-value in order')
    group.add_argument('--images-dir', default='img', help='frames folder under SRC')
    group.add_argument('--labels-dir', default='annot', help='label-map folder under SRC')
    group.add_argument('--fps', type=arg_positive, default=30.0,
                       help='frame rate of the frame numbers in the file names')
    group.add_argument('--min-area', type=arg_natural, default=1,
                       help='drop components with fewer pixels')


def convert(args) -> dict:
    values = args.class_value
    names = args.class_name or [f'class_{v}' for v in values]
    if len(names) != len(values):
        raise ValueError(f'{len(values)} --class-value but {len(names)} --class-name; give one '
                         'name per value')
    if args.fps <= 0:
        raise ValueError(f'--fps {args.fps}: expected a positive frame rate')
    img_root, lab_root = args.src / args.images_dir, args.src / args.labels_dir
    for root, flag in ((img_root, '--images-dir'), (lab_root, '--labels-dir')):
        if not root.is_dir():
            raise ValueError(f'{root}: not a folder (set {flag})')
    videos = sorted({p.parent for p in lab_root.rglob('*') if p.suffix.lower() == '.png'},
                    key=lambda p: str(p))
    if not videos:
        raise ValueError(f'{lab_root}: no .png label maps')
    builder = DatasetBuilder(list(zip(values, names)))
    for lab_dir in videos:
        name = lab_dir.relative_to(lab_root).as_posix()
        vid = builder.add_video(name, fps=args.fps)
        labels = sorted(list_images(lab_dir), key=frame_number)
        for lab_path in tqdm(labels, desc=name, leave=False):
            img_path = _frame_for(img_root / lab_dir.relative_to(lab_root), lab_path)
            height, width = image_size(img_path)
            label = read_mask(lab_path)
            if label.shape != (height, width):
                raise ValueError(f'{lab_path}: label map {label.shape[1]}x{label.shape[0]} '
                                 f'but frame {img_path.name} is {width}x{height}')
            num = frame_number(lab_path)
            iid = builder.add_image(vid, args.sink.place(img_path, name), height, width,
                                    num / args.fps, source_frame=num)
            for value in values:
                for box in mask_to_boxes(label == value, args.min_area):
                    builder.add_box(iid, value, box)
    return builder.build()


def _frame_for(img_dir: pathlib.Path, lab_path: pathlib.Path) -> pathlib.Path:
    """The frame with the label map's stem (any image extension)."""
    for cand in [img_dir / lab_path.name] + sorted(img_dir.glob(lab_path.stem + '.*')):
        if cand.is_file():
            return cand
    raise ValueError(f'{lab_path}: no frame named {lab_path.stem}.* in {img_dir}')
