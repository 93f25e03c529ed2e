"""Stage 1: StreamYOLO's still L teacher on Argoverse-HD (spec §5, recipe
``cfgs/l_s50_still_dfp_flip.py``, checkpoint dir ``l_s50_still_dfp_flip_ep8_4_gpus_bs_8``):
CSPDarknet-L + PAFPN + DFP, a still-image detector (frame t+1 with its own GT), 8 epochs, total
batch 8 on 4 GPUs (lr 0.001/64 per image = 1.25e-4), flip; the rest (600x960, multi-scale s in
50..70 except the last epoch, warm-up then a constant 5 %, EMA, AMP) as streamnet_s_argoverse,
whose StreamYOLO base it shares. Initialised from COCO YOLOX-L
(training/models/streamnet/importers.py maps the official keys, DFP's jian* included)::

    python -m training.models.streamnet.importers yolox_l.pth --model still_teacher_l \\
        --out runs/init/yolox_l_coco_still.pt
    torchrun --nproc_per_node=4 -m training.train still_teacher_l_argoverse \\
        init_checkpoint=runs/init/yolox_l_coco_still.pt

The same teacher serves the S, M and L students (streamnet_{s,m,l}_argoverse).
"""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, model='still_teacher_l',
                                 teacher_model='', teacher_checkpoint='', batch_size=8,
                                 eval_batch=8)
    best_metric = 'AP'
