"""``train EXP --dry-run`` on every experiment file: the model at the configured size (and the
teacher, random), one forward + backward on random input, no data and no checkpoint read.

Data and checkpoint paths are pointed at files that do not exist, so a dry run that reads either
fails. The parameter count printed is checked against the zoo model built on its own.
"""
import json
import os
import pathlib

import pytest

from training import train

from test_ablation_exps import REFUSED   # rows that refuse in one line (tested there)

EXPS = sorted(p.stem for p in (pathlib.Path(train.__file__).parent / 'exps').glob('*.py')
              if p.stem not in ('__init__', 'streamnet_base', 'v2i_base', *REFUSED))
# full-size models (R50 at 512, S at 600x960 with the L teacher): minutes of CPU each
LARGE = {p.stem for p in (pathlib.Path(train.__file__).parent / 'exps').glob('*.py')
         if p.stem.endswith(('_argoverse', '_sun', '_buv')) or '_argoverse_' in p.stem}


# measured: the L at 1200x1920 was killed by the OOM killer at 22 GiB on a 24 GiB machine
NEEDS_GIB = {'streamnet_l_1200_argoverse': 40}


def _missing_paths(name, tmp_path):
    from training.engine.exp import load_exp
    cfg = load_exp(name).config
    gone = str(tmp_path / 'nowhere')
    keys = [k for k in ('train_json', 'val_json', 'test_json', 'teacher_checkpoint')
            if getattr(cfg, k, '')]
    return cfg, [f'{k}={gone}/{k}' for k in keys]


def _params(name, cfg):
    """Trainable parameters of the configured model, built here from the zoo directly."""
    if hasattr(cfg, 'in_dim'):
        return cfg.in_dim * cfg.hidden + cfg.hidden + cfg.hidden * cfg.hidden + cfg.hidden \
            + cfg.hidden * 2 + 2
    if hasattr(cfg, 'num_queries'):
        from training.exps.v2i_base import model_kwargs
        from training.models.detr import zoo
        model = zoo.build(cfg.model, 1, **model_kwargs(cfg))
    else:
        from training.exps.streamnet_base import model_kwargs
        from training.models.streamnet import zoo
        model = zoo.MODELS[cfg.model](num_classes=8, **model_kwargs(cfg))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n
                                  for n in EXPS])
def test_dry_run(name, tmp_path, capsys):
    if name in NEEDS_GIB:
        gib = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
        if gib < NEEDS_GIB[name]:
            pytest.skip(f'{name}: the fp32 backward at its size needs about {NEEDS_GIB[name]} GiB '
                        f'of memory on the CPU; this machine has {gib:.0f}')
    cfg, overrides = _missing_paths(name, tmp_path)
    assert train.main([name, *overrides, '--dry-run']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    assert res['dry_run'] == 'ok' and res['params'] == _params(name, cfg)
    assert (res['teacher_params'] > 0) == bool(getattr(cfg, 'teacher_model', ''))
    assert any('input_size' in line for line in out[:-1]) or hasattr(cfg, 'in_dim')
    assert not (tmp_path / 'nowhere').exists()
