"""``video-perception export`` stopped by a SIGTERM that a library swallowed (test_sigterm's
``test_train_sigterm_inside_a_library_bare_except``, for export).

The signal is sent, deterministically, while mpmath tries ``import gmpy2`` under its bare
``except:``: torch.onnx's exporter imports sympy while it exports the first graph
(``sigterm_at_import.py`` puts a finder at the head of ``sys.meta_path``). The bare except
swallows the ``Terminated`` and the export goes on with SIGTERM ignored. ``outdir.output_dir``
raises it again before renaming the bundle into place, but only after the whole export and its
checks; ``raise_if_stopped`` between export's steps (graphs, quantising, the bundle checks) stops
it at the next step: exit status 143, one line, no partial bundle, the previous ``--out`` that
``--force`` would have replaced left as it was, and the torch comparison (check-bundle, the
step after the graphs) never started. Without the per-step checks check-bundle runs and prints
its report before the stop.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from engine_subprocess import child_env
from matrix import leftovers, snapshot

HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.slow   # torch import, two dynamo graph exports and their checks (~50 s, 2 cores)
def test_export_sigterm_inside_a_library_bare_except(tmp_path):
    out = tmp_path / 'OUT'
    out.mkdir()
    (out / 'previous.txt').write_text('the previous bundle, which --force would replace')
    before = snapshot(out)
    proc = subprocess.run(
        [sys.executable, str(HERE / 'sigterm_at_import.py'), 'gmpy2', 'export', 'streamnet_tiny',
         '--size', '64x96', '--out', 'OUT', '--force'],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=300)
    err = proc.stderr
    assert 'signal sent while importing gmpy2' in err, \
        f'nothing imported gmpy2 after the handler was installed (torch changed?): {err[-2000:]}'
    assert 'Traceback' not in proc.stdout + err, err[-3000:]
    assert proc.returncode == 143, f'rc {proc.returncode}: {err[-2000:]}'
    lines = [ln for ln in err.splitlines() if 'SIGTERM' in ln]
    assert lines == ['video-perception export: stopped by SIGTERM; no partial output left'], \
        err[-2000:]
    assert 'wrote OUT' not in proc.stdout
    assert 'check-bundle' not in proc.stdout + err, 'not stopped before the check-bundle step'
    assert leftovers(tmp_path) == [], leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['OUT']
    assert snapshot(out) == before, 'the previous --out changed'
