"""Table 2 of DAMO-StreamNet, "StreamYOLO + DRFPN" M: StreamYOLO's one-frame DFP fusion on
the DRFPN neck (zoo streamyolo_drfpn_m), no AK-distillation::

    torchrun --nproc_per_node=4 -m training.train streamyolo_drfpn_m_argoverse
"""
import dataclasses

from training.exps import streamnet_m_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_m_argoverse.Exp.config,
                                 model='streamyolo_drfpn_m', teacher_model='',
                                 teacher_checkpoint='')
