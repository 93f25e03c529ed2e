"""``make gpu-check`` without a CUDA GPU: one line that says so, exit 0 (the script's GPU parts
cannot run here; no GPU was lent to the session that wrote it)."""
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_without_cuda_one_line_and_exit_0(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHONPATH=str(REPO))
    out = tmp_path / 'gpu.md'
    res = subprocess.run([sys.executable, str(REPO / 'scripts' / 'gpu_check.py'), '--out',
                          str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('gpu-check: no CUDA GPU'), res.stdout
    assert not out.exists()          # nothing measured, nothing written


def test_make_target_runs_the_script():
    text = (REPO / 'Makefile').read_text()
    assert 'gpu-check:' in text and 'scripts/gpu_check.py' in text.split('gpu-check:')[1][:200]
