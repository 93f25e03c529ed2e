"""DAMO-StreamNet-L on Argoverse-HD at 600x960, stage 2 (spec §5, §6): streamnet_s_argoverse's
recipe with the L model, total batch 8 (``run_train.sh``; lr 0.001/64 per image = 1.25e-4),
evaluation batch 8, KD weight 0.1 (the model's own; paper and code agree), distilled from the
still L teacher (stage 1: still_teacher_l_argoverse)::

    python -m training.models.streamnet.importers yolox_l_drfpn.pth --model streamnet_l \\
        --out runs/init/yolox_l_coco_streamnet.pt      # DAMO's COCO init: backbone, DRFPN, head
    torchrun --nproc_per_node=4 -m training.train streamnet_l_argoverse \\
        init_checkpoint=runs/init/yolox_l_coco_streamnet.pt
"""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, model='streamnet_l',
                                 batch_size=8, eval_batch=8)
