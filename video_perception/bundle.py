"""Model bundle: the contract between training (which writes it) and the nodes (which load it).

A bundle is a directory::

    model.json          this file's schema (below)
    encoder.onnx        StreamNet: one frame -> the per-frame features that are buffered
    forecast.onnx       StreamNet: current features + N buffered -> raw predictions of frame t+1
    student.onnx        V2I: one frame -> (logits, boxes)
    model.pt            optional state dict for the torch backend (loaded with weights_only=True)

``model.json`` (format_version 1)::

    {
      "format_version": 1,
      "family": "streamnet" | "v2i",
      "variant": "streamnet_tiny",                 # a name `video-perception params` knows
      "input": {"height": 384, "width": 640,       # static network input (letterboxed)
                "pixel_format": "bgr" | "rgb",
                "scale": 1.0,                      # x = (pixel * scale - mean) / std, per channel
                "mean": [0, 0, 0], "std": [1, 1, 1],
                "letterbox": "top_left" | "center", "pad_value": 114},
      "classes": ["car", ...],                     # index = class id in the outputs
      "graphs": {"encoder": "encoder.onnx", "forecast": "forecast.onnx"} | {"student": ...},
      "output": {"kind": "yolox" | "detr_softmax" | "detr_sigmoid", "num_queries": 100},
      "history": {                                 # StreamNet only
        "frames": 3, "step": 1,                    # N past frames at step dt (in frames)
        "features": [{"name": "f3", "shape": [1, 21, 48, 80]}, ...]
      },
      "torch": {"state_dict": "model.pt",          # optional
                "builder": "training.export:build_from_bundle"},
      "provenance": {"config": {...}, "git": "...", "data": "...", "metrics": {...}}
    }

Graph signatures (static shapes, batch 1, float32):

* ``encoder.onnx``: input ``image`` [1, 3, H, W] -> outputs named as ``history.features``
  (in order).
* ``forecast.onnx``: inputs are the current frame's features (names as in ``history.features``),
  then for k = 1..N (k = 1 is the most recent past frame) ``{name}_h{k}`` for each feature;
  output ``predictions``: kind ``yolox`` -> [1, A, 5 + C] with (cx, cy, w, h) in network-input
  pixels and sigmoid-ed objectness and class scores (YOLOX ``decode_in_inference``).
* ``student.onnx``: input ``image`` [1, 3, H, W] and, when ``input.valid_hw`` is true,
  ``valid_hw`` [1, 2] float32: the rows and columns of the letterboxed picture at the top-left,
  from which the graph makes the padding mask the student was trained and evaluated with
  (bundles without it treat the whole canvas as the picture); outputs ``pred_logits``
  [1, Q, C'] (C' = C + 1 with a trailing no-object class for ``detr_softmax``; C for
  ``detr_sigmoid``) and ``pred_boxes`` [1, Q, 4] cxcywh normalised to the canvas.

The torch ``builder`` is named by string so the runtime never imports ``training`` itself: it is a
callable ``builder(bundle: Bundle) -> torch.nn.Module`` whose module offers ``encode``/``forecast``
(StreamNet) or ``forward`` (V2I) with the same signatures as the graphs.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

FORMAT_VERSION = 1
FAMILIES = ('streamnet', 'v2i')
OUTPUT_KINDS = ('yolox', 'detr_softmax', 'detr_sigmoid')
GRAPHS_BY_FAMILY = {'streamnet': ('encoder', 'forecast'), 'v2i': ('student',)}


class BundleError(ValueError):
    """A bundle that cannot be used; the message names the file and what was expected."""


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    name: str
    shape: tuple


@dataclasses.dataclass(frozen=True)
class Bundle:
    root: str
    family: str
    variant: str
    height: int
    width: int
    pixel_format: str
    scale: float
    mean: tuple
    std: tuple
    letterbox: str
    pad_value: int
    classes: tuple
    graphs: Dict[str, str]          # role -> absolute path
    output_kind: str
    num_queries: Optional[int]
    history_frames: int
    history_step: int
    features: tuple                 # of FeatureSpec
    torch_state_dict: Optional[str]
    torch_builder: Optional[str]
    raw: Dict[str, Any]             # the parsed model.json, for provenance and extensions

    def graph(self, role: str) -> str:
        return self.graphs[role]


def _require(obj: dict, key: str, where: str, kind):
    if key not in obj:
        raise BundleError(f'{where}: missing key "{key}"')
    value = obj[key]
    if not isinstance(value, kind):
        raise BundleError(f'{where}: "{key}" must be {getattr(kind, "__name__", kind)}, '
                          f'got {type(value).__name__}')
    return value


def load_bundle(root: str) -> Bundle:
    """Read and validate ``root/model.json``; every graph file it names must exist."""
    path = os.path.join(root, 'model.json')
    if not os.path.isdir(root):
        raise BundleError(f'model bundle {root!r}: not a directory (expected a folder holding '
                          f'model.json and ONNX graphs)')
    if not os.path.isfile(path):
        raise BundleError(f'model bundle {root!r}: no model.json inside')
    try:
        with open(path, encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise BundleError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(meta, dict):
        raise BundleError(f'{path}: expected a JSON object')
    version = _require(meta, 'format_version', path, int)
    if version != FORMAT_VERSION:
        raise BundleError(f'{path}: format_version {version} is not supported '
                          f'(this runtime reads {FORMAT_VERSION})')
    family = _require(meta, 'family', path, str)
    if family not in FAMILIES:
        raise BundleError(f'{path}: family "{family}" unknown; expected one of {FAMILIES}')
    inp = _require(meta, 'input', path, dict)
    classes = _require(meta, 'classes', path, list)
    graphs_raw = _require(meta, 'graphs', path, dict)
    output = _require(meta, 'output', path, dict)
    kind = _require(output, 'kind', path + ' output', str)
    if kind not in OUTPUT_KINDS:
        raise BundleError(f'{path}: output.kind "{kind}" unknown; expected one of {OUTPUT_KINDS}')
    graphs = {}
    for role in GRAPHS_BY_FAMILY[family]:
        name = _require(graphs_raw, role, path + ' graphs', str)
        full = os.path.join(root, name)
        if not os.path.isfile(full):
            raise BundleError(f'{path}: graph "{role}" names {name}, which is not in the bundle')
        graphs[role] = full
    history = meta.get('history') or {}
    features: List[FeatureSpec] = []
    if family == 'streamnet':
        for i, feat in enumerate(_require(history, 'features', path + ' history', list)):
            features.append(FeatureSpec(str(feat['name']), tuple(int(s) for s in feat['shape'])))
    torch_meta = meta.get('torch') or {}
    state_dict = torch_meta.get('state_dict')
    if state_dict is not None:
        state_dict = os.path.join(root, state_dict)
    return Bundle(
        root=os.path.abspath(root), family=family, variant=str(meta.get('variant', '')),
        height=int(_require(inp, 'height', path + ' input', int)),
        width=int(_require(inp, 'width', path + ' input', int)),
        pixel_format=str(inp.get('pixel_format', 'bgr')), scale=float(inp.get('scale', 1.0)),
        mean=tuple(float(v) for v in inp.get('mean', (0.0, 0.0, 0.0))),
        std=tuple(float(v) for v in inp.get('std', (1.0, 1.0, 1.0))),
        letterbox=str(inp.get('letterbox', 'top_left')), pad_value=int(inp.get('pad_value', 114)),
        classes=tuple(str(c) for c in classes), graphs=graphs, output_kind=kind,
        num_queries=output.get('num_queries'),
        history_frames=int(history.get('frames', 0)), history_step=int(history.get('step', 1)),
        features=tuple(features), torch_state_dict=state_dict,
        torch_builder=torch_meta.get('builder'), raw=meta)


def write_model_json(root: str, meta: Dict[str, Any]) -> str:
    """Write model.json atomically (temporary file, then rename)."""
    os.makedirs(root, exist_ok=True)
    meta = dict(meta)
    meta.setdefault('format_version', FORMAT_VERSION)
    path = os.path.join(root, 'model.json')
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2, sort_keys=False)
        f.write('\n')
    os.replace(tmp, path)
    return path
