"""Export a StreamNet to ``encoder.onnx`` + ``forecast.onnx`` (contract: bundle.py, runtime).

Static shapes, batch 1, opset 17: ``encoder``: ``image`` [1, 3, H, W] -> the current frame's
features (f0, f1, f2), then the features the buffer keeps, the long-path reductions (l0, l1, l2);
``forecast``: the current features, then the history ``{buffered}_h{k}`` (k = 1..N, newest
first) -> ``predictions`` [1, A, 5 + C]. model.json lists the two sets as ``history.current`` and
``history.features`` (families/streamnet.py). An N = 0 model, and ``StreamNetGraphs(cached=
False)`` (the layout before the reductions, which old bundles keep), buffer the full maps: the
encoder outputs (f0, f1, f2) once and there is no ``history.current``. The model is exported as
given (fuse RepConv first). Every graph is checked on the spot (training/onnx_check.py): the ONNX
checker, TensorRT 10's operator list, static shapes, and ONNX Runtime against torch on random
frames; the cached forecast is also checked against the recomputing one.
"""
from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from training.onnx_check import check_graph, export_onnx
from video_perception.bundle import batched_graph_name
from video_perception.feature_buffer import history_names

# INT8 bundles (training/quantize.py): layer groups as regexes on node / weight names, and the
# groups kept in float, chosen by quantising one group at a time (docs/BENCHMARKS.md, INT8)
INT8_FLOAT_GROUPS = {
    'stem': (r'backbone\.stem\.',),
    'dcn_offsets': (r'conv_offset',),                  # DCN offset / mask convs
    'dual_path': (r'\.dual\.',),                       # the temporal fusion
    'head_stems': (r'head\.(stems|cls_convs|reg_convs)\.',),
    'head_preds': (r'head\.(cls|reg|obj)_preds\.',),    # the head's last convs
}
# measured on the shipped tiny StreamNet (max score drift, one group quantised alone): stem 0.069,
# dcn_offsets 0.031, dual_path 0.070, head_stems 0.039, head_preds 0.023, the rest 0.177; all
# 0.188, all but head_preds 0.177: no group dominates, the head's last convs (cheap) stay float
INT8_KEEP_FLOAT = ('head_preds',)


