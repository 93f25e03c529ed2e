"""The undistilled SAM-DETR R50 student on SUN-SEG (Table I's SAM DETR row), v2i_student_r50_sun's
recipe::

    torchrun --nproc_per_node=8 -m training.train v2i_student_sam_detr_r50_sun"""
import dataclasses

from training.exps import v2i_student_r50_sun
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_student_r50_sun.Exp.config, model='sam_detr_r50')
