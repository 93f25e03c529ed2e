"""The V2I-DETR video teacher: Deformable DETR + MSI over a T-frame clip (v2i_detr.md §5.1-5.2).

A shared backbone and input projection run on all T frames; MSI fuses the 4 levels across
frames; the key frame's enhanced levels go through the deformable encoder/decoder.

Contract: ``teacher(clips [B, T, 3, H, W], masks [B, T, H, W] | [B, H, W] | None,
targets=None) -> dict`` with the Deformable DETR outputs for the key frame plus ``features``
(the MSI-enhanced key-frame level ``tfd_level``, [B, d, h, w]) and ``queries`` (last decoder
layer [B, Q, d]). ``query_halves()`` gives its learned queries for CQD.
"""
import dataclasses
from typing import Dict, Optional

import torch

from .deformable_detr import DeformableDETR, DeformableDETRConfig
from .msi import MSI, MSIConfig


@dataclasses.dataclass
class V2ITeacherConfig:
    detector: DeformableDETRConfig = dataclasses.field(default_factory=DeformableDETRConfig)
    msi: MSIConfig = dataclasses.field(default_factory=MSIConfig)
    key_frame: int = -1              # causal clip {t-2, t-1, t}: the key frame is the last one


class V2ITeacher(DeformableDETR):
    output_kind = 'detr_sigmoid'

    def __init__(self, cfg: V2ITeacherConfig = V2ITeacherConfig()):
        super().__init__(cfg.detector)
        self.teacher_cfg = cfg
        self.msi = MSI(cfg.detector.d_model, cfg.detector.num_feature_levels, cfg.msi)

    def forward(self, clips: torch.Tensor, masks: Optional[torch.Tensor] = None,
                targets=None, extra_queries: Optional[Dict[str, torch.Tensor]] = None) -> Dict:
        if clips.dim() != 5 or clips.shape[2] != 3:
            raise ValueError(f'clips: expected [B, T, 3, H, W], got {list(clips.shape)}')
        b, t, _, h, w = clips.shape
        if masks is not None and masks.dim() == 3:
            masks = masks[:, None].expand(b, t, h, w)
        flat_masks = None if masks is None else masks.reshape(b * t, h, w)
        flat_masks = self._masks(clips.reshape(b * t, 3, h, w), flat_masks)
        srcs, fmasks, pos = self.extract(clips.reshape(b * t, 3, h, w), flat_masks)

        def split(x):
            return x.view((b, t) + tuple(x.shape[1:]))
        enhanced = self.msi([split(s) for s in srcs], [split(m) for m in fmasks],
                            [split(p) for p in pos])
        k = self.teacher_cfg.key_frame
        return self.decode([e[:, k] for e in enhanced], [split(m)[:, k] for m in fmasks],
                           [split(p)[:, k] for p in pos], extra_queries)

    def forward_export(self, image: torch.Tensor):
        raise NotImplementedError('the V2I teacher is not exported; export a student')
