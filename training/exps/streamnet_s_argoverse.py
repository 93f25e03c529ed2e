"""DAMO-StreamNet-S on Argoverse-HD, the released recipe (spec §6): 600x960, 8 epochs, total
batch 16 on 4 GPUs, SGD Nesterov (momentum 0.9, wd 5e-4, no decay on BN/bias), lr 0.001/64 per
image, 1 warm-up epoch then a constant 5 % (no_aug_epochs = max_epoch), EMA 0.9998, AMP, flip,
multi-scale s in 50..70 except the last epoch, distilled from the still L teacher (kd 0.2),
initialised from COCO YOLOX (training/models/streamnet/importers.py)::

    torchrun --nproc_per_node=4 -m training.train streamnet_s_argoverse \\
        train_json=data/argoverse_hd/train.json val_json=data/argoverse_hd/val.json \\
        teacher_checkpoint=runs/still_teacher_l_argoverse/best.pt \\
        init_checkpoint=runs/init/yolox_s_coco_streamnet.pt
"""
from training.exps.streamnet_base import StreamNetExp, StreamNetExpConfig


class Exp(StreamNetExp):
    config = StreamNetExpConfig(
        model='streamnet_s', input_size=(600, 960), multiscale_range=(50, 70),
        train_json='data/argoverse_hd/train.json', val_json='data/argoverse_hd/val.json',
        teacher_model='still_teacher_l',
        teacher_checkpoint='runs/still_teacher_l_argoverse/best.pt',
        max_epoch=8, batch_size=16, num_workers=4, basic_lr_per_img=0.001 / 64,
        warmup_epochs=1, no_aug_epochs=8, min_lr_ratio=0.05, weight_decay=5e-4,
        momentum=0.9, ema=True, ema_decay=0.9998, amp=True, eval_batch=32)
