"""``init_checkpoint=`` with official checkpoints (issue 19 item 4), in training and --dry-run.

Before: a DAMO-StreamNet release loaded nothing without a word (every key 'unexpected' under
strict=False) and a DETR-family file crashed on shapes (300 vs 100 queries, class heads). Now the
layout is detected and its importer used. References, independent of the importers' maps:

* DAMO-StreamNet: the experiment's model, initialised from the official fixture, reproduces the
  official code's outputs frame by frame (test_parity_official_streamnet's tolerance);
* DETR family: every official tensor whose shape the model shares is in the model under the
  same (official) name with the official value; the query embeddings and class heads, whose
  shapes differ, are reported as skipped;
* our own checkpoint: loads as before, every tensor equal;
* a file none of whose tensors fits: refused in one line (it used to train from scratch).
"""
import argparse
import json

import numpy as np
import pytest
import torch

from official_fixtures import fixture_state_dict, load_fixture, streamnet_family_checkpoint
from test_parity_official_streamnet import assert_close
from training import train
from training.engine.exp import load_exp
from training.import_weights import load_init_checkpoint
from training.models.streamnet.model import StreamingRunner


def _exp(name, **overrides):
    import dataclasses
    exp_cls = load_exp(name)
    return exp_cls(dataclasses.replace(exp_cls.config, **overrides))


def _damo_file(tmp_path):
    path = tmp_path / 'streamnet_tiny_release.pth'
    torch.save(streamnet_family_checkpoint(load_fixture('damo_streamnet'), 'float32'), str(path))
    return str(path)


def test_a_damo_streamnet_release_initialises_the_experiment_model(tmp_path):
    exp = _exp('streamnet_tiny_synth')
    model = exp.build_model(exp.dry_run_dataset()).eval()
    line = load_init_checkpoint(model, _damo_file(tmp_path))
    assert '567 tensors imported from the damo-streamnet layout' in line
    assert '480 of the release\'s distillation teacher left out' in line
    assert '0 of the model left at init' in line
    fx = load_fixture('damo_streamnet')
    runner = StreamingRunner(model)
    seq = np.stack([runner(f[None])[0].numpy() for f in torch.from_numpy(
        fx['inputs']['frames'])])
    assert_close(seq, fx['outputs']['sequence_f32'], 'float32', 'init_checkpoint model')


def test_dry_run_loads_and_reports_init_checkpoint(tmp_path, capsys):
    gone = tmp_path / 'nowhere'
    code = train.main(['streamnet_tiny_synth', '--dry-run',
                       f'init_checkpoint={_damo_file(tmp_path)}', f'train_json={gone}/t.json',
                       f'val_json={gone}/v.json'])
    assert code == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res['dry_run'] == 'ok'
    assert '567 tensors imported from the damo-streamnet layout' in res['init_checkpoint']


def test_dry_run_refuses_a_file_that_fits_nothing(tmp_path, capsys):
    path = tmp_path / 'other.pt'
    torch.save({'encoder.fc.weight': torch.zeros(3, 3)}, str(path))
    code = train.main(['streamnet_tiny_synth', '--dry-run', f'init_checkpoint={path}'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and 'none of its 1 tensors fits the model' in err[0]


def test_our_own_checkpoint_loads_as_before(tmp_path):
    from training.engine.checkpoint import save_checkpoint
    exp = _exp('streamnet_tiny_synth')
    torch.manual_seed(1)
    source = exp.build_model(exp.dry_run_dataset())
    path = tmp_path / 'ours.pt'
    save_checkpoint(str(path), {'model': source.state_dict()})
    torch.manual_seed(2)
    model = exp.build_model(exp.dry_run_dataset())
    line = load_init_checkpoint(model, str(path))
    assert line.endswith('0 missing, 0 unexpected keys')
    for k, v in source.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


# layout fixture -> an experiment whose model is of that architecture (100 queries, 1 class)
DETR_EXPS = {'detr': 'v2i_student_detr_r50_sun', 'deformable_detr': 'v2i_teacher_r50_sun',
             'sam_detr': 'v2i_student_sam_detr_r50_sun'}


@pytest.mark.parametrize('layout', [
    # the teacher configs' own instruction: COCO Deformable DETR into the V2I teacher
    'deformable_detr',
    # R50 weights regenerated and two R50 models built: ~10 s each on a free core
    pytest.param('detr', marks=pytest.mark.slow),
    pytest.param('sam_detr', marks=pytest.mark.slow)])
def test_a_detr_family_checkpoint_no_longer_crashes_on_shapes(layout, tmp_path):
    fx = load_fixture(layout)
    official = {k: torch.from_numpy(np.asarray(v, np.float32))
                for k, v in fixture_state_dict(fx).items()}
    path = tmp_path / f'{layout}.pth'
    torch.save({'model': official, 'args': argparse.Namespace(num_queries=300)}, str(path))
    exp = _exp(DETR_EXPS[layout])
    model = exp.build_model(exp.dry_run_dataset())
    with pytest.raises(RuntimeError):          # what the trainer did before
        model.load_state_dict(official, strict=False)
    line = load_init_checkpoint(model, str(path))
    assert 'skipped for shape' in line and 'class_embed' in line
    # DETR's release has 100 queries like ours; Deformable DETR and SAM-DETR 300
    assert ('query_embed.weight' in line) == (layout != 'detr')
    own = model.state_dict()
    landed = skipped = 0
    shared = [k for k in official if k in own]   # not SAM-DETR's decoder.bbox_embed alias
    for k in shared:
        v = official[k]
        if own[k].shape == v.shape:
            assert torch.equal(own[k], v), k
            landed += 1
        else:
            skipped += 1
            assert k.startswith(('query_embed', 'class_embed', 'transformer.decoder.class_embed'))
    assert landed > 0.95 * len(shared) and skipped >= 2
