"""streamnet_l_argoverse without AK-distillation (no still teacher): the "AK-D off" row of
DAMO-StreamNet's ablation, and Table 2's "LongShortNet + DRFPN" L row (DAMO-StreamNet is
LongShortNet's dual path on the DRFPN neck, plus AK-D)::

    torchrun --nproc_per_node=4 -m training.train streamnet_l_argoverse_noakd
"""
import dataclasses

from training.exps import streamnet_l_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_l_argoverse.Exp.config, teacher_model='',
                                 teacher_checkpoint='')
