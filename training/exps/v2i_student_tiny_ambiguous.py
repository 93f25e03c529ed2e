"""The undistilled tiny student (Deformable DETR, one frame, L_det) on the ambiguous-lesion
benchmark: the baseline distillation is measured against (docs/EVIDENCE.md)::

    video-perception train v2i_student_tiny_ambiguous seed=0
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.exps.v2i_teacher_tiny_ambiguous import AMBIGUOUS


class Exp(V2IExp):
    config = V2IExpConfig(model='deformable_detr_tiny', **AMBIGUOUS)
