"""The training loop: one code path for a single process and for torchrun/DDP.

Exact resume: the lr is a function of the step, the sampler's order a function of (seed, epoch)
with a start offset, augmentations a function of (seed, epoch, index) (``exp.sample_rng``), the
DataLoader's worker seeds come from a per-epoch generator (never the global RNG), and the
checkpoint restores model, optimizer, EMA, scaler and every rank's python/numpy/torch RNGs.
So a run killed after the checkpoint at step k and resumed ends with the same weights as a run
that never stopped (tested bit for bit on CPU).
"""
from __future__ import annotations

import math
import os
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from training.engine import distributed as dist_utils
from training.engine.checkpoint import (best_on_disk, get_rng_state, load_checkpoint, model_state,
                                        save_checkpoint, set_rng_state)
from training.engine.config import base_lr, check_config, config_to_dict, format_config
from training.engine.ema import ModelEMA
from training.engine.exp import BaseExp
from training.engine.logging import RunLogger
from training.engine.lr import LRSchedule
from training.engine.optim import build_optimizer
from video_perception.tools.cli_common import raise_if_stopped


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def _worker_init(worker_id: int) -> None:
    # torch seeds each worker from the loader's generator; give numpy/python the same seed
    # so a dataset using them is at least reproducible for a fixed worker count.
    seed = torch.initial_seed() % 2 ** 32
    np.random.seed(seed)
    random.seed(seed)


