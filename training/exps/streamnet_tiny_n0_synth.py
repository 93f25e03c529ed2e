"""streamnet_tiny without history (N = 0: no long path), otherwise streamnet_tiny_synth: the
"history vs none" comparison of issue 4, item 5."""
import dataclasses

from training.exps import streamnet_tiny_synth


class Exp(streamnet_tiny_synth.Exp):
    config = dataclasses.replace(streamnet_tiny_synth.Exp.config, history_frames=0)
