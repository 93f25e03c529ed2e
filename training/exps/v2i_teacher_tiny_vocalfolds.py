"""Stage 1 on real endoscopy video (../shared/data/vocalfolds, class 'pathology'): train on
patient1/seq1, test on patient1/seq2. seq1 is also the validation split (the sample has no
third sequence), so the F1 threshold carried to seq2 is chosen on training frames, never on
seq2. Frames 512x512 fitted into 128x128 (tiny, CPU). 80 epochs of 8 steps: the DETR family
learns slowly, and 20 epochs left the tiny teacher at AP50 0.07 on seq1::

    video-perception convert labelmap ../shared/data/vocalfolds runs/v2i_data/vocalfolds \\
        --class-value 4 --class-name pathology --fps 25
    video-perception train v2i_teacher_tiny_vocalfolds
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig

DATA = 'runs/v2i_data/vocalfolds/dataset.json'
# num_queries 30: the tiny zoo models' CPU size (CQD draws 10), not the paper's 100
TINY_VOCALFOLDS = dict(
    num_queries=30,
    train_json=DATA, val_json=DATA, test_json=DATA, train_videos=('patient1/seq1',),
    val_videos=('patient1/seq1',), test_videos=('patient1/seq2',),
    input_size=(128, 128), batch_size=4, num_workers=1, max_epoch=80, lr=2e-4,
    lr_backbone=2e-4, lr_drop_epochs=(64,), eval_every=20, log_every=10, flip_prob=0.5)


class Exp(V2IExp):
    config = V2IExpConfig(model='v2i_teacher_tiny', **TINY_VOCALFOLDS)
