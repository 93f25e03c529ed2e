"""Table 2 of DAMO-StreamNet, "StreamYOLO" M: one history frame fused by DFP on YOLOX's
PAFPN neck (zoo streamyolo_m), no AK-distillation, streamnet_m_argoverse's recipe
otherwise::

    torchrun --nproc_per_node=4 -m training.train streamyolo_m_argoverse
"""
import dataclasses

from training.exps import streamnet_m_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_m_argoverse.Exp.config, model='streamyolo_m',
                                 teacher_model='', teacher_checkpoint='')
