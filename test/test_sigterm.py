"""Clean stops on SIGTERM (issue 22 item 4): what a launch file, systemd and CI timeouts send.

Each long-running command is started for real, SIGTERM is sent once it is mid-work (its partial
folder exists, and for the commands that write one it has started filling it), and the test
asserts: exit status 143, exactly one stderr line saying it was stopped by SIGTERM, no traceback,
no temporary folder (``OUT.tmp-PID``, ``.OUT.partial-PID``, a bag's ``.bag.tmp-PID``) left, and
the previous output (an OUT that ``--force`` would have replaced) byte-for-byte as it was. SIGINT
is the same path with exit status 130. The nodes' own SIGTERM handling is covered by
test_node_e2e_dds and test_ros_managed_node.
"""
from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import time

import pytest

from engine_subprocess import child_env, REPO
from matrix import leftovers, snapshot

SN = REPO / 'models' / 'streamnet_tiny_synth'


@pytest.fixture(scope='module')
def clip(tmp_path_factory) -> pathlib.Path:
    """A 1500-frame 96x128 video: long enough that every command is still at work when killed."""
    import cv2
    import numpy as np
    path = tmp_path_factory.mktemp('clip') / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 30.0, (128, 96))
    for i in range(1500):
        frame = np.full((96, 128, 3), i % 200, np.uint8)
        cv2.rectangle(frame, (i % 100, 20), (i % 100 + 20, 60), (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='module')
def dataset(tmp_path_factory) -> pathlib.Path:
    out = tmp_path_factory.mktemp('ds') / 'clip'
    subprocess.run([sys.executable, '-m', 'video_perception.cli', 'synth', 'driving', str(out),
                    '--videos', '1', '--frames', '90', '--seed', '5'], env=child_env(),
                   check=True, capture_output=True, timeout=300)
    return out / 'dataset.json'


def _previous(tmp: pathlib.Path) -> pathlib.Path:
    out = tmp / 'OUT'
    out.mkdir()
    (out / 'previous.txt').write_text('the previous run, which --force would replace')
    return out


def _started(tmp: pathlib.Path, inner: str):
    """A predicate: the command has made its partial folder and ``inner`` inside it."""
    def ready():
        for p in tmp.iterdir():
            if ('.tmp-' in p.name or '.partial-' in p.name) and p.is_dir():
                return not inner or any(p.glob(inner))
        return False
    return ready


def _stop(argv, tmp, ready, sig=signal.SIGTERM, timeout=240, extra_wait=0.0):
    proc = subprocess.Popen([sys.executable, '-m', 'video_perception.cli', *argv], cwd=tmp,
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f'finished before the signal: {proc.communicate()[1][-2000:]}'
    assert ready(), 'never started writing'
    time.sleep(extra_wait)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _assert_clean(rc, out, err, tmp, before, name, sig=signal.SIGTERM):
    text = out + err
    assert 'Traceback' not in text, text[-3000:]
    assert rc == (143 if sig == signal.SIGTERM else 130), f'rc {rc}: {err[-2000:]}'
    word = 'SIGTERM' if sig == signal.SIGTERM else 'SIGINT'
    lines = [ln for ln in err.splitlines() if word in ln]
    assert lines == [f'video-perception {name}: stopped by '
                     f"{'SIGTERM' if sig == signal.SIGTERM else 'Ctrl-C (SIGINT)'}; no partial "
                     'output left'], err[-2000:]
    assert leftovers(tmp) == [], leftovers(tmp)
    if before is not None:
        assert snapshot(tmp / 'OUT') == before, 'the previous output changed'


SIGNALS = [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]


@pytest.mark.parametrize('sig', SIGNALS, ids=['term', 'int'])
def test_replay(clip, tmp_path, sig):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _stop(['replay', str(clip), '--model', str(SN), '--out', 'OUT', '--force',
                          '--backend', 'onnxruntime', '--threads', '1', '--video'], tmp_path,
                         _started(tmp_path, '.bag.tmp-*/*'), sig)
    _assert_clean(rc, out, err, tmp_path, before, 'replay', sig)


def test_replay_sweep(dataset, tmp_path):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _stop(['replay', str(dataset), '--model', str(SN), '--out', 'OUT', '--force',
                          '--backend', 'onnxruntime', '--threads', '1', '--latency', '0.02',
                          '--speed', '0.25,0.5,1,2,4,8'], tmp_path, _started(tmp_path, ''),
                         extra_wait=2.0)
    _assert_clean(rc, out, err, tmp_path, before, 'replay', signal.SIGTERM)


def test_synth(tmp_path):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _stop(['synth', 'driving', 'OUT', '--videos', '40', '--force'], tmp_path,
                         _started(tmp_path, 'frames/*/*.png'))
    _assert_clean(rc, out, err, tmp_path, before, 'synth')


def test_convert(clip, tmp_path):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _stop(['convert', 'frames', str(clip), 'OUT', '--force'], tmp_path,
                         _started(tmp_path, 'frames/**/*.png'))
    _assert_clean(rc, out, err, tmp_path, before, 'convert')


@pytest.mark.slow
def test_export(tmp_path):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _stop(['export', 'streamnet_tiny', '--out', 'OUT', '--force'], tmp_path,
                         _started(tmp_path, '*.onnx'))
    _assert_clean(rc, out, err, tmp_path, before, 'export')


# slow: on one fresh-clone CI run the train child had not exited 120 s after its SIGTERM (it
# passed in every other run); kept in `make test-all` until that hang is understood
@pytest.mark.slow
def test_train(tmp_path):
    """Killed before its first checkpoint the run folder goes; killed after, it keeps the last
    good checkpoint for resume=auto (docs/RELIABILITY.md); never a temporary file."""
    runs = tmp_path / 'runs'
    rc, out, err = _stop(['train', 'toy_mlp', f'output_dir={runs}', 'max_epoch=100000',
                          'progress=false'], tmp_path,
                         lambda: (runs / 'toy_mlp').is_dir())
    _assert_clean(rc, out, err, tmp_path, None, 'train')
    run = runs / 'toy_mlp'
    if run.exists():
        import torch
        assert torch.load(run / 'last.pt', weights_only=True)


@pytest.mark.parametrize('argv', [['publish', 'sim:64x48', '--rate', '50'],
                                  ['echo', '/sigterm_test', '--timeout', '120']],
                         ids=['publish', 'echo'])
def test_ros_tools(argv, tmp_path, ros_domain):
    start = time.monotonic()
    rc, out, err = _stop(argv, tmp_path, lambda: time.monotonic() - start > 4.0)
    _assert_clean(rc, out, err, tmp_path, None, argv[0])
