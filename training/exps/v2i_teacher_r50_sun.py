"""Stage 1 at the real size (spec §5.1, §6.1): the V2I teacher (Deformable DETR R50, N = 100
queries, 4 levels + MSI, T = 3 causal) on SUN-SEG converted to the canonical format, 512x512,
AdamW lr 1e-4 / backbone 1e-5 / offsets x0.1, wd 1e-4, clip 0.1, batch 16, 12 epochs, drop at
10. Start from ImageNet ResNet-50 or COCO Deformable DETR weights (the importers in
training/models/detr/importers.py write a state dict for ``init_checkpoint``)::

    video-perception convert sun-seg SUN-SEG/TrainDataset runs/data/sun_train
    video-perception convert sun-seg SUN-SEG/TestHardDataset runs/data/sun_test_hard
    torchrun --nproc_per_node=8 -m training.train v2i_teacher_r50_sun \\
        init_checkpoint=weights/deformable_detr_r50_coco.pt
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig

# Model selection never sees a test split (spec: "choose it on a held-out train clip"): 10 of
# SUN-SEG's training cases are held out for validation; TestEasy and TestHard are only scored
# (``python -m training.v2i_eval EXP CKPT --split test test_json=.../sun_test_easy/...``).
SUN = dict(
    train_json='runs/data/sun_train/dataset.json', val_json='', val_holdout_videos=10,
    test_json='runs/data/sun_test_hard/dataset.json', input_size=(512, 512), batch_size=16,
    num_workers=4, max_epoch=12, lr=1e-4, lr_backbone=1e-5, lr_drop_epochs=(10,),
    flip_prob=0.5, log_every=50, checkpoint_every=1000)


class Exp(V2IExp):
    config = V2IExpConfig(model='v2i_teacher_r50', **SUN)
