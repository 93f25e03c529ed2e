"""CQD: cross-view query distillation (v2i_detr.md §5.4).

Each step n = floor(N / T) of the teacher's N queries are drawn at random (without replacement,
a new draw every step), appended to the student's decoder behind a block attention mask (so the
student's own outputs, and inference, are unchanged), and the student's decoder outputs for them
are pulled towards the teacher's decoder outputs at the same indices by a negative cosine loss.

Wiring for a distillation step::

    cqd = CQD(num_teacher_queries=300, num_frames=3)
    idx = cqd.draw()                                       # [n]
    t_out = teacher(clips, masks)                          # no_grad, eval
    extra = cqd.extra_queries(teacher, idx, batch_size=B, teacher_out=t_out)
    s_out = student(images, masks, extra_queries=extra)
    loss = cqd.loss(s_out, t_out, idx)
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F

SOURCES = ('embeddings', 'outputs')
# Table IV rows 9-11, with the paper's N = T x sq teacher queries: cq = T*sq takes all N,
# cq = T*sq/2 half of them, cq ~ sq (the paper's choice) floor(N / T).
CROSS_COUNTS = ('sq', 'T*sq/2', 'T*sq')


class CQD:
    """Args:
        num_teacher_queries: N; num_frames: T (n = floor(N / T)).
        source: 'embeddings' (default: the teacher's learned queries are appended) or 'outputs'
            (the teacher's decoder outputs are the appended slots' initial content).
        all_layers: average the loss over every decoder layer instead of the last only.
        masked: the block attention mask (default); False is the "no mask" ablation, where the
            appended queries and the student's own ones see each other (training only).
        count: how many teacher queries are appended (Table IV rows 9-11, ``CROSS_COUNTS``):
            'sq' floor(N / T) (default), 'T*sq/2' floor(N / 2), 'T*sq' all N.
    """

    def __init__(self, num_teacher_queries: int, num_frames: int = 3, source: str = 'embeddings',
                 all_layers: bool = False, generator: Optional[torch.Generator] = None,
                 masked: bool = True, count: str = 'sq'):
        if source not in SOURCES:
            raise ValueError(f'CQD source {source!r}: expected one of {SOURCES}')
        if count not in CROSS_COUNTS:
            raise ValueError(f'CQD count {count!r}: expected one of {CROSS_COUNTS}')
        self.n = {'sq': num_teacher_queries // num_frames, 'T*sq/2': num_teacher_queries // 2,
                  'T*sq': num_teacher_queries}[count]
        if self.n < 1:
            raise ValueError(f'CQD: floor({num_teacher_queries} / {num_frames}) = 0 queries')
        self.num_teacher_queries, self.source, self.all_layers = num_teacher_queries, source, \
            all_layers
        self.generator = generator
        self.masked = masked

    def draw(self) -> torch.Tensor:
        """n distinct teacher query indices, freshly drawn [n] int64."""
        return torch.randperm(self.num_teacher_queries, generator=self.generator)[:self.n]

    @torch.no_grad()
    def extra_queries(self, teacher, idx: torch.Tensor, batch_size: int,
                      teacher_out: Optional[Dict] = None) -> Dict[str, torch.Tensor]:
        """{'query_pos', 'tgt' [B, n, d], 'ref_boxes' [B, n, 4] when teacher_out is given,
        'masked'}."""
        halves = teacher.query_halves()
        idx = idx.to(halves['tgt'].device)
        extra = {k: v[idx][None].expand(batch_size, -1, -1).detach() for k, v in halves.items()}
        if teacher_out is not None:
            extra['ref_boxes'] = teacher_out['pred_boxes'][:, idx].detach()
            if self.source == 'outputs':
                extra['tgt'] = teacher_out['queries'][:, idx].detach()
        elif self.source == 'outputs':
            raise ValueError('CQD source "outputs" needs teacher_out')
        extra['masked'] = self.masked
        return extra

    def loss(self, student_out: Dict, teacher_out: Dict, idx: torch.Tensor) -> torch.Tensor:
        """-mean cos(h_S, h_T) over the appended queries (teacher detached)."""
        if 'extra_queries' not in student_out:
            raise ValueError('CQD: the student output has no "extra_queries"; pass extra_queries')
        idx = idx.to(teacher_out['queries'].device)
        if self.all_layers and 'queries_all' in teacher_out:
            hs, ht = student_out['extra_queries_all'], teacher_out['queries_all'][:, :, idx]
        else:
            hs, ht = student_out['extra_queries'], teacher_out['queries'][:, idx]
        if hs.shape != ht.shape:
            raise ValueError(f'CQD: student queries {list(hs.shape)} vs teacher {list(ht.shape)}'
                             f'; expected equal shapes (same d_model)')
        return -F.cosine_similarity(hs, ht.detach(), dim=-1).mean()


def negative_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return -F.cosine_similarity(a, b, dim=-1).mean()
