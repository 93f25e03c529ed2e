"""The torch twin of a bundle: its graphs' computation rebuilt from model.json in torch.

``build_from_bundle`` is the bundle's torch ``builder`` (model.json names it as
``training.export:build_from_bundle``, which re-exports it): the runtime's torch backend serves
with it and ``check_bundle.py`` compares it with the deployed graphs. It lives here, below
``export.py`` (which writes bundles and then runs ``check_bundle``) and ``check_bundle.py``
(which rebuilds the twin), so that neither of those imports the other in a circle.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

import torch
from torch import nn

from training.models.streamnet.export_onnx import StreamNetGraphs


def _streamnet_names():
    from training.models.streamnet import zoo
    return zoo


def _build_streamnet(variant: str, num_classes: int, model_kwargs: Dict) -> nn.Module:
    zoo = _streamnet_names()
    kwargs = {k: (tuple(tuple(g) if isinstance(g, list) else g for g in v)
                  if isinstance(v, list) else v) for k, v in (model_kwargs or {}).items()}
    if 'long_groups' in kwargs:   # JSON turns ((3, (5, 10, 21)),) into nested lists
        kwargs['long_groups'] = tuple((int(n), tuple(int(c) for c in ch))
                                      for n, ch in kwargs['long_groups'])
    return zoo.MODELS[variant](num_classes=num_classes, **kwargs)


class V2IGraph(nn.Module):
    """A DETR-family student with the graph's signature: (image, valid_hw) -> (pred_logits,
    pred_boxes); without valid_hw the whole canvas is the picture (bundles from before the
    mask input)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, valid_hw: Optional[torch.Tensor] = None):
        return self.model.forward_export(image, valid_hw)


def build_from_bundle(bundle) -> nn.Module:
    """The torch twin of a bundle's graphs, rebuilt from model.json (weights loaded too).

    StreamNet: a ``StreamNetGraphs`` (encode / forecast with the graphs' flat signatures),
    RepConv fused like the exported model.pt. V2I: the DETR family's own builder.
    """
    torch_meta = bundle.raw.get('torch') or {}
    if bundle.family == 'v2i':
        from training.models.detr import zoo as detr_zoo
        graph = V2IGraph(detr_zoo.build(bundle.variant, len(bundle.classes),
                                        **(torch_meta.get('model_kwargs') or {}))).eval()
        if bundle.torch_state_dict and os.path.isfile(bundle.torch_state_dict):
            graph.load_state_dict(torch.load(bundle.torch_state_dict, map_location='cpu',
                                             weights_only=True))
        return graph
    from training.models.streamnet.blocks import fuse_repconv
    model = _build_streamnet(bundle.variant, len(bundle.classes),
                             torch_meta.get('model_kwargs') or {}).eval()
    if torch_meta.get('fused_repconv', True):
        fuse_repconv(model)
    # a bundle without history.current has the layout before the buffered reductions
    graphs = StreamNetGraphs(model, cached=bool(bundle.current_features)).eval()
    if bundle.torch_state_dict and os.path.isfile(bundle.torch_state_dict):
        graphs.load_state_dict(torch.load(bundle.torch_state_dict, map_location='cpu',
                                          weights_only=True))
    return graphs
