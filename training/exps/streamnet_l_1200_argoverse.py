"""DAMO-StreamNet-L at 1200x1920 (the paper's 43.3 sAP, spec §3.1, §4.3, §5, §6): no teacher
(plain TAL head, ``tools/train.py``), 15 epochs, total batch 8, lr 0.001/48 per image,
multi-scale s in 110..130 (16-pixel steps, (16 int(0.625 s), 16 s)) except the last epoch,
warm-up then a constant 5 % (no_aug_epochs = max_epoch); the long path is ``pure_concat`` (no
extra 1x1, unlike the 600x960 models) and TAL nu = 1.6::

    python -m training.models.streamnet.importers yolox_l_drfpn.pth --model streamnet_l \\
        --fusion pure_concat --out runs/init/yolox_l_coco_streamnet_1200.pt
    torchrun --nproc_per_node=4 -m training.train streamnet_l_1200_argoverse \\
        init_checkpoint=runs/init/yolox_l_coco_streamnet_1200.pt
"""
import dataclasses

from training.exps import streamnet_l_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(
        streamnet_l_argoverse.Exp.config, input_size=(1200, 1920), multiscale_range=(110, 130),
        basic_lr_per_img=0.001 / 48, max_epoch=15, no_aug_epochs=15, teacher_model='',
        teacher_checkpoint='', fusion='pure_concat', tal_nu=1.6)
