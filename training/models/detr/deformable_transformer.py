"""Deformable DETR's encoder-decoder (v2i_detr.md §3.1, §3.4), batch-first, official key names."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ms_deform_attn import MSDeformAttn, level_shapes
from .position_encoding import sine_embed_boxes
from .transformer import MultiheadAttention, clones, with_pos


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def valid_ratio(mask: torch.Tensor) -> torch.Tensor:
    """mask [B, h, w] (True = padding) -> [B, 2] as (valid_w / w, valid_h / h)."""
    _, h, w = mask.shape
    valid_h = (~mask[:, :, 0]).sum(1).to(torch.float32)
    valid_w = (~mask[:, 0, :]).sum(1).to(torch.float32)
    return torch.stack([valid_w / w, valid_h / h], -1)


class DeformableTransformerEncoderLayer(nn.Module):
    def __init__(self, d_model=256, d_ffn=1024, dropout=0.1, n_levels=4, n_heads=8, n_points=4):
        super().__init__()
        self.self_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1, self.norm1 = nn.Dropout(dropout), nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout3, self.norm2 = nn.Dropout(dropout), nn.LayerNorm(d_model)

    def forward(self, src, pos, reference_points, spatial_shapes, padding_mask=None):
        src2 = self.self_attn(with_pos(src, pos), reference_points, src, spatial_shapes,
                              padding_mask)
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout2(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout3(src2))


def encoder_reference_points(spatial_shapes: Sequence[Tuple[int, int]], valid_ratios, device):
    """Pixel centres of every level over its valid size, times every level's valid ratio
    -> [B, S, L, 2]."""
    refs = []
    for lvl, (h, w) in enumerate(spatial_shapes):
        ref_y, ref_x = torch.meshgrid(
            torch.linspace(0.5, h - 0.5, h, dtype=torch.float32, device=device),
            torch.linspace(0.5, w - 0.5, w, dtype=torch.float32, device=device), indexing='ij')
        ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, lvl, 1] * h)
        ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, lvl, 0] * w)
        refs.append(torch.stack((ref_x, ref_y), -1))
    return torch.cat(refs, 1)[:, :, None] * valid_ratios[:, None]


class DeformableTransformerDecoderLayer(nn.Module):
    def __init__(self, d_model=256, d_ffn=1024, dropout=0.1, n_levels=4, n_heads=8, n_points=4):
        super().__init__()
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout1, self.norm1 = nn.Dropout(dropout), nn.LayerNorm(d_model)
        self.self_attn = MultiheadAttention(d_model, n_heads, dropout)
        self.dropout2, self.norm2 = nn.Dropout(dropout), nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4, self.norm3 = nn.Dropout(dropout), nn.LayerNorm(d_model)

    def forward(self, tgt, query_pos, reference_points, src, spatial_shapes, padding_mask=None,
                self_attn_mask=None):
        q = k = with_pos(tgt, query_pos)
        tgt = self.norm2(tgt + self.dropout2(self.self_attn(q, k, tgt, attn_mask=self_attn_mask)))
        tgt2 = self.cross_attn(with_pos(tgt, query_pos), reference_points, src, spatial_shapes,
                               padding_mask)
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.linear2(self.dropout3(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout4(tgt2))


class DeformableTransformerDecoder(nn.Module):
    """Returns (hs [L, B, Q, C], references after each layer [L, B, Q, 2|4]); no final norm.

    ``bbox_embed`` (set by the model when refining) updates and detaches the reference per layer.
    """

    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layers = clones(layer, num_layers)
        self.bbox_embed = None
        self.class_embed = None

    def forward(self, tgt, reference_points, src, spatial_shapes, valid_ratios, query_pos,
                padding_mask=None, self_attn_mask=None):
        hs, refs = [], []
        for lid, layer in enumerate(self.layers):
            vr = valid_ratios if reference_points.shape[-1] == 2 else \
                torch.cat([valid_ratios, valid_ratios], -1)
            ref_input = reference_points[:, :, None] * vr[:, None]           # [B, Q, L, 2|4]
            tgt = layer(tgt, query_pos, ref_input, src, spatial_shapes, padding_mask,
                        self_attn_mask)
            if self.bbox_embed is not None:
                delta = self.bbox_embed[lid](tgt)
                if reference_points.shape[-1] == 4:
                    new_ref = (delta + inverse_sigmoid(reference_points)).sigmoid()
                else:
                    new_ref = torch.cat([delta[..., :2] + inverse_sigmoid(reference_points),
                                         delta[..., 2:]], -1).sigmoid()
                reference_points = new_ref.detach()
            hs.append(tgt)
            refs.append(reference_points)
        return torch.stack(hs), refs


class DeformableTransformer(nn.Module):
    """Encoder (6 x MSDA self-attention) and decoder (6 x MHA + MSDA cross-attention)."""

    def __init__(self, d_model=256, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=1024, dropout=0.1, num_feature_levels=4, dec_n_points=4,
                 enc_n_points=4, two_stage=False, two_stage_num_proposals=300):
        super().__init__()
        self.d_model, self.two_stage = d_model, two_stage
        self.two_stage_num_proposals = two_stage_num_proposals
        self.encoder = nn.Module()
        self.encoder.layers = clones(DeformableTransformerEncoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, enc_n_points),
            num_encoder_layers)
        self.decoder = DeformableTransformerDecoder(DeformableTransformerDecoderLayer(
            d_model, dim_feedforward, dropout, num_feature_levels, nhead, dec_n_points),
            num_decoder_layers)
        self.level_embed = nn.Parameter(torch.empty(num_feature_levels, d_model))
        if two_stage:
            self.enc_output = nn.Linear(d_model, d_model)
            self.enc_output_norm = nn.LayerNorm(d_model)
            self.pos_trans = nn.Linear(d_model * 2, d_model * 2)
            self.pos_trans_norm = nn.LayerNorm(d_model * 2)
        else:
            self.reference_points = nn.Linear(d_model, 2)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for m in self.modules():
            if isinstance(m, MSDeformAttn):
                m._reset_parameters()
        if not two_stage:
            nn.init.xavier_uniform_(self.reference_points.weight, gain=1.0)
            nn.init.constant_(self.reference_points.bias, 0.0)
        nn.init.normal_(self.level_embed)

    def encode(self, srcs: List[torch.Tensor], masks: List[torch.Tensor],
               pos_embeds: List[torch.Tensor]):
        """Per-level [B, C, h, w] maps -> (memory [B, S, C], mask [B, S], shapes, valid_ratios)."""
        shapes = level_shapes(srcs)
        src_flat = torch.cat([s.flatten(2).transpose(1, 2) for s in srcs], 1)
        mask_flat = torch.cat([m.flatten(1) for m in masks], 1)
        pos_flat = torch.cat([p.flatten(2).transpose(1, 2) + self.level_embed[lvl][None, None]
                              for lvl, p in enumerate(pos_embeds)], 1)
        valid_ratios = torch.stack([valid_ratio(m) for m in masks], 1)   # [B, L, 2]
        ref = encoder_reference_points(shapes, valid_ratios, src_flat.device)
        memory = src_flat
        for layer in self.encoder.layers:
            memory = layer(memory, pos_flat, ref, shapes, mask_flat)
        return memory, mask_flat, shapes, valid_ratios

    def proposals(self, memory, mask_flat, shapes):
        """Two-stage: (output_memory [B, S, C], proposals [B, S, 4] logits, inf = invalid)."""
        b = memory.shape[0]
        props, cur = [], 0
        for lvl, (h, w) in enumerate(shapes):
            m = mask_flat[:, cur:cur + h * w].view(b, h, w)
            vr = torch.stack([(~m[:, 0, :]).sum(1), (~m[:, :, 0]).sum(1)], -1).float()
            gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=memory.device),
                                    torch.arange(w, dtype=torch.float32, device=memory.device),
                                    indexing='ij')
            grid = (torch.stack([gx, gy], -1)[None] + 0.5) / vr.view(b, 1, 1, 2)
            wh = torch.ones_like(grid) * 0.05 * (2.0 ** lvl)
            props.append(torch.cat([grid, wh], -1).view(b, -1, 4))
            cur += h * w
        props = torch.cat(props, 1)
        valid = ((props > 0.01) & (props < 0.99)).all(-1, keepdim=True)
        props = torch.log(props / (1 - props))
        props = props.masked_fill(mask_flat[..., None], float('inf'))
        props = props.masked_fill(~valid, float('inf'))
        out = memory.masked_fill(mask_flat[..., None], 0.0).masked_fill(~valid, 0.0)
        return self.enc_output_norm(self.enc_output(out)), props

    def forward(self, srcs, masks, pos_embeds, query_embed=None, extra=None,
                self_attn_mask=None):
        """srcs/masks/pos per level; query_embed [Q, 2C] (single-stage); extra: CQD queries
        {'query_pos', 'tgt', optional 'ref_boxes'} [B, n, .].

        Returns dict: hs [L, B, Q(+n), C], init_reference, inter_references (list of L),
        memory [B, S, C], shapes, and for two-stage enc_outputs_class / enc_outputs_coord_unact.
        """
        memory, mask_flat, shapes, valid_ratios = self.encode(srcs, masks, pos_embeds)
        b, _, c = memory.shape
        out = {'memory': memory, 'shapes': shapes}
        if self.two_stage:
            out_mem, props = self.proposals(memory, mask_flat, shapes)
            n_dec = len(self.decoder.layers)
            enc_class = self.decoder.class_embed[n_dec](out_mem)
            enc_coord_unact = self.decoder.bbox_embed[n_dec](out_mem) + props
            topk = torch.topk(enc_class[..., 0], self.two_stage_num_proposals, dim=1)[1]
            coords_unact = torch.gather(enc_coord_unact, 1, topk[..., None].expand(-1, -1, 4))
            coords_unact = coords_unact.detach()
            reference_points = coords_unact.sigmoid()
            pos_trans = self.pos_trans_norm(self.pos_trans(
                sine_embed_boxes(reference_points, c // 2)))
            query_pos, tgt = pos_trans[..., :c], pos_trans[..., c:]
            out.update(enc_outputs_class=enc_class, enc_outputs_coord_unact=enc_coord_unact)
        else:
            # slices, not split: opset-18 Split does not convert down to 17
            query_pos, tgt = query_embed[:, :c], query_embed[:, c:]
            query_pos = query_pos[None].expand(b, -1, -1)
            tgt = tgt[None].expand(b, -1, -1)
            reference_points = self.reference_points(query_pos).sigmoid()
        if extra is not None:
            if not self.two_stage:
                # the student's own reference_points layer places the appended queries
                ref_extra = self.reference_points(extra['query_pos']).sigmoid()
            elif 'ref_boxes' in extra:
                ref_extra = extra['ref_boxes']
            else:
                raise ValueError('extra_queries: a two-stage student needs "ref_boxes" [B, n, 4]')
            query_pos = torch.cat([query_pos, extra['query_pos']], 1)
            tgt = torch.cat([tgt, extra['tgt']], 1)
            reference_points = torch.cat([reference_points, ref_extra], 1)
        hs, refs = self.decoder(tgt, reference_points, memory, shapes, valid_ratios, query_pos,
                                mask_flat, self_attn_mask)
        out.update(hs=hs, init_reference=reference_points, inter_references=refs)
        return out
