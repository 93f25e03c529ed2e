"""An output is never its input (issue 23 item 1): every command that writes refuses, before any
work and with ``--force`` or without, an output that is, contains or lies inside one of its
inputs (symlinks and ``..`` resolved), in one line naming both, exit status 2. Before this,
``replay SRC --out SRC --force`` deleted the user's folder and exited 0.

The matrix runs each real command in its own process (``matrix.run_case``: exit status, no
traceback, the one line, the inputs byte-for-byte as they were, no temporary folder); the
property tests check ``outdir.check_apart`` against an independent reference, the relation of
two resolved paths computed by ``pathlib.PurePath.parts`` prefixes, for random names placed at,
above and below the inputs.
"""
from __future__ import annotations

import os
import pathlib

from hypothesis import given, settings, strategies as st
import pytest

from matrix import Case, params, run_case, SN
from video_perception.outdir import check_apart, OverlapError


def _frames(tmp, name='src', n=3):
    import cv2
    import numpy as np
    folder = tmp / name
    (folder / 'frames').mkdir(parents=True)
    for i in range(n):
        image = np.full((48, 64, 3), 40 * i, np.uint8)
        cv2.imwrite(str(folder / 'frames' / f'{i:04d}.png'), image)
    (folder / 'notes.txt').write_text('the user\'s own notes')
    return folder


def _file(tmp, rel, text='x'):
    path = tmp / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _link(tmp, name, target):
    (tmp / name).symlink_to(target)
    return str(tmp / name)


def _replay(source, out, *extra, model=str(SN)):
    return ['replay', str(source), '--model', model, '--out', str(out), '--backend',
            'onnxruntime', '--threads', '1', *extra]


def _bundle_copy(tmp):
    import shutil
    shutil.copytree(SN, tmp / 'bundle')
    return str(tmp / 'bundle')


GT = 'gt/dataset.json'


