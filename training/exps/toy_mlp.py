"""A small MLP on deterministic synthetic regression data: the engine's own test and smoke run.

It exercises everything the engine owns (per-sample random augmentation, dropout, EMA, the
schedule, DDP, checkpoints) in seconds on CPU, without any detector code::

    video-perception train toy_mlp max_epoch=3
    torchrun --nproc_per_node=2 -m training.train toy_mlp
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict

import torch
from torch import nn
from torch.utils.data import Dataset

from training.engine.config import TrainConfig
from training.engine.exp import BaseExp, sample_rng


@dataclasses.dataclass
class ToyConfig(TrainConfig):
    num_samples: int = 64             # training samples (validation: 32 more)
    in_dim: int = 8
    hidden: int = 32
    dropout: float = 0.1
    aug_noise: float = 0.05           # per-sample input noise drawn from sample_rng
    stall_at_step: int = 0            # tests only: block before this optimizer step (to be killed)


class ToyRegression(Dataset):
    """y = sin(x @ w) with fixed x, w; ``__getitem__`` adds noise from (seed, epoch, index)."""

    def __init__(self, n: int, in_dim: int, noise: float, seed: int, offset: int = 0):
        g = torch.Generator().manual_seed(1234)
        w = torch.randn(in_dim, 2, generator=g)
        x = torch.randn(n + offset, in_dim, generator=g)[offset:]
        self.x, self.y = x, torch.sin(x @ w)            # [n, in_dim], [n, 2]
        self.noise, self.seed, self.epoch = noise, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        rng = sample_rng(self.seed, self.epoch, i)
        x = self.x[i] + self.noise * torch.from_numpy(rng.standard_normal(self.x.shape[1])).float()
        return {'x': x, 'y': self.y[i], 'index': i}


class ToyMLP(nn.Module):
    def __init__(self, in_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Dropout(dropout),
                                      nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, 2)

    def forward(self, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        pred = self.head(self.backbone(batch['x']))     # [B, 2]
        mse = ((pred - batch['y']) ** 2).mean()
        return {'total_loss': mse, 'mse': mse.detach()}


class Exp(BaseExp):
    config = ToyConfig(max_epoch=4, batch_size=8, num_workers=0, basic_lr_per_img=0.01 / 8,
                       warmup_epochs=1, no_aug_epochs=1, log_every=2, tensorboard=False)
    best_metric = 'neg_mse'

    def build_model(self, train_dataset) -> nn.Module:
        return ToyMLP(self.cfg.in_dim, self.cfg.hidden, self.cfg.dropout)

    def dry_run_batch(self) -> Dict[str, torch.Tensor]:
        """Random input of the configured shape (``train --dry-run``)."""
        g = torch.Generator().manual_seed(0)
        return {'x': torch.randn(2, self.cfg.in_dim, generator=g),
                'y': torch.randn(2, 2, generator=g)}

    def build_datasets(self):
        c = self.cfg
        return (ToyRegression(c.num_samples, c.in_dim, c.aug_noise, c.seed),
                ToyRegression(32, c.in_dim, 0.0, c.seed, offset=c.num_samples))

    def build_loss_fn(self, model, train_dataset):
        stall_at = self.cfg.stall_at_step

        def loss_fn(model, batch, step):
            if stall_at and step >= stall_at:
                print(f'toy_mlp: stalled at step {step}', flush=True)
                while True:
                    time.sleep(1)
            return model(batch)
        return loss_fn

    def build_evaluator(self, val_dataset):
        def evaluate(model):
            batch = {'x': val_dataset.x, 'y': val_dataset.y}
            mse = float(model(batch)['mse'])
            return {'mse': mse, 'neg_mse': -mse}
        return evaluate
