"""Clean stops on SIGTERM (issue 22 item 4): what a launch file, systemd and CI timeouts send.

Each long-running command is started for real, SIGTERM is sent once it is mid-work (its partial
folder exists, and for the commands that write one it has started filling it), and the test
asserts: exit status 143, exactly one stderr line saying it was stopped by SIGTERM, no traceback,
no temporary folder (``OUT.tmp-PID``, ``.OUT.partial-PID``, a bag's ``.bag.tmp-PID``) left, and
the previous output (an OUT that ``--force`` would have replaced) byte-for-byte as it was. SIGINT
is the same path with exit status 130. The nodes' own SIGTERM handling is covered by
test_node_e2e_dds and test_ros_managed_node.

A SIGTERM lands at whatever line runs then; ``test_train_sigterm_inside_a_library_bare_except``
puts it, deterministically, where the fresh-clone CI hang of issue 22 had it: inside mpmath's
``try: import gmpy2 ... except: pass``, run when torch first imports sympy while the optimizer is
built. The bare except swallowed the exception and training went on with SIGTERM ignored.
"""
from __future__ import annotations

import json
import os
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


@pytest.fixture(scope='module')
def long_dataset(dataset) -> pathlib.Path:
    """A dataset JSON of 30000 frames (the 90 of ``dataset`` over and over, no boxes): a replay
    of it takes many minutes, so only a stop at its next frame ends it within a test's time."""
    data = json.loads(dataset.read_text())
    ims = data['images']
    path = dataset.with_name('long.json')   # beside it: the frame paths stay valid
    path.write_text(json.dumps({
        'videos': data['videos'][:1], 'categories': data['categories'], 'annotations': [],
        'images': [dict(ims[i % len(ims)], id=i, video_id=data['videos'][0]['id'], frame_id=i,
                        timestamp=i / 30.0) for i in range(30000)]}))
    return path


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


def _finish(proc, timeout=120):
    """``proc``'s (status, stdout, stderr) once it exits; a child still running after
    ``timeout`` s fails the test and is killed (it may ignore SIGTERM by then)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f'still running {timeout} s after the signal: {err[-2000:]}')
    return proc.returncode, out, err


def _stop(argv, tmp, ready, sig=signal.SIGTERM, timeout=240, extra_wait=0.0, command=None):
    command = command or [sys.executable, '-m', 'video_perception.cli']
    proc = subprocess.Popen([*command, *argv], cwd=tmp, env=child_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is None and not ready():
        proc.kill()
    assert proc.poll() is None, f'finished before the signal: {proc.communicate()[1][-2000:]}'
    assert ready(), 'never started writing'
    time.sleep(extra_wait)
    proc.send_signal(sig)
    return _finish(proc)


def _assert_clean(rc, out, err, tmp, before, name, sig=signal.SIGTERM, prog=None):
    text = out + err
    assert 'Traceback' not in text, text[-3000:]
    assert rc == (143 if sig == signal.SIGTERM else 130), f'rc {rc}: {err[-2000:]}'
    word = 'SIGTERM' if sig == signal.SIGTERM else 'SIGINT'
    lines = [ln for ln in err.splitlines() if word in ln]
    assert lines == [f'{prog or "video-perception " + name}: stopped by '
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


def _signalled_at(where, argv, tmp, *flags, timeout=180):
    """(status, stdout, stderr) of ``video-perception ARGV`` sent a real SIGTERM at a fixed
    moment, WHERE (``test/sigterm_at_import.py``: the first lookup of a module, or with
    ``--audit`` an audit event; ``--swallow``: inside a bare ``except:``); fails the test when
    the command never got there (the import moved, the event is gone)."""
    proc = subprocess.Popen([sys.executable, str(pathlib.Path(__file__).with_name(
        'sigterm_at_import.py')), *flags, where, *argv], cwd=tmp, env=child_env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc, out, err = _finish(proc, timeout=timeout)
    assert 'sigterm_at_import: signal sent while' in err, \
        f'{argv[0]} never reached {where} after the handler was installed: {err[-2000:]}'
    return rc, out, err


def test_train_sigterm_inside_a_library_bare_except(tmp_path):
    """The fresh-clone CI hang: the SIGTERM arrives while mpmath tries ``import gmpy2`` under a
    bare ``except:`` (torch imports sympy when the first optimizer is built). Without
    ``raise_if_stopped`` in the training loop the run trains on, SIGTERM ignored, and this test
    fails on its timeout; with it the run stops before its first step."""
    runs = tmp_path / 'runs'
    rc, out, err = _signalled_at('gmpy2', ['train', 'toy_mlp', f'output_dir={runs}',
                                           'max_epoch=100000', 'progress=false'], tmp_path)
    _assert_clean(rc, out, err, tmp_path, None, 'train')
    assert not runs.exists(), 'stopped before its first checkpoint, the run folder must go'


def _swallowed_sigterm() -> None:
    """A real SIGTERM to this process whose Terminated a bare except swallows, as mpmath's
    backend does around ``import gmpy2``."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises in here
    except:  # noqa: E722 - a library's bare except
        pass


