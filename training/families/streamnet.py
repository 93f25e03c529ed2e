"""StreamNet on the training side: its model names (``models/streamnet/zoo.py``) and its
exporter (``export.export_streamnet``: ``encoder.onnx`` + ``forecast.onnx``)."""
from __future__ import annotations

from typing import Tuple

from training.export import export_streamnet as export  # noqa: F401 - the registry's entry

NAME = 'streamnet'


def model_names() -> Tuple[str, ...]:
    from training.models.streamnet import zoo
    # the YOLOX still detectors are served as N = 0 StreamNet bundles (video-perception import)
    return tuple(zoo.STREAMNET_CONFIGS) + tuple(n for n in zoo.STILL_CONFIGS
                                                if n.startswith('yolox_'))
