"""The still teacher for the synthetic runs: YOLOX blocks with DFP at width 0.125 (the CPU twin
of StreamYOLO's still L of spec §5), trained on frame t+1 with its own GT (a still-image
detector), flip on. Stage 1 of the two-stage recipe::

    video-perception train still_teacher_tiny_synth
    video-perception train streamnet_tiny_distill_synth \\
        teacher_checkpoint=runs/still_teacher_tiny_synth/best.pt
"""
import dataclasses

from training.exps import streamnet_tiny_synth


class Exp(streamnet_tiny_synth.Exp):
    config = dataclasses.replace(streamnet_tiny_synth.Exp.config, model='yolox_s',
                                 still_tiny=True)
    best_metric = 'AP'
