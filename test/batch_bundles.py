"""Small convolutional bundles exported at batch sizes 1, 2 and 4, for the multi-camera tests.

Unlike ``tiny_bundles`` (batch 1 only, known answers) these are plain random conv nets whose
graphs take any leading batch, exported once per size like ``video-perception export --batch``:
the test compares a batch against each frame run alone, so no known answer is needed, only
outputs that depend on every pixel and on the feature history.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch
from torch import nn

from tiny_bundles import _Call
from video_perception.bundle import batched_graph_name, write_model_json
from video_perception.feature_buffer import history_names

H, W = 64, 96
STRIDE, C = 8, 3               # one output level; C classes
RC = 4                         # channels of the buffered reduction


class ConvMotion(nn.Module):
    """StreamNet-shaped: encode -> f [B, 8, H/8, W/8] and (``cached``, the layout exported
    today) its buffered reduction r [B, 4, H/8, W/8]; forecast(f, r_h1, r_h2) -> predictions
    [B, A, 5 + C] with cxcywh in network pixels (grid + offsets) and sigmoid scores.
    ``cached=False``: the older layout, f buffered and read as f_h1, f_h2."""

    def __init__(self, frames: int = 2, cached: bool = True):
        super().__init__()
        self.frames, self.cached = frames, cached
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1),
                                 nn.ReLU(), nn.Conv2d(8, 8, 3, 2, 1))
        self.reduce = nn.Conv2d(8, RC, 1)
        self.head = nn.Conv2d(8 + (RC if cached else 8) * frames, 5 + C, 3, 1, 1)
        ys, xs = torch.meshgrid(torch.arange(H // STRIDE), torch.arange(W // STRIDE),
                                indexing='ij')
        self.register_buffer('grid', torch.stack([xs, ys]).float().view(1, 2, -1) + 0.5)

    def encode(self, image):
        f = self.enc(image / 255.0)
        return (f, self.reduce(f)) if self.cached else f

    def forecast(self, f, *history):
        x = self.head(torch.cat((f,) + history, dim=1))      # [B, 5 + C, h, w]
        x = x.flatten(2)                                      # [B, 5 + C, A]
        centre = (self.grid + torch.tanh(x[:, :2])) * STRIDE
        size = torch.sigmoid(x[:, 2:4]) * 4 * STRIDE
        return torch.cat([centre, size, torch.sigmoid(x[:, 4:])], 1).transpose(1, 2)


class ConvStudent(nn.Module):
    """V2I-shaped: image -> pred_logits [B, Q, C + 1], pred_boxes [B, Q, 4] (sigmoid cxcywh)."""

    def __init__(self, queries: int = 6):
        super().__init__()
        self.queries = queries
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, 4, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 4, 1),
                                 nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten())
        self.out = nn.Linear(8 * 6, queries * (C + 1 + 4))

    def forward(self, image):
        y = self.out(self.enc(image)).view(-1, self.queries, C + 5)
        return y[..., :C + 1] * 4.0, torch.sigmoid(y[..., C + 1:])


def _export(model, method, args, path, inputs, outputs):
    with torch.no_grad():
        torch.onnx.export(_Call(model, method), args, path, input_names=inputs,
                          output_names=outputs, opset_version=17, dynamo=False)


def _input(pixel_format: str) -> dict:
    return {'height': H, 'width': W, 'pixel_format': pixel_format, 'scale': 1.0,
            'mean': [0, 0, 0], 'std': [1, 1, 1], 'letterbox': 'top_left', 'pad_value': 114}


def make_streamnet_bundle(root: str, batch_sizes: Sequence[int] = (1, 2, 4),
                          cached: bool = True) -> str:
    torch.manual_seed(0)
    model = ConvMotion(cached=cached).eval()
    os.makedirs(root, exist_ok=True)
    shape = [1, 8, H // STRIDE, W // STRIDE]
    history = {'frames': model.frames, 'step': 1, 'features': [{'name': 'f', 'shape': shape}]}
    buffered = [1, RC if cached else 8] + shape[2:]
    if cached:
        history.update(current=history['features'], features=[{'name': 'r',
                                                               'shape': buffered}])
    names = ['f'] + history_names([history['features'][0]['name']], model.frames)
    for b in batch_sizes:
        f, r = torch.rand(b, *shape[1:]), torch.rand(b, *buffered[1:])
        _export(model, 'encode', (torch.rand(b, 3, H, W) * 255,),
                os.path.join(root, batched_graph_name('encoder.onnx', b)), ['image'],
                ['f', 'r'] if cached else ['f'])
        _export(model, 'forecast', (f,) + (r,) * model.frames,
                os.path.join(root, batched_graph_name('forecast.onnx', b)), names,
                ['predictions'])
    write_model_json(root, {
        'family': 'streamnet', 'variant': 'conv_motion', 'input': _input('bgr'),
        'classes': ['a', 'b', 'c'], 'graphs': {'encoder': 'encoder.onnx',
                                               'forecast': 'forecast.onnx'},
        'output': {'kind': 'yolox'}, 'batch_sizes': list(batch_sizes), 'history': history,
        'provenance': {'note': 'test fixture: random conv net at several batch sizes'}})
    return root


def make_v2i_bundle(root: str, batch_sizes: Sequence[int] = (1, 2, 4)) -> str:
    torch.manual_seed(0)
    model = ConvStudent().eval()
    os.makedirs(root, exist_ok=True)
    for b in batch_sizes:
        _export(model, 'forward', (torch.rand(b, 3, H, W),),
                os.path.join(root, batched_graph_name('student.onnx', b)), ['image'],
                ['pred_logits', 'pred_boxes'])
    write_model_json(root, {
        'family': 'v2i', 'variant': 'conv_student', 'input': _input('rgb'),
        'classes': ['a', 'b', 'c'], 'graphs': {'student': 'student.onnx'},
        'output': {'kind': 'detr_softmax', 'num_queries': model.queries},
        'batch_sizes': list(batch_sizes),
        'provenance': {'note': 'test fixture: random conv net at several batch sizes'}})
    return root
