"""INT8 bundles for the tests: the shipped tiny StreamNet quantised in place (no torch export),
calibrated from a rosbag2 of a synthetic driving clip whose seed the model never saw (202; the
held-out clip of the README is 101)."""
from __future__ import annotations

import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[1]
SHIPPED_TINY = REPO / 'models' / 'streamnet_tiny_synth'
CALIB_FRAMES = 8
_made = {}


def calib_bag(root: pathlib.Path, frames: int = 12, seed: int = 202) -> pathlib.Path:
    """A rosbag2 (sqlite3) of a synthetic driving clip, written by ``video-perception synth``."""
    from video_perception.cli import main
    out = root / f'clip_{seed}_{frames}'
    if not out.exists():
        assert main(['synth', 'driving', str(out), '--seed', str(seed), '--videos', '1',
                     '--frames', str(frames), '--bag', 'sqlite3']) == 0
    return out / 'bags' / 'driving_000'


def int8_tiny(root: pathlib.Path, bag: pathlib.Path, name: str = 'tiny_int8',
              method: str = 'minmax', frames: int = CALIB_FRAMES, **kw) -> pathlib.Path:
    from training.calibration import quantize_bundle
    out = root / name
    shutil.copytree(SHIPPED_TINY, out)
    quantize_bundle(str(out), str(bag), frames, method, **kw)
    return out


def shared_int8_tiny(tmp_path_factory) -> pathlib.Path:
    """One int8 tiny bundle per test process (quantising takes a few seconds)."""
    if 'tiny' not in _made:
        root = tmp_path_factory.mktemp('int8')
        _made['tiny'] = int8_tiny(root, calib_bag(root))
    return _made['tiny']
