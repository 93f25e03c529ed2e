"""What every V2I experiment shares: config fields and engine hooks (v2i_detr.md §5).

Not an experiment itself (it defines no ``Exp``). Two kinds of run, chosen by ``model``:

* teacher (``v2i_teacher_*``): stage 1, T-frame clips -> Deformable DETR + MSI on the key frame.
* student (``detr_*``, ``deformable_detr_*``, ``sam_detr_*``): the key frame only; with
  ``teacher_model`` + ``teacher_checkpoint`` set it is distilled (stage 2: L_det + 1 L_TFD +
  5 L_CQD, ``use_tfd`` / ``use_cqd`` for the ablation) from the frozen teacher, which stays
  outside the trained module (not in the optimizer, EMA, DDP or checkpoints).

The paper's choices by default, the spec's inferences as flags (each a config field):

* ``num_queries = 100``: "We set the number of object queries N = 100" (paper, Implementation
  Details), for teacher and students, so CQD draws n = floor(N / T) = 33 teacher queries per
  view; the zoo's names keep their released defaults (Deformable DETR / SAM-DETR 300, DETR 100)
  so their parameter counts stay the released ones. -1 = the zoo's own.
* ``tfd_form = 'paper'``: Eq. 3 as written, M = H / ||H||_2 and L_bk summed over the map and
  divided by the pixel count; 'spec' is v2i_detr.md's peak-1 weighted mean (training/models/
  detr/tfd.py has both).
* ``tfd_level = 3``: Eqs. 2-3 distil F_s^3 against Y_t^3, the last MSI level (stride 64, the
  extra level of Deformable DETR); students with that level (Deformable DETR, 4 levels) use it,
  single-scale students (DETR, SAM-DETR: C5 only) the stride-32 level 2 they have, and the
  teacher hands over the same level. The spec inferred level 2 for everyone.

Recipe defaults (spec §5.1 [paper] + [infer]): AdamW lr 1e-4, backbone 1e-5, lr x 0.1 for
sampling offsets and reference points, weight decay 1e-4, grad clip 0.1, 12 epochs with the lr
dropped x 0.1 at epoch 10, batch 16, T = 3 causal clips {t-2, t-1, t}; no EMA, no AMP (the DETR
recipes use neither).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from training.engine.config import TrainConfig
from training.engine.exp import BaseExp, DryRunData
from training.data.v2i import V2IClips, collate_v2i
from training.models.detr.distill import (DistillConfig, V2IDistiller, build_criterion,
                                          teacher_losses)


@dataclasses.dataclass
class V2IExpConfig(TrainConfig):
    # ---- model ------------------------------------------------------------------------------
    model: str = 'deformable_detr_tiny'   # a detr zoo name (training/models/detr/zoo.py)
    dropout: float = -1.0                 # < 0: the model's own (0.1)
    num_queries: int = 100                # N (paper); -1 = the zoo's own (docstring)
    # ---- data -------------------------------------------------------------------------------
    train_json: str = 'runs/v2i_data/synth_lesion_train/dataset.json'
    val_json: str = 'runs/v2i_data/synth_lesion_val/dataset.json'
    test_json: str = 'runs/v2i_data/synth_lesion_test/dataset.json'
    train_videos: Tuple[str, ...] = ()    # video names; () = all videos of the file
    val_videos: Tuple[str, ...] = ()
    test_videos: Tuple[str, ...] = ()
    # > 0: validate on this many videos held out of train_json (evenly spaced ids), so model
    # selection never reads a test split
    val_holdout_videos: int = 0
    input_size: Tuple[int, int] = (512, 512)  # (height, width), aspect kept, top-left
    clip_len: int = 3                     # T
    clip_stride: int = 1
    clip_mode: str = 'causal'             # 'causal' {t-2s, t-s, t} (default) or 'centred'
    flip_prob: float = 0.5
    scale_min: float = 1.0                # per-clip random down-scale in [scale_min, 1]
    # ---- distillation (students only) -------------------------------------------------------
    teacher_model: str = ''               # '' = undistilled student
    teacher_checkpoint: str = ''
    use_tfd: bool = True
    use_cqd: bool = True
    tfd_weight: float = 1.0
    cqd_weight: float = 5.0
    tfd_sigma: str = 'ttfnet'
    tfd_box_norm: bool = False
    tfd_form: str = 'paper'               # 'paper' (Eq. 3) or 'spec' (docstring)
    tfd_level: int = 3                    # the last MSI level where the student has it
    cqd_source: str = 'embeddings'
    cqd_masked: bool = True
    cqd_all_layers: bool = False
    fd_mask: str = 'gaussian'             # Table IV: 'gaussian' (TFD), 'box' (GT mask), 'none'
    cqd_count: str = 'sq'                 # Table IV: 'sq' (floor(N / T)), 'T*sq/2', 'T*sq'
    # ---- evaluation -------------------------------------------------------------------------
    eval_score_thr: float = 0.5
    eval_batch: int = 4
    # ---- recipe defaults --------------------------------------------------------------------
    optimizer: str = 'adamw'
    lr: float = 1e-4
    lr_backbone: float = 1e-5
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    scheduler: str = 'step'
    lr_drop_epochs: Tuple[int, ...] = (10,)
    warmup_epochs: float = 0.0
    max_epoch: int = 12
    batch_size: int = 16
    ema: bool = False
    amp: bool = False

    def check(self) -> None:
        if self.teacher_model and not self.teacher_checkpoint:
            raise ValueError('config: teacher_model needs teacher_checkpoint (train the teacher '
                             'first: stage 1)')
        if self.teacher_model and self.model.startswith('v2i_teacher'):
            raise ValueError('config: a teacher is not distilled; teacher_model is for students')
        if self.clip_mode not in ('causal', 'centred'):
            raise ValueError(f"config: clip_mode {self.clip_mode!r}: expected causal or centred")
        if self.val_holdout_videos < 0 or (self.val_holdout_videos and (
                self.val_json not in ('', self.train_json) or self.val_videos
                or self.train_videos)):
            raise ValueError('config: val_holdout_videos takes the validation videos out of '
                             'train_json: expected val_json empty or equal to train_json and no '
                             'train_videos / val_videos')
        if min(self.input_size) < 32:
            raise ValueError(f'config: input_size {self.input_size}: expected sides >= 32 (any '
                             f'size above: the padding mask covers the rest)')
        if not 0 < self.scale_min <= 1:
            raise ValueError(f'config: scale_min {self.scale_min}: expected in (0, 1]')
        DistillConfig(tfd_sigma=self.tfd_sigma, tfd_weight=self.tfd_weight,
                      cqd_weight=self.cqd_weight, tfd_form=self.tfd_form,
                      fd_mask=self.fd_mask, cqd_count=self.cqd_count).check()
        if not 0 <= self.tfd_level <= 3 or self.num_queries == 0 or self.num_queries < -1:
            raise ValueError(f'config: tfd_level {self.tfd_level} (expected 0..3) or '
                             f'num_queries {self.num_queries} (expected > 0 or -1)')


def tfd_level_of(cfg: V2IExpConfig) -> int:
    """The feature level TFD distils: ``tfd_level`` where the student has it, else its last
    (single-scale students: the stride-32 C5, level 2)."""
    multi_scale = cfg.model.startswith(('deformable_detr', 'v2i_teacher'))
    return cfg.tfd_level if multi_scale else 2


def model_kwargs(cfg: V2IExpConfig, name: str = '') -> Dict:
    """zoo overrides of model ``name`` (default: the configured one; JSON-able: they go into
    the checkpoint)."""
    name = name or cfg.model
    kwargs: Dict = {'dropout': cfg.dropout} if cfg.dropout >= 0 else {}
    if cfg.num_queries > 0:
        kwargs['num_queries'] = cfg.num_queries
    if name.startswith(('deformable_detr', 'v2i_teacher')):
        kwargs['tfd_level'] = tfd_level_of(cfg)
    return kwargs


def build_named(name: str, num_classes: int, cfg: V2IExpConfig) -> nn.Module:
    from training.models.detr import zoo
    kwargs = model_kwargs(cfg, name)
    if name.startswith('v2i_teacher') and cfg.clip_len != 3:
        from training.models.detr.msi import MSIConfig
        kwargs['msi'] = MSIConfig(num_frames=cfg.clip_len, nhead=4 if 'tiny' in name else 8)
    model = zoo.build(name, num_classes, **kwargs)
    if name.startswith('v2i_teacher'):
        # the teacher decodes the key frame: last of a causal clip, middle of a centred one
        key = -1 if cfg.clip_mode == 'causal' else cfg.clip_len // 2
        model.teacher_cfg = dataclasses.replace(model.teacher_cfg, key_frame=key)
    return model


class V2IExp(BaseExp):
    config = V2IExpConfig()
    best_metric = 'AP'

    def dry_run_dataset(self) -> DryRunData:
        """``train --dry-run``'s stand-in for the training set: one lesion class, no data read;
        ``build_loss_fn`` sees ``dry_run`` and leaves the teacher at random weights."""
        return DryRunData(class_ids=[1], class_names=['lesion'])

    def dry_run_batch(self) -> Dict:
        """Two random clips at the configured size as ``collate_v2i`` pads them: a full one and
        a landscape one on the canvas (padding and mask), one lesion each."""
        g = torch.Generator().manual_seed(0)
        h, w = self.cfg.input_size
        t = self.cfg.clip_len
        clips = torch.randn(2, t, 3, h, w, generator=g)
        masks = torch.zeros(2, h, w, dtype=torch.bool)
        rows = max(1, h * 5 // 8)
        clips[1, :, :, rows:] = 0
        masks[1, rows:] = True
        key = t - 1 if self.cfg.clip_mode == 'causal' else t // 2
        targets = [{'labels': torch.zeros(1, dtype=torch.int64),
                    'boxes': torch.tensor([[0.4, 0.5, 0.2, 0.3]]), 'image_id': i,
                    'size': torch.tensor(size), 'scale': 1.0}
                   for i, size in enumerate([(h, w), (rows, w)])]
        return {'clips': clips, 'images': clips[:, key], 'masks': masks, 'targets': targets,
                'step': 0}

    @property
    def is_teacher(self) -> bool:
        return self.cfg.model.startswith('v2i_teacher')

    # ---- data ---------------------------------------------------------------------------------
    def holdout_split(self) -> Tuple[List[int], List[int]]:
        """(train, val) video ids of train_json with ``val_holdout_videos`` held out, evenly
        spaced over the sorted ids so the validation clips span the training set."""
        from video_perception.dataset import load_video_dataset
        ids = sorted(load_video_dataset(self.cfg.train_json, validate=False).frames)
        n = self.cfg.val_holdout_videos
        if n >= len(ids):
            raise ValueError(f'config: val_holdout_videos {n}: {self.cfg.train_json} has only '
                             f'{len(ids)} videos (training needs at least one)')
        held = {ids[int((i + 0.5) * len(ids) / n)] for i in range(n)}
        return [v for v in ids if v not in held], sorted(held)

    def dataset(self, split: str, train: Optional[V2IClips] = None) -> V2IClips:
        """The 'train', 'val' or 'test' split (val/test: no augmentation, and the class ids of
        ``train``, built here when not given). A new dataset on every call. With
        ``val_holdout_videos``, train and val are disjoint videos of ``train_json``."""
        c = self.cfg
        is_train = split == 'train'
        classes = None
        if not is_train:
            classes = (train if train is not None else self.dataset('train')).class_ids
        json_path, videos = getattr(c, f'{split}_json'), list(getattr(c, f'{split}_videos'))
        if c.val_holdout_videos and split in ('train', 'val'):
            json_path, videos = c.train_json, self.holdout_split()[0 if is_train else 1]
        return V2IClips(
            json_path, c.input_size, c.clip_len, c.clip_stride, c.clip_mode, videos or None,
            flip_prob=c.flip_prob if is_train else 0.0,
            scale_range=(c.scale_min, 1.0) if is_train else (1.0, 1.0), seed=c.seed,
            class_ids=classes)

    def build_datasets(self):
        train = self.dataset('train')
        return train, self.dataset('val', train)

    def collate(self, samples):
        return collate_v2i(samples)

    # ---- model and losses ---------------------------------------------------------------------
    def build_model(self, train_dataset) -> nn.Module:
        return build_named(self.cfg.model, len(train_dataset.class_ids), self.cfg)

    def build_loss_fn(self, model: nn.Module, train_dataset):
        """Teacher: its detection loss. Student: L_det (+ TFD / CQD from the frozen teacher)."""
        c = self.cfg
        n = len(train_dataset.class_ids)
        criterion = build_criterion(model, n)
        if self.is_teacher:
            return lambda model, batch, step: teacher_losses(model, criterion, batch)
        teacher = None
        if c.teacher_model and (c.use_tfd or c.use_cqd):
            from training.engine.checkpoint import load_checkpoint, model_weights_from
            teacher = build_named(c.teacher_model, n, c)
            if not getattr(train_dataset, 'dry_run', False):
                state = model_weights_from(load_checkpoint(c.teacher_checkpoint))
                teacher.load_state_dict(state, strict=True)
        return V2IDistiller(teacher, criterion, DistillConfig(
            use_tfd=c.use_tfd, use_cqd=c.use_cqd, tfd_weight=c.tfd_weight,
            cqd_weight=c.cqd_weight, tfd_sigma=c.tfd_sigma, tfd_box_norm=c.tfd_box_norm,
            tfd_form=c.tfd_form, cqd_source=c.cqd_source, cqd_masked=c.cqd_masked,
            cqd_all_layers=c.cqd_all_layers, fd_mask=c.fd_mask, cqd_count=c.cqd_count,
            seed=c.seed))

    def export_meta(self, train_dataset) -> Dict:
        return {'class_names': list(train_dataset.class_names),
                'model_kwargs': model_kwargs(self.cfg), 'data_dir': self.cfg.train_json}

    # ---- evaluation ---------------------------------------------------------------------------
    def build_evaluator(self, val_dataset):
        from training.v2i_eval import make_evaluator
        return make_evaluator(val_dataset, self.is_teacher, self.cfg.eval_score_thr,
                              self.cfg.eval_batch)
