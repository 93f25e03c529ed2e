"""The undistilled tiny student (Deformable DETR, key frame only, L_det) on the synthetic lesion
benchmark: the baseline that V2I distillation is measured against. Same recipe as the teacher::

    video-perception train v2i_student_tiny_synth
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.exps.v2i_teacher_tiny_synth import TINY_SYNTH


class Exp(V2IExp):
    config = V2IExpConfig(model='deformable_detr_tiny', **TINY_SYNTH)
