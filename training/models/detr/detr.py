"""DETR (Carion et al. 2020, v2i_detr.md §2) and the pieces every DETR-family model shares.

Contracts shared by DETR, Deformable DETR, SAM-DETR (and the V2I teacher):

* Training: ``model(images [B, 3, H, W], masks [B, H, W] bool (True = padding) or None,
  targets=None, extra_queries=None) -> dict`` with ``pred_logits`` [B, Q, C'], ``pred_boxes``
  [B, Q, 4] (normalised cxcywh), ``aux_outputs`` (list of the same for decoder layers 0..L-2),
  ``features`` [B, d, h, w] (the last-stage projected feature, stride 32, for TFD) and
  ``queries`` [B, Q, d] (last decoder layer output). ``targets`` is accepted for symmetry and
  unused (the criterion takes them). Images are already normalised (ImageNet mean/std).
* CQD: ``extra_queries={'query_pos' [B, n, d], 'tgt' [B, n, d], 'ref_boxes' [B, n, 4] optional,
  'masked': bool (default True; False is the no-mask ablation)}`` appends n queries behind a
  block attention mask; their last-layer outputs come back as
  ``extra_queries`` [B, n, d] and all layers as ``extra_queries_all`` [L, B, n, d]; the detection
  outputs cover the own Q queries only and are unchanged by the appended ones.
* Export: ``forward_export(image [1, 3, H, W], valid_hw [1, 2]) -> (pred_logits, pred_boxes)``:
  the graph builds the padding mask from the letterboxed picture's size (rows, columns at the
  top-left), so a padded frame runs as training and evaluation ran it (mask on, padding at 0
  after normalisation), and returns boxes normalised to the whole canvas;
  ``model.output_kind`` is 'detr_softmax' (C' = C + 1) or 'detr_sigmoid' (C' = C).
"""
import dataclasses
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import Backbone, Joiner, ResNet, ResNetConfig, empty_mask
from .position_encoding import PositionEmbeddingSine
from .transformer import Transformer, extra_attn_mask


