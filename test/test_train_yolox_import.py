"""Official YOLOX checkpoint import: key layout written from YOLOX 0.3.0's module tree.

``official_keys`` enumerates the module names of ``YOLOX(YOLOPAFPN(CSPDarknet), YOLOXHead)`` as
the official code builds them (attribute names from yolox/models/{darknet,yolo_pafpn,yolo_head,
network_blocks}.py), independently of our model; the import must cover every one of them and
bring in exactly the published YOLOX-S parameter count.
"""
import pytest
import torch

from training.models.streamnet import zoo
from training.models.streamnet.importers import import_yolox, map_yolox_key

BN = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _base_conv(prefix):
    return [f'{prefix}.conv.weight'] + [f'{prefix}.bn.{s}' for s in BN]


def _csp(prefix, n):
    keys = _base_conv(f'{prefix}.conv1') + _base_conv(f'{prefix}.conv2') + \
        _base_conv(f'{prefix}.conv3')
    for i in range(n):
        keys += _base_conv(f'{prefix}.m.{i}.conv1') + _base_conv(f'{prefix}.m.{i}.conv2')
    return keys


def official_keys(depth=0.33):
    d = max(round(3 * depth), 1)
    b = 'backbone.backbone'
    keys = _base_conv(f'{b}.stem.conv')
    for stage, n in (('dark2', d), ('dark3', 3 * d), ('dark4', 3 * d)):
        keys += _base_conv(f'{b}.{stage}.0') + _csp(f'{b}.{stage}.1', n)
    keys += _base_conv(f'{b}.dark5.0') + _base_conv(f'{b}.dark5.1.conv1') + \
        _base_conv(f'{b}.dark5.1.conv2') + _csp(f'{b}.dark5.2', d)
    n3 = round(3 * depth)
    for part in ('lateral_conv0', 'reduce_conv1', 'bu_conv2', 'bu_conv1'):
        keys += _base_conv(f'backbone.{part}')
    for part in ('C3_p4', 'C3_p3', 'C3_n3', 'C3_n4'):
        keys += _csp(f'backbone.{part}', n3)
    for i in range(3):
        keys += _base_conv(f'head.stems.{i}')
        for branch in ('cls_convs', 'reg_convs'):
            keys += _base_conv(f'head.{branch}.{i}.0') + _base_conv(f'head.{branch}.{i}.1')
        for pred in ('cls_preds', 'reg_preds', 'obj_preds'):
            keys += [f'head.{pred}.{i}.weight', f'head.{pred}.{i}.bias']
    return keys


def _official_checkpoint(model):
    ours = model.state_dict()
    keys = official_keys()
    mapped = [map_yolox_key(k) for k in keys]
    assert None not in mapped and len(set(mapped)) == len(keys)
    assert set(mapped) == set(ours), set(ours) ^ set(mapped)    # a bijection onto yolox_s
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(ours[m].shape, generator=g).to(ours[m].dtype)
          if ours[m].is_floating_point() else ours[m].clone() for k, m in zip(keys, mapped)}
    return {'model': sd, 'optimizer': {}, 'start_epoch': 300}


def test_yolox_s_official_checkpoint_loads_completely(tmp_path):
    model = zoo.MODELS['yolox_s']()
    ckpt = _official_checkpoint(model)
    path = tmp_path / 'yolox_s.pth'
    torch.save(ckpt, path)
    fresh = zoo.MODELS['yolox_s']()
    report = import_yolox(fresh, str(path))
    assert report['params_loaded'] == 8_968_255          # YOLOX-S, published count
    assert not report['missing'] and not report['unmapped'] and not report['shape_mismatch']
    state = fresh.state_dict()
    assert torch.equal(state['backbone.dark3.1.m.2.conv1.conv.weight'],
                       ckpt['model']['backbone.backbone.dark3.1.m.2.conv1.conv.weight'])
    assert torch.equal(state['neck.C3_n4.conv3.bn.running_var'],
                       ckpt['model']['backbone.C3_n4.conv3.bn.running_var'])
    assert torch.equal(state['head.obj_preds.2.bias'], ckpt['model']['head.obj_preds.2.bias'])


def test_yolox_s_into_streamnet_s_keeps_backbone_and_head_but_not_80_class_preds():
    official = _official_checkpoint(zoo.MODELS['yolox_s']())
    student = zoo.MODELS['streamnet_s']()          # 8 classes, DRFPN neck
    report = import_yolox(student, official)
    skipped = {k for k, _, _ in report['shape_mismatch']}
    assert skipped == {f'head.cls_preds.{i}.{p}' for i in range(3) for p in ('weight', 'bias')}
    assert all(k.startswith('backbone.neck.') or k.startswith('backbone.C3') or
               k.startswith('backbone.lateral') or k.startswith('backbone.reduce') or
               k.startswith('backbone.bu_') for k in report['unmapped'])
    assert all(k.startswith(('neck.', 'dual.', 'head.cls_preds.')) for k in report['missing'])
    assert torch.equal(student.state_dict()['backbone.stem.conv.conv.weight'],
                       official['model']['backbone.backbone.stem.conv.conv.weight'])


def test_not_a_yolox_checkpoint_is_rejected():
    with pytest.raises(ValueError, match='no tensor matched'):
        import_yolox(zoo.MODELS['yolox_s'](), {'model': {'fc.weight': torch.zeros(2, 2)}})
    with pytest.raises(ValueError, match='expected a state dict'):
        import_yolox(zoo.MODELS['yolox_s'](), {'model': {'a': 'b'}})


def test_cli_writes_an_init_checkpoint_the_engine_reads(tmp_path, capsys):
    from training.engine.checkpoint import load_checkpoint, model_weights_from
    from training.models.streamnet.importers import main
    ckpt = _official_checkpoint(zoo.MODELS['yolox_s']())
    torch.save(ckpt, tmp_path / 'yolox_s.pth')
    out = tmp_path / 'init.pt'
    assert main([str(tmp_path / 'yolox_s.pth'), '--model', 'streamnet_s', '--out', str(out)]) == 0
    assert '6 skipped for shape' in capsys.readouterr().out
    weights = model_weights_from(load_checkpoint(str(out)))
    model = zoo.MODELS['streamnet_s']()
    model.load_state_dict(weights, strict=True)
    assert torch.equal(model.state_dict()['head.reg_preds.1.weight'],
                       ckpt['model']['head.reg_preds.1.weight'])
