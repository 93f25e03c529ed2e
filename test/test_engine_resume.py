"""Resume after SIGKILL continues exactly; a failed checkpoint write keeps the last good one.

Reference: an uninterrupted run of the same config. The killed run dies after its checkpoint at
step 10 (mid-epoch 1, two steps past the epoch boundary), with three further steps done and lost;
the resumed run must redo them with the same data order, augmentation noise, dropout masks, lr,
EMA and momentum, and end bit-identical.
"""
import signal
import subprocess
import sys
import time

import pytest
import torch

from engine_subprocess import REPO, child_env
COMMON = ['toy_mlp', 'max_epoch=3', 'checkpoint_every=5', 'dropout=0.2', 'aug_noise=0.1',
          'progress=false', 'num_workers=0']


def _train(args):
    return subprocess.Popen([sys.executable, '-m', 'training.train'] + COMMON + args, cwd=REPO,
                            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.xdist_group('engine_subprocess')
def test_resume_after_sigkill_is_exact(tmp_path):
    ref_dir, run_dir = tmp_path / 'ref', tmp_path / 'run'
    ref = _train([f'output_dir={ref_dir}'])
    victim = _train([f'output_dir={run_dir}', 'stall_at_step=13'])
    try:
        deadline = time.time() + 180
        line = ''
        while 'stalled' not in line:
            line = victim.stdout.readline()
            assert line or victim.poll() is None, victim.stderr.read()[-2000:]
            assert time.time() < deadline, 'training never reached the stall step'
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    ckpt = torch.load(run_dir / 'toy_mlp' / 'last.pt', weights_only=True)
    assert (ckpt['step'], ckpt['epoch'], ckpt['iter_in_epoch']) == (10, 1, 2)
    assert ckpt['config']['dropout'] == 0.2 and 'mse' in ckpt['metrics']

    resumed = _train([f'output_dir={run_dir}', 'resume=auto'])
    out, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err[-2000:]
    assert 'resumed from' in out + err
    _, err = ref.communicate(timeout=180)
    assert ref.returncode == 0, err[-2000:]

    a = torch.load(ref_dir / 'toy_mlp' / 'last.pt', weights_only=True)
    b = torch.load(run_dir / 'toy_mlp' / 'last.pt', weights_only=True)
    assert a['step'] == b['step'] == 24
    for key in a['model']:
        assert torch.equal(a['model'][key], b['model'][key]), key
        assert torch.equal(a['ema']['model'][key], b['ema']['model'][key]), key
    assert a['ema']['updates'] == b['ema']['updates'] == 24
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert torch.equal(sa['momentum_buffer'], sb['momentum_buffer'])
    assert [g['lr'] for g in a['optimizer']['param_groups']] == \
        [g['lr'] for g in b['optimizer']['param_groups']]
    assert a['metrics'] == b['metrics']
    # The run's JSON log spans both processes: every logged step of the reference appears with
    # the same loss (steps 12 and 14..24 were logged by the resumed process).
    import json
    logs = [[json.loads(x) for x in open(d / 'toy_mlp' / 'log.jsonl')] for d in (ref_dir, run_dir)]
    last = [{r['step']: r['total_loss'] for r in log if r['kind'] == 'train'} for log in logs]
    assert last[0] == last[1]
