"""ResNet-50 key layout, FrozenBatchNorm2d, sine position encoding, importers."""
import math

import numpy as np
import torch

from training.models.detr import zoo
from training.models.detr.backbone import FrozenBatchNorm2d
from training.models.detr.importers import (import_official_checkpoint, load_torchvision_resnet50,
                                            official_key_shapes_detr)
from training.models.detr.position_encoding import PositionEmbeddingSine


def torchvision_resnet50_keys():
    """torchvision resnet50 state-dict keys and shapes, written out from its naming rules."""
    keys = {'conv1.weight': (64, 3, 7, 7)}

    def bn(prefix, c):
        for s in ('weight', 'bias', 'running_mean', 'running_var'):
            keys[f'{prefix}.{s}'] = (c,)
        keys[f'{prefix}.num_batches_tracked'] = ()
    bn('bn1', 64)
    inplanes = 64
    for li, (n, p) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        for i in range(n):
            pre = f'layer{li + 1}.{i}'
            keys[f'{pre}.conv1.weight'] = (p, inplanes if i == 0 else 4 * p, 1, 1)
            keys[f'{pre}.conv2.weight'] = (p, p, 3, 3)
            keys[f'{pre}.conv3.weight'] = (4 * p, p, 1, 1)
            for j, c in ((1, p), (2, p), (3, 4 * p)):
                bn(f'{pre}.bn{j}', c)
            if i == 0:
                keys[f'{pre}.downsample.0.weight'] = (4 * p, inplanes, 1, 1)
                bn(f'{pre}.downsample.1', 4 * p)
        inplanes = 4 * p
    keys['fc.weight'] = (1000, 2048)
    keys['fc.bias'] = (1000,)
    return keys


def test_frozen_bn_equals_batchnorm_in_eval():
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(8).eval()
    bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.normal_()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2)
    frozen = FrozenBatchNorm2d(8)
    frozen.load_state_dict(bn.state_dict())                     # drops num_batches_tracked
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(frozen(x), bn(x), atol=1e-5)
    assert not list(frozen.parameters())


def test_torchvision_resnet50_state_dict_loads_by_name():
    model = zoo.build('detr_r50', 91)
    gen = torch.Generator().manual_seed(1)
    sd = {k: (torch.randn(s, generator=gen) if s else torch.tensor(7)) for k, s in
          torchvision_resnet50_keys().items()}
    report = load_torchvision_resnet50(model, sd)
    assert len(report['loaded']) == len([k for k in sd if 'fc.' not in k
                                         and 'num_batches' not in k])
    own = model.state_dict()
    for k in ('conv1.weight', 'layer3.5.bn2.running_var', 'layer4.0.downsample.0.weight'):
        assert torch.equal(own['backbone.0.body.' + k], sd[k])


def test_official_detr_keys_exist_with_shapes():
    own = zoo.build('detr_r50', 91).state_dict()
    for key, shape in official_key_shapes_detr(91):
        assert tuple(own[key].shape) == shape, key


def test_official_checkpoint_import_skips_other_class_heads():
    src = zoo.build('detr_tiny', 5)
    dst = zoo.build('detr_tiny', 2)
    ckpt = {'model': {'module.' + k: v for k, v in src.state_dict().items()}}
    report = import_official_checkpoint(dst, ckpt)
    assert report['missing'] == []
    assert [k for k, _ in report['skipped']] == ['class_embed.weight', 'class_embed.bias']
    key = 'query_embed.weight'
    assert torch.equal(dst.state_dict()[key], src.state_dict()[key])


