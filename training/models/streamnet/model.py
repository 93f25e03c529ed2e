"""StreamNet (DAMO-StreamNet) and the still detectors (YOLOX, StreamYOLO 'still' teacher).

Streaming (spec §3.3): ``encode_streaming(frame)`` runs backbone + DRFPN once per frame and
returns the neck maps (f0, f1, f2) = (P3, P4, P5), which the current step reads (short path,
residual), and the frame's long-path reductions (l0, l1, l2) = ``DualPath.reduce``, which are
what the buffer keeps: each frame's long 1x1 convs run once, when it is encoded, not once per
step for each of the N slots it passes through (``dual_path.py`` says why that is exact, L's two
groups included). ``forecast_cached(current, reduced_history)`` with the history newest first
[t-1, ..., t-N]. The recomputing form stays: ``encode(frame)`` -> (f0, f1, f2) and
``forecast(current, history)`` over N full pyramids (old bundles, tests, the offline forward).
An N = 0 model reduces and buffers nothing.

Training forward::

    losses = model(current, history, targets, support_targets=None, teacher_outputs=None)

* current: [B, 3, H, W] frame t (BGR float 0..255, no normalisation), or [B, 3*(1+N), H, W]
  holding [t, t-1, ..., t-N] on channels with ``history=None``, or a (current, history) pair.
* history: list of N tensors [B, 3, H, W], newest first (clamped at the sequence start).
* targets: [B, max_labels, 5] float, rows (cls, cx, cy, w, h) in input pixels, all-zero rows
  are padding (YOLOX): the GT of frame t+1.
* support_targets: the same for frame t; turns on the TAL weights (tau/nu from the config).
* teacher_outputs: ``StillDetector.teacher_outputs(frame_t1)`` (dict boxes / obj_logits /
  cls_logits over the same anchors); adds the distillation terms with the config's kd_weight.

In training mode with targets it returns the dict of :func:`losses.detection_losses`
(``total_loss`` to backpropagate). Otherwise it returns decoded predictions [B, A, 5+C]
(cx, cy, w, h in input pixels, sigmoid objectness and class scores).
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .backbone import CSPDarknet
from .blocks import init_yolo
from .drfpn import DRFPN
from .dual_path import DualPath
from .head import YOLOXHead, decode_in_inference, flatten_outputs, make_grids, decode_boxes
from .losses import detection_losses
from .pafpn import DFPReduce, PAFPN


def pyramid_sizes(height: int, width: int) -> List[Tuple[int, int]]:
    """(H, W) at strides 8/16/32: Focus halves, then 3x3 stride-2 pad-1 convs take ceil(x/2)."""
    if height % 2 or width % 2:
        raise ValueError(f'input size {height}x{width}: height and width must be even (Focus)')
    h, w = height // 2, width // 2
    sizes = []
    for i in range(4):
        h, w = (h + 1) // 2, (w + 1) // 2
        if i >= 1:
            sizes.append((h, w))
    return sizes


class StreamNet(nn.Module):
    """CSPDarknet -> DRFPN (or YOLOX PAFPN) per frame, dual-path fusion of N past frames,
    YOLOX/TAL head."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = CSPDarknet(cfg.depth, cfg.width, act=cfg.act)
        chans = self.backbone.out_channels
        if cfg.neck == 'pafpn':   # the StreamYOLO / LongShortNet baselines (DAMO Table 2)
            self.neck = PAFPN(chans, cfg.depth, False, cfg.act)
        elif cfg.neck == 'drfpn':
            self.neck = DRFPN(chans, cfg.neck_depth, cfg.hidden_ratio, cfg.act, dcn=cfg.dcn)
        else:
            raise ValueError(f"StreamNet: neck {cfg.neck!r}; expected 'drfpn' or 'pafpn'")
        self.dual = DualPath(chans, cfg.short_channels, cfg.long_groups, cfg.fusion,
                             cfg.shortcut, cfg.act, shared=cfg.shared_reduction)
        self.head = YOLOXHead(cfg.num_classes, cfg.width, chans, cfg.strides, act=cfg.act)
        self.history_frames = self.dual.history_frames
        self.strides = tuple(cfg.strides)
        init_yolo(self)

    def encode(self, frame: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """frame [B, 3, H, W] -> (f0 [B, c3, H/8, W/8], f1 [B, c4, /16], f2 [B, c5, /32])."""
        return tuple(self.neck(self.backbone(frame)))

    def encode_streaming(self, frame: torch.Tensor
                         ) -> Tuple[Tuple[torch.Tensor, ...], Tuple[torch.Tensor, ...]]:
        """frame [B, 3, H, W] -> ((f0, f1, f2) of ``encode``, (l0, l1, l2) its long-path
        reductions [B, sum_g lc_g, H/s, W/s] to buffer; () for N = 0)."""
        feats = self.encode(frame)
        return feats, self.dual.reduce(feats)

    def forecast_cached(self, current: Sequence[torch.Tensor],
                        reduced_history: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """(f0, f1, f2) of frame t + N buffered reductions [t-1..t-N] -> predictions
        [B, A, 5+C]; equals ``forecast`` on the full pyramids in eval mode."""
        return decode_in_inference(self.head(self.dual.fuse(current, reduced_history)),
                                   self.strides)

    def head_outputs(self, current: Sequence[torch.Tensor],
                     history: Sequence[Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """Raw per-level head maps [B, 5+C, H_l, W_l] for frame t+1."""
        return self.head(self.dual(current, history))

    def forecast(self, current: Sequence[torch.Tensor],
                 history: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        """Encoded frame t + N encoded past frames [t-1..t-N] -> predictions [B, A, 5+C]."""
        return decode_in_inference(self.head_outputs(current, history), self.strides)

    def feature_specs(self, height: int, width: int) -> List[Tuple[str, tuple]]:
        """Names and batch-1 shapes of what ``encode`` returns: the current frame's features
        (the bundle's history.current; history.features too for N = 0)."""
        return self._specs('f', self.backbone.out_channels, height, width)

    def buffered_feature_specs(self, height: int, width: int) -> List[Tuple[str, tuple]]:
        """Names and batch-1 shapes of what the buffer holds per frame (the bundle's
        history.features): the reductions (l0, l1, l2) for N > 0. An N = 0 model buffers
        nothing and keeps the layout of the bundles before the reductions: (f0, f1, f2)."""
        if not self.history_frames:
            return self.feature_specs(height, width)
        return self._specs('l', self.dual.reduced_channels(), height, width)

    @staticmethod
    def _specs(prefix: str, chans: Sequence[int], height: int, width: int):
        return [(f'{prefix}{i}', (1, c, h, w))
                for i, (c, (h, w)) in enumerate(zip(chans, pyramid_sizes(height, width)))]

    def _split_frames(self, current, history):
        if isinstance(current, (tuple, list)) and history is None:
            current, history = current                # model((current, history_list))
        if history is not None:
            return current, list(history)
        n = self.history_frames
        if current.dim() != 4 or current.shape[1] != 3 * (1 + n):
            raise ValueError(f'StreamNet input: expected [B, {3 * (1 + n)}, H, W] (frame t then '
                             f'{n} past frames on channels), got {tuple(current.shape)}')
        frames = torch.split(current, 3, dim=1)
        return frames[0], list(frames[1:])

    def forward(self, current: torch.Tensor, history: Optional[Sequence[torch.Tensor]] = None,
                targets: Optional[torch.Tensor] = None,
                support_targets: Optional[torch.Tensor] = None, teacher_outputs=None):
        """Offline multi-frame forward; see the module docstring for the training signature."""
        cur, hist = self._split_frames(current, history)
        if len(hist) != self.history_frames:
            raise ValueError(f'StreamNet: got {len(hist)} history frames; the model was built '
                             f'for N={self.history_frames}')
        b = cur.shape[0]
        current = self.encode(cur)
        history_feats = []
        if hist:
            # The released code runs the short (current) and long (history) paths as separate
            # backbone calls, so training-mode BN sees the history frames as one batch.
            feats = self.encode(torch.cat(hist, 0))
            history_feats = [tuple(f[k * b:(k + 1) * b] for f in feats) for k in range(len(hist))]
        outs = self.head_outputs(current, history_feats)
        if self.training and targets is not None:
            return detection_losses(outs, self.strides, targets, support_targets,
                                    teacher_outputs, self.cfg.kd_weight, self.cfg.tal_tau,
                                    self.cfg.tal_nu)
        return decode_in_inference(outs, self.strides)


class StillDetector(nn.Module):
    """Single-frame YOLOX (CSPDarknet + PAFPN + head); with ``dfp=True`` StreamYOLO's 'still'
    model (the distillation teacher), whose DFP fuses the frame with itself."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = CSPDarknet(cfg.depth, cfg.width, depthwise=cfg.depthwise, act=cfg.act)
        chans = self.backbone.out_channels
        self.neck = PAFPN(chans, cfg.depth, cfg.depthwise, cfg.act)
        self.dfp = DFPReduce(chans, cfg.act) if cfg.dfp else None
        self.head = YOLOXHead(cfg.num_classes, cfg.width, chans, cfg.strides,
                              depthwise=cfg.depthwise, act=cfg.act)
        self.strides = tuple(cfg.strides)
        init_yolo(self)

    # A still detector is served as the N = 0 case of the StreamNet bundle (StreamNetGraphs):
    # the encoder runs backbone + PAFPN (+ DFP), the forecast the head; nothing is buffered.
    history_frames = 0

    def encode(self, frame: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """frame [B, 3, H, W] -> the head's inputs (P3 [B, c3, H/8, W/8], P4, P5)."""
        feats = self.neck(self.backbone(frame))
        return tuple(self.dfp(feats) if self.dfp is not None else feats)

    def forecast(self, current: Sequence[torch.Tensor],
                 history: Sequence[Sequence[torch.Tensor]] = ()) -> torch.Tensor:
        """Encoded frame -> predictions [B, A, 5+C] (no history: the frame itself)."""
        return decode_in_inference(self.head(list(current)), self.strides)

    def feature_specs(self, height: int, width: int) -> List[Tuple[str, tuple]]:
        """Names and batch-1 shapes of what ``encode`` returns (the bundle's features)."""
        return StreamNet._specs('f', self.backbone.out_channels, height, width)

    def head_outputs(self, frame: torch.Tensor) -> List[torch.Tensor]:
        return self.head(list(self.encode(frame)))

    @torch.no_grad()
    def teacher_outputs(self, frame: torch.Tensor) -> dict:
        """Distillation targets on ``frame`` (t+1): boxes [B, A, 4] cxcywh pixels, raw
        obj_logits [B, A, 1] and cls_logits [B, A, C]. Call with the model in eval mode."""
        outs = self.head_outputs(frame)
        flat = flatten_outputs(outs)
        grid_xy, stride = make_grids([tuple(o.shape[-2:]) for o in outs], self.strides,
                                     flat.dtype, flat.device)
        return {'boxes': decode_boxes(flat[..., :4], grid_xy, stride),
                'obj_logits': flat[..., 4:5], 'cls_logits': flat[..., 5:]}

    def forward(self, frame: torch.Tensor, targets: Optional[torch.Tensor] = None,
                support_targets: Optional[torch.Tensor] = None):
        """Eval: predictions [B, A, 5+C]; training with targets [B, M, 5]: the loss dict."""
        outs = self.head_outputs(frame)
        if self.training and targets is not None:
            return detection_losses(outs, self.strides, targets, support_targets,
                                    tal_tau=self.cfg.tal_tau, tal_nu=self.cfg.tal_nu)
        return decode_in_inference(outs, self.strides)


def freeze(model: nn.Module) -> nn.Module:
    """Teacher mode: no gradients, BN in eval (call ``.eval()`` again after ``.train()``)."""
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class StreamingRunner:
    """Frame-by-frame StreamNet inference with a FIFO of encoded frames (the paper's buffer).

    The FIFO holds the last N*dt frames' long-path reductions, newest first (``cached``, the
    default, as the bundles do); ``cached=False`` holds their full pyramids and recomputes the
    long convs for every slot at every step (the buffer before the reductions, kept as the
    benchmark's and the tests' reference). At the start of a sequence it is filled with copies
    of the first frame, which matches the training-time clamp at fid 0. History slot k (1..N)
    reads entry k*dt - 1, i.e. frame max(t - k*dt, first frame).
    """

    def __init__(self, model: StreamNet, history_step: int = 1, cached: bool = True):
        if history_step < 1:
            raise ValueError(f'history_step must be >= 1, got {history_step}')
        self.model = model
        self.step = history_step
        self.cached = cached
        self.fifo: List[Tuple[torch.Tensor, ...]] = []

    def reset(self) -> None:
        """Forget the buffer (call on a new sequence)."""
        self.fifo = []

    @torch.no_grad()
    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        """frame [1, 3, H, W] -> predictions [1, A, 5+C] for the next frame."""
        if self.cached:
            feats, entry = self.model.encode_streaming(frame)
            forecast = self.model.forecast_cached
        else:
            feats = entry = self.model.encode(frame)
            forecast = self.model.forecast
        n = self.model.history_frames
        if not self.fifo:
            self.fifo = [entry] * (n * self.step)
        history = [self.fifo[k * self.step - 1] for k in range(1, n + 1)]
        preds = forecast(feats, history)
        if self.fifo:
            self.fifo = [entry] + self.fifo[:-1]
        return preds
