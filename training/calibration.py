"""Calibration frames and feeds for INT8 bundles, and the in-place quantisation of a bundle.

``quantize_bundle(root, source, ...)`` turns an fp32 bundle (just exported) into an int8 one:
every graph (each batch size too) is replaced by its QDQ graph (training/quantize.py), and
model.json records ``precision: int8`` and ``quantization`` (calibration source, frames, method,
the quantiser, the layers kept float). The frames are read by video_perception/sources.py (dataset
JSON, image folder, rosbag2), ``frames`` of them at evenly spread positions, and preprocessed by
letterbox.preprocess as the node does.
"""
from __future__ import annotations

import functools
import os
import re
from typing import Dict, List, Optional, Sequence

import numpy as np

from training.quantize import (CALIB_METHODS, DEFAULT_FRAMES, QUANT_OPS, SHARED_OPS, Feed,
                               family_keep_float, family_float_groups, quantize_graph)

HISTORY_INPUT = re.compile(r'^(?P<name>.+)_h(?P<k>\d+)$')


def pick_indices(count: int, n: int) -> List[int]:
    """``n`` positions spread evenly over ``count`` frames, first and last included."""
    if count <= 0:
        return []
    return sorted({int(round(v)) for v in np.linspace(0, count - 1, min(n, count))})


class CalibSource:
    """The frames of a calibration source, decoded on demand (and cached while used)."""

    def __init__(self, path: str, frames: int = DEFAULT_FRAMES, topic: Optional[str] = None):
        from video_perception.sources import SourceError, open_source
        if frames < 1:
            raise ValueError(f'--calib-frames {frames}: expected at least 1')
        src = open_source(path, topic=topic, topic_flag='--calib-topic')
        if src.kind not in ('bag', 'folder', 'dataset'):
            raise SourceError(f'--calib {path}: a {src.kind}; expected a dataset JSON, an image '
                              'folder or a rosbag2')
        self.path, self.kind = os.path.abspath(path), src.kind
        self.frames = list(src.frames())
        if not self.frames:
            raise SourceError(f'--calib {path}: no frames')
        self.picked = pick_indices(len(self.frames), frames)
        # each frame's segment start: the history never reaches into another video
        self.segment_start, start = [], 0
        for i, f in enumerate(self.frames):
            if i and f.segment != self.frames[i - 1].segment:
                start = i
            self.segment_start.append(start)

    @functools.lru_cache(maxsize=32)
    def image(self, index: int) -> np.ndarray:
        return self.frames[index].load()

    def history(self, index: int, frames: int, step: int) -> List[int]:
        """[t, t - step, ..., t - frames * step], clamped at the segment's first frame."""
        first = self.segment_start[index]
        return [max(first, index - k * step) for k in range(frames + 1)]

    def describe(self) -> Dict:
        return {'source': self.path, 'kind': self.kind, 'frames': len(self.picked),
                'source_frames': len(self.frames)}


