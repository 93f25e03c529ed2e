"""streamnet_s_argoverse with N = 2 history frames two frames apart (t-2, t-4): the paper's best
S row of Table 3, (N, dt) = (2, 2), 31.4 sAP. The bundle's history step is 2 (export reads the
data's). Other rows by override: ``history_frames=N history_step=DT`` (S and M: any N; L groups
its history convs, so only 0 or 3)."""
import dataclasses

from training.exps import streamnet_s_argoverse
from training.exps.streamnet_base import StreamNetExp


class Exp(StreamNetExp):
    config = dataclasses.replace(streamnet_s_argoverse.Exp.config, history_frames=2,
                                 history_step=2)
