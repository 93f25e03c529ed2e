"""The undistilled Deformable DETR R50 student on BUV (Table II: 31.5 AP, 54.3 AP50, 33.8
AP75), v2i_teacher_r50_buv's data and recipe::

    torchrun --nproc_per_node=8 -m training.train v2i_student_r50_buv
"""
import dataclasses

from training.exps import v2i_student_r50_sun
from training.exps.v2i_base import V2IExp
from training.exps.v2i_teacher_r50_buv import BUV


class Exp(V2IExp):
    config = dataclasses.replace(v2i_student_r50_sun.Exp.config, **BUV)
