"""Stage 2 on SUN-SEG: the DETR R50 student distilled from the frozen R50 teacher (Table I's
'DETR + V2I-DETR' row): L_det + 1 L_TFD + 5 L_CQD as v2i_distill_r50_sun::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_detr_r50_sun"""
import dataclasses

from training.exps import v2i_distill_r50_sun
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_distill_r50_sun.Exp.config, model='detr_r50')
