"""The experiment interface: what a recipe file supplies to the family-agnostic engine.

An experiment file (``training/exps/NAME.py``) defines ``class Exp(BaseExp)`` with a class
attribute ``config`` (a TrainConfig subclass instance holding every knob) and the hooks below.
The engine builds ``Exp(cfg)`` with the command-line overrides applied and calls the hooks. The
Exp keeps no state beyond ``self.cfg``: each ``build_*`` hook returns what it makes (datasets,
model, batcher, loss function holding a frozen teacher or a criterion) and the engine keeps it
(YOLOX's Exp caching model/optimizer is the habit not to copy), so two calls of a hook give two
independent objects and nothing depends on the order hooks were called in.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from training.engine.config import TrainConfig
from training.engine.optim import default_param_groups


@dataclasses.dataclass
class DryRunData:
    """What ``train --dry-run`` hands the hooks in place of the training set: the class list and
    nothing to read. A hook that would load files (a teacher checkpoint) checks ``dry_run``."""

    class_ids: List[int]
    class_names: List[str]
    dry_run: bool = True

    def __len__(self) -> int:
        return 0


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one sample in one epoch.

    Augmentations drawn from it are the same whichever worker or rank loads the sample and
    whether or not the run was resumed mid-epoch (a per-worker global RNG is neither).
    """
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def to_device(obj: Any, device: torch.device) -> Any:
    """Move every tensor in nested dicts/lists/tuples to ``device``."""
    if torch.is_tensor(obj):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


# batcher(batch, step, device) -> batch on the device; loss_fn(model, batch, step) -> losses
Batcher = Callable[[Any, int, torch.device], Any]
LossFn = Callable[[nn.Module, Any, int], Dict[str, torch.Tensor]]


def to_device_batcher(batch: Any, step: int, device: torch.device) -> Any:
    """The default batcher: the batch moved to ``device``."""
    return to_device(batch, device)


def call_model(model: nn.Module, batch: Any, step: int) -> Dict[str, torch.Tensor]:
    """The default loss function: a model whose forward returns its own losses."""
    return model(batch)


class BaseExp:
    """Default hooks; an experiment overrides what it needs.

    Attributes:
        config: the default TrainConfig (subclass) instance of this experiment.
        checkpoint_exclude: state-dict prefixes of frozen parts (a distillation teacher) that are
            left out of checkpoints, EMA and the optimizer.
        best_metric: key of the evaluator's result that selects ``best.pt`` (higher is better).
    """

    config: TrainConfig = TrainConfig()
    checkpoint_exclude: Tuple[str, ...] = ()
    best_metric: str = ''

    def __init__(self, cfg: Optional[TrainConfig] = None):
        self.cfg = cfg if cfg is not None else self.config

    # ---- data -------------------------------------------------------------------------------
    def build_datasets(self) -> Tuple[Dataset, Optional[Dataset]]:
        """(train dataset, validation dataset or None). Datasets may define ``set_epoch(e)``."""
        raise NotImplementedError(f'{type(self).__name__}.build_datasets')

    def collate(self, samples: List[Any]) -> Any:
        return default_collate(samples)

    def build_batcher(self, train_dataset: Dataset) -> Batcher:
        """``batcher(batch, step, device)``: moves a collated batch to the device; multi-scale
        resizing goes here (same size on all ranks, chosen from the step so it is reproducible
        on resume)."""
        return to_device_batcher

    # ---- model ------------------------------------------------------------------------------
    def build_model(self, train_dataset: Dataset) -> nn.Module:
        """The trained module (its class count from ``train_dataset``), nothing frozen in it."""
        raise NotImplementedError(f'{type(self).__name__}.build_model')

    def set_train_mode(self, model: nn.Module) -> None:
        """Called before each epoch on the trained model."""
        model.train()

    # ---- loss / optimisation ----------------------------------------------------------------
    def build_loss_fn(self, model: nn.Module, train_dataset: Dataset) -> LossFn:
        """``loss_fn(model, batch, step) -> losses`` including ``'total_loss'``. It forwards
        through ``model`` (maybe DDP-wrapped: call it, not its sub-modules, so the gradient hooks
        fire) and holds what the losses need beyond it: a criterion, a frozen teacher."""
        return call_model

    def param_groups(self, model: nn.Module, base_lr: float) -> List[Dict]:
        return default_param_groups(model, self.cfg, base_lr)

    def export_meta(self, train_dataset: Dataset) -> Dict[str, Any]:
        """Extra entries for the checkpoint's ``config`` (e.g. class_names, model_kwargs) that
        the exporter needs to rebuild the model; JSON-able."""
        return {}

    # ---- evaluation -------------------------------------------------------------------------
    def build_evaluator(self, val_dataset: Optional[Dataset]
                        ) -> Optional[Callable[[nn.Module], Dict[str, float]]]:
        """A callable ``evaluator(model) -> {metric: value}`` run on rank 0 at epoch ends."""
        return None


def load_exp(name: str):
    """The ``Exp`` class of ``training/exps/NAME.py`` or of a ``.py`` file path.

    Raises:
        ValueError: naming the experiment when it does not exist or defines no ``Exp``.
    """
    if name.endswith('.py') or os.sep in name:
        if not os.path.isfile(name):
            raise ValueError(f'experiment file {name!r}: not found')
        spec = importlib.util.spec_from_file_location(
            'exp_' + os.path.splitext(os.path.basename(name))[0], name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        if not name.replace('_', '').isalnum():
            raise ValueError(f'experiment {name!r}: expected a name like streamnet_tiny_synth '
                             f'or a path to a .py file')
        try:
            module = importlib.import_module(f'training.exps.{name}')
        except ModuleNotFoundError as exc:
            if exc.name != f'training.exps.{name}':
                raise  # the experiment exists but something it imports does not
            here = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'exps')
            known = sorted(f[:-3] for f in os.listdir(here)
                           if f.endswith('.py') and not f.startswith('_'))
            raise ValueError(f'experiment {name!r}: not found in training/exps '
                             f'(known: {", ".join(known)})') from None
    exp_cls = getattr(module, 'Exp', None)
    if not (isinstance(exp_cls, type) and issubclass(exp_cls, BaseExp)):
        raise ValueError(f'experiment {name!r}: defines no class Exp(BaseExp)')
    return exp_cls


def exp_name_of(name: str) -> str:
    return os.path.splitext(os.path.basename(name))[0]


def prefixes_excluded(keys: Sequence[str], prefixes: Sequence[str]) -> List[str]:
    return [k for k in keys if not any(k.startswith(p) for p in prefixes)]
