"""Stage 2 on BUV: the DETR R50 student distilled from the frozen BUV teacher (Table II:
31.2 AP, 55.8 AP50, 34.6 AP75)::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_detr_r50_buv"""
import dataclasses

from training.exps import v2i_distill_r50_buv
from training.exps.v2i_base import V2IExp


class Exp(V2IExp):
    config = dataclasses.replace(v2i_distill_r50_buv.Exp.config, model='detr_r50')