def check_frames(path: str, n: int = 4, topic: Optional[str] = None) -> List[np.ndarray]:
    """``n`` consecutive frames from the middle of a calibration source: what an int8 bundle's
    check-bundle runs on (its drift is only defined on the kind of pictures it was calibrated
    for; the default random-texture frames saturate ranges no camera produced)."""
    from video_perception.sources import open_source
    frames = list(open_source(path, topic=topic, topic_flag='--calib-topic').frames())
    start = max(0, len(frames) // 2 - n // 2)
    return [f.load() for f in frames[start:start + n]]


def _network_input(bundle, frame: np.ndarray, input_names: Sequence[str]) -> Dict:
    from video_perception.letterbox import preprocess
    tensor, t = preprocess(frame, bundle, input_order='bgr')
    feed = {'image': tensor}
    if 'valid_hw' in input_names:
        feed['valid_hw'] = np.array([[t.new_height, t.new_width]], np.float32)
    return feed


def _batched(feeds: Sequence[Feed], batch: int) -> List[Feed]:
    """Feeds of ``batch`` consecutive samples stacked on axis 0 (the last group wraps)."""
    if batch == 1:
        return list(feeds)
    n = len(feeds)

    def make(j):
        parts = [feeds[(j * batch + i) % n]() for i in range(batch)]
        return {k: np.concatenate([p[k] for p in parts], 0) for k in parts[0]}
    return [functools.partial(make, j) for j in range(-(-n // batch))]


def _inputs_of(path: str) -> List[str]:
    import onnx
    return [i.name for i in onnx.load(path, load_external_data=False).graph.input]


def image_feeds(bundle, src: CalibSource, graph_path: str) -> List[Feed]:
    names = _inputs_of(graph_path)
    return [functools.partial(lambda i: _network_input(bundle, src.image(i), names), i)
            for i in src.picked]


def forecast_feeds(bundle, src: CalibSource, encoder_fp32: str, forecast_path: str) -> List[Feed]:
    """The forecast's inputs as the node builds them: the fp32 encoder's outputs for frame t and
    ``{name}_h{k}`` from frame t - k * step (history primed with the segment's first frame)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1    # fixed: the same features (and ranges) on every machine
    session = ort.InferenceSession(encoder_fp32, opts, providers=['CPUExecutionProvider'])
    out_names = [o.name for o in session.get_outputs()]
    names = _inputs_of(forecast_path)

    @functools.lru_cache(maxsize=4 * (bundle.history_frames + 1))
    def encode(index: int) -> Dict[str, np.ndarray]:
        feed = _network_input(bundle, src.image(index), ['image'])
        return dict(zip(out_names, session.run(None, feed)))

    def feed(index: int) -> Dict[str, np.ndarray]:
        frames = src.history(index, bundle.history_frames, bundle.history_step)
        out = {}
        for name in names:
            m = HISTORY_INPUT.match(name)
            k, base = (int(m['k']), m['name']) if m else (0, name)
            out[name] = encode(frames[k])[base]
        return out
    return [functools.partial(feed, i) for i in src.picked]


def quantize_bundle(root: str, source: str, frames: int = DEFAULT_FRAMES,
                    method: str = 'minmax', keep_float: Optional[Sequence[str]] = None,
                    topic: Optional[str] = None) -> Dict:
    """Quantise the fp32 bundle at ``root`` in place; returns model.json's ``quantization``.
    ``keep_float``: group names of the family's INT8_FLOAT_GROUPS (default: INT8_KEEP_FLOAT)."""
    import onnxruntime
    from video_perception.bundle import load_bundle, write_model_json
    if method not in CALIB_METHODS:
        raise ValueError(f'--calib-method {method}: expected one of {", ".join(CALIB_METHODS)}')
    bundle = load_bundle(root)
    if bundle.raw.get('precision', 'fp32') != 'fp32':
        raise ValueError(f'{root}: already {bundle.raw["precision"]}; quantise an fp32 bundle')
    groups = family_float_groups(bundle.family)
    keep = tuple(family_keep_float(bundle.family) if keep_float is None else keep_float)
    unknown = [g for g in keep if g not in groups]
    if unknown:
        raise ValueError(f'float-kept group {unknown[0]!r}: expected one of {", ".join(groups)}')
    patterns = [p for g in keep for p in groups[g]]
    src = CalibSource(source, frames, topic)
    excluded = {}
    fp32_encoder = None
    for batch in bundle.batch_sizes:
        for role in bundle.graphs:   # encoder before forecast: the forecast needs the fp32 one
            path = bundle.graph(role, batch)
            if role == 'forecast':
                feeds = forecast_feeds(bundle, src, fp32_encoder, path)
            else:
                feeds = image_feeds(bundle, src, path)
            if role == 'encoder' and batch == 1:
                fp32_encoder = path + '.fp32'
                os.replace(path, fp32_encoder)
                fp32_path = fp32_encoder
            else:
                fp32_path = path
            excluded[os.path.basename(path)] = quantize_graph(
                fp32_path, path, _batched(feeds, batch), method, patterns)
    if fp32_encoder:
        os.remove(fp32_encoder)
    meta = dict(bundle.raw)
    meta['precision'] = 'int8'
    meta['quantization'] = {
        'calibration': dict(src.describe(), method=method),
        'quantiser': f'onnxruntime.quantization {onnxruntime.__version__} quantize_static QDQ',
        'weights': 'int8 symmetric per output channel', 'activations': 'int8 symmetric',
        'ops': list(QUANT_OPS) + ['SiLU (Sigmoid, Mul)'] + list(SHARED_OPS),
        'float_kept': {g: list(groups[g]) for g in keep}, 'float_nodes': excluded}
    write_model_json(root, meta)
    return meta['quantization']
