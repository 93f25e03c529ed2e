"""Model bundle: the contract between training (which writes it) and the nodes (which load it).

A bundle is a directory::

    model.json          this file's schema (below)
    *.onnx              the graphs of its family, by role (e.g. encoder + forecast, or student)
    model.pt            optional state dict for the torch backend (loaded with weights_only=True)

``model.json`` (format_version 1)::

    {
      "format_version": 1,
      "family": "<name>",                          # a registered family (families/__init__.py)
      "variant": "streamnet_tiny",                 # a name `video-perception params` knows
      "input": {"height": 384, "width": 640,       # static network input (letterboxed)
                "pixel_format": "bgr" | "rgb",
                "scale": 1.0,                      # x = (pixel * scale - mean) / std, per channel
                "mean": [0, 0, 0], "std": [1, 1, 1],
                "letterbox": "top_left" | "center", "pad_value": 114},
      "classes": ["car", ...],                     # index = class id in the outputs
      "graphs": {"<role>": "<role>.onnx", ...},    # every role the family names (GRAPHS)
      "output": {"kind": "...", "num_queries": 100},   # a kind the family decodes
      "batch_sizes": [1, 2, 4],                    # optional (default [1]): static batches
      "history": {                                 # families with buffered features (HISTORY)
        "frames": 3, "step": 1,                    # N past frames at step dt (in frames)
        "features": [{"name": "f3", "shape": [1, 21, 48, 80]}, ...],
        "current": [{"name": ..., "shape": ...}, ...]   # optional (the family says)
      },
      "torch": {"state_dict": "model.pt",          # optional
                "builder": "training.export:build_from_bundle"},
      "provenance": {"config": {...}, "git": "...", "data": "...", "metrics": {...}}
    }

Graphs take static shapes, float32; an ``image`` input is [1, 3, H, W] (``image_input``). A bundle
exported for several cameras lists its ``batch_sizes``: for each size B other than 1 every graph
has a twin ``<stem>_b<B>.onnx`` whose inputs and outputs lead with B instead of 1
(``batched_graph_name``); static sizes, since TensorRT engines and static shapes want them. A
bundle without the field is batch 1 only (batches run frame by frame). Each family module
(``video_perception/families/``) states its graphs' input and output names.

The torch ``builder`` is named by string so the runtime never imports ``training`` itself: it is a
callable ``builder(bundle: Bundle) -> torch.nn.Module`` whose module offers ``encode``/``forecast``
(as the family's ``TORCH_METHODS`` say) with the same signatures as the graphs.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Optional

from video_perception.errors import BundleError  # noqa: F401 - its public home is here

FORMAT_VERSION = 1


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
    batch_sizes: tuple = (1,)       # static batch sizes the graphs were exported for
    # frame periods after the input that the outputs describe (``output.future_frames``: a
    # StreamNet trained on GT(t + K) forecasts K frames ahead); what ``stamp_mode:=forecast`` adds
    future_frames: int = 1
    batch_graphs: Dict[int, Dict[str, str]] = dataclasses.field(default_factory=dict)
    # history.current: features of the current frame only, not buffered (families/streamnet.py)
    current_features: tuple = ()
    # the family object ``load_bundle`` resolved (or was handed): what the detector, the bundle
    # check and the backends ask, so one node resolves its family once (families.bundle_family)
    family_module: Any = dataclasses.field(default=None, compare=False, repr=False)

    def graph(self, role: str, batch: int = 1) -> str:
        """The graph of ``role`` for batch size ``batch`` (one of ``batch_sizes``)."""
        return self.graphs[role] if batch == 1 else self.batch_graphs[batch][role]


def batched_graph_name(name: str, batch: int) -> str:
    """'encoder.onnx', 4 -> 'encoder_b4.onnx': the file of a graph exported for batch B."""
    stem, ext = os.path.splitext(name)
    return name if batch == 1 else f'{stem}_b{batch}{ext}'


def _batch_sizes(meta: dict, path: str) -> tuple:
    sizes = meta.get('batch_sizes', [1])
    if (not isinstance(sizes, list) or not sizes or 1 not in sizes
            or any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in sizes)):
        raise BundleError(f'{path}: "batch_sizes" {sizes!r}: expected a list of positive '
                          f'integers that holds 1, e.g. [1, 2, 4]')
    return tuple(sorted(set(sizes)))


def _require(obj: dict, key: str, where: str, kind):
    if key not in obj:
        raise BundleError(f'{where}: missing key "{key}"')
    value = obj[key]
    if not isinstance(value, kind):
        raise BundleError(f'{where}: "{key}" must be {getattr(kind, "__name__", kind)}, '
                          f'got {type(value).__name__}')
    return value


def _feature_specs(items: list) -> tuple:
    return tuple(FeatureSpec(str(f['name']), tuple(int(s) for s in f['shape'])) for f in items)


PIXEL_FORMATS = ('bgr', 'rgb')
PRECISIONS = ('fp32', 'fp16', 'int8')


def check_fields(meta: Dict[str, Any], path: str) -> None:
    """Every field of ``model.json`` the runtime reads, by type and range (``validate``): a
    bundle that loads can serve every frame. BundleError (one line: the field, its value, what
    was expected) at the first bad one; the graphs are set against these by ``bundle_check``."""
    from video_perception import validate
    from video_perception.letterbox import LETTERBOX_MODES

    def at(field):
        return f'{path}: {field}'

    def num(field, value, **kw):
        return validate.number(at(field), value, error=BundleError, **kw)

    def seq(field, value, n=None):
        if not isinstance(value, list) or (n is not None and len(value) != n):
            want = f'a list of {n}' if n else 'a list'
            raise BundleError(f'{at(field)}: {validate.short(value)}: expected {want}')
        return value

    if 'variant' in meta:
        validate.string(at('variant'), meta['variant'], nonempty=False, error=BundleError)
    inp = meta['input']
    for key in ('height', 'width'):
        num(f'input.{key}', inp.get(key), integer=True, lo=1, hi=16384)
    validate.choice(at('input.pixel_format'), inp.get('pixel_format', 'bgr'), PIXEL_FORMATS,
                    error=BundleError)
    num('input.scale', inp.get('scale', 1.0), lo=0.0, lo_open=True)
    for i, v in enumerate(seq('input.mean', inp.get('mean', [0.0, 0.0, 0.0]), 3)):
        num(f'input.mean[{i}]', v)
    for i, v in enumerate(seq('input.std', inp.get('std', [1.0, 1.0, 1.0]), 3)):
        num(f'input.std[{i}]', v, lo=0.0, lo_open=True)
    validate.choice(at('input.letterbox'), inp.get('letterbox', 'top_left'), LETTERBOX_MODES,
                    error=BundleError)
    num('input.pad_value', inp.get('pad_value', 114), integer=True, lo=0, hi=255)
    classes = seq('classes', meta['classes'])
    if not classes:
        raise BundleError(f'{at("classes")}: []: expected at least one class name')
    for name in classes:
        validate.string(at('classes'), name, error=BundleError)
    validate.distinct(at('classes'), classes, error=BundleError)
    output = meta['output']
    if output.get('num_queries') is not None:
        num('output.num_queries', output['num_queries'], integer=True, lo=1)
    if 'strides' in output:
        for v in seq('output.strides', output['strides']):
            num('output.strides', v, integer=True, lo=1)
    if 'precision' in meta:
        validate.choice(at('precision'), meta['precision'], PRECISIONS, error=BundleError)
    history = meta.get('history') or {}
    if not isinstance(history, dict):
        raise BundleError(f'{at("history")}: {validate.short(history)}: expected an object')
    num('history.frames', history.get('frames', 0), integer=True, lo=0, hi=1000)
    num('history.step', history.get('step', 1), integer=True, lo=1, hi=1000)
    for group in ('features', 'current'):
        items = seq(f'history.{group}', history.get(group, []))
        for i, item in enumerate(items):
            field = f'history.{group}[{i}]'
            if not isinstance(item, dict):
                raise BundleError(f'{at(field)}: {validate.short(item)}: expected '
                                  '{"name": ..., "shape": [...]}')
            validate.string(at(field + '.name'), item.get('name'), error=BundleError)
            for v in seq(field + '.shape', item.get('shape')):
                num(field + '.shape', v, integer=True, lo=1)
        validate.distinct(at(f'history.{group} names'), [f['name'] for f in items],
                          error=BundleError)
    torch_meta = meta.get('torch') or {}
    for key in ('state_dict', 'builder'):
        if torch_meta.get(key) is not None:
            validate.string(at(f'torch.{key}'), torch_meta[key], error=BundleError)


def load_bundle(root: str, family: Any = None) -> Bundle:
    """Read and validate ``root/model.json``; every graph file it names must exist.

    ``family``: the family object the caller resolved (a node: its own); the bundle must be of
    that family, and the registry is not asked again. None: the registry resolves model.json's.
    """
    from video_perception.model_paths import resolve_model_path  # a NAME: an installed bundle
    root = resolve_model_path(root)
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
    from video_perception.families import get_family
    fam = family
    family = _require(meta, 'family', path, str)
    if fam is None:
        fam = get_family(family, what=f'{path}:')
    elif family != fam.NAME:
        raise BundleError(f'model bundle {root} is a "{family}" model; this node runs '
                          f'"{fam.NAME}" bundles')
    inp = _require(meta, 'input', path, dict)
    classes = _require(meta, 'classes', path, list)
    graphs_raw = _require(meta, 'graphs', path, dict)
    output = _require(meta, 'output', path, dict)
    kind = _require(output, 'kind', path + ' output', str)
    if kind not in fam.OUTPUT_KINDS:
        raise BundleError(f'{path}: output.kind "{kind}" unknown; expected one of '
                          f'{fam.OUTPUT_KINDS}')
    check_fields(meta, path)
    graphs = {}
    for role in fam.GRAPHS:
        name = _require(graphs_raw, role, path + ' graphs', str)
        full = os.path.join(root, name)
        if not os.path.isfile(full):
            raise BundleError(f'{path}: graph "{role}" names {name}, which is not in the bundle')
        graphs[role] = full
    batch_sizes = _batch_sizes(meta, path)
    batch_graphs = {}
    for b in batch_sizes[1:]:
        batch_graphs[b] = {role: os.path.join(root, batched_graph_name(graphs_raw[role], b))
                           for role in graphs}
        missing = [os.path.basename(f) for f in batch_graphs[b].values() if not os.path.isfile(f)]
        if missing:
            raise BundleError(f'{path}: batch_sizes lists {b} but {missing} are not in the '
                              f'bundle')
    history = meta.get('history') or {}
    features: tuple = ()
    current: tuple = ()
    if getattr(fam, 'HISTORY', False):
        where = path + ' history'
        features = _feature_specs(_require(history, 'features', where, list))
        if 'current' in history:
            current = _feature_specs(_require(history, 'current', where, list))
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
        features=features, torch_state_dict=state_dict,
        torch_builder=torch_meta.get('builder'), raw=meta, batch_sizes=batch_sizes,
        batch_graphs=batch_graphs, future_frames=_future_frames(output, path),
        current_features=current, family_module=fam)


def _future_frames(output: Dict[str, Any], path: str) -> int:
    k = output.get('future_frames', 1)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise BundleError(f'{path}: output.future_frames is {k!r}; expected an integer >= 0 '
                          f'(frame periods ahead that the outputs describe)')
    return k


def image_input(bundle: Bundle) -> Dict[str, tuple]:
    """The ``image`` input of a graph that reads the frame: [1, 3, H, W]."""
    return {'image': (1, 3, bundle.height, bundle.width)}


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
