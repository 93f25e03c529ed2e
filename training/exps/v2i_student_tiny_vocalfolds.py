"""The undistilled tiny Deformable DETR student on vocalfolds (seq1 -> seq2)::

    video-perception train v2i_student_tiny_vocalfolds
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.exps.v2i_teacher_tiny_vocalfolds import TINY_VOCALFOLDS


class Exp(V2IExp):
    config = V2IExpConfig(model='deformable_detr_tiny', **TINY_VOCALFOLDS)
