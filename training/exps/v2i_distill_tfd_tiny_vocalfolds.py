"""Ablation on vocalfolds: TFD only::

    video-perception train v2i_distill_tfd_tiny_vocalfolds
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_distill_tiny_vocalfolds import Exp as Full


class Exp(V2IExp):
    config = dataclasses.replace(Full.config, use_tfd=True, use_cqd=False)
