"""The undistilled Deformable DETR R50 student on SUN-SEG (the baseline)::

    torchrun --nproc_per_node=8 -m training.train v2i_student_r50_sun
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.exps.v2i_teacher_r50_sun import SUN


class Exp(V2IExp):
    config = V2IExpConfig(model='deformable_detr_r50', **SUN)
