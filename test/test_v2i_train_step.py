"""One distillation step L_det + L_TFD + 5 L_CQD: gradients reach exactly the right tensors."""
import torch

from training.models.detr import zoo
from training.models.detr.cqd import CQD
from training.models.detr.criterion import SetCriterion
from training.models.detr.matcher import HungarianMatcher
from training.models.detr.tfd import TFDLoss


def test_distillation_step_gradients():
    torch.manual_seed(0)
    teacher = zoo.build('v2i_teacher_tiny').eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = zoo.build('deformable_detr_tiny').train()
    targets = [{'labels': torch.tensor([1]), 'boxes': torch.tensor([[0.4, 0.5, 0.3, 0.2]])},
               {'labels': torch.zeros(0, dtype=torch.int64), 'boxes': torch.zeros(0, 4)}]
    clips = torch.randn(2, 3, 3, 128, 128)
    crit = SetCriterion(2, HungarianMatcher(2, 5, 2, focal=True), focal=True)
    cqd = CQD(teacher.num_queries, 3)
    idx = cqd.draw()
    with torch.no_grad():
        t_out = teacher(clips, None)
    s_out = student(clips[:, -1], None, targets,
                    extra_queries=cqd.extra_queries(teacher, idx, 2, t_out))
    det = crit(s_out, targets)
    assert len(det) == 3 * 2                                    # final + 1 aux layer (2 layers)
    loss = sum(det.values()) + 1.0 * TFDLoss()(s_out, t_out, targets) \
        + 5.0 * cqd.loss(s_out, t_out, idx)
    loss.backward()
    for name, p in student.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, name
    assert all(p.grad is None for p in teacher.parameters())
    frozen = [p for n, p in student.backbone.named_parameters() if 'layer1' in n or 'conv1' == n]
    assert frozen and all(p.grad is None for p in frozen)
