"""A writer killed (SIGKILL) in the middle of ``best.pt``: the old file stays loadable, the next
save removes the dead writer's temporary file, and a run resumed with ``resume=auto`` writes
``best.pt`` again even when its ``last.pt`` claims a best that ``best.pt`` never received (the
state the old last-then-best order left)."""
import json
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from engine_subprocess import REPO, child_env
from training.engine.checkpoint import save_checkpoint

# pickling the state blocks half-way (the temporary file is open and partly written) until killed
WRITER = textwrap.dedent('''
    import sys, time, torch
    from training.engine.checkpoint import save_checkpoint

    class Stall:
        def __reduce__(self):
            print('writing', flush=True)
            time.sleep(120)
            return (int, (0,))

    save_checkpoint(sys.argv[1], {'model': {'w': torch.full((50000,), 2.0)}, 'stall': Stall()})
''')


def test_kill_mid_write_keeps_old_file_and_next_save_cleans_up(tmp_path):
    best = tmp_path / 'best.pt'
    save_checkpoint(str(best), {'model': {'w': torch.ones(3)}, 'best': 0.5})
    child = subprocess.Popen([sys.executable, '-c', WRITER, str(best)], cwd=REPO,
                             env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == 'writing'
        temps = list(tmp_path.glob('.best.pt.tmp*'))
        assert [t.name for t in temps] == [f'.best.pt.tmp{child.pid}']
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert temps[0].exists()              # what the kill leaves behind
    old = torch.load(best, weights_only=True)
    assert torch.equal(old['model']['w'], torch.ones(3)) and old['best'] == 0.5
    save_checkpoint(str(best), {'model': {'w': torch.zeros(3)}, 'best': 0.7})
    assert list(tmp_path.glob('.best.pt.tmp*')) == []
    assert torch.load(best, weights_only=True)['best'] == 0.7


def test_live_writers_temp_file_is_left_alone(tmp_path):
    # a temp file whose process still runs (here: this test's parent) belongs to a live writer
    import os
    live = tmp_path / f'.last.pt.tmp{os.getppid()}'
    live.write_bytes(b'partial')
    save_checkpoint(str(tmp_path / 'last.pt'), {'model': {}})
    assert live.exists()


def _train(run_dir, *extra):
    args = [sys.executable, '-m', 'training.train', 'toy_mlp', f'output_dir={run_dir}',
            'progress=false', 'num_workers=0', 'checkpoint_every=0', *extra]
    return subprocess.run(args, cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=240)


@pytest.mark.xdist_group('engine_subprocess')
def test_resume_writes_best_again_after_a_kill_during_best(tmp_path):
    # killed in epoch 1 (of 0..1), after epoch 0's best.pt and last.pt (8 steps per epoch)
    victim = subprocess.Popen([sys.executable, '-m', 'training.train', 'toy_mlp',
                               f'output_dir={tmp_path}', 'progress=false', 'num_workers=0',
                               'checkpoint_every=0', 'max_epoch=2', 'stall_at_step=10'],
                              cwd=REPO, env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        for line in victim.stdout:
            if 'stalled' in line:
                break
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    run = tmp_path / 'toy_mlp'
    assert torch.load(run / 'last.pt', weights_only=True)['step'] == 8
    # killed while best.pt was written: last.pt (written first by the old order) already claims
    # the new best, best.pt never received it, a dead writer's temp file remains. The claim is
    # set above anything epoch 1 reaches, so that trusting it would never write best.pt again.
    state = torch.load(run / 'last.pt', weights_only=True)
    assert state['best'] is not None
    save_checkpoint(str(run / 'last.pt'), dict(state, best=1e9))
    (run / 'best.pt').unlink()
    stale = run / '.best.pt.tmp4194303'   # above pid_max's default: no such process
    stale.write_bytes(b'PK\x03\x04 truncated')
    resumed = _train(tmp_path, 'max_epoch=2', 'resume=auto')
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not stale.exists()
    best = torch.load(run / 'best.pt', weights_only=True)
    last = torch.load(run / 'last.pt', weights_only=True)
    # the first evaluation after the resume is the best this run knows of on disk
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert best['step'] == last['step'] == result['step']
    assert best['best'] == pytest.approx(result['metrics']['neg_mse'])


def test_run_folder_is_refused_without_resume_or_force(tmp_path):
    first = _train(tmp_path, 'max_epoch=1')
    assert first.returncode == 0, first.stderr[-2000:]
    before = (tmp_path / 'toy_mlp' / 'last.pt').read_bytes()
    again = _train(tmp_path, 'max_epoch=1')
    assert again.returncode == 2 and 'Traceback' not in again.stderr
    assert 'run folder' in again.stderr and 'resume=auto' in again.stderr
    assert (tmp_path / 'toy_mlp' / 'last.pt').read_bytes() == before
    # a run that fails before its first checkpoint leaves no folder behind
    bad = _train(tmp_path / 'fresh', 'max_epoch=1', 'num_samples=0')
    assert bad.returncode != 0 and 'Traceback' not in bad.stderr, bad.stderr[-2000:]
    assert not (tmp_path / 'fresh' / 'toy_mlp').exists()
    forced = subprocess.run([sys.executable, '-m', 'training.train', 'toy_mlp', '--force',
                             f'output_dir={tmp_path}', 'max_epoch=1', 'progress=false',
                             'num_workers=0', 'seed=3'],
                            cwd=REPO, env=child_env(), capture_output=True, text=True,
                            timeout=240)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert torch.load(tmp_path / 'toy_mlp' / 'last.pt', weights_only=True)['config']['seed'] == 3
