"""The undistilled DETR R50 student on BUV (Table II: 27.6 AP, 51.2 AP50, 30.2 AP75)::

    torchrun --nproc_per_node=8 -m training.train v2i_student_detr_r50_buv"""
import dataclasses

from training.exps import v2i_student_r50_buv
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_student_r50_buv.Exp.config, model='detr_r50')
