"""V2I (the DETR family) on the training side: its model names (``models/detr/zoo.py``, teachers
included: ``export`` refuses them in one line) and its exporter (``export.export_v2i``:
``student.onnx``)."""
from __future__ import annotations

from typing import Tuple

from training.export import export_v2i as export  # noqa: F401 - the registry's entry

NAME = 'v2i'


def model_names() -> Tuple[str, ...]:
    from training.models.detr import zoo
    return tuple(zoo.MODELS)
