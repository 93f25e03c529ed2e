"""DAMO-StreamNet-M on Argoverse-HD, stage 2 (spec §5, §6): streamnet_s_argoverse's recipe
(600x960, 8 epochs, total batch 16, lr 0.001/64 per image, multi-scale 50..70, EMA, AMP) with the
M model, distilled from the same still L teacher.

KD weight: the model's own 0.4, the released M config (spec §5, a [code] value); the paper's
text says 0.2 for M. Pass ``kd_weight=0.2`` for the paper's number. Batch: the scripts' total 16
(spec §6, §10.8; the paper's "batch 32" is StreamYOLO's README)::

    python -m training.models.streamnet.importers yolox_m_drfpn.pth --model streamnet_m \\
        --out runs/init/yolox_m_coco_streamnet.pt      # DAMO's COCO init: backbone, DRFPN, head
    torchrun --nproc_per_node=4 -m training.train streamnet_m_argoverse \\
        init_checkpoint=runs/init/yolox_m_coco_streamnet.pt
"""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, model='streamnet_m')
