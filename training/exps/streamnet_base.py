"""What every StreamNet-family experiment shares: its config fields and its engine hooks.

Not an experiment itself (it defines no ``Exp``); the files beside it subclass ``StreamNetExp``
and set fields. Three kinds of run, chosen by the config:

* StreamNet (``model`` = streamnet_*): frames [t, t-1, .., t-N] -> losses against GT(t+1) with
  TAL support GT(t); evaluated by offline sAP_1 (output of t against GT of t+1, spec §8.1).
* StreamNet distilled (``teacher_model`` set): the frozen still teacher sees frame t+1 and its
  logits and boxes are added to the losses (spec §5). The teacher is not part of the trained
  model, so it never enters the optimizer, the EMA, DDP or a checkpoint.
* still detector (``model`` = still_teacher_* / yolox_*): frame t+1 with its own GT; COCO AP.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from torch import nn

from training.engine.config import TrainConfig
from training.engine.exp import BaseExp, DryRunData
from training.data.clips import StreamClipConfig
from training.data.streamnet import StreamNetBatcher, StreamNetClips

# The CPU-sized still teacher for synthetic runs: yolox_s's config at width 0.125, with DFP.
TINY_TEACHER = dict(depth=0.33, width=0.125, dfp=True)


@dataclasses.dataclass
class StreamNetExpConfig(TrainConfig):
    # ---- model ------------------------------------------------------------------------------
    model: str = 'streamnet_tiny'     # a zoo name (training/models/streamnet/zoo.py)
    history_frames: int = -1          # N; -1 = the model's own (3); 0 = no long path
    still_tiny: bool = False          # still model: use TINY_TEACHER overrides (CPU runs)
    fusion: str = ''                  # '' = the model's own; 'pure_concat' (L at 1200x1920)
    tal_nu: float = -1.0              # < 0: the model's own TAL nu (1.5; L at 1200x1920: 1.6)
    # ---- data -------------------------------------------------------------------------------
    train_json: str = 'runs/data/synth_driving_train/dataset.json'
    val_json: str = 'runs/data/synth_driving_val/dataset.json'
    input_size: Tuple[int, int] = (192, 320)   # (height, width), letterboxed top-left
    multiscale_range: Tuple[int, int] = (0, 0)  # s range: size (16 int(a s), 16 s); 0 = off
    multiscale_every: int = 10
    flip_prob: float = 0.5
    max_labels: int = 50
    # ---- clip sampling (training/data/clips.py; the paper's Tables 3 and 5) ------------------
    future: int = 1                   # K: trained on GT(t + K), evaluated by sAP_K
    history_step: int = 1             # dt between history frames (model.json history.step)
    boundary: str = 'streamnet'       # sequence ends: 'streamnet' (released) or 'clamp'
    # ---- distillation -----------------------------------------------------------------------
    teacher_model: str = ''           # '' = no distillation, else a still zoo name
    teacher_checkpoint: str = ''      # trained still teacher (required with teacher_model)
    kd_weight: float = -1.0           # < 0: the model's own (S 0.2, M 0.4, L 0.1)
    # ---- evaluation -------------------------------------------------------------------------
    eval_conf: float = 0.01
    eval_nms: float = 0.65
    eval_batch: int = 8

    def check(self) -> None:
        try:
            self.clip_config(0).check()
        except ValueError as exc:
            raise ValueError(f'config: clip sampler: {exc}') from None
        if self.teacher_model and not self.teacher_checkpoint:
            raise ValueError('config: teacher_model needs teacher_checkpoint (train the still '
                             'teacher first)')
        from training.models.streamnet.model import pyramid_sizes
        h, w = self.input_size
        if h <= 0 or w <= 0:
            raise ValueError(f'config: input_size {self.input_size}: expected positive sides')
        try:
            pyramid_sizes(h, w)        # any even size: ceil at every stride, sized upsampling
        except ValueError as exc:
            raise ValueError(f'config: {exc}') from None
        lo, hi = self.multiscale_range
        if lo > 0 and (hi < lo or int(lo * h / w) < 1):
            raise ValueError(f'config: multiscale_range {self.multiscale_range}: expected '
                             f'0 < lo <= hi with 16 int(lo H / W) > 0')

    def clip_config(self, history: int) -> StreamClipConfig:
        """The clip sampler's rule for a model with ``history`` past frames."""
        return StreamClipConfig(history=history, step=self.history_step, future=self.future,
                                boundary=self.boundary)