class StreamNetGraphs(nn.Module):
    """The two deployment graphs of a StreamNet with flat tensor signatures (bundle.py).

    cached (the default): ``encode(image) -> (f0, f1, f2, l0, l1, l2)``; ``forecast(f0, f1, f2,
    l0_h1, l1_h1, l2_h1, ...)``. ``cached=False`` (old bundles): ``encode(image) -> (f0, f1, f2)``;
    ``forecast(f0, f1, f2, f0_h1, ...)``. History newest first -> predictions [1, A, 5 + C]. N = 0
    has no reductions, so both layouts are the same. The torch backend calls these directly.
    """

    def __init__(self, model: nn.Module, cached: bool = True):
        super().__init__()
        self.model = model
        self.history_frames = int(model.history_frames)
        self.cached = bool(cached) and self.history_frames > 0
        self.levels = len(model.strides)

    def current_specs(self, height: int, width: int) -> List[Tuple[str, tuple]]:
        """history.current: the current-only encoder outputs; [] when they are the buffered."""
        return self.model.feature_specs(height, width) if self.cached else []

    def buffered_specs(self, height: int, width: int) -> List[Tuple[str, tuple]]:
        """history.features: what the buffer holds per frame (and the encoder outputs last)."""
        if self.cached:
            return self.model.buffered_feature_specs(height, width)
        return self.model.feature_specs(height, width)

    def encode(self, image: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if not self.cached:
            return tuple(self.model.encode(image))
        feats, reduced = self.model.encode_streaming(image)
        return tuple(feats) + tuple(reduced)

    def forecast(self, *feats: torch.Tensor) -> torch.Tensor:
        lv = self.levels
        current = feats[:lv]
        history = [feats[lv * (k + 1):lv * (k + 2)] for k in range(self.history_frames)]
        if self.cached:
            return self.model.forecast_cached(current, history)
        return self.model.forecast(current, history)


class _Role(nn.Module):
    """Exposes one method of StreamNetGraphs as ``forward`` for torch.onnx.export."""

    def __init__(self, graphs: StreamNetGraphs, role: str):
        super().__init__()
        self.graphs, self.role = graphs, role

    def forward(self, *args):
        return getattr(self.graphs, self.role)(*args)


def _check_shapes(specs: Sequence[Tuple[str, tuple]], feats: Sequence[torch.Tensor],
                  batch: int) -> None:
    for (name, shape), feat in zip(specs, feats):
        if tuple(feat.shape) != (batch,) + tuple(shape)[1:]:
            raise RuntimeError(f'encoder output {name}: shape {tuple(feat.shape)}, model says '
                               f'{shape}')


def export_streamnet_onnx(graphs: StreamNetGraphs, height: int, width: int, out_dir: str,
                          opset: int = 17, check: bool = True, seed: int = 0,
                          batch: int = 1) -> Dict:
    """Write ``encoder.onnx`` and ``forecast.onnx`` of ``graphs`` (eval mode) into ``out_dir``.

    Returns {'features': [(name, shape)] buffered, 'current': [(name, shape)] current-only
    ([] for the layout without), 'report': {role: check_graph's report}} ('report' is empty
    without ``check``). Raises RuntimeError when the encoder's outputs disagree with the
    shapes the model declares (the bundle's feature buffer is sized from those), or when the
    cached forecast differs from the recomputing one.
    """
    model, n = graphs.model, graphs.history_frames
    current = graphs.current_specs(height, width)
    specs = graphs.buffered_specs(height, width)
    cur_names = [name for name, _ in current]
    names = [name for name, _ in specs]
    hist_names = history_names(names, n)
    os.makedirs(out_dir, exist_ok=True)

    gen = torch.Generator().manual_seed(seed)
    # batch B > 1: the graphs' twins for B cameras (bundle.batched_graph_name), static shapes
    frames = [torch.rand(batch, 3, height, width, generator=gen) * 255 for _ in range(1 + n)]
    with torch.no_grad():
        encoded = [graphs.encode(f) for f in frames]          # realistic history features
    _check_shapes(current + specs, encoded[0], batch)
    buffered = [feats[len(current):] for feats in encoded]    # what the buffer would hold
    forecast_inputs = list(encoded[0][:graphs.levels]) + [t for b in buffered[1:] for t in b]
    enc_path = os.path.join(out_dir, batched_graph_name('encoder.onnx', batch))
    fc_path = os.path.join(out_dir, batched_graph_name('forecast.onnx', batch))
    export_onnx(_Role(graphs, 'encode'), (frames[0],), enc_path, ['image'], cur_names + names,
                opset)
    fc_names = (cur_names or names) + hist_names
    export_onnx(_Role(graphs, 'forecast'), tuple(forecast_inputs), fc_path, fc_names,
                ['predictions'], opset)
    report = {}
    if check:
        with torch.no_grad():
            fc_ref = graphs.forecast(*forecast_inputs)
            full = [feats[:graphs.levels] for feats in encoded]
            recompute = model.forecast(full[0], full[1:])
        diff = (fc_ref - recompute).abs().max().item()
        if diff > 1e-4 * max(1.0, recompute.abs().max().item()):
            raise RuntimeError(f'forecast on buffered reductions differs from recomputing the '
                               f'long path by {diff:.2e}; expected equal (dual_path.reduce)')
        report['encoder'] = check_graph(enc_path, {'image': frames[0]},
                                        dict(zip(cur_names + names, encoded[0])))
        report['forecast'] = check_graph(fc_path, dict(zip(fc_names, forecast_inputs)),
                                         {'predictions': fc_ref})
    return {'features': specs, 'current': current, 'report': report}
