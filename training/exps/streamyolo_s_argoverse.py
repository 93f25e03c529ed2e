"""Table 2 of DAMO-StreamNet, "StreamYOLO" S: one history frame fused by DFP on YOLOX's
PAFPN neck (zoo streamyolo_s), no AK-distillation, streamnet_s_argoverse's recipe
otherwise::

    torchrun --nproc_per_node=4 -m training.train streamyolo_s_argoverse
"""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, model='streamyolo_s',
                                 teacher_model='', teacher_checkpoint='')