def _run_stoppable_here(prog: str, body) -> int:
    """``run_stoppable`` in this process with SIGTERM at its default first, restored after."""
    from video_perception.tools.cli_common import run_stoppable
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        return run_stoppable(prog, body)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_swallowed_sigterm_is_raised_again_at_the_next_check(capsys):
    """The mechanism alone, in this process: a real SIGTERM whose Terminated a bare except
    swallows; the loop's next ``raise_if_stopped`` stops the command, one line, 143."""
    from video_perception.tools.cli_common import raise_if_stopped, run_stoppable
    steps = []

    def body():
        _swallowed_sigterm()
        for step in range(1000):
            raise_if_stopped()
            steps.append(step)
        return 0

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert run_stoppable('video-perception x', body) == 143
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert run_stoppable('video-perception x', lambda: 0) == 0  # the stop does not linger
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert steps == []
    assert capsys.readouterr().err.splitlines() == [
        'video-perception x: stopped by SIGTERM; no partial output left']


def test_the_stop_line_does_not_share_a_progress_bars_line(capsys):
    """A stop inside a tqdm loop (evaluate's render, a replay): the bar draws without a newline,
    so the one line must come after the bar is closed, on a line of its own (CI once read
    ``render:   0%|...| 0/800 [...]video-perception evaluate: stopped by SIGTERM; ...``)."""
    from tqdm import tqdm
    from video_perception.tools.cli_common import Terminated

    def body():
        bar = tqdm(total=800, desc='render', file=sys.stderr, leave=False, mininterval=0)
        bar.update(1)       # drawn, no newline; the traceback keeps the bar open past the raise
        raise Terminated()

    assert _run_stoppable_here('video-perception x', body) == 143
    lines = [ln.strip() for ln in capsys.readouterr().err.replace('\r', '\n').splitlines()]
    assert 'video-perception x: stopped by SIGTERM; no partial output left' in lines, lines


@pytest.fixture(scope='module')
def eval_case(tmp_path_factory) -> pathlib.Path:
    """GT of 800 frames (640x480 JPEGs) and a results file detecting every GT box."""
    import cv2
    import numpy as np
    from test_eval_streaming import make_gt, results_json
    root = tmp_path_factory.mktemp('eval')
    gt = make_gt([800], [0.0])
    for a in gt['annotations']:  # the box moves 8 px a frame: wrapped to stay in the frame
        a['bbox'][0] = 10 + (a['bbox'][0] - 10) % 560
    (root / '0').mkdir()
    for im in gt['images']:
        im['width'], im['height'] = 640, 480
        frame = np.full((480, 640, 3), im['frame_id'] % 250, np.uint8)
        cv2.imwrite(str(root / im['file_name']), frame)
    (root / 'gt.json').write_text(json.dumps(gt))
    outputs = [(im['id'], im['timestamp'] + 0.03) for im in gt['images']]
    (root / 'res.json').write_text(json.dumps(results_json(gt, outputs)))
    return root


def test_evaluate(eval_case, tmp_path):
    """Stopped while it renders --frames: the frames folder is not made (a released writer's
    short clip.mp4 would look whole), the previous --out report pair is as it was."""
    prev = tmp_path / 'OUT'
    prev.mkdir()
    (prev / 'report.json').write_text('{"previous": true}')
    (prev / 'report.md').write_text('the previous report')
    before, inputs = snapshot(prev), snapshot(eval_case)
    rc, out, err = _stop(['evaluate', str(eval_case / 'gt.json'), str(eval_case / 'res.json'),
                          '--out', str(prev / 'report.json'), '--frames', 'frames'], tmp_path,
                         _started(tmp_path, 'frame_*.png'))
    _assert_clean(rc, out, err, tmp_path, before, 'evaluate')
    assert not (tmp_path / 'frames').exists()
    assert snapshot(eval_case) == inputs


