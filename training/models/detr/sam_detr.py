"""SAM-DETR (Zhang et al. CVPR 2022, v2i_detr.md §4): single scale, semantic aligner decoder.

Parameter names follow the official repo (``sa_qcontent_proj``, ``point1``, ``point2``,
``attn1``...); the forward contract is the family's (see ``detr.py``).
"""
import copy
import dataclasses
import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..box_ops import box_cxcywh_to_xyxy
from .backbone import ResNetConfig
from .deformable_transformer import inverse_sigmoid, valid_ratio
from .detr import MLP, DetrBase, build_joiner
from .position_encoding import PositionEmbeddingSine, sine_embed_points
from .roi_align import adaptive_bound, roi_align_xyxy
from .transformer import TransformerEncoder, TransformerEncoderLayer, clones, extra_attn_mask


class ProjectedAttention(nn.Module):
    """Conditional-DETR attention: no input projection, q/k head dim = embed_dim / heads,
    v head dim = vdim / heads, ``out_proj`` vdim -> vdim."""

    def __init__(self, embed_dim: int, num_heads: int, vdim: int, dropout: float = 0.0):
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        self.head_dim = embed_dim // num_heads
        self.out_proj = nn.Linear(vdim, vdim)

    def forward(self, q, k, v, key_padding_mask=None, attn_mask=None):
        """q [B, Lq, E], k [B, Lk, E], v [B, Lk, V] -> [B, Lq, V]."""
        b, lq, _ = q.shape
        m = self.num_heads
        q = q.view(b, lq, m, -1).transpose(1, 2) * self.head_dim ** -0.5
        k = k.view(b, k.shape[1], m, -1).transpose(1, 2)
        v = v.view(b, v.shape[1], m, -1).transpose(1, 2)
        attn = q @ k.transpose(-2, -1)                                   # [B, M, Lq, Lk]
        if attn_mask is not None:
            attn = attn.masked_fill(attn_mask[None, None], float('-inf'))
        if key_padding_mask is not None:
            attn = attn.masked_fill(key_padding_mask[:, None, None], float('-inf'))
        attn = F.dropout(attn.softmax(-1), self.dropout, self.training)
        return self.out_proj((attn @ v).transpose(1, 2).reshape(b, lq, -1))


