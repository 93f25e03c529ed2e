"""Table 2 of DAMO-StreamNet, "LongShortNet" L: the dual path (N = 3) on YOLOX's PAFPN neck
(zoo longshortnet_l), no AK-distillation, streamnet_l_argoverse's recipe otherwise::

    torchrun --nproc_per_node=4 -m training.train longshortnet_l_argoverse
"""
import dataclasses

from training.exps import streamnet_l_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_l_argoverse.Exp.config, model='longshortnet_l',
                                 teacher_model='', teacher_checkpoint='')
