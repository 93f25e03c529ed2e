"""Frames without ground truth, for replay: a plain image folder or a video file.

An image folder is one video (frames in natural name order; with ``--recursive`` every
sub-folder holding images is a video). Timestamps are frame index / ``--fps``, or with
``--timestamps name-ns`` the last number in each file name read as nanoseconds, relative to the
first frame (Argoverse's ``ring_front_center_<ns>.jpg``). A video file (anything OpenCV can
decode) is written out frame by frame under OUT/frames/<name>/ with timestamp = index / its
frame rate (``--fps`` overrides it). ``categories`` is empty unless ``--classes`` names them.
"""
from __future__ import annotations

import cv2
from tqdm import tqdm

from training.data.converters.common import (IMAGE_EXTS, frame_number, image_size,
                                             list_images, natural_key)
from video_perception.dataset import DatasetBuilder
from video_perception.validate import arg_positive


def add_arguments(group) -> None:
    group.add_argument('--fps', type=arg_positive, default=None,
                       help='frame rate (default: the video file\'s own, 30 for a folder)')
    group.add_argument('--timestamps', choices=('index', 'name-ns'), default='index',
                       help='index: frame index / fps; name-ns: nanoseconds in the file name')
    group.add_argument('--recursive', action='store_true',
                       help='every sub-folder with images is a video')
    group.add_argument('--image-format', choices=('png', 'jpg'), default='png',
                       help='how decoded video frames are written')
    group.add_argument('--classes', default='',
                       help='comma-separated category names (ids 0, 1, ...) for later use')


def categories_from(spec: str) -> list[tuple[int, str]]:
    names = [n.strip() for n in spec.split(',') if n.strip()]
    return list(enumerate(names))


def convert(args) -> dict:
    if args.fps is not None and args.fps <= 0:
        raise ValueError(f'--fps {args.fps}: expected a positive frame rate')
    builder = DatasetBuilder(categories_from(args.classes))
    if args.src.is_file():
        if args.src.suffix.lower() in IMAGE_EXTS:
            raise ValueError(f'{args.src}: a single image; pass its folder as SRC')
        _add_video_file(builder, args)
        return builder.build()
    folders = [args.src]
    if args.recursive:
        folders = sorted({p.parent for p in args.src.rglob('*')
                          if p.is_file() and p.suffix.lower() in IMAGE_EXTS},
                         key=lambda p: natural_key(str(p)))
    for folder in folders:
        files = list_images(folder)
        if not files:
            continue
        name = folder.relative_to(args.src).as_posix() if folder != args.src else folder.name
        fps = args.fps or 30.0
        vid = builder.add_video(name, fps=fps if args.timestamps == 'index' else None)
        t0 = frame_number(files[0]) if args.timestamps == 'name-ns' else 0
        for index, path in enumerate(tqdm(files, desc=name, leave=False)):
            height, width = image_size(path)
            stamp = ((frame_number(path) - t0) * 1e-9 if args.timestamps == 'name-ns'
                     else index / fps)
            builder.add_image(vid, args.sink.place(path, name), height, width, stamp)
    if not builder.images:
        raise ValueError(f'{args.src}: no image files ({", ".join(IMAGE_EXTS)})')
    return builder.build()


def _add_video_file(builder: DatasetBuilder, args) -> None:
    cap = cv2.VideoCapture(str(args.src))
    if not cap.isOpened():
        raise ValueError(f'{args.src}: OpenCV cannot open it as a video')
    try:
        fps = args.fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
        name = args.src.stem
        vid = builder.add_video(name, fps=fps)
        index = 0
        with tqdm(total=total, desc=name, leave=False) as bar:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                rel = args.sink.write(frame, name, f'{index:06d}.{args.image_format}')
                builder.add_image(vid, rel, frame.shape[0], frame.shape[1], index / fps)
                index += 1
                bar.update(1)
    finally:
        cap.release()
    if index == 0:
        raise ValueError(f'{args.src}: the video has no decodable frames')
