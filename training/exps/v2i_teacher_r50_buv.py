"""Stage 1 on BUV (breast ultrasound video, CVA-Net's release; paper: 150 training / 38 test
videos; Table II: teacher 37.0 AP, 64.2 AP50, 39.5 AP75): the V2I teacher (Deformable DETR R50
+ MSI, T = 3 causal) with SUN's recipe, which is the paper's for both datasets (AdamW lr 1e-4,
batch 16, 12 epochs; the [infer] rest as v2i_base). Benign and malignant stay two classes, so
AP is class-aware like CVA-Net's (spec §9.11). 512x512 letterbox with the padding mask [infer:
the paper gives no size; CVA-Net validates at 512].

Model selection never sees the test videos: ``val_json`` is the training set; hold videos out
with ``train_videos=... val_videos=...`` (names as the converter writes them, e.g.
``benign/<id>``). The test split is only scored (``python -m training.v2i_eval EXP CKPT --split
test``: AP, AP50, AP75)::

    video-perception convert buv miccai_buv/train.json runs/data/buv_train
    video-perception convert buv miccai_buv/val.json runs/data/buv_test
    torchrun --nproc_per_node=8 -m training.train v2i_teacher_r50_buv \\
        init_checkpoint=weights/deformable_detr_r50_coco.pt
"""
import dataclasses

from training.exps import v2i_teacher_r50_sun
from training.exps.v2i_base import V2IExp

BUV = dict(train_json='runs/data/buv_train/dataset.json',
           val_json='runs/data/buv_train/dataset.json',
           test_json='runs/data/buv_test/dataset.json')


class Exp(V2IExp):
    config = dataclasses.replace(v2i_teacher_r50_sun.Exp.config, **BUV)