def model_kwargs(cfg: StreamNetExpConfig) -> Dict:
    """zoo overrides that make the configured model (N history frames, tiny still, KD)."""
    from training.models.streamnet import zoo
    base = zoo.make_config(cfg.model)
    kwargs: Dict = {}
    if isinstance(base, zoo.StreamNetConfig):
        if cfg.history_frames >= 0 and cfg.history_frames != base.history_frames:
            if cfg.history_frames == 0:
                kwargs['long_groups'] = ()
            elif len(base.long_groups) == 1:
                kwargs['long_groups'] = ((cfg.history_frames, base.long_groups[0][1]),)
            else:
                raise ValueError(f'history_frames={cfg.history_frames}: {cfg.model} groups its '
                                 f'history convs; only 0 or {base.history_frames} is defined')
        if cfg.kd_weight >= 0:
            kwargs['kd_weight'] = cfg.kd_weight
        # the data's history step is the model's (the exported buffer reads it)
        wanted = {'history_step': cfg.history_step, 'fusion': cfg.fusion or base.fusion,
                  'tal_nu': cfg.tal_nu if cfg.tal_nu >= 0 else base.tal_nu}
        kwargs.update({k: v for k, v in wanted.items() if v != getattr(base, k)})
    elif cfg.still_tiny:
        kwargs.update(TINY_TEACHER)
    return kwargs


class StreamNetLoss:
    """The engine's loss function of a StreamNet-family run; holds the frozen still teacher.

    StreamNet: the model's losses on frames [t..t-N] against GT(t+1) (TAL support GT(t)), plus
    AK-distillation from the teacher's outputs on frame t+1 when there is one. Still detector:
    frame t+1 with its own GT.
    """

    def __init__(self, is_still: bool, teacher: Optional[nn.Module] = None):
        self.is_still, self.teacher = is_still, teacher

    def __call__(self, model: nn.Module, batch, step: int) -> Dict[str, torch.Tensor]:
        if self.is_still:
            return model(batch['future'], batch['targets'])
        teacher_out = None
        if self.teacher is not None:
            self.teacher.to(batch['future'].device)
            with torch.no_grad():
                teacher_out = self.teacher.teacher_outputs(batch['future'])
        return model(batch['frames'], None, batch['targets'], batch['support'], teacher_out)