CASES = [
    # -- replay: the report's own example, then every input flag and every placement
    Case('replay-out-is-source-force', lambda t: _replay(_frames(t) / 'frames',
                                                         t / 'src' / 'frames', '--force'),
         2, ['--out', 'is source', 'src/frames', 'expected'], keep=['src']),
    Case('replay-out-contains-source', lambda t: _replay(_frames(t) / 'frames', t / 'src',
                                                         '--force'),
         2, ['--out', 'contains source', 'expected'], keep=['src']),
    Case('replay-out-inside-source', lambda t: _replay(_frames(t) / 'frames',
                                                       t / 'src' / 'frames' / 'out'),
         2, ['--out', 'lies inside source'], keep=['src']),
    Case('replay-out-symlink-to-source',
         lambda t: _replay(_frames(t) / 'frames', _link(t, 'link', t / 'src' / 'frames'),
                           '--force'),
         2, ['--out', 'link', 'is source'], keep=['src']),
    Case('replay-out-dotdot-to-source',
         lambda t: _replay(_frames(t) / 'frames', f'{t}/src/frames/../../src', '--force'),
         2, ['--out', 'contains source'], keep=['src']),
    Case('replay-source-through-symlink-parent',
         lambda t: _replay(f"{_link(t, 'alias', _frames(t))}/frames", t / 'src', '--force'),
         2, ['--out', 'contains source', 'alias/frames'], keep=['src']),
    Case('replay-out-contains-gt',
         lambda t: _replay(_frames(t) / 'frames', t / 'gt', '--gt', _file(t, GT), '--force'),
         2, ['--out', 'contains --gt', 'dataset.json'], keep=['src', 'gt']),
    Case('replay-out-contains-model',
         lambda t: _replay(_frames(t) / 'frames', t, '--force', model=_bundle_copy(t)),
         2, ['--out', 'contains', 'expected an output apart'], keep=['src', 'bundle']),
    Case('replay-out-is-model',
         lambda t: _replay(_frames(t) / 'frames', t / 'bundle', '--force',
                           model=_bundle_copy(t)),
         2, ['--out', 'is --model', 'bundle'], keep=['src', 'bundle']),
    Case('replay-out-contains-latency-file',
         lambda t: _replay(_frames(t) / 'frames', t / 'lat', '--latency',
                           _file(t, 'lat/latency.json', '[10, 20]'), '--force'),
         2, ['--out', 'contains --latency', 'latency.json'], keep=['src', 'lat']),
    Case('replay-out-contains-class-map',
         lambda t: _replay(_frames(t) / 'frames', t / 'maps', '--class-map',
                           _file(t, 'maps/map.yaml', 'car: car\n'), '--force'),
         2, ['--out', 'contains --class-map', 'map.yaml'], keep=['src', 'maps']),
    Case('replay-out-is-current-folder',
         lambda t: (_frames(t), _replay(t / 'src' / 'frames', '.', '--force'))[1],
         2, ['--out', "'.'", 'contains source'], keep=['src']),
    Case('replay-out-contains-current-folder',
         lambda t: (_frames(t), (t / 'work').mkdir(),
                    _replay('/nonexistent/frames', '..', '--force'))[2],
         2, ['--out', "'..'", 'contains the current folder'], keep=['src'], cwd='work'),
    # -- convert
    Case('convert-out-is-src', lambda t: ['convert', 'frames', str(_frames(t) / 'frames'),
                                          str(t / 'src' / 'frames'), '--force'],
         2, ['OUT', 'is SRC'], keep=['src']),
    Case('convert-out-inside-src', lambda t: ['convert', 'frames', str(_frames(t)),
                                              str(t / 'src' / 'dataset')],
         2, ['OUT', 'lies inside SRC'], keep=['src'], absent=['src/dataset']),
    Case('convert-out-contains-src', lambda t: ['convert', 'frames', str(_frames(t) / 'frames'),
                                                str(t / 'src'), '--force'],
         2, ['OUT', 'contains SRC'], keep=['src']),
    # -- export, train, evaluate, synth
    Case('export-out-contains-checkpoint',
         lambda t: ['export', '--checkpoint', _file(t, 'run/last.pt'), '--out', str(t / 'run'),
                    '--force'],
         2, ['--out', 'contains --checkpoint', 'last.pt'], keep=['run'], slow=True),
    Case('train-run-folder-contains-train-json',
         lambda t: ['train', 'streamnet_tiny_synth', f'output_dir={t}', 'exp_name=data',
                    f"train_json={_file(t, 'data/dataset.json', '{}')}", '--force'],
         2, ['run folder', 'contains train_json', 'dataset.json'], keep=['data']),
    Case('train-force-would-delete-resume-checkpoint',
         lambda t: ['train', 'toy_mlp', f'output_dir={t}/runs',
                    f"resume={_file(t, 'runs/toy_mlp/last.pt')}", '--force'],
         2, ['run folder', 'contains resume', 'last.pt'], keep=['runs'], slow=True),
    Case('evaluate-out-is-results',
         lambda t: ['evaluate', _file(t, 'gt.json', '{}'), _file(t, 'res.json', '[]'), '--out',
                    str(t / 'res.json')],
         2, ['--out', 'is RESULTS', 'res.json'], keep=['gt.json', 'res.json']),
    Case('evaluate-out-md-is-gt',
         lambda t: ['evaluate', _file(t, 'gt.md', '{}'), _file(t, 'res.json', '[]'), '--out',
                    str(t / 'gt.json')],
         2, ['--out (its .md)', 'is GT', 'gt.md'], keep=['gt.md', 'res.json']),
    Case('synth-out-is-current-folder',
         lambda t: (_frames(t), ['synth', 'driving', '.', '--videos', '1', '--frames', '2',
                                 '--force'])[1],
         2, ['OUT', "'.'", 'is the current folder'], keep=['src'], cwd='src'),
    Case('synth-out-contains-current-folder',
         lambda t: (_frames(t), ['synth', 'driving', '..', '--videos', '1', '--frames', '2',
                                 '--force'])[1],
         2, ['OUT', "'..'", 'contains the current folder'], keep=['src'], cwd='src/frames'),
]


@pytest.mark.parametrize('case', params(CASES))
def test_output_apart_from_inputs(case, tmp_path):
    run_case(case, tmp_path)


