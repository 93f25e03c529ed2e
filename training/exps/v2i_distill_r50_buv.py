"""Stage 2 on BUV: Deformable DETR R50 distilled from the frozen BUV teacher (Table II: 36.8
AP, 63.9 AP50, 39.7 AP75), L_det + 1 L_TFD + 5 L_CQD as v2i_distill_r50_sun::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_r50_buv
"""
import dataclasses

from training.exps import v2i_distill_r50_sun
from training.exps.v2i_base import V2IExp
from training.exps.v2i_teacher_r50_buv import BUV


class Exp(V2IExp):
    config = dataclasses.replace(v2i_distill_r50_sun.Exp.config,
                                 teacher_checkpoint='runs/v2i_teacher_r50_buv/last.pt', **BUV)
