"""The undistilled SAM-DETR R50 student on BUV (Table II: 32.8 AP, 57.0 AP50, 35.1 AP75)::

    torchrun --nproc_per_node=8 -m training.train v2i_student_sam_detr_r50_buv"""
import dataclasses

from training.exps import v2i_student_r50_buv
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_student_r50_buv.Exp.config, model='sam_detr_r50')
