"""Table 2 of DAMO-StreamNet, "StreamYOLO + DRFPN" S: StreamYOLO's one-frame DFP fusion on
the DRFPN neck (zoo streamyolo_drfpn_s), no AK-distillation::

    torchrun --nproc_per_node=4 -m training.train streamyolo_drfpn_s_argoverse
"""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config,
                                 model='streamyolo_drfpn_s', teacher_model='',
                                 teacher_checkpoint='')
