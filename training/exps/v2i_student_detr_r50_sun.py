"""The undistilled DETR R50 student on SUN-SEG (Table I's DETR row), v2i_student_r50_sun's
recipe (the paper trains every model 12 epochs, AdamW lr 1e-4, batch 16)::

    torchrun --nproc_per_node=8 -m training.train v2i_student_detr_r50_sun"""
import dataclasses

from training.exps import v2i_student_r50_sun
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_student_r50_sun.Exp.config, model='detr_r50')
