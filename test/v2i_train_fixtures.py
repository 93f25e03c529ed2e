"""A tiny CocoVID lesion video on disk for the V2I training tests (helper, not a test module)."""
import pathlib

import cv2
import numpy as np

from video_perception.dataset import DatasetBuilder, write_video_dataset


def box_of(frame: int, height: int, width: int):
    """The lesion box [x, y, w, h] of frame ``frame`` (moves right 3 px per frame); None on
    every fourth frame (a frame without lesions)."""
    if frame % 4 == 3:
        return None
    return [6.0 + 3 * frame, 0.25 * height, 0.3 * width, 0.35 * height]


def write_tiny_video(root: pathlib.Path, videos: int = 1, frames: int = 8, height: int = 64,
                     width: int = 80, seed: int = 0) -> pathlib.Path:
    """Write PNG frames (noise + a bright box) and dataset.json; returns the JSON path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    b = DatasetBuilder([(7, 'lesion')])
    for v in range(videos):
        vid = b.add_video(f'vid{v}', fps=10)
        for f in range(frames):
            img = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
            img[..., 0] = (img[..., 0] // 2 + 20 * f).astype(np.uint8)   # frames differ in B
            name = f'vid{v}/{f:03d}.png'
            (root / f'vid{v}').mkdir(exist_ok=True)
            box = box_of(f, height, width)
            if box is not None:
                x, y, w, h = (int(round(c)) for c in box)
                img[y:y + h, x:x + w] = (60, 200, 230)
            cv2.imwrite(str(root / name), img)
            iid = b.add_image(vid, name, height, width, f / 10)
            if box is not None:
                b.add_box(iid, 7, box)
    return write_video_dataset(b.build(), root / 'dataset.json')
