"""The V2I distillation step: a frozen video teacher and a single-frame student (v2i_detr.md §5).

    L_student = L_det + lambda_bk * L_TFD + lambda_qe * L_CQD     (lambda_bk = 1, lambda_qe = 5)

Stage 2 of the two-stage recipe: the teacher (trained in stage 1 on clips) is frozen (eval mode,
``requires_grad=False``, run under ``no_grad``) and lives outside the trained module, so it never
enters the optimizer, the EMA, DDP or a checkpoint, and the checkpoint is a plain student state
dict the exporter loads as is. ``use_tfd`` / ``use_cqd`` switch the two terms for the ablation;
with both off the student trains on L_det alone (the undistilled baseline).

CQD's teacher-query draw comes from a generator seeded by (seed, step): every DDP rank appends
the same queries (as one process would) and a resumed run draws what the uninterrupted one drew.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import torch
from torch import nn

from training.models.detr.cqd import CQD, CROSS_COUNTS
from training.models.detr.criterion import SetCriterion
from training.models.detr.matcher import HungarianMatcher
from training.models.detr.tfd import FD_MASKS, SIGMA_RULES, TFD_FORMS, TFDLoss


@dataclasses.dataclass
class DistillConfig:
    use_tfd: bool = True
    use_cqd: bool = True
    tfd_weight: float = 1.0           # lambda_bk
    cqd_weight: float = 5.0           # lambda_qe
    tfd_sigma: str = 'ttfnet'         # 'ttfnet' (spec §9.5 default), 'centernet', 'simple'
    tfd_box_norm: bool = False        # per-box mass normalisation (FGD-style option)
    tfd_form: str = 'paper'           # 'paper' (Eq. 3: M = H / ||H||_2, 1 / (h w)) | 'spec'
    cqd_source: str = 'embeddings'    # appended teacher queries: learned 'embeddings' | 'outputs'
    cqd_masked: bool = True           # block attention mask (False: the no-mask ablation)
    cqd_all_layers: bool = False      # CQD over every decoder layer instead of the last
    fd_mask: str = 'gaussian'         # Table IV: 'gaussian' TFD, 'box' FD (GT mask), 'none' FD
    cqd_count: str = 'sq'             # Table IV: cross-view queries 'sq' | 'T*sq/2' | 'T*sq'
    seed: int = 0

    def check(self) -> None:
        if self.tfd_sigma not in SIGMA_RULES:
            raise ValueError(f'config: tfd_sigma {self.tfd_sigma!r}: expected one of '
                             f'{SIGMA_RULES}')
        if self.tfd_form not in TFD_FORMS:
            raise ValueError(f'config: tfd_form {self.tfd_form!r}: expected one of {TFD_FORMS}')
        if self.fd_mask not in FD_MASKS:
            raise ValueError(f'config: fd_mask {self.fd_mask!r}: expected one of {FD_MASKS}')
        if self.cqd_count not in CROSS_COUNTS:
            raise ValueError(f'config: cqd_count {self.cqd_count!r}: expected one of '
                             f'{CROSS_COUNTS}')
        if self.tfd_weight < 0 or self.cqd_weight < 0:
            raise ValueError('config: tfd_weight and cqd_weight must be >= 0')


def build_criterion(model: nn.Module, num_classes: int) -> SetCriterion:
    """The model's own Hungarian loss: softmax CE + no-object 0.1 with costs 1/5/2 for DETR,
    sigmoid focal with costs 2/5/2 for Deformable DETR, SAM-DETR and the V2I teacher."""
    focal = getattr(model, 'output_kind', 'detr_sigmoid') == 'detr_sigmoid'
    matcher = HungarianMatcher(2.0 if focal else 1.0, 5.0, 2.0, focal=focal)
    eos = getattr(getattr(model, 'cfg', None), 'eos_coef', 0.1)
    return SetCriterion(num_classes, matcher, focal=focal, eos_coef=eos)


def valid_ratios(images: torch.Tensor, targets: List[Dict]) -> torch.Tensor:
    """[B, 2] (w, h) share of each padded image that is real (for the TFD mask)."""
    h, w = images.shape[-2:]
    return torch.tensor([[float(t['size'][1]) / w, float(t['size'][0]) / h] for t in targets])


def freeze(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


class V2IDistiller:
    """Computes the student's losses for one batch of ``collate_v2i``.

    Args:
        teacher: the trained V2I teacher, or None for the undistilled student (L_det only).
        criterion: the student's ``SetCriterion`` (``build_criterion``).
        cfg: the distillation flags.
    """

    def __init__(self, teacher: Optional[nn.Module], criterion: SetCriterion,
                 cfg: DistillConfig = DistillConfig()):
        cfg.check()
        self.cfg, self.criterion = cfg, criterion
        self.teacher = freeze(teacher) if teacher is not None else None
        self.tfd = TFDLoss(cfg.tfd_sigma, box_norm=cfg.tfd_box_norm, form=cfg.tfd_form,
                           mask=cfg.fd_mask)
        self.cqd = None
        if self.teacher is not None and cfg.use_cqd:
            frames = teacher.teacher_cfg.msi.num_frames                 # T (n = N // T)
            self.cqd = CQD(teacher.num_queries, frames, cfg.cqd_source, cfg.cqd_all_layers,
                           masked=cfg.cqd_masked, count=cfg.cqd_count)

    @property
    def distilling(self) -> bool:
        return self.teacher is not None and (self.cfg.use_tfd or self.cfg.use_cqd)

    def draw(self, step: int) -> torch.Tensor:
        """The CQD teacher-query indices of optimizer step ``step`` [n]."""
        gen = torch.Generator().manual_seed(int(self.cfg.seed) * 1_000_003 + int(step))
        self.cqd.generator = gen
        return self.cqd.draw()

    def __call__(self, student: nn.Module, batch: Dict, step: int = 0) -> Dict[str, torch.Tensor]:
        """``student`` may be DDP-wrapped (it is called, never its sub-modules). Returns the
        weighted detection losses, ``loss_tfd`` / ``loss_cqd`` (weighted) when active, and
        ``total_loss``."""
        images, masks, targets = batch['images'], batch['masks'], batch['targets']
        t_out, extra, idx = None, None, None
        if self.distilling:
            self.teacher.to(images.device)
            with torch.no_grad():
                t_out = self.teacher(batch['clips'], masks)
            if self.cqd is not None:
                idx = self.draw(step)
                extra = self.cqd.extra_queries(self.teacher, idx, images.shape[0], t_out)
        s_out = student(images, masks, extra_queries=extra) if extra is not None \
            else student(images, masks)
        losses = dict(self.criterion(s_out, targets))
        det = sum(losses.values())
        total = det
        if t_out is not None and self.cfg.use_tfd:
            vr = valid_ratios(images, targets)
            losses['loss_tfd'] = self.cfg.tfd_weight * self.tfd(s_out, t_out, targets, vr)
            total = total + losses['loss_tfd']
        if idx is not None:
            losses['loss_cqd'] = self.cfg.cqd_weight * self.cqd.loss(s_out, t_out, idx)
            total = total + losses['loss_cqd']
        losses['loss_det'] = det.detach()
        losses['total_loss'] = total
        return losses


def teacher_losses(teacher: nn.Module, criterion: SetCriterion,
                   batch: Dict) -> Dict[str, torch.Tensor]:
    """Stage 1: the teacher's own detection loss on the key frame of each clip."""
    out = teacher(batch['clips'], batch['masks'])
    losses = dict(criterion(out, batch['targets']))
    losses['total_loss'] = sum(losses.values())
    return losses
