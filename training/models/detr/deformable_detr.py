"""Deformable DETR (Zhu et al. 2021, v2i_detr.md §3) with box refinement and two-stage flags.

The forward contract is the family's (see ``detr.py``); ``features`` is level ``tfd_level``
(default 2: the projected C5, stride 32) of the multi-scale input to the encoder.
"""
import copy
import dataclasses
import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from .backbone import ResNetConfig, downsample_mask
from .deformable_transformer import DeformableTransformer, inverse_sigmoid
from .detr import MLP, DetrBase, build_joiner
from .transformer import extra_attn_mask


@dataclasses.dataclass
class DeformableDETRConfig:
    num_classes: int = 91
    num_queries: int = 300
    d_model: int = 256
    nhead: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    dim_feedforward: int = 1024
    dropout: float = 0.1
    num_feature_levels: int = 4
    enc_n_points: int = 4
    dec_n_points: int = 4
    with_box_refine: bool = False
    two_stage: bool = False
    group_norm_groups: int = 32
    tfd_level: int = 2                   # which level ``features`` returns (v2i_detr.md §9.4)
    backbone: ResNetConfig = dataclasses.field(default_factory=ResNetConfig)


class DeformableDETR(DetrBase):
    """R50 C3-C5 (+ a stride-64 level) -> MSDA encoder/decoder -> sigmoid class + box heads."""
    output_kind = 'detr_sigmoid'

    def __init__(self, cfg: DeformableDETRConfig = DeformableDETRConfig()):
        super().__init__()
        self.cfg = cfg
        d, n_levels = cfg.d_model, cfg.num_feature_levels
        self.num_queries = cfg.num_queries
        return_layers = ('layer2', 'layer3', 'layer4')[-min(n_levels, 3):]
        self.backbone = build_joiner(cfg.backbone, return_layers, d, offset=True)
        self.transformer = DeformableTransformer(
            d, cfg.nhead, cfg.enc_layers, cfg.dec_layers, cfg.dim_feedforward, cfg.dropout,
            n_levels, cfg.dec_n_points, cfg.enc_n_points, cfg.two_stage, cfg.num_queries)
        chans = self.backbone[0].num_channels
        g = cfg.group_norm_groups
        projs = [nn.Sequential(nn.Conv2d(c, d, 1), nn.GroupNorm(g, d)) for c in chans]
        in_c = chans[-1]
        for _ in range(n_levels - len(chans)):
            projs.append(nn.Sequential(nn.Conv2d(in_c, d, 3, stride=2, padding=1),
                                       nn.GroupNorm(g, d)))
            in_c = d
        self.input_proj = nn.ModuleList(projs)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.constant_(proj[0].bias, 0)
        if not cfg.two_stage:
            self.query_embed = nn.Embedding(cfg.num_queries, d * 2)
        class_embed = nn.Linear(d, cfg.num_classes)
        class_embed.bias.data[:] = -math.log((1 - 0.01) / 0.01)
        bbox_embed = MLP(d, d, 4, 3)
        nn.init.constant_(bbox_embed.layers[-1].weight, 0)
        nn.init.constant_(bbox_embed.layers[-1].bias, 0)
        nn.init.constant_(bbox_embed.layers[-1].bias.data[2:], -2.0)
        num_pred = cfg.dec_layers + (1 if cfg.two_stage else 0)
        if cfg.with_box_refine:
            self.class_embed = nn.ModuleList(copy.deepcopy(class_embed) for _ in range(num_pred))
            self.bbox_embed = nn.ModuleList(copy.deepcopy(bbox_embed) for _ in range(num_pred))
            self.transformer.decoder.bbox_embed = self.bbox_embed
        else:
            # one shared head, listed per layer as in the official code (parameters counted once)
            self.class_embed = nn.ModuleList([class_embed] * num_pred)
            self.bbox_embed = nn.ModuleList([bbox_embed] * num_pred)
        if cfg.two_stage:
            self.transformer.decoder.class_embed = self.class_embed
            for box in self.bbox_embed:
                nn.init.constant_(box.layers[-1].bias.data[2:], 0.0)

    def extract(self, images: torch.Tensor, masks: torch.Tensor):
        """Backbone and input projections -> per level (srcs [B, d, h, w], masks, pos)."""
        feats, fmasks, pos = self.backbone(images, masks)
        srcs = [proj(f) for proj, f in zip(self.input_proj, feats)]
        fmasks, pos = list(fmasks), list(pos)
        prev = feats[-1]
        for proj in self.input_proj[len(feats):]:
            prev = proj(prev)
            m = downsample_mask(masks, prev.shape[-2:])
            srcs.append(prev)
            fmasks.append(m)
            pos.append(self.backbone[1](m).to(prev.dtype))
        return srcs, fmasks, pos

    def decode(self, srcs: List[torch.Tensor], masks: List[torch.Tensor],
               pos: List[torch.Tensor], extra_queries: Optional[Dict] = None) -> Dict:
        """Transformer and heads on prepared levels (the V2I teacher feeds MSI-enhanced ones)."""
        q = self.num_queries
        attn_mask = extra_attn_mask(q, extra_queries, srcs[0].device)
        query = None if self.cfg.two_stage else self.query_embed.weight
        t = self.transformer(srcs, masks, pos, query, extra_queries, attn_mask)
        hs = t['hs']
        classes, coords = [], []
        for lvl in range(hs.shape[0]):
            ref = t['init_reference'] if lvl == 0 else t['inter_references'][lvl - 1]
            ref = inverse_sigmoid(ref)
            delta = self.bbox_embed[lvl](hs[lvl])
            if ref.shape[-1] == 4:
                delta = delta + ref
            else:
                delta = torch.cat([delta[..., :2] + ref, delta[..., 2:]], -1)
            classes.append(self.class_embed[lvl](hs[lvl]))
            coords.append(delta.sigmoid())
        out = self._pack(torch.stack(classes), torch.stack(coords), hs, q,
                         srcs[self.cfg.tfd_level])
        if self.cfg.two_stage:
            out['enc_outputs'] = {'pred_logits': t['enc_outputs_class'],
                                  'pred_boxes': t['enc_outputs_coord_unact'].sigmoid()}
        return out

    def forward(self, images: torch.Tensor, masks: Optional[torch.Tensor] = None,
                targets=None, extra_queries: Optional[Dict[str, torch.Tensor]] = None) -> Dict:
        """See ``detr.py``. CQD queries: 'query_pos'/'tgt' are the pos and content halves of the
        appended 512-d embeddings; their reference points come from ``reference_points``."""
        masks = self._masks(images, masks)
        srcs, fmasks, pos = self.extract(images, masks)
        return self.decode(srcs, fmasks, pos, extra_queries)

    def query_halves(self) -> Dict[str, torch.Tensor]:
        """The learned queries split as the decoder uses them: query_pos [Q, d], tgt [Q, d]."""
        pos, tgt = torch.split(self.query_embed.weight, self.cfg.d_model, dim=1)
        return {'query_pos': pos, 'tgt': tgt}
