"""DAMO-StreamNet released-checkpoint import, on a state dict written in the official layout.

``damo_official`` enumerates the keys *and shapes* of zhiqic/DAMO-StreamNet's
``YOLOXLONGSHORTV3ODDIL(long_backbone=DFPPAFPNLONGV3, short_backbone=DFPPAFPNSHORTV3,
backbone=BACKBONENECKV2(CSPDarknet, GiraffeNeckV2), head=TALHeadODDil, backbone_t=DFPPAFPN,
head_t=TALHeadDil)`` from the official constructors (exps/model/*, damo_yolo/base_models/
{necks/giraffe_fpn_btn,core/ops}.py, cfgs/streamnet_*.py), not from our model: CSPStage splits
ch_out in halves, a DRM block is RepConv(ch_mid -> int(ch_mid * hidden_ratio)) then mmcv
DCN(-> ch_mid) with an 18-channel offset conv, every merge has round(3 * depth) blocks. The
backbone and head keys come from the YOLOX layout of test_train_yolox_import (their shapes
from the model, as the YOLOX import test checks them by the published count). Every tensor
must land where the map says, with its value, and none may be left over on either side.
"""
import pytest
import torch

from test_train_yolox_import import BN, _base_conv, official_keys
from training.models.streamnet import zoo
from training.models.streamnet.importers import (import_damo_streamnet, main, map_damo_key,
                                                 map_damo_teacher_key)

# cfgs/streamnet_{s,l,l_1200x1920}.py: width, neck hidden_ratio, short and long out_channels
RELEASED = {
    'streamnet_s': dict(width=0.5, hidden=0.75, short=(64, 128, 256),
                        long=[((21, 42, 85), 3)], fusion=True),
    'streamnet_l_1200': dict(width=1.0, hidden=1.0, short=(128, 256, 512),
                             long=[((42, 85, 170), 2), ((44, 86, 172), 1)], fusion=False),
}


def _conv_bn(prefix, cout, cin, k):
    """BaseConv / ConvBNAct / conv_bn: bias-free conv + BatchNorm."""
    shapes = {f'{prefix}.conv.weight': (cout, cin, k, k)}
    shapes.update({f'{prefix}.bn.{s}': (() if s == 'num_batches_tracked' else (cout,))
                   for s in BN})
    return shapes


def _csp_stage(prefix, cin, hidden, cout, n):
    first = cout // 2
    mid = cout - first
    hid = int(mid * hidden)
    s = {**_conv_bn(f'{prefix}.conv1', first, cin, 1), **_conv_bn(f'{prefix}.conv2', mid, cin, 1)}
    for i in range(n):
        b = f'{prefix}.convs.{i}'
        s.update(_conv_bn(f'{b}.conv2.rbr_dense', hid, mid, 3))
        s.update(_conv_bn(f'{b}.conv2.rbr_1x1', hid, mid, 1))
        s.update({f'{b}.conv1.weight': (mid, hid, 3, 3),                 # DeformConv2dPack
                  f'{b}.conv1.conv_offset.weight': (18, hid, 3, 3),
                  f'{b}.conv1.conv_offset.bias': (18,)})
    s.update(_conv_bn(f'{prefix}.conv3', cout, mid * n + first, 1))
    return s


def damo_official(name, model):
    """{official key: shape} of a released DAMO-StreamNet (teacher excluded)."""
    r = RELEASED[name]
    c0, c1, c2 = (int(c * r['width']) for c in (256, 512, 1024))
    n, h, p = 3, r['hidden'], 'backbone.neck'   # neck depth 1.0 for every size
    shapes = {}
    for conv, ch in (('bu_conv13', c1), ('bu_conv24', c0), ('bu_conv57', c0),
                     ('bu_conv46', c1), ('bu_conv76', c1)):
        shapes.update(_conv_bn(f'{p}.{conv}', ch, ch, 3))
    for merge, cin, cout in (('merge_3', c1 + c2, c2), ('merge_4', c0 + c1 + c2, c1),
                             ('merge_5', c1 + c0, c0), ('merge_7', c0 + c1, c1),
                             ('merge_6', c1 + c1 + c2, c2)):
        shapes.update(_csp_stage(f'{p}.{merge}', cin, h, cout, n))
    for i, (jian, cin) in enumerate((('jian2', c0), ('jian1', c1), ('jian0', c2))):
        shapes.update(_conv_bn(f'short_backbone.group_0_{jian}', r['short'][i], cin, 1))
        for g, (outs, _) in enumerate(r['long']):
            shapes.update(_conv_bn(f'long_backbone.group_{g}_{jian}', outs[i], cin, 1))
        if r['fusion']:
            cat = sum(outs[i] * frames for outs, frames in r['long'])
            shapes.update(_conv_bn(jian, cin // 2, cat, 1))
    ours = model.state_dict()
    for key in official_keys(depth=1.0 if r['width'] == 1.0 else 0.33):
        if key.startswith(('backbone.backbone.', 'head.')):
            shapes[key] = tuple(ours[map_damo_key(key)].shape)
    return shapes


def _random(shapes, seed):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.randint(0, 1000, (), generator=g) if k.endswith('num_batches_tracked')
                else torch.randn(s, generator=g)) for k, s in shapes.items()}


