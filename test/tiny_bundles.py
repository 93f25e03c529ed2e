"""Tiny model bundles with a known answer, for backend, detector and node tests.

Not random nets: each graph computes something a test can predict without running it.

* StreamNet ``tiny_motion``: the encoder turns a frame into the centroid of its bright pixels
  (``fa`` [1, 2, 1, 1], network-input pixels) and their mass (``fb`` [1, 1, 1, 1]). The forecast
  extrapolates linearly from the most recent history entry: centre(t+1) = 2 * centre(t) -
  centre(t-1), a 20 x 20 box of class 0 with score 0.9025 (objectness 0.95 x class 0.95); three
  more anchors score 0. With no history (N = 0) the box stays at centre(t). A buffer read in
  the wrong order (t-2 for t-1) or never updated gives a
  different centre, so the test sees it. The default layout is today's export (``cached``): the
  encoder also outputs the buffered feature ``ca`` [1, 2, 1, 1] (the centroid: the mass is not
  buffered, as a real model buffers its long-path reductions only), model.json lists
  ``history.current`` (fa, fb) and the forecast reads fa, fb, ca_h1..ca_hN. ``cached=False`` is
  the layout of bundles exported before (fa, fb buffered and read as fa_h1, fb_h1, ...).
* V2I ``tiny_box``: the student outputs, for query 0, the bounding box of the bright pixels
  (normalised cxcywh) with class 0 confident; queries 1..2 are no-object.

Pixels are bright when (pixel / 255) > 0.5; the letterbox pad (114) is not.
Run with ``PYTHONPATH=<this folder>`` so ``tiny_bundles:build`` resolves for the torch backend.
"""
from __future__ import annotations

import os

import torch
from torch import nn

from video_perception.bundle import write_model_json
from video_perception.feature_buffer import history_names

H, W = 64, 96          # network input (letterboxed), divisible by 32 like the real models
NUM_ANCHORS = 4


def _bright_mask(image):                                    # image [1, 3, H, W] in [0, 1]
    gray = image.mean(dim=1, keepdim=True)                  # [1, 1, H, W]
    return torch.clamp((gray - 0.5) * 1000.0, 0.0, 1.0)


class TinyMotion(nn.Module):
    def __init__(self, frames: int = 2, cached: bool = True):
        super().__init__()
        self.frames = frames
        self.cached = cached and frames > 0        # N = 0 buffers nothing: the old layout
        self.register_buffer('xs', torch.arange(W, dtype=torch.float32).view(1, 1, 1, W) + 0.5)
        self.register_buffer('ys', torch.arange(H, dtype=torch.float32).view(1, 1, H, 1) + 0.5)
        # a weight so load_state_dict has something to check
        self.box_size = nn.Parameter(torch.tensor([20.0, 20.0]))

    def encode(self, image):
        mask = _bright_mask(image)
        mass = mask.sum(dim=(2, 3), keepdim=True) + 1e-6      # [1, 1, 1, 1]
        cx = (mask * self.xs).sum(dim=(2, 3), keepdim=True) / mass
        cy = (mask * self.ys).sum(dim=(2, 3), keepdim=True) / mass
        fa = torch.cat([cx, cy], dim=1)                       # [1, 2, 1, 1]
        if not self.cached:
            return fa, mass                                   # fa, fb [1, 1, 1, 1]
        return fa, mass, fa - 0.0 * mass                      # + ca [1, 2, 1, 1], buffered

    def forecast(self, fa, fb, *history):
        # N = 0 (no history): no motion to extrapolate, the box stays at centre(t);
        # history[0] is ca_h1 (cached layout) or fa_h1
        fa_h1 = history[0] if history else fa                 # [1, 2, 1, 1], t - dt
        centre = (2.0 * fa - fa_h1).view(1, 1, 2)             # [1, 1, 2]
        size = self.box_size.view(1, 1, 2)
        first = torch.cat([centre, size, torch.full((1, 1, 2), 0.95)], dim=2)  # [1, 1, 6]
        # reads every input (0 x), so the exporter keeps the whole history signature
        rest = torch.zeros(1, NUM_ANCHORS - 1, 6) + 0.0 * fb.view(1, 1, 1)
        for h in history:
            rest = rest + 0.0 * h.sum()
        return torch.cat([first, rest], dim=1)                # [1, A, 5 + C], C = 1


