"""Trainable parameter counts against the published / spec numbers (v2i_detr.md §2-4, §8)."""
import pytest
import torch

from training.models.detr import zoo


@pytest.mark.parametrize('name,num_classes,kw,expected', [
    ('detr_r50', 91, {}, 41_302_368),
    ('detr_r50', 1, {}, 41_279_238),
    ('deformable_detr_r50', 91, {}, 39_847_265),
    ('deformable_detr_r50', 1, {}, 39_824_135),
    ('deformable_detr_r50', 91, {'with_box_refine': True}, 40_627_260),
    ('deformable_detr_r50', 91, {'with_box_refine': True, 'two_stage': True}, 40_959_129),
    ('sam_detr_r50', 91, {}, 58_074_058),
    ('sam_detr_r50', 1, {}, 57_935_278),
])
def test_trainable_params_match_papers(name, num_classes, kw, expected):
    model = zoo.build(name, num_classes, **kw)
    assert zoo.count_trainable(model) == expected


def test_detr_frozen_stem_layer1_and_bn_buffers():
    model = zoo.build('detr_r50')
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen == 222_400                                    # stem conv + layer1 convs
    frozen_bn = sum(b.numel() for n, b in model.named_buffers()
                    if n.endswith('.weight') or n.endswith('.bias'))
    assert frozen_bn == 53_120
    for name, p in model.backbone.named_parameters():
        assert p.requires_grad == any(f'layer{i}' in name for i in (2, 3, 4)), name


def test_msi_overhead_equals_layer_arithmetic():
    teacher = zoo.build('v2i_teacher_r50')
    d, ffn = 256, 1024
    ln = 2 * d
    local = ln + (d * d * 27 + d) + ln + (d * ffn + ffn + ffn * d + d)
    glob = ln + (4 * d * d + 4 * d) + ln + (d * ffn + ffn + ffn * d + d)
    expected = 2 * (2 * local + 2 * glob) + 3 * d                # 2 layers + frame embedding
    overhead = zoo.msi_overhead(teacher)
    print(f'V2I teacher MSI overhead: {overhead:,} trainable parameters')
    assert overhead == expected == 12_345_088
    assert zoo.count_trainable(teacher) == 39_847_265 + overhead


def test_msi_overhead_rejects_a_student():
    with pytest.raises(ValueError, match='no MSI'):
        zoo.msi_overhead(torch.nn.Linear(2, 2))
