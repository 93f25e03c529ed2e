"""The README's "Train and distil" commands run as written, in a fresh folder, on a tiny budget.

The lines are read from README.md (not copied here), so the test breaks when the README drifts:
a ``val_json`` default that no command makes, a run shorter than the recipe's ``no_aug_epochs``.
Only the budget is appended (later flags and ``key=value`` win): fewer videos and frames, one
epoch, batch 2.
"""
import pathlib
import re
import shlex
import subprocess
import sys

import torch

from engine_subprocess import REPO, child_env

BUDGET = {'synth': ['--videos', '1', '--frames', '8'],
          'train': ['max_epoch=1', 'batch_size=2', 'num_workers=0', 'progress=false']}


def readme_commands():
    text = (REPO / 'README.md').read_text()
    block = text.split('## Train and distil', 1)[1].split('```bash', 1)[1].split('```', 1)[0]
    lines = [re.sub(r'\s+#.*$', '', ln).strip() for ln in block.splitlines()]
    return [shlex.split(ln) for ln in lines if ln.startswith('video-perception ')
            and ln.split()[1] in ('synth', 'train', 'export')]


def test_readme_train_commands_run_as_written(tmp_path):
    commands = readme_commands()
    assert [c[1] for c in commands] == ['synth', 'synth', 'train', 'train', 'export']
    for argv in commands:
        argv = argv[1:] + BUDGET.get(argv[1], [])
        r = subprocess.run([sys.executable, '-m', 'video_perception.cli', *argv], cwd=tmp_path,
                           env=child_env(), capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f'{shlex.join(argv)}: {r.stderr[-2000:]}'
        assert 'Traceback' not in r.stderr
    run = pathlib.Path(tmp_path, 'runs', 'streamnet_tiny_synth')
    assert torch.load(run / 'last.pt', weights_only=True)['step'] > 0
    assert (tmp_path / 'my_bundle' / 'model.json').is_file()