def padding_mask(valid_hw: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """valid_hw [B, 2] (rows, cols of the picture at the top-left) -> [B, H, W] bool, True on
    padding (collate_v2i's mask). Comparisons only: static-shaped and in TensorRT's op list."""
    ys = torch.arange(height, dtype=valid_hw.dtype, device=valid_hw.device)
    xs = torch.arange(width, dtype=valid_hw.dtype, device=valid_hw.device)
    return (ys[None, :, None] >= valid_hw[:, 0, None, None]) | \
        (xs[None, None, :] >= valid_hw[:, 1, None, None])


class MLP(nn.Module):
    """Linear layers with ReLU between them (the official ``MLP``, key ``layers.{i}``)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims, dims[1:] + [output_dim]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else F.relu(layer(x))
        return x


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class DetrBase(nn.Module):
    """Export entry point and output packing common to the family."""
    output_kind = 'detr_sigmoid'

    def forward_export(self, image: torch.Tensor, valid_hw: Optional[torch.Tensor] = None):
        """image [1, 3, H, W] (normalised), valid_hw [1, 2] float (rows, cols of the picture at
        the top-left; None = all) -> (pred_logits [1, Q, C'], pred_boxes [1, Q, 4] cxcywh
        normalised to the H x W canvas)."""
        if valid_hw is None:
            out = self.forward(image, None)
            return out['pred_logits'], out['pred_boxes']
        h, w = image.shape[-2:]
        mask = padding_mask(valid_hw, h, w)                                # [1, H, W]
        # collate_v2i pads with 0 after normalisation: whatever the runtime padded with
        image = image.masked_fill(mask[:, None], 0.0)
        out = self.forward(image, mask)
        # DETR's boxes are relative to the valid picture; the bundle's to the canvas
        size = torch.tensor([w, h], dtype=valid_hw.dtype, device=valid_hw.device)
        ratio = (valid_hw.flip(-1) / size).repeat(1, 2)                   # [1, 4] (w, h, w, h)
        return out['pred_logits'], out['pred_boxes'] * ratio[:, None]

    @staticmethod
    def _masks(images: torch.Tensor, masks: Optional[torch.Tensor]) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'images: expected [B, 3, H, W], got {list(images.shape)}')
        if masks is None:
            return empty_mask(images)
        if masks.shape != (images.shape[0],) + tuple(images.shape[-2:]):
            want = [images.shape[0]] + list(images.shape[-2:])
            raise ValueError(f'masks: expected [B, H, W] = {want}, got {list(masks.shape)}')
        return masks.to(torch.bool)

    @staticmethod
    def _pack(classes, coords, hs, num_own: int, features) -> Dict:
        """classes [L, B, Q+n, C'], coords [L, B, Q+n, 4], hs [L, B, Q+n, d] -> output dict."""
        out = {'pred_logits': classes[-1, :, :num_own], 'pred_boxes': coords[-1, :, :num_own],
               'aux_outputs': [{'pred_logits': c[:, :num_own], 'pred_boxes': b[:, :num_own]}
                               for c, b in zip(classes[:-1], coords[:-1])],
               'features': features, 'queries': hs[-1, :, :num_own],
               'queries_all': hs[:, :, :num_own]}
        if hs.shape[2] > num_own:
            out['extra_queries'] = hs[-1, :, num_own:]
            out['extra_queries_all'] = hs[:, :, num_own:]
        return out


@dataclasses.dataclass
class DETRConfig:
    num_classes: int = 91
    num_queries: int = 100
    d_model: int = 256
    nhead: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    eos_coef: float = 0.1
    backbone: ResNetConfig = dataclasses.field(default_factory=ResNetConfig)


def build_joiner(cfg_backbone: ResNetConfig, return_layers, d_model: int,
                 offset: bool) -> Joiner:
    body = ResNet(cfg_backbone, return_layers)
    return Joiner(Backbone(body), PositionEmbeddingSine(d_model // 2, offset=offset))


class DETR(DetrBase):
    """DETR: R50 C5 -> 1x1 conv -> transformer -> softmax class head (+ no-object) and box MLP."""
    output_kind = 'detr_softmax'

    def __init__(self, cfg: DETRConfig = DETRConfig()):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.backbone = build_joiner(cfg.backbone, ('layer4',), d, offset=False)
        self.transformer = Transformer(d, cfg.nhead, cfg.enc_layers, cfg.dec_layers,
                                       cfg.dim_feedforward, cfg.dropout)
        self.input_proj = nn.Conv2d(self.backbone[0].num_channels[-1], d, 1)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.class_embed = nn.Linear(d, cfg.num_classes + 1)
        self.bbox_embed = MLP(d, d, 4, 3)

    def forward(self, images: torch.Tensor, masks: Optional[torch.Tensor] = None,
                targets=None, extra_queries: Optional[Dict[str, torch.Tensor]] = None) -> Dict:
        """See the module docstring. For CQD, ``extra_queries['query_pos']`` is the appended
        slots' query_pos and ``extra_queries['tgt']`` their initial content (DETR's own
        start at 0)."""
        masks = self._masks(images, masks)
        feats, fmasks, pos = self.backbone(images, masks)
        src = self.input_proj(feats[-1])                                 # [B, d, h, w]
        b = images.shape[0]
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)      # [B, Q, d]
        tgt = torch.zeros_like(query_pos)
        q = query_pos.shape[1]
        attn_mask = extra_attn_mask(q, extra_queries, images.device)
        if extra_queries is not None:
            query_pos = torch.cat([query_pos, extra_queries['query_pos']], 1)
            tgt = torch.cat([tgt, extra_queries['tgt']], 1)
        hs, _ = self.transformer(src, fmasks[-1], query_pos, pos[-1], tgt, attn_mask)
        classes = self.class_embed(hs)                                   # [L, B, Q, C+1]
        coords = self.bbox_embed(hs).sigmoid()
        return self._pack(classes, coords, hs, q, src)