@pytest.mark.slow
def test_an_output_beside_the_input_is_written(tmp_path):
    """The control: the same replay with --out beside SRC works and SRC is untouched."""
    from matrix import snapshot
    import subprocess
    import sys
    from engine_subprocess import child_env
    src = _frames(tmp_path)
    before = snapshot(src)
    r = subprocess.run([sys.executable, '-m', 'video_perception.cli',
                        *_replay(src / 'frames', tmp_path / 'src_out', '--latency', '0.02')],
                       env=child_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert snapshot(src) == before
    assert (tmp_path / 'src_out' / 'results.json').is_file()


# ---- the function itself, against a reference on path parts -----------------------------------
def _reference(out: pathlib.Path, inp: pathlib.Path):
    o, i = pathlib.Path(os.path.realpath(out)).parts, pathlib.Path(os.path.realpath(inp)).parts
    if o == i:
        return 'is'
    if i[:len(o)] == o:
        return 'contains'
    if o[:len(i)] == i:
        return 'lies inside'
    return None


NAME = st.text(st.sampled_from('abcXYZ019_-. '), min_size=1, max_size=6).filter(
    lambda s: s not in ('.', '..') and not s.startswith(' '))


@settings(max_examples=150, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=4), st.lists(NAME, min_size=0, max_size=3),
       st.integers(-4, 3), st.booleans(), st.booleans())
def test_check_apart_matches_the_reference(tmp_path_factory, base, tail, up, make, via_link):
    """OUT at, above (``up`` < 0 levels) or below (``up`` > 0, random names) the input, written
    plainly, through ``..`` or through a symlink to the input's folder; existing or not."""
    root = tmp_path_factory.mktemp('p')
    inp = root.joinpath(*base)
    if make:
        inp.mkdir(parents=True, exist_ok=True)
    if up < 0:
        out = inp.parents[min(-up, len(base)) - 1]
    else:
        out = inp.joinpath(*tail[:up])
    shown = out
    if via_link and out != root:
        link = root / 'the link'
        link.symlink_to(out.parent, target_is_directory=True)
        shown = link / out.name
    elif tail:
        shown = pathlib.Path(str(out / tail[0] / '..'))  # the same place, spelled with ..
    expected = _reference(shown, inp)
    old = os.getcwd()
    os.chdir(tmp_path_factory.getbasetemp())  # the current folder is apart from both
    try:
        if expected is None:
            check_apart({'--out': shown}, {'SOURCE': inp})
        else:
            with pytest.raises(OverlapError) as err:
                check_apart({'--out': shown}, {'SOURCE': inp})
            line = str(err.value)
            assert f'--out {str(shown)!r} {expected} SOURCE {str(inp)!r}' in line
            assert '\n' not in line
    finally:
        os.chdir(old)


@settings(max_examples=60, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=3), st.lists(NAME, min_size=1, max_size=3))
def test_siblings_with_a_common_prefix_are_apart(tmp_path_factory, a, b):
    """``/x/src`` and ``/x/src2`` share a string prefix but are apart (no startswith on text)."""
    root = tmp_path_factory.mktemp('s')
    inp = root.joinpath(*a)
    out = inp.parent / (inp.name + ''.join(b))
    old = os.getcwd()
    os.chdir(tmp_path_factory.getbasetemp())
    try:
        check_apart({'--out': out}, {'SOURCE': inp})
    finally:
        os.chdir(old)


def test_unset_inputs_are_skipped_and_the_first_overlap_is_named(tmp_path):
    old = os.getcwd()
    os.chdir(tmp_path.parent)
    try:
        check_apart({'--out': tmp_path / 'o'}, {'--gt': None, '--class-map': ''})
        with pytest.raises(OverlapError, match="--out .* contains --gt"):
            check_apart({'--out': tmp_path}, {'SOURCE': '/elsewhere', '--gt': tmp_path / 'g'})
    finally:
        os.chdir(old)


@pytest.mark.parametrize('argv,expect', [
    (['--out', 'cache/report.md', '--bundle-dir', 'cache'], ['--out', 'lies inside --bundle-dir']),
    (['--out', 'r.md', '--json', 'r.md'], ['--json', 'is --out']),
], ids=['bench-out-inside-cache', 'bench-json-is-out'])
def test_bench_outputs_apart(argv, expect, tmp_path):
    """scripts/bench.py (``make bench``): the report, the JSON and the bundle cache apart."""
    import subprocess
    import sys
    from engine_subprocess import child_env, REPO
    r = subprocess.run([sys.executable, str(REPO / 'scripts' / 'bench.py'), *argv], cwd=tmp_path,
                       env=child_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    assert [ln for ln in r.stderr.splitlines() if all(e in ln for e in expect)] != []
    assert len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
