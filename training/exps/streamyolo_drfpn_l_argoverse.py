"""Table 2 of DAMO-StreamNet, "StreamYOLO + DRFPN" L: StreamYOLO's one-frame DFP fusion on
the DRFPN neck (zoo streamyolo_drfpn_l), no AK-distillation::

    torchrun --nproc_per_node=4 -m training.train streamyolo_drfpn_l_argoverse
"""
import dataclasses

from training.exps import streamnet_l_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_l_argoverse.Exp.config,
                                 model='streamyolo_drfpn_l', teacher_model='',
                                 teacher_checkpoint='')