def _model(name):
    if name == 'streamnet_l_1200':
        return zoo.MODELS['streamnet_l'](fusion='pure_concat', tal_nu=1.6)
    return zoo.MODELS[name]()


def _assert_landed(official, state, mapper):
    mapped = {k: mapper(k) for k in official}
    assert None not in mapped.values() and len(set(mapped.values())) == len(official)
    assert set(mapped.values()) == set(state), set(state) ^ set(mapped.values())
    for key, ours in mapped.items():
        assert torch.equal(state[ours], official[key].to(state[ours].dtype)), key


@pytest.mark.parametrize('name, params', [('streamnet_s', 18.58e6), ('streamnet_l_1200', 94.0e6)])
def test_released_streamnet_checkpoint_lands_completely(tmp_path, name, params):
    official = _random(damo_official(name, _model(name)), seed=1)
    path = tmp_path / f'{name}.pth'
    torch.save({'model': {f'module.{k}': v for k, v in official.items()}, 'start_epoch': 8},
               path)
    fresh = _model(name)
    report = import_damo_streamnet(fresh, str(path))
    assert not report['missing'] and not report['unmapped'] and not report['shape_mismatch']
    _assert_landed(official, fresh.state_dict(), map_damo_key)
    # spec §7.2 [computed]: S 18.2 M fused + 0.38 M of RepConv 1x1 branches, L 92.0 M + 2.0 M
    assert report['params_loaded'] == pytest.approx(params, rel=0.01)


def test_teacher_keys_go_to_the_still_teacher_or_are_reported():
    student = _model('streamnet_s')
    official = _random(damo_official('streamnet_s', student), seed=2)
    teacher = zoo.MODELS['still_teacher_l']()
    t_state = teacher.state_dict()
    yolox_l = official_keys(depth=1.0) + [k for j in ('jian2', 'jian1', 'jian0')
                                          for k in _base_conv(f'backbone.{j}')]
    t_keys = [k.replace('backbone.', 'backbone_t.', 1) if k.startswith('backbone.')
              else k.replace('head.', 'head_t.', 1) for k in yolox_l]
    official.update(_random({k: tuple(t_state[map_damo_teacher_key(k)].shape)
                             for k in t_keys}, seed=3))
    without = import_damo_streamnet(_model('streamnet_s'), {'model': official})
    assert sorted(without['unmapped']) == sorted(t_keys)
    report = import_damo_streamnet(student, {'model': official}, teacher=teacher)
    assert not report['unmapped'] and not report['teacher']['missing']
    assert not report['teacher']['shape_mismatch']
    _assert_landed({k: official[k] for k in t_keys}, teacher.state_dict(), map_damo_teacher_key)


def test_a_yolox_checkpoint_is_not_taken_for_a_release():
    yolox = {k: torch.zeros(1) for k in official_keys()}
    with pytest.raises(ValueError, match='short_backbone.* or DRFPN'):
        import_damo_streamnet(_model('streamnet_s'), yolox)


def test_cli_writes_the_imported_weights(tmp_path, capsys):
    official = _random(damo_official('streamnet_l_1200', _model('streamnet_l_1200')), seed=4)
    torch.save({'model': official}, tmp_path / 'l.pth')
    out = tmp_path / 'init.pt'
    assert main([str(tmp_path / 'l.pth'), '--model', 'streamnet_l', '--fusion', 'pure_concat',
                 '--out', str(out)]) == 0
    assert '0 of ours left at init, 0 unused' in capsys.readouterr().out
    from training.engine.checkpoint import load_checkpoint, model_weights_from
    model = _model('streamnet_l_1200')
    model.load_state_dict(model_weights_from(load_checkpoint(str(out))), strict=True)
    _assert_landed(official, model.state_dict(), map_damo_key)


def test_coco_drfpn_initialisation_brings_backbone_neck_and_head():
    """yolox_s_drfpn.pth as the release's trainer reads it: DRFPN at top-level neck.*, an
    80-class COCO head, no dual path."""
    model = _model('streamnet_s')
    shapes = {k[len('backbone.'):] if k.startswith('backbone.neck.') else k: s
              for k, s in damo_official('streamnet_s', model).items()
              if not k.startswith(('short_', 'long_', 'jian'))}
    for i in range(3):
        shapes[f'head.cls_preds.{i}.weight'] = (80, shapes[f'head.cls_preds.{i}.weight'][1], 1, 1)
        shapes[f'head.cls_preds.{i}.bias'] = (80,)
    official = _random(shapes, seed=5)
    report = import_damo_streamnet(model, {'model': official})
    assert not report['unmapped']
    assert sorted(k for k, _, _ in report['shape_mismatch']) == sorted(
        f'head.cls_preds.{i}.{p}' for i in range(3) for p in ('weight', 'bias'))
    assert report['missing'] and all(k.startswith('dual.') or k.startswith('head.cls_preds')
                                     for k in report['missing'])
    state = model.state_dict()
    for key, value in official.items():
        if 'cls_preds' not in key:
            assert torch.equal(state[map_damo_key(key)], value), key
