"""streamnet_s_argoverse with one history frame (N = 1, dt = 1): the "D-SN (N=1)" rows of the
paper's Tables 4 and 5 (30.6 sAP without AK-distillation, 31.5 with; ``teacher_model=''`` for
the former)."""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, history_frames=1)
