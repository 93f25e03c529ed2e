"""Stage 1 on the synthetic lesion benchmark: the tiny V2I teacher (Deformable DETR + MSI over
causal 3-frame clips), CPU-sized. The recipe of spec §5.1 scaled down: AdamW, grad clip 0.1, a
step drop; the tiny backbone starts from scratch, so it trains at the full lr (the 1e-5 backbone
lr assumes ImageNet weights)::

    video-perception synth lesion runs/v2i_data/synth_lesion_train --seed 1 --videos 4 --frames 40
    video-perception synth lesion runs/v2i_data/synth_lesion_val --seed 2 --videos 2 --frames 40
    video-perception synth lesion runs/v2i_data/synth_lesion_test --seed 3 --videos 2 --frames 40
    video-perception train v2i_teacher_tiny_synth
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig

# num_queries 30: the tiny zoo models' CPU size (CQD draws 10), not the paper's 100
TINY_SYNTH = dict(
    num_queries=30,
    input_size=(128, 128), batch_size=4, num_workers=1, max_epoch=8, lr=2e-4, lr_backbone=2e-4,
    lr_drop_epochs=(7,), eval_every=8, log_every=10, flip_prob=0.5)


class Exp(V2IExp):
    config = V2IExpConfig(model='v2i_teacher_tiny', **TINY_SYNTH)
