"""streamnet_s_argoverse trained to forecast K = 2 frames ahead (GT(t + 2), the teacher sees
t + 2) and selected by sAP_2: a row of the paper's K-step study (Table 5). Other K by override,
e.g. ``train streamnet_s_argoverse_k2 future=4``. The sampler's history step and boundary rule
are fields too (``history_step``, ``boundary``)."""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, future=2)
