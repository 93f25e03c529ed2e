"""SUN-SEG colonoscopy video (v2i_detr.md §6.1): boxes derived from the GT masks.

Layout: ``<Split>/Frame/<case>/<stem>.jpg`` and ``<Split>/GT/<case>/<stem>.png`` for the splits
TrainDataset, TestEasyDataset and TestHardDataset (Edge/, Scribble/, Detection/ are not read).
SRC is a split folder (it holds Frame/ and GT/) or the SUN-SEG root with ``--split``.

The released box JSONs changed their coordinate order between versions ([y, x, w, h] as read by
YONA, then COCO [x, y, w, h]), so, as the spec recommends, boxes come from the masks: the bounding
rectangle of each 8-connected component of ``mask > 127`` (``--boxes components``, YONA's rule
for CVC) or one box around the whole mask (``--boxes whole``). Each case folder is one video at
30 fps; frames are in natural name order, timestamp = rank / fps. A frame without a mask file is
an error (SUN-SEG's positive part has a mask for every frame).
"""
from __future__ import annotations

from tqdm import tqdm

from training.data.converters.common import (image_size, list_images, mask_to_boxes,
                                             mask_to_whole_box, natural_key, read_mask)
from video_perception.dataset import DatasetBuilder
from video_perception.validate import arg_natural, arg_positive

SPLITS = ('TrainDataset', 'TestEasyDataset', 'TestHardDataset')


def add_arguments(group) -> None:
    group.add_argument('--split', choices=SPLITS, default=None,
                       help='split folder under SRC (when SRC is the SUN-SEG root)')
    group.add_argument('--boxes', choices=('components', 'whole'), default='components',
                       help='one box per connected component, or one around the whole mask')
    group.add_argument('--min-area', type=arg_natural, default=1,
                       help='drop smaller components (px)')
    group.add_argument('--fps', type=arg_positive, default=30.0, help='SUN videos are 30 fps')
    group.add_argument('--class-name', default='polyp', help='name of category 1')


def convert(args) -> dict:
    split_dir = args.src
    if not (split_dir / 'Frame').is_dir():
        found = [s for s in SPLITS if (args.src / s / 'Frame').is_dir()]
        if args.split is None or args.split not in found:
            raise ValueError(f'{args.src}: not a SUN-SEG split folder (no Frame/); pass --split '
                             f"one of {found or list(SPLITS)} with SRC = the SUN-SEG root")
        split_dir = args.src / args.split
    frame_root, gt_root = split_dir / 'Frame', split_dir / 'GT'
    if not gt_root.is_dir():
        raise ValueError(f'{split_dir}: no GT/ folder of masks')
    cases = sorted((p for p in frame_root.iterdir() if p.is_dir()),
                   key=lambda p: natural_key(p.name))
    if not cases:
        raise ValueError(f'{frame_root}: no case folders')
    builder = DatasetBuilder([(1, args.class_name)])
    for case in tqdm(cases, desc=split_dir.name):
        frames = list_images(case)
        if not frames:
            continue
        vid = builder.add_video(case.name, fps=args.fps)
        for rank, frame in enumerate(frames):
            mask_path = gt_root / case.name / (frame.stem + '.png')
            if not mask_path.is_file():
                raise ValueError(f'frame {frame}: no mask {mask_path}')
            mask = read_mask(mask_path) > 127
            height, width = mask.shape
            # Reading every JPEG only for its size is slow; one per case catches a mismatch.
            if rank == 0 and image_size(frame) != (height, width):
                raise ValueError(f'{mask_path}: mask {width}x{height} but frame {frame.name} is '
                                 '{1}x{0}'.format(*image_size(frame)))
            iid = builder.add_image(vid, args.sink.place(frame, case.name), height, width,
                                    rank / args.fps)
            if args.boxes == 'whole':
                boxes = mask_to_whole_box(mask)
            else:
                boxes = mask_to_boxes(mask, args.min_area)
            for box in boxes:
                builder.add_box(iid, 1, box)
    return builder.build()