@pytest.mark.slow   # imports torch and exports before it can be stopped mid-export (~40 s)
def test_import(tmp_path):
    from test_import_cmd import official_file
    ckpt = official_file('yolox', tmp_path / 'official.pth')
    before, given = snapshot(_previous(tmp_path)), snapshot(tmp_path / 'official.pth')
    rc, out, err = _stop(['import', 'yolox', str(ckpt), '--model', 'yolox_nano', '--size', '64x96',
                          '--out', 'OUT', '--force'], tmp_path, _started(tmp_path, '*.onnx'))
    _assert_clean(rc, out, err, tmp_path, before, 'import')
    assert snapshot(tmp_path / 'official.pth') == given


def test_bench(tmp_path):
    """``scripts/bench.py`` (``make bench``) stopped while it exports a bundle into its cache:
    no half-exported bundle that a later run would take as complete, no report, no JSON."""
    cache = tmp_path / 'cache'
    cache.mkdir()
    (cache / 'kept.txt').write_text('a bundle cached before')
    # (with a section marker: bench.py refuses a marker-less report before any work)
    (tmp_path / 'report.md').write_text('<!-- bench:section peak -->\n## the previous report\n')
    before = snapshot(tmp_path / 'report.md')
    rc, out, err = _stop(['--quick', '--only', 'latency', '--bundle-dir', 'cache', '--out',
                          'report.md', '--json', 'bench.json'], tmp_path,
                         _started(cache, ''), extra_wait=0.5,
                         command=[sys.executable, str(REPO / 'scripts' / 'bench.py')])
    _assert_clean(rc, out, err, tmp_path, None, 'bench', prog='bench')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cache', 'report.md']  # no JSON
    assert snapshot(tmp_path / 'report.md') == before
    from video_perception.bundle import load_bundle
    for entry in cache.iterdir():  # what the cache holds is whole: a later run may use it
        if entry.name != 'kept.txt':
            load_bundle(entry)


@pytest.mark.parametrize('argv', [['publish', 'sim:64x48', '--rate', '50'],
                                  ['echo', '/sigterm_test', '--timeout', '120']],
                         ids=['publish', 'echo'])
def test_ros_tools(argv, tmp_path, ros_domain):
    start = time.monotonic()
    rc, out, err = _stop(argv, tmp_path, lambda: time.monotonic() - start > 4.0)
    _assert_clean(rc, out, err, tmp_path, None, argv[0])


