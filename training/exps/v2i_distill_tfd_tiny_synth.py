"""Ablation: TFD only (L_det + 1 L_TFD), synthetic lesion benchmark::

    video-perception train v2i_distill_tfd_tiny_synth
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_distill_tiny_synth import Exp as Full


class Exp(V2IExp):
    config = dataclasses.replace(Full.config, use_tfd=True, use_cqd=False)
