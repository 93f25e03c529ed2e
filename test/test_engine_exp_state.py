"""Experiments keep no state: every ``build_*`` hook returns what it makes (the frozen teacher
inside the loss function, the batcher) and the engine keeps it, so an Exp after all its hooks
still holds only its config, and the teacher never becomes part of the trained model."""
import dataclasses

import torch
from torch.utils.data import default_collate

from test_train_streamnet_data import SIZE, dataset  # noqa: F401 (fixture)
from training.exps.streamnet_base import TINY_TEACHER, StreamNetExp, StreamNetExpConfig
from training.exps.v2i_base import V2IExp, V2IExpConfig, build_named
from training.models.streamnet import zoo
from v2i_train_fixtures import write_tiny_video


def _run_hooks(exp):
    train, val = exp.build_datasets()
    model = exp.build_model(train)
    loss_fn = exp.build_loss_fn(model, train)
    batcher = exp.build_batcher(train)
    meta = exp.export_meta(train)
    exp.build_evaluator(val)
    return train, model, loss_fn, batcher, meta


def _frozen_outside(teacher, model):
    assert teacher is not None and not teacher.training
    assert not any(p.requires_grad for p in teacher.parameters())
    ids = {id(p) for p in model.parameters()}
    assert not any(id(p) in ids for p in teacher.parameters())


def test_streamnet_distillation_exp_keeps_only_its_config(dataset, tmp_path):  # noqa: F811
    cfg = dataclasses.replace(StreamNetExpConfig(), train_json=dataset, val_json=dataset,
                              input_size=SIZE, batch_size=2, history_frames=3,
                              teacher_model='yolox_s', teacher_checkpoint=str(tmp_path / 't.pt'))
    classes = 2                                           # the fixture's two categories
    torch.save(zoo.MODELS['yolox_s'](num_classes=classes, **TINY_TEACHER).state_dict(),
               tmp_path / 't.pt')
    exp = StreamNetExp(cfg)
    train, model, loss_fn, batcher, meta = _run_hooks(exp)
    assert vars(exp) == {'cfg': cfg}
    assert len(train.class_ids) == classes and meta['class_names'] == train.class_names
    _frozen_outside(loss_fn.teacher, model)
    # a second call builds a second teacher: nothing was cached on the Exp
    assert exp.build_loss_fn(model, train).teacher is not loss_fn.teacher
    batch = batcher(default_collate([train[0], train[1]]), 0, torch.device('cpu'))
    losses = loss_fn(model.train(), batch, 0)
    assert {'total_loss', 'kd_cls_loss', 'kd_obj_loss', 'kd_reg_loss'} <= set(losses)


def test_v2i_distillation_exp_keeps_only_its_config(tmp_path):
    data = str(write_tiny_video(tmp_path / 'data', videos=1, frames=4))
    cfg = dataclasses.replace(V2IExpConfig(), model='detr_tiny', train_json=data, val_json=data,
                              test_json=data, input_size=(32, 40),
                              teacher_model='v2i_teacher_tiny',
                              teacher_checkpoint=str(tmp_path / 't.pt'))
    torch.save(build_named('v2i_teacher_tiny', 1, cfg).state_dict(), tmp_path / 't.pt')
    exp = V2IExp(cfg)
    _, model, loss_fn, _, meta = _run_hooks(exp)
    assert vars(exp) == {'cfg': cfg}
    assert meta['class_names'] == ['lesion']
    _frozen_outside(loss_fn.teacher, model)
