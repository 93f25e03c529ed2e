"""Export a StreamNet to ``encoder.onnx`` + ``forecast.onnx`` (contract: bundle.py, runtime).

Static shapes, batch 1, opset 17: ``encoder``: ``image`` [1, 3, H, W] -> one feature per buffered
level; ``forecast``: those features, then the history ``{name}_h{k}`` (k = 1..N, newest first)
-> ``predictions`` [1, A, 5 + C]. The model is exported as given (fuse RepConv first). Every graph
is checked on the spot (training/onnx_check.py): the ONNX checker, TensorRT 10's operator list,
static shapes, and ONNX Runtime against torch on random frames.
"""
from __future__ import annotations

import os
from typing import Dict, Tuple

import torch
from torch import nn

from training.onnx_check import check_graph, export_onnx
from video_perception.bundle import batched_graph_name
from video_perception.feature_buffer import history_names


class StreamNetGraphs(nn.Module):
    """The two deployment graphs of a StreamNet with flat tensor signatures (bundle.py).

    ``encode(image) -> (f0, f1, f2)``; ``forecast(f0, f1, f2, f0_h1, f1_h1, f2_h1, ...)`` with the
    history newest first -> predictions [1, A, 5 + C]. The torch backend calls these directly.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.history_frames = int(model.history_frames)

    def encode(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(self.model.encode(image))

    def forecast(self, *feats: torch.Tensor) -> torch.Tensor:
        levels = len(feats) // (1 + self.history_frames)
        current = feats[:levels]
        history = [feats[levels * (k + 1):levels * (k + 2)] for k in range(self.history_frames)]
        return self.model.forecast(current, history)


class _Role(nn.Module):
    """Exposes one method of StreamNetGraphs as ``forward`` for torch.onnx.export."""

    def __init__(self, graphs: StreamNetGraphs, role: str):
        super().__init__()
        self.graphs, self.role = graphs, role

    def forward(self, *args):
        return getattr(self.graphs, self.role)(*args)


def export_streamnet_onnx(graphs: StreamNetGraphs, height: int, width: int, out_dir: str,
                          opset: int = 17, check: bool = True, seed: int = 0,
                          batch: int = 1) -> Dict:
    """Write ``encoder.onnx`` and ``forecast.onnx`` of ``graphs`` (eval mode) into ``out_dir``.

    Returns {'features': [(name, shape)], 'report': {role: check_graph's report}} ('report' is
    empty without ``check``). Raises RuntimeError when the encoder's outputs disagree with the
    shapes the model declares (the bundle's feature buffer is sized from those).
    """
    model, n = graphs.model, graphs.history_frames
    specs = model.buffered_feature_specs(height, width)
    names = [name for name, _ in specs]
    hist_names = history_names(names, n)
    os.makedirs(out_dir, exist_ok=True)

    gen = torch.Generator().manual_seed(seed)
    # batch B > 1: the graphs' twins for B cameras (bundle.batched_graph_name), static shapes
    frames = [torch.rand(batch, 3, height, width, generator=gen) * 255 for _ in range(1 + n)]
    with torch.no_grad():
        encoded = [graphs.encode(f) for f in frames]          # realistic history features
    for (name, shape), feat in zip(specs, encoded[0]):
        if tuple(feat.shape) != (batch,) + tuple(shape)[1:]:
            raise RuntimeError(f'encoder output {name}: shape {tuple(feat.shape)}, model says '
                               f'{shape}')
    forecast_inputs = [t for feats in encoded for t in feats]
    enc_path = os.path.join(out_dir, batched_graph_name('encoder.onnx', batch))
    fc_path = os.path.join(out_dir, batched_graph_name('forecast.onnx', batch))
    export_onnx(_Role(graphs, 'encode'), (frames[0],), enc_path, ['image'], names, opset)
    export_onnx(_Role(graphs, 'forecast'), tuple(forecast_inputs), fc_path, names + hist_names,
                ['predictions'], opset)
    report = {}
    if check:
        with torch.no_grad():
            fc_ref = graphs.forecast(*forecast_inputs)
        report['encoder'] = check_graph(enc_path, {'image': frames[0]},
                                        dict(zip(names, encoded[0])))
        report['forecast'] = check_graph(fc_path, dict(zip(names + hist_names, forecast_inputs)),
                                         {'predictions': fc_ref})
    return {'features': specs, 'report': report}
