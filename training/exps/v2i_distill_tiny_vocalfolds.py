"""The tiny student distilled (TFD + CQD) from the frozen vocalfolds teacher::

    video-perception train v2i_teacher_tiny_vocalfolds
    video-perception train v2i_distill_tiny_vocalfolds
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_student_tiny_vocalfolds import Exp as Student


class Exp(V2IExp):
    config = dataclasses.replace(
        Student.config, teacher_model='v2i_teacher_tiny',
        teacher_checkpoint='runs/v2i_teacher_tiny_vocalfolds/last.pt')
