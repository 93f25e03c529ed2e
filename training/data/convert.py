"""``video-perception convert FORMAT SRC OUT``: any supported source into OUT/dataset.json.

Formats: argoverse-hd, sun-seg, buv, mot, labelmap, frames (image folder or video file) and
rosbag2 (an image topic). Frame paths in the output are relative to OUT. By default frames stay
where they are (``file_name`` is a relative path to the source; no disk used); ``--symlink``
makes relative symlinks under OUT/frames/ and ``--copy`` copies them there. Frames decoded from a
video file or a bag are always written under OUT/frames/.

Examples::

    video-perception convert mot ../shared/data/mot17_mini/train data/mot17
    video-perception convert labelmap ../shared/data/vocalfolds data/vf \\
        --class-value 4 --class-name pathology
    video-perception convert argoverse-hd Argoverse-HD/annotations/val.json data/av \\
        --images-root Argoverse-1.1/tracking
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import sys

from training.data.converters import FORMATS
from training.data.converters.common import FrameSink
from video_perception.dataset import VideoDataset, write_video_dataset
from video_perception.outdir import check_apart, error_line, final_path, OverlapError, output_dir


def build_parser(fmt: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='video-perception convert',
        description='Convert a dataset into the canonical video JSON (OUT/dataset.json).')
    parser.add_argument('format', choices=sorted(FORMATS), metavar='FORMAT',
                        help='one of: ' + ', '.join(sorted(FORMATS)))
    parser.add_argument('src', type=pathlib.Path, metavar='SRC', help='source file or folder')
    parser.add_argument('out', type=pathlib.Path, metavar='OUT', help='output folder')
    frames = parser.add_mutually_exclusive_group()
    frames.add_argument('--copy', dest='frame_mode', action='store_const', const='copy',
                        help='copy source frames under OUT/frames/')
    frames.add_argument('--symlink', dest='frame_mode', action='store_const', const='symlink',
                        help='relative symlinks under OUT/frames/')
    parser.set_defaults(frame_mode='path')
    parser.add_argument('--check-files', action='store_true',
                        help='check that every frame file exists after writing')
    parser.add_argument('--force', action='store_true', help='replace a non-empty OUT')
    if fmt in FORMATS:
        group = parser.add_argument_group(f'{fmt} options')
        importlib.import_module(FORMATS[fmt]).add_arguments(group)
    return parser


def run(argv: list[str]) -> pathlib.Path:
    """Convert as the command line says; returns the dataset.json written.

    Raises:
        ValueError / FileNotFoundError: bad input, with a one-line message.
    """
    # The format decides which extra options exist, so peek at it before the full parse.
    fmt = next((a for a in argv if not a.startswith('-')), None)
    args = build_parser(fmt).parse_args(argv)
    check_apart({'OUT': args.out}, {'SRC': args.src, **{
        f"--{k.replace('_', '-')}": v for k, v in vars(args).items()
        if isinstance(v, pathlib.Path) and k not in ('src', 'out')}})
    if not args.src.exists():
        raise FileNotFoundError(f'SRC {args.src}: no such file or folder')
    with output_dir(args.out, args.force, 'OUT') as tmp:
        args.sink = FrameSink(tmp, args.frame_mode)
        module = importlib.import_module(FORMATS[args.format])
        data = module.convert(args)
        ds = VideoDataset(data, tmp.resolve())
        problems = ds.validate(check_files=args.check_files)
        if problems:
            more = f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''
            raise ValueError(f'{args.format} conversion of {args.src} is not valid: '
                             + '; '.join(problems[:5]) + more)
        path = final_path(write_video_dataset(data, tmp), tmp, args.out)
    n_ign = sum(1 for a in data['annotations'] if a.get('iscrowd'))
    print(f"{path}: {len(data['videos'])} videos, {len(data['images'])} frames, "
          f"{len(data['annotations']) - n_ign} boxes, {n_ign} ignore regions, "
          f"{len(data['categories'])} categories")
    return path


def main(argv: list[str]) -> int:
    try:
        run(list(argv))
    except KeyError as e:  # a source record without a field the format requires
        print(f'video-perception convert: a source record lacks the key {e.args[0]!r}',
              file=sys.stderr)
        return 1
    except OverlapError as e:  # a usage error, refused before any work
        print(f'video-perception convert: {e}', file=sys.stderr)
        return 2
    except (ValueError, OSError) as e:
        out = ([a for a in argv if not str(a).startswith('-')][2:3] or ['OUT'])[0]
        print(f'video-perception convert: {error_line(e, out)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
