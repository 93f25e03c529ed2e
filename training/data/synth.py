"""``video-perception synth driving|lesion OUT --seed S``: deterministic synthetic benchmarks.

Writes OUT/frames/<video>/<frame>.png (or .jpg), OUT/dataset.json (canonical format, boxes
included) and, with ``--bag sqlite3|mcap``, one rosbag2 per video under OUT/bags/<video>/ whose
``sensor_msgs/msg/Image`` (bgr8) messages on /camera/image_raw carry header stamps equal to the
dataset's timestamps. The same seed and options give byte-identical dataset.json and frames.

Presets:

* ``driving`` (training.data.synth_driving): Argoverse-HD's 8 classes moving in a perspective
  road scene with velocity and acceleration, approaching objects growing, occlusion, ego yaw and
  pitch, 30 fps; default 4 videos x 60 frames at 192x320.
* ``lesion`` (training.data.synth_lesion): textured tissue, low-contrast lesions (class 'lesion'),
  motion blur, specular highlights, frames where the lesion is barely visible or out of view;
  default 4 videos x 60 frames at 256x256.
* ``lesion_ambiguous`` (training.data.synth_lesion_ambiguous): the lesion scene where single
  frames are ambiguous and clips are not (lesions fade for 1-3 frames; one-frame look-alikes);
  default size 128x128, the evidence benchmark of docs/EVIDENCE.md.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import cv2
import numpy as np
from tqdm import tqdm

from video_perception.dataset import DatasetBuilder, write_video_dataset
from video_perception.outdir import (check_apart, error_line, final_path, OverlapError,
                                     output_dir)
from video_perception.tools.cli_common import raise_if_stopped
from video_perception.validate import arg_count, arg_natural, arg_positive

PRESETS = {
    'driving': ('training.data.synth_driving', (192, 320)),
    'lesion': ('training.data.synth_lesion', (256, 256)),
    'lesion_ambiguous': ('training.data.synth_lesion_ambiguous', (128, 128)),
}
BAG_TOPIC = '/camera/image_raw'


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size {text!r}: expected HxW, e.g. 192x320') from None
    if h < 32 or w < 32:
        raise argparse.ArgumentTypeError(f'--size {text!r}: each side must be >= 32 px')
    return h, w


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='video-perception synth',
                                description='Write a deterministic synthetic video benchmark.')
    p.add_argument('preset', choices=sorted(PRESETS), help=', '.join(sorted(PRESETS)))
    p.add_argument('out', type=pathlib.Path, help='output folder')
    p.add_argument('--seed', type=arg_natural, default=0, help='same seed, same bytes')
    p.add_argument('--videos', type=arg_count, default=4, help='number of videos')
    p.add_argument('--frames', type=arg_count, default=60, help='frames per video')
    p.add_argument('--size', type=parse_size, default=None,
                   help='HxW (default 192x320 driving, 256x256 lesion)')
    p.add_argument('--fps', type=arg_positive, default=30.0, help='frame rate of the timestamps')
    p.add_argument('--image-format', choices=('png', 'jpg'), default='png')
    p.add_argument('--bag', choices=('sqlite3', 'mcap'), default=None,
                   help='also write one rosbag2 per video under OUT/bags/')
    p.add_argument('--force', action='store_true', help='replace a non-empty OUT')
    return p


def generate(preset: str, out, seed: int = 0, videos: int = 4, frames: int = 60,
             size: tuple | None = None, fps: float = 30.0, image_format: str = 'png',
             bag: str | None = None) -> pathlib.Path:
    """Write a synthetic set; returns the dataset.json path. See the module docstring."""
    import importlib
    if preset not in PRESETS:
        raise ValueError(f'preset {preset!r}: expected one of {sorted(PRESETS)}')
    if videos < 1 or frames < 2 or fps <= 0:
        raise ValueError(f'videos={videos}, frames={frames}, fps={fps}: expected videos >= 1, '
                         'frames >= 2, fps > 0')
    module_name, default_size = PRESETS[preset]
    module = importlib.import_module(module_name)
    height, width = size or default_size
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    builder = DatasetBuilder(module.CATEGORIES)
    params = [cv2.IMWRITE_PNG_COMPRESSION, 3] if image_format == 'png' else \
        [cv2.IMWRITE_JPEG_QUALITY, 95]
    for v in tqdm(range(videos), desc=f'synth {preset}'):
        name = f'{preset}_{v:03d}'
        rng = np.random.default_rng([seed, v])
        vid = builder.add_video(name, fps=fps)
        stamps, files = [], []
        for f, (img, objects) in enumerate(module.render_video(rng, frames, height, width, fps)):
            raise_if_stopped()  # a SIGTERM a library swallowed: stop at the next frame
            rel = f'frames/{name}/{f:06d}.{image_format}'
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), img, params):
                raise OSError(f'{path}: cannot write (cv2.imwrite failed: a full disk or an '
                              'unwritable folder)')
            stamp = f / fps
            iid = builder.add_image(vid, rel, height, width, stamp)
            for obj in objects:
                builder.add_box(iid, obj.pop('category_id'), obj.pop('bbox'), **obj)
            stamps.append(stamp)
            files.append(path)
        if bag:
            bag_dir = out / 'bags' / name
            write_image_bag(bag_dir, files, stamps, storage=bag)
            builder.videos[-1]['bag'] = bag_dir.relative_to(out).as_posix()
    return write_video_dataset(builder.build(), out)


def write_image_bag(path, frame_files, stamps, storage: str = 'sqlite3',
                    topic: str = BAG_TOPIC) -> None:
    """A rosbag2 of frame files as sensor_msgs/msg/Image bgr8, header stamp = ``stamps`` (s).

    The receive time of each message equals its stamp; an existing bag at ``path`` is replaced.
    """
    import shutil

    from video_perception import bagio, msgs
    path = pathlib.Path(path)
    if path.exists():
        shutil.rmtree(path)  # the writer refuses to overwrite; a re-run replaces the bag
    with bagio.write_bag(path, storage=storage) as writer:
        for file, stamp in zip(frame_files, stamps):
            img = cv2.imread(str(file), cv2.IMREAD_COLOR)
            ns = int(round(stamp * 1e9))
            msg = msgs.Image(header=msgs.Header(stamp=msgs.Time.from_ns(ns), frame_id='camera'),
                             height=img.shape[0], width=img.shape[1], encoding='bgr8',
                             is_bigendian=0, step=img.shape[1] * 3, data=img.tobytes())
            writer.write(topic, msg, ns)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_apart({'OUT': args.out}, {})  # no inputs; OUT must not hold the current folder
    except OverlapError as e:
        print(f'video-perception synth: {e}', file=sys.stderr)
        return 2
    try:
        with output_dir(args.out, args.force, 'OUT') as tmp:
            path = final_path(generate(args.preset, tmp, args.seed, args.videos, args.frames,
                                       args.size, args.fps, args.image_format, args.bag),
                              tmp, args.out)
    except (ValueError, OSError) as e:
        print(f'video-perception synth: {error_line(e, args.out)}', file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
