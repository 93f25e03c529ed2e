"""V2I-DETR Table IV row 2, "w/ FD": Deformable DETR R50 on SUN distilled from the frozen R50
teacher with plain feature distillation (Eq. 2: L1 over every pixel of the distilled level, no
mask) alone; v2i_distill_r50_sun otherwise::

    torchrun --nproc_per_node=8 -m training.train v2i_ablation_fd_r50_sun
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_distill_r50_sun import Exp as Distill


class Exp(V2IExp):
    config = dataclasses.replace(Distill.config, use_tfd=True, use_cqd=False, fd_mask='none')