def naive_sine(mask: np.ndarray, f: int, offset: bool) -> np.ndarray:
    b, h, w = mask.shape
    out = np.zeros((b, 2 * f, h, w))
    for bi in range(b):
        for i in range(h):
            for j in range(w):
                ye = (~mask[bi, :i + 1, j]).sum()
                xe = (~mask[bi, i, :j + 1]).sum()
                yn = ((ye - 0.5 * offset) / ((~mask[bi, :, j]).sum() + 1e-6)) * 2 * math.pi
                xn = ((xe - 0.5 * offset) / ((~mask[bi, i, :]).sum() + 1e-6)) * 2 * math.pi
                for k in range(f):
                    dim_t = 10000 ** (2 * (k // 2) / f)
                    fn = math.sin if k % 2 == 0 else math.cos
                    out[bi, k, i, j] = fn(yn / dim_t)
                    out[bi, f + k, i, j] = fn(xn / dim_t)
    return out


def test_sine_position_encoding_matches_formula():
    mask = np.zeros((2, 4, 5), dtype=bool)
    mask[1, 3:, :] = True
    mask[1, :, 4:] = True
    for offset in (False, True):
        pos = PositionEmbeddingSine(8, offset=offset)(torch.from_numpy(mask)).numpy()
        diff = np.abs(pos - naive_sine(mask, 8, offset)).transpose(0, 2, 3, 1)[~mask]
        # padded pixels of an all-padded column divide by eps: float32 vs float64 noise only
        assert diff.max() < 1e-5


# Key names and shapes read from the official repos' module definitions
# (fundamentalvision/Deformable-DETR, ZhangGongjie/SAM-DETR), COCO (91 classes).
OFFICIAL_DEFORMABLE = [
    ('transformer.level_embed', (4, 256)),
    ('transformer.reference_points.weight', (2, 256)),
    ('transformer.encoder.layers.0.self_attn.sampling_offsets.weight', (256, 256)),
    ('transformer.encoder.layers.5.self_attn.attention_weights.weight', (128, 256)),
    ('transformer.encoder.layers.2.linear1.weight', (1024, 256)),
    ('transformer.decoder.layers.0.cross_attn.value_proj.weight', (256, 256)),
    ('transformer.decoder.layers.5.self_attn.in_proj_weight', (768, 256)),
    ('transformer.decoder.layers.3.norm3.bias', (256,)),
    ('query_embed.weight', (300, 512)),
    ('input_proj.0.0.weight', (256, 512, 1, 1)),
    ('input_proj.0.1.weight', (256,)),
    ('input_proj.3.0.weight', (256, 2048, 3, 3)),
    ('class_embed.0.weight', (91, 256)),
    ('bbox_embed.5.layers.2.bias', (4,)),
]
OFFICIAL_SAM = [
    ('query_embed.weight', (300, 4)),
    ('input_proj.0.0.weight', (256, 2048, 1, 1)),
    ('input_proj.0.1.bias', (256,)),
    ('transformer.encoder.layers.0.self_attn.in_proj_weight', (768, 256)),
    ('transformer.decoder.layers.0.sa_qcontent_proj.weight', (256, 256)),
    ('transformer.decoder.layers.0.self_attn.out_proj.weight', (256, 256)),
    ('transformer.decoder.layers.1.cross_attn.out_proj.weight', (256, 256)),
    ('transformer.decoder.layers.2.ca_qpos_sine_proj.layers.1.weight', (256, 256)),
    ('transformer.decoder.layers.3.point1.0.weight', (64, 256, 1, 1)),
    ('transformer.decoder.layers.3.point2.0.weight', (256, 3136)),
    ('transformer.decoder.layers.4.point2.6.weight', (16, 512)),
    ('transformer.decoder.layers.5.attn1.weight', (2048, 256)),
    ('transformer.decoder.layers.5.attn2.bias', (2048,)),
    ('class_embed.5.weight', (91, 256)),
    ('bbox_embed.5.layers.2.weight', (4, 256)),
]


def test_official_deformable_and_sam_keys_exist_with_shapes():
    for name, keys in (('deformable_detr_r50', OFFICIAL_DEFORMABLE),
                       ('sam_detr_r50', OFFICIAL_SAM)):
        own = zoo.build(name, 91).state_dict()
        for key, shape in keys:
            assert tuple(own[key].shape) == shape, (name, key)


def test_sam_detr_checkpoint_alias_keys_are_accepted():
    src = zoo.build('sam_detr_tiny')
    sd = dict(src.state_dict())
    # the official model also stores its box heads under the decoder's alias
    sd.update({'transformer.decoder.' + k: v for k, v in sd.items()
               if k.startswith('bbox_embed.')})
    dst = zoo.build('sam_detr_tiny')
    report = import_official_checkpoint(dst, {'model': sd})
    assert report['skipped'] == [] and report['missing'] == []
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k


def test_downsample_mask_equals_torch_nearest_interpolation():
    """The gather form of the mask downsampling against F.interpolate (DETR's own)."""
    import torch.nn.functional as F

    from training.models.detr.backbone import downsample_mask
    gen = torch.Generator().manual_seed(0)
    for h, w in [(120, 152), (600, 960), (75, 113), (512, 384), (97, 61)]:
        mask = torch.rand(2, h, w, generator=gen) > 0.5
        for size in [(-(-h // s), -(-w // s)) for s in (4, 8, 16, 32, 64)] + [(h, w)]:
            ref = F.interpolate(mask[None].float(), size=size).to(torch.bool)[0]
            assert torch.equal(downsample_mask(mask, size), ref), (h, w, size)