def test_evaluate_refuses_a_non_empty_frames_folder(eval_case, tmp_path, capsys):
    """--frames now renders into a partial folder renamed onto it; a folder holding something is
    refused before the scoring (nothing overwritten without being asked), left as it was."""
    from video_perception.tools.evaluate import main
    frames = tmp_path / 'frames'
    frames.mkdir()
    (frames / 'mine.png').write_bytes(b'the user\'s file')
    before = snapshot(frames)
    assert main([str(eval_case / 'gt.json'), str(eval_case / 'res.json'),
                 '--frames', str(frames)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and '--frames folder' in err[0] and 'not empty' in err[0], err
    assert snapshot(frames) == before


# A SIGTERM that a library swallows mid-work (as mpmath swallowed train's): each command meets
# the recorded stop at its loop's next item (replay: the next frame, in a sweep too; synth: the
# next frame; convert: the next frame handed to the FrameSink; evaluate: the next rendered frame
# or before the plots are moved into place) or, at the latest, before it renames its output into
# place. On main's code each of these ran to its end and exited 0 with a complete-looking OUT
# (synth's 1000 videos and the 30000-frame replay ran past the timeout, which only the per-item
# check meets: the check before the rename alone would not end them in time either).
REPLAY = ['--model', str(SN), '--out', 'OUT', '--force', '--backend', 'onnxruntime',
          '--threads', '1']
SWALLOWED = [
    pytest.param('replay', 'video_perception.ros_convert',   # the first detections written
                 lambda clip, long: ['replay', str(long), *REPLAY], id='replay'),
    pytest.param('replay', 'video_perception.draw',          # replay.mp4's first frame
                 lambda clip, long: ['replay', str(clip), *REPLAY, '--video'],
                 id='replay-video', marks=pytest.mark.slow),
    pytest.param('synth', 'training.data.synth_driving',     # inside the partial OUT
                 lambda clip, long: ['synth', 'driving', 'OUT', '--videos', '1000', '--force'],
                 id='synth'),
    pytest.param('convert', 'training.data.converters.frames',  # inside the partial OUT
                 lambda clip, long: ['convert', 'frames', str(clip), 'OUT', '--force'],
                 id='convert'),
]


@pytest.mark.parametrize('name, where, argv', SWALLOWED)
def test_a_swallowed_sigterm_stops_the_command(name, where, argv, clip, long_dataset,
                                               tmp_path):
    before = snapshot(_previous(tmp_path))
    rc, out, err = _signalled_at(where, argv(clip, long_dataset), tmp_path, '--swallow',
                                 timeout=90)
    _assert_clean(rc, out, err, tmp_path, before, name)


def test_a_swallowed_sigterm_stops_a_conversion_at_its_next_frame(tmp_path, capsys):
    """Every converter hands each frame to its ``FrameSink``: after a swallowed stop not one
    more frame is placed or written (the check before the rename would let them all be)."""
    import numpy as np
    from training.data.converters.common import FrameSink
    sink = FrameSink(tmp_path, 'copy')
    (tmp_path / 'src.png').write_bytes(b'a frame')
    done = []

    def body():
        _swallowed_sigterm()
        for i in range(100):
            done.append(sink.write(np.zeros((4, 4, 3), np.uint8), 'v', f'{i}.png'))
            done.append(sink.place(tmp_path / 'src.png', 'v'))
        return 0

    assert _run_stoppable_here('video-perception convert', body) == 143
    assert done == [] and not (tmp_path / 'frames').exists()
    assert 'stopped by SIGTERM' in capsys.readouterr().err


def test_a_swallowed_sigterm_renames_no_output_into_place(tmp_path, capsys):
    """The last check, in ``outdir.output_dir``: a stop swallowed after the command's last loop
    item still leaves OUT as it was (the complete new folder is not renamed onto it)."""
    from video_perception.outdir import output_dir
    before = snapshot(_previous(tmp_path))

    def body():
        with output_dir(tmp_path / 'OUT', force=True) as tmp:
            (tmp / 'new.txt').write_text('the whole new output')
            _swallowed_sigterm()
        return 0

    assert _run_stoppable_here('video-perception x', body) == 143
    assert snapshot(tmp_path / 'OUT') == before
    assert leftovers(tmp_path) == []
    assert capsys.readouterr().err.splitlines() == [
        'video-perception x: stopped by SIGTERM; no partial output left']


@pytest.mark.parametrize('swallow', [False, True], ids=['raised', 'swallowed'])
@pytest.mark.parametrize('fresh', [False, True], ids=['existing', 'new'])
def test_evaluate_plots_stopped_leave_the_folder_as_it_was(eval_case, tmp_path, swallow, fresh):
    """``evaluate --plots DIR`` stopped while its second plot is renamed into place: on main's
    code ``latency.tmp.png`` stayed and the first plot had already replaced the old one (a
    swallowed stop wrote them all, exit 0). Now the plots go into DIR together, once all are
    drawn: no temporary, DIR as it was (the user's file, the old plot), or no DIR it made."""
    plots = tmp_path / 'P' / 'plots'
    if not fresh:
        plots.mkdir(parents=True)
        (plots / 'pr_curves.png').write_bytes(b'the previous plot')
        (plots / 'notes.txt').write_text("the user's file")
    before = snapshot(plots) if not fresh else None
    rc, out, err = _signalled_at(
        'os.rename:latency.png', ['evaluate', str(eval_case / 'gt.json'),
                                  str(eval_case / 'res.json'), '--mode', 'streaming',
                                  '--plots', str(plots)],
        tmp_path, '--audit', *(['--swallow'] if swallow else []))
    _assert_clean(rc, out, err, tmp_path, None, 'evaluate')
    if fresh:
        assert not (tmp_path / 'P').exists(), 'the folders it made stayed'
    else:
        assert snapshot(plots) == before
