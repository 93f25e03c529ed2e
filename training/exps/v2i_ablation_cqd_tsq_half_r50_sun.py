"""V2I-DETR Table IV row 10, "w/ CQD (cq = T * sq / 2)": Deformable DETR R50 on SUN distilled from
the frozen R50 teacher with CQD appending N / 2 of the teacher's queries alone;
v2i_distill_r50_sun otherwise::

    torchrun --nproc_per_node=8 -m training.train v2i_ablation_cqd_tsq_half_r50_sun
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_distill_r50_sun import Exp as Distill


class Exp(V2IExp):
    config = dataclasses.replace(Distill.config, use_tfd=False, use_cqd=True, cqd_count='T*sq/2')