class SAMDecoderLayer(nn.Module):
    """Self-attention with content/position projections, RoIAlign semantic aligner with 8
    salient points (one per head), multi-head cross-attention with 256-d q/k per head, FFN."""

    def __init__(self, d_model=256, nhead=8, dim_feedforward=2048, dropout=0.1, roi_size=7,
                 sampling_ratio=0):
        super().__init__()
        d, self.nhead, self.roi_size, self.sampling_ratio = d_model, nhead, roi_size, \
            sampling_ratio
        self.sa_qcontent_proj, self.sa_qpos_proj, self.sa_kcontent_proj, self.sa_kpos_proj, \
            self.sa_v_proj = (nn.Linear(d, d) for _ in range(5))
        self.self_attn = ProjectedAttention(d, nhead, d, dropout)
        self.dropout1, self.norm1 = nn.Dropout(dropout), nn.LayerNorm(d)
        self.ca_qcontent_proj, self.ca_kcontent_proj, self.ca_v_proj = (nn.Linear(d, d)
                                                                        for _ in range(3))
        self.ca_qpos_sine_proj = MLP(d, d, d, 2)
        self.ca_kpos_sine_proj = MLP(d, d, d, 2)
        self.cross_attn = ProjectedAttention(nhead * d, nhead, d, dropout)
        self.dropout2, self.norm2 = nn.Dropout(dropout), nn.LayerNorm(d)
        self.point1 = nn.Sequential(nn.Conv2d(d, d // 4, 1), nn.ReLU())
        self.point2 = nn.Sequential(
            nn.Linear(d // 4 * roi_size * roi_size, d), nn.ReLU(), nn.Linear(d, 2 * d), nn.ReLU(),
            nn.Linear(2 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, nhead * 2))
        self.attn1 = nn.Linear(d, d * nhead)
        self.attn2 = nn.Linear(d, d * nhead)
        self.linear1 = nn.Linear(d, dim_feedforward)
        self.dropout88 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d)
        self.dropout3, self.norm3 = nn.Dropout(dropout), nn.LayerNorm(d)

    def forward(self, tgt, memory, memory_2d, mask_flat, pos, ref_boxes, vr, self_attn_mask=None):
        """tgt [B, Q, d], memory/pos [B, S, d], memory_2d [B, d, h, w], ref_boxes [B, Q, 4]
        cxcywh in [0, 1], vr [B, 2] valid ratios (w, h)."""
        b, q, d = tgt.shape
        m, h, w = self.nhead, memory_2d.shape[-2], memory_2d.shape[-1]
        sine = sine_embed_points(ref_boxes[..., :2], d // 2)
        qs = self.sa_qcontent_proj(tgt) + self.sa_qpos_proj(sine)
        ks = self.sa_kcontent_proj(tgt) + self.sa_kpos_proj(sine)
        tgt2 = self.self_attn(qs, ks, self.sa_v_proj(tgt), attn_mask=self_attn_mask)
        tgt = self.norm1(tgt + self.dropout1(tgt2))

        scale = torch.stack([vr[:, 0] * w, vr[:, 1] * h, vr[:, 0] * w, vr[:, 1] * h], -1)
        boxes_xyxy = box_cxcywh_to_xyxy(ref_boxes) * scale[:, None]        # feature pixels
        # adaptive samples (sampling_ratio <= 0) as the official call; the boxes never exceed
        # the map (w, h <= 1 of the valid part), so ceil(map / 7) bounds the count statically
        bound = (adaptive_bound(h, self.roi_size), adaptive_bound(w, self.roi_size))
        roi = roi_align_xyxy(memory_2d, boxes_xyxy, self.roi_size, self.sampling_ratio, bound)
        roi = roi.flatten(0, 1)                                            # [B*Q, d, 7, 7]
        points = self.point2(self.point1(roi).flatten(1))
        points = points.view(b * q, 1, m, 2).tanh()                        # RoI-normalised
        content = F.grid_sample(roi, points, padding_mode='zeros', align_corners=False)
        content = content.view(b, q, d, m).transpose(2, 3)                 # [B, Q, M, d]
        content = content * self.attn1(tgt).view(b, q, m, d).sigmoid()
        pts = points.view(b, q, m, 2)
        q_pos = ref_boxes[:, :, None, :2] + ref_boxes[:, :, None, 2:] * 0.5 * pts
        q_pos = sine_embed_points(q_pos, d // 2) * self.attn2(tgt).view(b, q, m, d).sigmoid()

        qc = self.ca_qcontent_proj(content) + self.ca_qpos_sine_proj(q_pos)  # [B, Q, M, d]
        k = self.ca_kcontent_proj(memory) + self.ca_kpos_sine_proj(pos)     # [B, S, d]
        k = k[:, :, None].expand(-1, -1, m, -1).reshape(b, -1, m * d)
        tgt2 = self.cross_attn(qc.reshape(b, q, m * d), k, self.ca_v_proj(memory), mask_flat)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout88(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


@dataclasses.dataclass
class SAMDETRConfig:
    num_classes: int = 91
    num_queries: int = 300
    d_model: int = 256
    nhead: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    input_group_norm: bool = True        # the 12-epoch recipe's GN after the 1x1 projection
    group_norm_groups: int = 32
    roi_size: int = 7
    # RoIAlign samples per bin side: 0 = torchvision's adaptive ceil(roi / 7) per RoI, as the
    # official call; > 0 fixes it (drift against the official model: docs/EVIDENCE.md)
    sampling_ratio: int = 0
    backbone: ResNetConfig = dataclasses.field(default_factory=ResNetConfig)


class SAMDETR(DetrBase):
    """SAM-DETR: learned reference boxes refined layer by layer; sigmoid focal heads per layer."""
    output_kind = 'detr_sigmoid'

    def __init__(self, cfg: SAMDETRConfig = SAMDETRConfig()):
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.num_queries = cfg.num_queries
        self.backbone = build_joiner(cfg.backbone, ('layer4',), d, offset=True)
        # official SAM-DETR models/position_encoding.py: shifted by 0.5, eps after the shift
        self.backbone[1] = PositionEmbeddingSine(d // 2, offset=True, eps_after_offset=True)
        proj = [nn.Conv2d(self.backbone[0].num_channels[-1], d, 1)]
        if cfg.input_group_norm:
            proj.append(nn.GroupNorm(cfg.group_norm_groups, d))
        self.input_proj = nn.ModuleList([nn.Sequential(*proj)])
        self.transformer = nn.Module()
        self.transformer.encoder = TransformerEncoder(
            TransformerEncoderLayer(d, cfg.nhead, cfg.dim_feedforward, cfg.dropout),
            cfg.enc_layers)
        self.transformer.decoder = nn.Module()
        self.transformer.decoder.layers = clones(SAMDecoderLayer(
            d, cfg.nhead, cfg.dim_feedforward, cfg.dropout, cfg.roi_size, cfg.sampling_ratio),
            cfg.dec_layers)
        for p in self.transformer.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for layer in self.transformer.decoder.layers:
            nn.init.constant_(layer.point2[-1].weight, 0)
            nn.init.constant_(layer.point2[-1].bias, 0)
        self.query_embed = nn.Embedding(cfg.num_queries, 4)              # reference box logits
        class_embed = nn.Linear(d, cfg.num_classes)
        class_embed.bias.data[:] = -math.log((1 - 0.01) / 0.01)
        bbox_embed = MLP(d, d, 4, 3)
        nn.init.constant_(bbox_embed.layers[-1].weight, 0)
        nn.init.constant_(bbox_embed.layers[-1].bias, 0)
        self.class_embed = nn.ModuleList(copy.deepcopy(class_embed) for _ in range(cfg.dec_layers))
        self.bbox_embed = nn.ModuleList(copy.deepcopy(bbox_embed) for _ in range(cfg.dec_layers))

    def forward(self, images: torch.Tensor, masks: Optional[torch.Tensor] = None,
                targets=None, extra_queries: Optional[Dict[str, torch.Tensor]] = None) -> Dict:
        """See ``detr.py``. CQD queries: 'tgt' is the appended slots' initial content and
        'ref_boxes' [B, n, 4] (cxcywh in [0, 1]) their reference boxes; 'query_pos' is unused."""
        masks = self._masks(images, masks)
        feats, fmasks, pos = self.backbone(images, masks)
        src = self.input_proj[0](feats[-1])                              # [B, d, h, w]
        b, d = src.shape[:2]
        mask_flat = fmasks[-1].flatten(1)
        pos_flat = pos[-1].flatten(2).transpose(1, 2)
        memory = self.transformer.encoder(src.flatten(2).transpose(1, 2), mask_flat, pos_flat)
        memory_2d = memory.transpose(1, 2).reshape(src.shape)
        vr = valid_ratio(fmasks[-1])
        q = self.num_queries
        ref_unsig = self.query_embed.weight[None].expand(b, -1, -1)
        tgt = torch.zeros(b, q, d, dtype=src.dtype, device=src.device)
        attn_mask = extra_attn_mask(q, extra_queries, src.device)
        if extra_queries is not None:
            ref_unsig = torch.cat([ref_unsig, inverse_sigmoid(extra_queries['ref_boxes'])], 1)
            tgt = torch.cat([tgt, extra_queries['tgt']], 1)
        hs, classes, coords = [], [], []
        ref = ref_unsig.sigmoid()
        for lid, layer in enumerate(self.transformer.decoder.layers):
            if lid > 0:
                ref_unsig = (self.bbox_embed[lid - 1](tgt) + ref_unsig).detach()
                ref = ref_unsig.sigmoid()
            tgt = layer(tgt, memory, memory_2d, mask_flat, pos_flat, ref, vr, attn_mask)
            hs.append(tgt)
            classes.append(self.class_embed[lid](tgt))
            coords.append((inverse_sigmoid(ref) + self.bbox_embed[lid](tgt)).sigmoid())
        return self._pack(torch.stack(classes), torch.stack(coords), torch.stack(hs), q, src)
