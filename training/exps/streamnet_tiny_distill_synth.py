"""streamnet_tiny distilled from the still teacher (AK-distillation, spec §5, weight 0.2 as for
S); stage 2 after still_teacher_tiny_synth. Needs teacher_checkpoint=..."""
import dataclasses

from training.exps import streamnet_tiny_synth


class Exp(streamnet_tiny_synth.Exp):
    config = dataclasses.replace(
        streamnet_tiny_synth.Exp.config, teacher_model='yolox_s', kd_weight=0.2,
        teacher_checkpoint='runs/still_teacher_tiny_synth/best.pt')