class StreamNetExp(BaseExp):
    config = StreamNetExpConfig()

    @property
    def best_metric(self) -> str:
        """sAP_K of the K the model is trained for (still detectors report AP as sAP1)."""
        return f'sAP{1 if self.is_still else self.cfg.future}'

    def dry_run_dataset(self) -> DryRunData:
        """``train --dry-run``'s stand-in for the training set: Argoverse-HD's classes, no data
        read; ``build_loss_fn`` sees ``dry_run`` and leaves the teacher at random weights."""
        from training.models.streamnet.zoo import ARGOVERSE_CLASSES
        return DryRunData(class_ids=list(range(1, len(ARGOVERSE_CLASSES) + 1)),
                          class_names=list(ARGOVERSE_CLASSES))

    def dry_run_batch(self, batch_size: int = 1) -> Dict[str, torch.Tensor]:
        """Random frames at the configured size with two boxes per image (pixels, cxcywh): the
        batch the batcher hands to the loss function."""
        g = torch.Generator().manual_seed(0)
        h, w = self.cfg.input_size
        frames = torch.rand(batch_size, 3 * (1 + self.history), h, w, generator=g) * 255
        box = torch.tensor([[0, 0.3 * w, 0.4 * h, 0.2 * w, 0.25 * h],
                            [1, 0.7 * w, 0.6 * h, 0.1 * w, 0.2 * h]])
        targets = torch.zeros(batch_size, self.cfg.max_labels, 5)
        targets[:, :2] = box
        return {'frames': frames, 'future': torch.rand(batch_size, 3, h, w, generator=g) * 255,
                'targets': targets, 'support': targets.clone()}

    @property
    def is_still(self) -> bool:
        from training.models.streamnet import zoo   # StreamYOLO / LongShortNet: streaming too
        return self.cfg.model not in zoo.STREAMNET_CONFIGS

    @property
    def history(self) -> int:
        if self.is_still:
            return 0
        from training.models.streamnet import zoo
        n = self.cfg.history_frames
        return zoo.make_config(self.cfg.model).history_frames if n < 0 else n

    # ---- data ---------------------------------------------------------------------------------
    def build_datasets(self):
        c = self.cfg
        clip = c.clip_config(self.history)
        train = StreamNetClips(c.train_json, c.input_size, flip_prob=c.flip_prob,
                               max_labels=c.max_labels, seed=c.seed, clip=clip)
        val = StreamNetClips(c.val_json, c.input_size, flip_prob=0.0, max_labels=c.max_labels,
                             seed=c.seed, class_ids=train.class_ids, clip=clip)
        return train, val

    def build_batcher(self, train_dataset) -> StreamNetBatcher:
        c = self.cfg
        iters = len(train_dataset) // c.batch_size
        return StreamNetBatcher(c.input_size, c.multiscale_range, c.multiscale_every, c.seed,
                                fixed_from_step=(c.max_epoch - 1) * iters)

    # ---- model and losses ---------------------------------------------------------------------
    def build_model(self, train_dataset) -> nn.Module:
        from training.models.streamnet import zoo
        return zoo.MODELS[self.cfg.model](num_classes=len(train_dataset.class_ids),
                                          **model_kwargs(self.cfg))

    def build_loss_fn(self, model: nn.Module, train_dataset) -> StreamNetLoss:
        if not self.cfg.teacher_model:
            return StreamNetLoss(self.is_still)
        from training.engine.checkpoint import load_checkpoint, model_weights_from
        from training.models.streamnet import zoo
        from training.models.streamnet.model import freeze
        extra = TINY_TEACHER if self.cfg.teacher_model == 'yolox_s' else {}
        teacher = zoo.MODELS[self.cfg.teacher_model](
            num_classes=len(train_dataset.class_ids), **extra)
        if not getattr(train_dataset, 'dry_run', False):
            state = load_checkpoint(self.cfg.teacher_checkpoint)
            teacher.load_state_dict(model_weights_from(state), strict=True)
        return StreamNetLoss(self.is_still, freeze(teacher))

    def export_meta(self, train_dataset) -> Dict:
        return {'class_names': list(train_dataset.class_names),
                'model_kwargs': model_kwargs(self.cfg), 'data_dir': self.cfg.train_json}

    # ---- evaluation ---------------------------------------------------------------------------
    def build_evaluator(self, val_dataset):
        from video_perception.eval.kstep import evaluate_kstep, evaluate_offline
        from video_perception.eval.results import Results, load_ground_truth, result_rows
        from video_perception.postprocess import decode_yolox
        gt = load_ground_truth(self.cfg.val_json)
        cat_ids = val_dataset.class_ids
        cfg = self.cfg

        @torch.no_grad()
        def evaluate(model: nn.Module) -> Dict[str, float]:
            device = next(model.parameters()).device
            dets: Dict[int, np.ndarray] = {}
            loader = torch.utils.data.DataLoader(val_dataset, batch_size=cfg.eval_batch,
                                                 num_workers=0)
            for batch in loader:
                key = 'future' if self.is_still else 'frames'
                preds = model(batch[key].to(device).float()).cpu().numpy()   # [B, A, 5+C]
                ids = batch['target_id' if self.is_still else 'image_id'].tolist()
                for pred, iid, r in zip(preds, ids, batch['scale'].tolist()):
                    d = decode_yolox(pred, cfg.eval_conf, cfg.eval_nms, 100)
                    dets[int(iid)] = result_rows(d.boxes_xyxy, d.scores, d.class_ids, cat_ids, r)
            results = Results({i: None for i in dets}, dets)
            if self.is_still:
                stats = evaluate_offline(gt, results).stats
                return {'AP': stats['AP'], 'AP50': stats['AP50'], 'sAP1': stats['AP']}
            k = cfg.future
            stats = evaluate_kstep(gt, results, k)[0].stats
            return {f'sAP{k}': stats['AP'], f'sAP{k}_50': stats['AP50'],
                    f'sAP{k}_75': stats['AP75']}
        return evaluate