class TinyBox(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer('xs', torch.arange(W, dtype=torch.float32).view(1, 1, 1, W) + 0.5)
        self.register_buffer('ys', torch.arange(H, dtype=torch.float32).view(1, 1, H, 1) + 0.5)
        self.logit_scale = nn.Parameter(torch.tensor(8.0))

    def forward(self, image):
        mask = _bright_mask(image)
        big = 1e4
        x0 = (self.xs * mask + big * (1 - mask)).amin(dim=(2, 3)) - 0.5   # [1, 1]
        y0 = (self.ys * mask + big * (1 - mask)).amin(dim=(2, 3)) - 0.5
        x1 = (self.xs * mask - big * (1 - mask)).amax(dim=(2, 3)) + 0.5
        y1 = (self.ys * mask - big * (1 - mask)).amax(dim=(2, 3)) + 0.5
        box = torch.cat([(x0 + x1) / 2 / W, (y0 + y1) / 2 / H, (x1 - x0) / W, (y1 - y0) / H],
                        dim=1).view(1, 1, 4)
        boxes = torch.cat([box, torch.full((1, 2, 4), 0.5)], dim=1)        # [1, Q, 4]
        s = self.logit_scale
        logits = torch.stack([torch.stack([s, -s]), torch.stack([-s, s]),
                              torch.stack([-s, s])]).view(1, 3, 2)       # [1, Q, C + 1]
        logits = logits + 0.0 * x0.view(1, 1, 1)      # keeps the output a named graph output
        return logits, boxes


def build(bundle):
    """The torch builder named in model.json (``tiny_bundles:build``)."""
    if bundle.family == 'streamnet':
        return TinyMotion(bundle.history_frames, cached=bool(bundle.current_features))
    return TinyBox()


class _Call(nn.Module):
    def __init__(self, model, method):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, *args):
        return getattr(self.model, self.method)(*args)


def _export(module, args, path, inputs, outputs):
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs,
                      opset_version=17, dynamo=False)


def _common(letterbox: str = 'top_left') -> dict:
    return {'height': H, 'width': W, 'pixel_format': 'bgr', 'scale': 1 / 255.0,
            'mean': [0, 0, 0], 'std': [1, 1, 1], 'letterbox': letterbox, 'pad_value': 114}


def make_streamnet_bundle(root: str, frames: int = 2, step: int = 1,
                          letterbox: str = 'top_left', cached: bool = True) -> str:
    torch.manual_seed(0)
    model = TinyMotion(frames, cached).eval()
    os.makedirs(root, exist_ok=True)
    image = torch.zeros(1, 3, H, W)
    fa, fb = torch.zeros(1, 2, 1, 1), torch.zeros(1, 1, 1, 1)
    current = [{'name': 'fa', 'shape': [1, 2, 1, 1]}, {'name': 'fb', 'shape': [1, 1, 1, 1]}]
    history = {'frames': frames, 'step': step, 'features': current}
    buffered, past = ['fa', 'fb'], (fa, fb)
    if model.cached:
        history.update(current=current, features=[{'name': 'ca', 'shape': [1, 2, 1, 1]}])
        buffered, past = ['ca'], (fa,)
    _export(_Call(model, 'encode'), (image,), os.path.join(root, 'encoder.onnx'),
            ['image'], ['fa', 'fb'] + (['ca'] if model.cached else []))
    names = ['fa', 'fb'] + history_names(buffered, frames)
    _export(_Call(model, 'forecast'), (fa, fb) + past * frames,
            os.path.join(root, 'forecast.onnx'), names, ['predictions'])
    torch.save(model.state_dict(), os.path.join(root, 'model.pt'))
    write_model_json(root, {
        'family': 'streamnet', 'variant': 'tiny_motion', 'input': _common(letterbox),
        'classes': ['square'], 'graphs': {'encoder': 'encoder.onnx', 'forecast': 'forecast.onnx'},
        'output': {'kind': 'yolox'}, 'history': history,
        'torch': {'state_dict': 'model.pt', 'builder': 'tiny_bundles:build'},
        'provenance': {'note': 'test fixture: known-answer motion forecaster'}})
    return root


def make_v2i_bundle(root: str, letterbox: str = 'top_left') -> str:
    model = TinyBox().eval()
    os.makedirs(root, exist_ok=True)
    _export(model, (torch.zeros(1, 3, H, W),), os.path.join(root, 'student.onnx'),
            ['image'], ['pred_logits', 'pred_boxes'])
    torch.save(model.state_dict(), os.path.join(root, 'model.pt'))
    write_model_json(root, {
        'family': 'v2i', 'variant': 'tiny_box', 'input': _common(letterbox),
        'classes': ['lesion'], 'graphs': {'student': 'student.onnx'},
        'output': {'kind': 'detr_softmax', 'num_queries': 3},
        'torch': {'state_dict': 'model.pt', 'builder': 'tiny_bundles:build'},
        'provenance': {'note': 'test fixture: known-answer box finder'}})
    return root