class Trainer:
    """Owns one run. ``run()`` returns ``{'step', 'epoch', 'metrics', 'run_dir'}``."""

    def __init__(self, exp: BaseExp, info: dist_utils.DistInfo):
        self.exp, self.cfg, self.info = exp, exp.cfg, info
        self.run_dir = os.path.join(self.cfg.output_dir, self.cfg.exp_name)
        self.log = RunLogger(self.run_dir, info.is_main, self.cfg.tensorboard, self.cfg.progress)
        self.metrics: Dict[str, float] = {}
        self.best: Optional[float] = None

    # ---- set-up -------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg, info = self.cfg, self.info
        if cfg.batch_size % info.world_size:
            raise ValueError(f'batch_size {cfg.batch_size} must be divisible by the '
                             f'{info.world_size} ranks')
        self.log.info(format_config(cfg))
        self.train_ds, self.val_ds = self.exp.build_datasets()
        seed_everything(cfg.seed)  # identical initial weights on every rank
        self.model = self.exp.build_model(self.train_ds).to(info.device)
        if cfg.init_checkpoint:
            # an official layout (YOLOX, DAMO-StreamNet, DETR family) goes through its importer
            from training.import_weights import load_init_checkpoint
            self.log.info(load_init_checkpoint(self.model, cfg.init_checkpoint))
        # The engine holds the loss function (with its frozen teacher or criterion) and the
        # batcher; neither is part of the trained model, its optimizer, EMA or checkpoint.
        self.loss_fn = self.exp.build_loss_fn(self.model, self.train_ds)
        self.batcher = self.exp.build_batcher(self.train_ds)
        self.per_rank = cfg.batch_size // info.world_size
        self.sampler = dist_utils.ResumableSampler(
            len(self.train_ds), self.per_rank, info.rank, info.world_size, shuffle=True,
            seed=cfg.seed, drop_last=cfg.drop_last)
        self.iters_per_epoch = self.sampler.batches_per_epoch()
        self.base_lr = base_lr(cfg)
        self.optimizer = build_optimizer(self.exp.param_groups(self.model, self.base_lr), cfg,
                                         self.base_lr)
        self.schedule = LRSchedule.from_config(cfg, self.base_lr, self.iters_per_epoch)
        self.use_amp = cfg.amp and info.device.type == 'cuda'
        self.scaler = torch.amp.GradScaler('cuda', enabled=self.use_amp)
        self.ema = (ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau,
                             exclude_prefixes=self.exp.checkpoint_exclude) if cfg.ema else None)
        self.evaluator = self.exp.build_evaluator(self.val_ds) if info.is_main else None
        self.step = 0
        if not self._maybe_resume():
            seed_everything(cfg.seed + info.rank)  # dropout etc. differ between ranks
        self.ddp = self.model
        if info.distributed:
            if cfg.sync_bn:
                # Converted after the EMA copy and the optimizer: SyncBatchNorm keeps the BN
                # parameters (same tensors), only the forward changes.
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            self.ddp = DistributedDataParallel(
                self.model, device_ids=[info.device] if info.device.type == 'cuda' else None,
                find_unused_parameters=cfg.ddp_find_unused)
        self.total_steps = cfg.max_epoch * self.iters_per_epoch
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)

    def _resume_path(self) -> str:
        if self.cfg.resume == 'auto':
            path = os.path.join(self.run_dir, 'last.pt')
            return path if os.path.isfile(path) else ''
        return self.cfg.resume

    def _maybe_resume(self) -> bool:
        path = self._resume_path()
        if not path:
            return False
        state = load_checkpoint(path)
        missing, unexpected = self.model.load_state_dict(state['model'], strict=False)
        missing = [k for k in missing
                   if not any(k.startswith(p) for p in self.exp.checkpoint_exclude)]
        if missing or unexpected:
            raise ValueError(f'resume {path!r}: model keys differ (missing {missing[:3]}, '
                             f'unexpected {unexpected[:3]})')
        self.optimizer.load_state_dict(state['optimizer'])
        self.schedule.load_state_dict(state['scheduler'])
        if self.ema is not None:
            if not state.get('ema'):
                raise ValueError(f'resume {path!r}: the checkpoint has no EMA but ema=true')
            self.ema.load_state_dict(state['ema'])
        if state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])
        self.step = int(state['step'])
        self.metrics = dict(state.get('metrics') or {})
        self.best = best_on_disk(self.run_dir)  # what best.pt holds, not what last.pt says
        rngs = state.get('rng') or []
        if len(rngs) == self.info.world_size:
            set_rng_state(rngs[self.info.rank])
        else:
            # Another world size cannot continue the same random streams; keep going, but
            # the run is then only statistically (not bitwise) a continuation.
            self.log.info(f'resume: checkpoint has {len(rngs)} rank RNG states for '
                          f'{self.info.world_size} ranks; reseeding')
            seed_everything(self.cfg.seed + self.info.rank + self.step)
        self.log.info(f'resumed from {path} at step {self.step}')
        return True

    # ---- checkpoints --------------------------------------------------------------------------
    def _save(self, name: str) -> None:
        """Collective (every rank sends its RNG state); rank 0 writes ``<run_dir>/name``."""
        rngs = dist_utils.all_gather_object(get_rng_state())
        if not self.info.is_main:
            return
        state = {
            'epoch': self.step // self.iters_per_epoch, 'step': self.step,
            'iter_in_epoch': self.step % self.iters_per_epoch,
            'model': model_state(self.model, self.exp.checkpoint_exclude),
            'optimizer': self.optimizer.state_dict(), 'scheduler': self.schedule.state_dict(),
            'ema': self.ema.state_dict() if self.ema is not None else None,
            'scaler': self.scaler.state_dict() if self.use_amp else None,
            'rng': rngs, 'metrics': dict(self.metrics),
            'config': {**config_to_dict(self.cfg), **self.exp.export_meta(self.train_ds)},
            'best': self.best, 'exp': self.cfg.exp_name, 'world_size': self.info.world_size,
        }
        save_checkpoint(os.path.join(self.run_dir, name), state)

    # ---- the loop -----------------------------------------------------------------------------
    def _loader(self, epoch: int, start_batch: int) -> DataLoader:
        self.sampler.set_epoch(epoch, start_batch)
        if hasattr(self.train_ds, 'set_epoch'):
            self.train_ds.set_epoch(epoch)
        # A private generator: DataLoader draws its worker base seed from it, so creating a
        # loader never advances the global RNG (a resumed run creates one at another moment).
        gen = torch.Generator()
        gen.manual_seed(self.cfg.seed * 100003 + epoch * 1009 + self.info.rank)
        return DataLoader(self.train_ds, batch_size=self.per_rank, sampler=self.sampler,
                          num_workers=self.cfg.num_workers, collate_fn=self.exp.collate,
                          drop_last=self.cfg.drop_last, generator=gen,
                          worker_init_fn=_worker_init,
                          pin_memory=self.info.device.type == 'cuda')

    def _train_step(self, batch: Any) -> Dict[str, torch.Tensor]:
        cfg = self.cfg
        lr = self.schedule.apply(self.optimizer, self.step)
        batch = self.batcher(batch, self.step, self.info.device)
        with torch.autocast(self.info.device.type, dtype=torch.float16, enabled=self.use_amp):
            losses = self.loss_fn(self.ddp, batch, self.step)
        if 'total_loss' not in losses:
            raise KeyError(f'{type(self.exp).__name__}.build_loss_fn: the loss function must '
                           'return "total_loss"')
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses['total_loss']).backward()
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for g in self.optimizer.param_groups for p in g['params']]
            losses['grad_norm'] = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.ddp)
        self.step += 1
        losses['lr'] = torch.tensor(lr, dtype=torch.float64)
        return losses

    def _log_step(self, losses: Dict[str, torch.Tensor], epoch: int) -> Dict[str, float]:
        # .item() syncs with the GPU: only every log_every steps.
        values = {k: float(v.detach().double().mean().item()) for k, v in losses.items()
                  if torch.is_tensor(v)}
        if not math.isfinite(values['total_loss']):
            raise FloatingPointError(f'step {self.step}: total_loss is {values["total_loss"]} '
                                     f'({values})')
        values = dist_utils.all_reduce_mean(values, self.info.device)
        self.log.log('train', self.step, values, epoch=epoch)
        return values

    def _end_epoch(self, epoch: int) -> None:
        cfg = self.cfg
        last = self.step >= self.total_steps
        if self.evaluator is not None and cfg.eval_every and (
                (epoch + 1) % cfg.eval_every == 0 or last):
            model = self.ema.ema if self.ema is not None else self.model
            was_training = model.training
            model.eval()
            with torch.no_grad():
                self.metrics = {k: float(v) for k, v in self.evaluator(model).items()}
            model.train(was_training)
            self.log.log('eval', self.step, self.metrics, epoch=epoch)
            self.log.info(f'epoch {epoch}: ' + ', '.join(f'{k} {v:.4f}'
                                                         for k, v in self.metrics.items()))
        key = self.exp.best_metric
        improved = bool(key) and key in self.metrics and (
            self.best is None or self.metrics[key] > self.best)
        if improved:
            self.best = self.metrics[key]
        # Every rank must learn whether rank 0 improved: _save is collective.
        improved = bool(dist_utils.all_gather_object(improved)[0])
        if improved:  # best first: see training/engine/checkpoint.py
            self._save('best.pt')
        self._save('last.pt')
        dist_utils.barrier()

    def run(self) -> Dict[str, Any]:
        self._setup()
        cfg = self.cfg
        try:
            while self.step < self.total_steps:
                epoch, start = divmod(self.step, self.iters_per_epoch)
                self.exp.set_train_mode(self.ddp)
                self.log.start_epoch(epoch, self.iters_per_epoch, start)
                for batch in self._loader(epoch, start):
                    raise_if_stopped()  # a SIGTERM whose exception a library swallowed
                    losses = self._train_step(batch)
                    postfix = None
                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        postfix = self._log_step(losses, epoch)
                    self.log.advance(postfix or {})
                    if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                        self._save('last.pt')
                    if self.step >= self.total_steps:
                        break
                self.log.end_epoch()
                if self.step % self.iters_per_epoch == 0 or self.step >= self.total_steps:
                    self._end_epoch(epoch)
        finally:
            self.log.close()
        return {'step': self.step, 'epoch': self.step / self.iters_per_epoch,
                'metrics': dict(self.metrics), 'run_dir': self.run_dir}


def train(exp: BaseExp) -> Dict[str, Any]:
    """Run ``exp`` (with ``exp.cfg`` final) in this process; joins DDP when torchrun started it."""
    check_config(exp.cfg)
    info = dist_utils.init_distributed(exp.cfg.device)
    try:
        return Trainer(exp, info).run()
    finally:
        dist_utils.cleanup()
