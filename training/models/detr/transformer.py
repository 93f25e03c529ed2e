"""DETR's post-norm transformer (v2i_detr.md §2), batch-first, with torch's MHA parameter names.

Tensors are batch-first ``[B, L, C]`` inside; parameter names equal the official repo's
(``self_attn.in_proj_weight``, ``multihead_attn.out_proj.weight``, ``decoder.norm``...) so the
importer maps official checkpoints 1:1.
"""
import copy
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiheadAttention(nn.Module):
    """``nn.MultiheadAttention``'s math and parameter names in plain ops (ONNX/TensorRT friendly).

    ``key_padding_mask`` [B, Lk] and ``attn_mask`` [Lq, Lk] are bool, True = may not attend.
    """

    def __init__(self, d_model: int, nhead: int, dropout: float = 0.0):
        super().__init__()
        if d_model % nhead:
            raise ValueError(f'MultiheadAttention: d_model {d_model} not divisible by '
                             f'{nhead} heads')
        self.d_model, self.nhead, self.dropout = d_model, nhead, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query, key, value, key_padding_mask: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """query [B, Lq, C], key/value [B, Lk, C] -> [B, Lq, C]."""
        b, lq, c = query.shape
        h, dh = self.nhead, c // self.nhead
        # slices, not chunk: opset-18 Split does not convert down to 17 (dynamo exporter)
        w, bias = self.in_proj_weight, self.in_proj_bias
        w_q, w_k, w_v = w[:c], w[c:2 * c], w[2 * c:]
        b_q, b_k, b_v = bias[:c], bias[c:2 * c], bias[2 * c:]
        q = F.linear(query, w_q, b_q).view(b, lq, h, dh).transpose(1, 2) * dh ** -0.5
        k = F.linear(key, w_k, b_k).view(b, -1, h, dh).transpose(1, 2)
        v = F.linear(value, w_v, b_v).view(b, -1, h, dh).transpose(1, 2)
        attn = q @ k.transpose(-2, -1)                                   # [B, h, Lq, Lk]
        if attn_mask is not None:
            attn = attn.masked_fill(attn_mask[None, None], float('-inf'))
        if key_padding_mask is not None:
            attn = attn.masked_fill(key_padding_mask[:, None, None, :], float('-inf'))
        attn = F.dropout(attn.softmax(-1), self.dropout, self.training)
        out = (attn @ v).transpose(1, 2).reshape(b, lq, c)
        return self.out_proj(out)


def with_pos(x: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    return x if pos is None else x + pos


class TransformerEncoderLayer(nn.Module):
    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 2048,
                 dropout: float = 0.1):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, src, key_padding_mask=None, pos=None):
        """src/pos [B, S, C], key_padding_mask [B, S]; q = k = src + pos (every layer)."""
        q = k = with_pos(src, pos)
        src = self.norm1(src + self.dropout1(self.self_attn(q, k, src, key_padding_mask)))
        src2 = self.linear2(self.dropout(F.relu(self.linear1(src))))
        return self.norm2(src + self.dropout2(src2))


class TransformerDecoderLayer(nn.Module):
    def __init__(self, d_model: int = 256, nhead: int = 8, dim_feedforward: int = 2048,
                 dropout: float = 0.1):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(self, tgt, memory, memory_key_padding_mask=None, pos=None, query_pos=None,
                self_attn_mask=None):
        """tgt/query_pos [B, Q, C], memory/pos [B, S, C]; ``self_attn_mask`` [Q, Q] (CQD)."""
        q = k = with_pos(tgt, query_pos)
        tgt2 = self.self_attn(q, k, tgt, attn_mask=self_attn_mask)
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2 = self.multihead_attn(with_pos(tgt, query_pos), with_pos(memory, pos), memory,
                                   memory_key_padding_mask)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


def clones(module: nn.Module, n: int) -> nn.ModuleList:
    return nn.ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(nn.Module):
    def __init__(self, layer: nn.Module, num_layers: int):
        super().__init__()
        self.layers = clones(layer, num_layers)

    def forward(self, src, key_padding_mask=None, pos=None):
        for layer in self.layers:
            src = layer(src, key_padding_mask, pos)
        return src


class TransformerDecoder(nn.Module):
    """Returns every layer's output after the shared final LayerNorm: [L, B, Q, C]."""

    def __init__(self, layer: nn.Module, num_layers: int, d_model: int):
        super().__init__()
        self.layers = clones(layer, num_layers)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt, memory, memory_key_padding_mask=None, pos=None, query_pos=None,
                self_attn_mask=None):
        out = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_key_padding_mask, pos, query_pos, self_attn_mask)
            out.append(self.norm(tgt))
        return torch.stack(out)


class Transformer(nn.Module):
    """DETR encoder-decoder: d 256, 8 heads, FFN 2048, 6 + 6 layers, post-norm, tgt starts at 0."""

    def __init__(self, d_model: int = 256, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1):
        super().__init__()
        self.d_model = d_model
        self.encoder = TransformerEncoder(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout), num_encoder_layers)
        self.decoder = TransformerDecoder(
            TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout), num_decoder_layers,
            d_model)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, mask, query_pos, pos, tgt=None, self_attn_mask=None):
        """src/pos [B, C, h, w], mask [B, h, w], query_pos [B, Q, C] (tgt [B, Q, C] or zeros)
        -> (hs [L, B, Q, C], memory [B, S, C])."""
        src_flat = src.flatten(2).transpose(1, 2)                        # [B, S, C]
        pos_flat = pos.flatten(2).transpose(1, 2)
        mask_flat = mask.flatten(1)
        memory = self.encoder(src_flat, mask_flat, pos_flat)
        if tgt is None:
            tgt = torch.zeros_like(query_pos)
        hs = self.decoder(tgt, memory, mask_flat, pos_flat, query_pos, self_attn_mask)
        return hs, memory


def extra_attn_mask(num_queries: int, extra, device=None) -> Optional[torch.Tensor]:
    """The CQD self-attention mask for an ``extra_queries`` dict (None without one, or when
    ``extra['masked']`` is False: the "no mask" ablation of v2i_detr.md §5.4)."""
    if extra is None or not extra.get('masked', True):
        return None
    return group_attn_mask(num_queries, extra['tgt'].shape[1], device)


def group_attn_mask(num_queries: int, num_extra: int, device=None) -> Optional[torch.Tensor]:
    """Block-diagonal self-attention mask [Q + n, Q + n] (True = blocked): the Q own queries and
    the n appended (CQD) queries never see each other, so the own queries' outputs are those of
    a decoder without the appended ones (Group-DETR style, v2i_detr.md §5.4)."""
    if num_extra == 0:
        return None
    total = num_queries + num_extra
    group = torch.zeros(total, dtype=torch.bool, device=device)
    group[num_queries:] = True
    return group[:, None] != group[None, :]
