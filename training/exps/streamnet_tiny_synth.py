"""streamnet_tiny (N = 3) on the synthetic driving benchmark, CPU-sized; the recipe of spec §6
scaled down (SGD Nesterov, warm-up then the constant 5 % lr of the released code, EMA, flip,
multi-scale except in the last epoch)::

    video-perception synth driving runs/data/synth_driving_train --seed 1 --videos 8
    video-perception synth driving runs/data/synth_driving_val --seed 2 --videos 2
    video-perception train streamnet_tiny_synth
"""
from training.exps.streamnet_base import StreamNetExp, StreamNetExpConfig


class Exp(StreamNetExp):
    config = StreamNetExpConfig(
        model='streamnet_tiny', input_size=(192, 320), multiscale_range=(17, 23),
        max_epoch=6, batch_size=8, num_workers=2,
        # 8x the per-image lr of the released recipe: the tiny model from scratch, few epochs.
        basic_lr_per_img=0.008 / 64, warmup_epochs=1, no_aug_epochs=6, min_lr_ratio=0.05,
        ema_tau=200.0, amp=True, log_every=5, checkpoint_every=0)
