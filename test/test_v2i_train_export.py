"""V2I training checkpoints -> ``video-perception export NAME --checkpoint PT --out DIR``: each
student bundle runs in ONNX Runtime like the torch student rebuilt here (max abs <= 1e-3)."""
import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import export as ex
from training.engine.checkpoint import save_checkpoint
from training.engine.config import config_to_dict
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.models.detr import zoo
from v2i_train_fixtures import write_tiny_video


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return write_tiny_video(tmp_path_factory.mktemp('v2i_export'), videos=1, frames=4)


def _trained_like_checkpoint(tmp_path, data, name, size, dropout=0.0):
    """An engine checkpoint as a V2I run leaves it (config + export_meta), with the student's
    weights moved off their initial values so a wrong load cannot pass."""
    cfg = dataclasses.replace(V2IExpConfig(), model=name, train_json=str(data),
                              val_json=str(data), test_json=str(data), input_size=size,
                              dropout=dropout)
    exp = V2IExp(cfg)
    torch.manual_seed(3)
    train = exp.dataset('train')
    model = exp.build_model(train)
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
    path = tmp_path / 'last.pt'
    save_checkpoint(str(path), {'model': model.state_dict(), 'ema': None, 'step': 1,
                                'config': {**config_to_dict(cfg), **exp.export_meta(train)},
                                'metrics': {'AP': 0.5}})
    return path, model.state_dict()


def _check_bundle(out, name, state, size, n_classes=1):
    meta = json.loads((out / 'model.json').read_text())
    assert meta['family'] == 'v2i' and meta['variant'] == name
    assert meta['classes'] == ['lesion'] and meta['provenance']['random_weights'] is False
    assert [meta['input']['height'], meta['input']['width']] == list(size)
    ref = zoo.build(name, n_classes, **meta['torch']['model_kwargs'])
    ref.load_state_dict(state)
    ref.eval()
    sess = ort.InferenceSession(str(out / 'student.onnx'), providers=['CPUExecutionProvider'])
    image = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(9))
    whole = np.array([list(size)], np.float32)                    # the picture fills the canvas
    logits, boxes = sess.run(['pred_logits', 'pred_boxes'],
                             {'image': image.numpy(), 'valid_hw': whole})
    with torch.no_grad():
        out_t = ref(image, None)                                  # the training forward
    assert np.abs(logits - out_t['pred_logits'].numpy()).max() <= 1e-3
    assert np.abs(boxes - out_t['pred_boxes'].numpy()).max() <= 1e-3
    return meta


@pytest.mark.xdist_group('export')
@pytest.mark.parametrize('name', ['detr_tiny', 'deformable_detr_tiny', 'sam_detr_tiny'])
def test_tiny_student_from_v2i_checkpoint_matches_in_onnxruntime(name, data, tmp_path):
    ckpt, state = _trained_like_checkpoint(tmp_path, data, name, (96, 128))
    out = tmp_path / 'bundle'
    assert ex.main([name, '--checkpoint', str(ckpt), '--out', str(out)]) == 0
    meta = _check_bundle(out, name, state, (96, 128))            # size from the training config
    assert meta['provenance']['metrics'] == {'AP': 0.5}


@pytest.mark.slow
@pytest.mark.xdist_group('export')
@pytest.mark.parametrize('name', ['detr_r50', 'deformable_detr_r50', 'sam_detr_r50'])
def test_r50_student_from_v2i_checkpoint_matches_at_512(name, data, tmp_path):
    ckpt, state = _trained_like_checkpoint(tmp_path, data, name, (512, 512), dropout=-1.0)
    out = tmp_path / 'bundle'
    assert ex.main([name, '--checkpoint', str(ckpt), '--size', '512x512',
                    '--out', str(out)]) == 0
    _check_bundle(out, name, state, (512, 512))


@pytest.mark.xdist_group('export')
def test_export_reads_the_model_name_from_the_checkpoint(data, tmp_path):
    ckpt, state = _trained_like_checkpoint(tmp_path, data, 'detr_tiny', (96, 128))
    out = tmp_path / 'bundle'
    assert ex.main(['--checkpoint', str(ckpt), '--out', str(out)]) == 0
    _check_bundle(out, 'detr_tiny', state, (96, 128))       # detr_tiny's weights, in ORT


def test_export_name_disagreeing_with_the_checkpoint_is_one_line(data, tmp_path, capsys):
    ckpt, _ = _trained_like_checkpoint(tmp_path, data, 'detr_tiny', (96, 128))
    out = tmp_path / 'bundle'
    assert ex.main(['sam_detr_tiny', '--checkpoint', str(ckpt), '--out', str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'sam_detr_tiny' in err and 'detr_tiny;' in err and str(ckpt) in err
    assert not out.exists()
    bare = tmp_path / 'bare.pt'                 # a bare state dict names no model
    torch.save(zoo.build('detr_tiny', 1).state_dict(), bare)
    assert ex.main(['--checkpoint', str(bare), '--out', str(out)]) == 2
    assert 'records no model name' in capsys.readouterr().err
