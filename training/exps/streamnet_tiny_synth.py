"""streamnet_tiny (N = 3) on the synthetic driving benchmark, CPU-sized; the recipe of spec §6
scaled down (SGD Nesterov, warm-up, EMA, flip, multi-scale, no augmentation in the last epochs).

One departure, on purpose: the released code trains every epoch as a "no-aug" epoch, so after the
warm-up its lr is a constant 5 % of the base (fine-tuning from COCO weights). This model starts
from scratch, where 5 % of the lr learns almost nothing in a CPU budget; here the cosine of
YOLOX runs over the first 20 epochs and only the last 4 are no-aug epochs at the 5 % floor.
The S/M/L Argoverse experiments keep the released schedule (streamnet_s_argoverse.py)::

    video-perception synth driving runs/data/synth_driving_train --seed 1 --videos 8
    video-perception synth driving runs/data/synth_driving_val --seed 2 --videos 2
    video-perception train streamnet_tiny_synth
"""
from training.exps.streamnet_base import StreamNetExp, StreamNetExpConfig


class Exp(StreamNetExp):
    config = StreamNetExpConfig(
        model='streamnet_tiny', input_size=(192, 320), multiscale_range=(17, 23),
        max_epoch=24, batch_size=8, num_workers=2,
        # 8x the per-image lr of the released recipe: the tiny model from scratch, few epochs.
        basic_lr_per_img=0.008 / 64, warmup_epochs=1, no_aug_epochs=4, min_lr_ratio=0.05,
        ema_tau=200.0, amp=True, log_every=5, checkpoint_every=0)
