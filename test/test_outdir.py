"""Output folders (video_perception/outdir.py): replaced whole with --force, never half-made, and
relative frame paths still valid after the temporary sibling is renamed onto OUT."""
import json
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from engine_subprocess import child_env
from video_perception.outdir import output_dir

CLI = [sys.executable, '-m', 'video_perception.cli']


def _run(*args, cwd):
    return subprocess.run(CLI + list(args), cwd=cwd, env=child_env(), capture_output=True,
                          text=True, timeout=240)


def _hidden(folder: pathlib.Path):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('.'))


def test_synth_force_replaces_the_whole_folder(tmp_path):
    out = tmp_path / 'data'
    out.mkdir()
    (out / 'mine.txt').write_text('x')
    refused = _run('synth', 'driving', 'data', '--videos', '1', '--frames', '2', cwd=tmp_path)
    assert refused.returncode == 1 and (out / 'mine.txt').read_text() == 'x'
    done = _run('synth', 'driving', 'data', '--videos', '1', '--frames', '2', '--force',
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'data/dataset.json'        # the final path, not the temporary
    assert not (out / 'mine.txt').exists()                    # replaced, not mixed
    data = json.loads((out / 'dataset.json').read_text())
    assert len(data['images']) == 2 and all((out / i['file_name']).is_file()
                                            for i in data['images'])
    assert _hidden(tmp_path) == []                            # no .partial / .old left


def test_convert_keeps_relative_source_paths_valid(tmp_path):
    src = tmp_path / 'cam'
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f'{i:03d}.png'), np.full((32, 48, 3), 50 * i, np.uint8))
    r = _run('convert', 'frames', 'cam', 'nested/out', '--check-files', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / 'nested' / 'out'
    data = json.loads((out / 'dataset.json').read_text())
    files = [(out / i['file_name']).resolve() for i in data['images']]
    assert files == sorted(src.resolve().glob('*.png'))      # written from the temporary sibling
    assert _hidden(tmp_path / 'nested') == []


@pytest.mark.parametrize('error', [ValueError('bad input'), KeyboardInterrupt()])
def test_failure_leaves_nothing_not_even_parents(tmp_path, error):
    target = tmp_path / 'a' / 'b' / 'out'
    with pytest.raises(type(error)):
        with output_dir(target) as tmp:
            (tmp / 'half.bin').write_bytes(b'x')
            raise error
    assert list(tmp_path.iterdir()) == []


def test_in_place_keeps_a_failed_run_with_checkpoints(tmp_path):
    run = tmp_path / 'runs' / 'exp'
    with pytest.raises(RuntimeError):
        with output_dir(run, in_place=True, keep=lambda p: any(p.glob('*.pt'))) as d:
            (d / 'last.pt').write_bytes(b'ckpt')
            raise RuntimeError('killed later')
    assert (run / 'last.pt').read_bytes() == b'ckpt'
    with pytest.raises(ValueError, match='resume=auto'):
        with output_dir(run, in_place=True, hint='pass resume=auto'):
            pass
    with output_dir(run, in_place=True, reuse=True) as d:     # resume: written into as it is
        assert (d / 'last.pt').exists()
    with output_dir(run, force=True, in_place=True) as d:     # --force: starts over, empty
        assert list(d.iterdir()) == []
