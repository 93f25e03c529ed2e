"""Stage 2 on SUN-SEG: the SAM-DETR R50 student distilled from the frozen R50 teacher (Table I's
best row, F1 85.5 easy / 84.3 hard): L_det + 1 L_TFD + 5 L_CQD as v2i_distill_r50_sun::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_sam_detr_r50_sun"""
import dataclasses

from training.exps import v2i_distill_r50_sun
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_distill_r50_sun.Exp.config, model='sam_detr_r50')
