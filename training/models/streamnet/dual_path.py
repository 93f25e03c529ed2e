"""LongShortNet's long/short fusion (LSFM), as configured by DAMO-StreamNet (spec §3).

Per level l: F_l = Concat[S(P_l^t), Phi(Concat_k L_g(k)(P_l^{t-k}))] + P_l^t, k = 1..N, with
S, L, Phi 1x1 BaseConvs; Phi is identity for 'pure_concat'. History is ordered newest first
[t-1, t-2, ..., t-N]; slot k uses the conv of the group it falls in (groups in order, each group
covering ``frames`` consecutive slots).

Streaming splits the long path in two (``reduce`` + ``fuse``): L_g is a per-frame 1x1 BaseConv
(conv + BN + act), so it commutes with buffering and a frame's reduction can be computed once,
when the frame is encoded, instead of once per step for every slot it passes through. A frame
moves through the slots over time, and L's slots use two groups, so ``reduce`` computes the
reduction of *every* group and concatenates them on channels (one buffered tensor per level,
[B, sum_g lc_g, H, W]: a Slice in the graph, which TensorRT runs as a view); slot k reads its
group's channels. Phi (``long_fuse``) mixes the slots, so it stays in the per-step path.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from .blocks import BaseConv

FUSIONS = ('long_fusion', 'pure_concat')


class DualPath(nn.Module):
    """Fuses the current frame's pyramid with N buffered past pyramids.

    Args:
        in_channels: neck channels per level (c3, c4, c5).
        short_channels: short-path 1x1 output per level.
        long_groups: ((frames, (ch3, ch4, ch5)), ...): one shared 1x1 conv per level and group.
            S/M: ((3, ...),); L: ((2, (42, 85, 170)), (1, (44, 86, 172))). Empty for N = 0,
            where the short path must output the full width.
        fusion: 'long_fusion' (extra 1x1 on the long concat to C - short) or 'pure_concat'.
        shortcut: add the current frame's un-reduced P_l (``with_short_cut``).
        shared: StreamYOLO's DFP, the long path of its one history frame is the short conv
            itself (one 1x1 per level reduces both frames); needs one group of one frame with
            the short path's channels.
    """

    def __init__(self, in_channels: Sequence[int], short_channels: Sequence[int],
                 long_groups: Sequence[Tuple[int, Sequence[int]]] = (),
                 fusion: str = 'long_fusion', shortcut: bool = True, act: str = 'silu',
                 shared: bool = False):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f'DualPath: fusion {fusion!r} unknown; expected one of {FUSIONS}')
        if shared and [(n, tuple(ch)) for n, ch in long_groups] != \
                [(1, tuple(short_channels))]:
            raise ValueError(f'DualPath: a shared reduction needs one history frame with the '
                             f'short channels {tuple(short_channels)}; got {long_groups}')
        self.fusion = fusion
        self.shortcut = shortcut
        self.slot_group: List[int] = [g for g, (n, _) in enumerate(long_groups) for _ in range(n)]
        self.history_frames = len(self.slot_group)
        self.short = nn.ModuleList([BaseConv(c, s, 1, 1, act=act)
                                    for c, s in zip(in_channels, short_channels)])
        self.long = nn.ModuleList([self.short]) if shared else nn.ModuleList([
            nn.ModuleList([BaseConv(c, lc, 1, 1, act=act) for c, lc in zip(in_channels, chans)])
            for _, chans in long_groups])
        self.long_fuse = None
        for lvl, (c, s) in enumerate(zip(in_channels, short_channels)):
            long_cat = sum(n * chans[lvl] for n, chans in long_groups)
            long_out = long_cat
            if self.history_frames and fusion == 'long_fusion':
                long_out = c - s
            if shortcut and s + long_out != c:
                raise ValueError(f'DualPath: level {lvl}: short {s} + long {long_out} channels '
                                 f'must equal the neck width {c} for the residual add')
        if self.history_frames and fusion == 'long_fusion':
            self.long_fuse = nn.ModuleList([
                BaseConv(sum(n * chans[lvl] for n, chans in long_groups), c - s, 1, 1, act=act)
                for lvl, (c, s) in enumerate(zip(in_channels, short_channels))])

        # channel offsets of each group's reduction inside ``reduce``'s concatenation, per level
        self.group_offsets = [[sum(chans[lvl] for _, chans in long_groups[:g])
                               for g in range(len(long_groups))]
                              for lvl in range(len(in_channels))]
        self.group_channels = [[chans[lvl] for _, chans in long_groups]
                               for lvl in range(len(in_channels))]

    def reduced_channels(self) -> List[int]:
        """Channels per level of ``reduce``'s output (sum over groups); [] for N = 0."""
        return [sum(ch) for ch in self.group_channels] if self.history_frames else []

    def reduce(self, feats: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """One frame's (P3, P4, P5) -> its long-path reductions per level [B, sum_g lc_g, H, W]
        (every group's, concatenated in group order); () for N = 0 (nothing is buffered)."""
        if not self.history_frames:
            return ()
        out = []
        for lvl, p in enumerate(feats):
            red = [conv[lvl](p) for conv in self.long]                  # [B, lc_g, H, W] each
            out.append(red[0] if len(red) == 1 else torch.cat(red, 1))
        return tuple(out)

    def fuse(self, current: Sequence[torch.Tensor],
             reduced_history: Sequence[Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """current: (P3, P4, P5) of frame t; reduced_history: N ``reduce`` outputs, newest
        first [t-1, ..., t-N]. Equals ``forward(current, history)`` in eval mode."""
        self._check_frames(reduced_history)
        longs = []
        for lvl in range(len(current)):
            per_slot = []
            for k in range(self.history_frames):
                g = self.slot_group[k]
                red = reduced_history[k][lvl]                             # [B, sum lc, H, W]
                if len(self.long) > 1:                                    # its group's channels
                    red = red.narrow(1, self.group_offsets[lvl][g], self.group_channels[lvl][g])
                per_slot.append(red)
            longs.append(per_slot)
        return self._fuse_levels(current, longs)

    def forward(self, current: Sequence[torch.Tensor],
                history: Sequence[Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """current: (P3, P4, P5) of frame t; history: N such tuples, [t-1, ..., t-N].

        The offline (training) path: each slot runs only its own group's conv, as the released
        code does, so training-mode BN sees the same batches and updates the same running
        statistics as before ``reduce`` existed (``reduce`` would also run the other groups).
        """
        self._check_frames(history)
        longs = [[self.long[self.slot_group[k]][lvl](history[k][lvl])
                  for k in range(self.history_frames)] for lvl in range(len(current))]
        return self._fuse_levels(current, longs)

    def _check_frames(self, history: Sequence) -> None:
        if len(history) != self.history_frames:
            raise ValueError(f'DualPath: got {len(history)} history frames; the model was built '
                             f'for {self.history_frames}')

    def _fuse_levels(self, current: Sequence[torch.Tensor],
                     longs: Sequence[Sequence[torch.Tensor]]) -> List[torch.Tensor]:
        """The per-step tail shared by both paths; longs[lvl][k]: slot k's reduction
        [B, lc_g(k), H, W]."""
        fused = []
        for lvl, p in enumerate(current):
            parts = [self.short[lvl](p)]                                  # [B, s, H, W]
            if self.history_frames:
                long_cat = torch.cat(list(longs[lvl]), 1)                 # [B, sum lc, H, W]
                if self.long_fuse is not None:
                    long_cat = self.long_fuse[lvl](long_cat)
                parts.append(long_cat)
            out = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
            fused.append(out + p if self.shortcut else out)
        return fused
