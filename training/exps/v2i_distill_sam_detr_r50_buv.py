"""Stage 2 on BUV: the SAM-DETR R50 student distilled from the frozen BUV teacher (Table II's
best row: 37.4 AP, 64.9 AP50, 40.2 AP75)::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_sam_detr_r50_buv"""
import dataclasses

from training.exps import v2i_distill_r50_buv
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_distill_r50_buv.Exp.config, model='sam_detr_r50')
