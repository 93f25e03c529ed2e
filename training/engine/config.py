"""TrainConfig: every knob of a training run as one plain dataclass (nanoGPT / YOLOX exps style).

Experiments subclass it to add their own fields (model variant, data paths, loss weights) and set
defaults; the command line overrides any field with ``key=value``, cast to the field's type
(YOLOX ``Exp.merge``), then ``check_config`` validates the whole and ``format_config`` prints it.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Dict, Iterable, List, Tuple

SCHEDULES = ('yoloxwarmcos', 'step', 'constant')
OPTIMIZERS = ('sgd', 'adamw')


@dataclasses.dataclass
class TrainConfig:
    # ---- run / io -------------------------------------------------------------------------
    exp_name: str = ''                # filled from the experiment's name when empty
    output_dir: str = 'runs'          # logs and checkpoints go to <output_dir>/<exp_name>/
    seed: int = 0                     # model init uses seed; rank r trains with seed + r
    device: str = 'auto'              # 'auto' (cuda when present), 'cpu' or 'cuda'
    resume: str = ''                  # '' (fresh), 'auto' (<run dir>/last.pt if any) or a path
    init_checkpoint: str = ''         # weights to start from (model state only, non-strict)
    # ---- schedule length ------------------------------------------------------------------
    max_epoch: int = 8
    max_steps: int = 0                # > 0: stop after this many optimizer steps (smoke runs)
    # ---- data -----------------------------------------------------------------------------
    batch_size: int = 16              # global batch, over all ranks (YOLOX `-b`)
    num_workers: int = 2              # DataLoader workers per rank
    drop_last: bool = True
    # ---- optimizer ------------------------------------------------------------------------
    optimizer: str = 'sgd'            # 'sgd' (Nesterov, YOLOX groups) or 'adamw' (DETR groups)
    lr: float = 0.0                   # base lr; 0 -> basic_lr_per_img * batch_size (YOLOX)
    basic_lr_per_img: float = 0.001 / 64
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    betas: Tuple[float, float] = (0.9, 0.999)
    lr_backbone: float = -1.0         # AdamW: lr of params named by backbone_names; <0 -> lr
    backbone_names: Tuple[str, ...] = ('backbone.',)
    lr_linear_proj_names: Tuple[str, ...] = ('reference_points', 'sampling_offsets')
    lr_linear_proj_mult: float = 0.1
    grad_clip: float = 0.0            # max grad norm; 0 disables (DETR uses 0.1)
    # ---- lr schedule ----------------------------------------------------------------------
    scheduler: str = 'yoloxwarmcos'   # 'yoloxwarmcos', 'step' (DETR drop) or 'constant'
    warmup_epochs: float = 1.0
    warmup_lr: float = 0.0            # lr at step 0 of the quadratic warm-up
    min_lr_ratio: float = 0.05
    no_aug_epochs: int = 0            # last epochs at min lr (= max_epoch: warm-up, then constant)
    lr_drop_epochs: Tuple[int, ...] = ()  # 'step': multiply by lr_drop_factor at these epochs
    lr_drop_factor: float = 0.1
    # ---- EMA / precision ------------------------------------------------------------------
    ema: bool = True
    ema_decay: float = 0.9998         # YOLOX ModelEMA: decay * (1 - exp(-updates / ema_tau))
    ema_tau: float = 2000.0
    amp: bool = True                  # fp16 autocast + GradScaler; used on CUDA only
    ddp_find_unused: bool = False     # DDP find_unused_parameters (models with idle branches)
    sync_bn: bool = False             # DDP: BatchNorm statistics over all ranks (YOLOX: off)
    # ---- checkpoints / logs / eval --------------------------------------------------------
    checkpoint_every: int = 0         # also checkpoint every N steps (0: only at epoch ends)
    log_every: int = 10               # JSON-lines / TensorBoard every N steps
    eval_every: int = 1               # evaluate every N epochs (0: never)
    tensorboard: bool = True
    progress: bool = True             # tqdm bar on rank 0


def _field_types(cfg_cls) -> Dict[str, Any]:
    return typing.get_type_hints(cfg_cls)


def _cast(name: str, text: str, kind) -> Any:
    origin = typing.get_origin(kind)
    if origin in (tuple, Tuple, list, List):
        args = typing.get_args(kind)
        items = [t for t in text.replace('(', '').replace(')', '').split(',') if t.strip()]
        if args and args[-1] is Ellipsis:
            elem_types = [args[0]] * len(items)
        elif args:
            if len(items) != len(args):
                raise ValueError(f'config "{name}": expected {len(args)} comma-separated values, '
                                 f'got {text!r}')
            elem_types = list(args)
        else:
            elem_types = [str] * len(items)
        values = [_cast(name, t.strip(), k) for t, k in zip(items, elem_types)]
        return tuple(values) if origin in (tuple, Tuple) else values
    if kind is bool:
        low = text.strip().lower()
        if low in ('1', 'true', 'yes', 'on'):
            return True
        if low in ('0', 'false', 'no', 'off'):
            return False
        raise ValueError(f'config "{name}": expected a boolean (true/false), got {text!r}')
    if kind in (int, float):
        try:
            value = kind(text) if kind is float else int(text, 0)
        except ValueError:
            raise ValueError(f'config "{name}": expected {kind.__name__}, got {text!r}') from None
        # no field of a run takes NaN or an infinity (NaN would pass every range check below)
        from video_perception.validate import number
        return number(f'config "{name}"', value, integer=kind is int, error=ValueError,
                      want=kind.__name__)
    if kind is str:
        return text
    raise ValueError(f'config "{name}": cannot set a field of type {kind} from the command line')


def apply_overrides(cfg, overrides: Iterable[str]):
    """Return a copy of ``cfg`` with ``key=value`` strings applied, each cast to its field's type.

    Raises:
        ValueError: naming the key, when it is not a field or its value does not parse.
    """
    types = _field_types(type(cfg))
    changes = {}
    for item in overrides:
        if '=' not in item:
            raise ValueError(f'override {item!r}: expected key=value')
        key, value = item.split('=', 1)
        key = key.strip()
        if key not in types:
            close = [k for k in types if key.lower() in k.lower()][:5]
            hint = f' (did you mean {", ".join(close)}?)' if close else ''
            raise ValueError(f'override {key!r}: no such config field in '
                             f'{type(cfg).__name__}{hint}')
        changes[key] = _cast(key, value, types[key])
    return dataclasses.replace(cfg, **changes)


def check_config(cfg) -> None:
    """Validate invariants the engine relies on; raises ValueError naming the field."""
    def need(cond: bool, msg: str):
        if not cond:
            raise ValueError(f'config: {msg}')
    need(cfg.optimizer in OPTIMIZERS, f'optimizer must be one of {OPTIMIZERS}, '
                                      f'got {cfg.optimizer!r}')
    need(cfg.scheduler in SCHEDULES, f'scheduler must be one of {SCHEDULES}, '
                                     f'got {cfg.scheduler!r}')
    need(cfg.device in ('auto', 'cpu', 'cuda'), f'device must be auto, cpu or cuda, '
                                                f'got {cfg.device!r}')
    need(cfg.max_epoch >= 1, f'max_epoch must be >= 1, got {cfg.max_epoch}')
    need(cfg.max_steps >= 0, f'max_steps must be >= 0, got {cfg.max_steps}')
    need(cfg.batch_size >= 1, f'batch_size must be >= 1, got {cfg.batch_size}')
    need(cfg.num_workers >= 0, f'num_workers must be >= 0, got {cfg.num_workers}')
    need(cfg.lr >= 0 and cfg.basic_lr_per_img >= 0, 'lr and basic_lr_per_img must be >= 0')
    need(0 <= cfg.warmup_epochs <= cfg.max_epoch,
         f'warmup_epochs must be in [0, max_epoch], got {cfg.warmup_epochs}')
    need(0 <= cfg.no_aug_epochs <= cfg.max_epoch,
         f'no_aug_epochs must be in [0, max_epoch={cfg.max_epoch}], got {cfg.no_aug_epochs}')
    need(0 <= cfg.min_lr_ratio <= 1, f'min_lr_ratio must be in [0, 1], got {cfg.min_lr_ratio}')
    need(list(cfg.lr_drop_epochs) == sorted(cfg.lr_drop_epochs),
         f'lr_drop_epochs must be increasing, got {cfg.lr_drop_epochs}')
    need(cfg.grad_clip >= 0, f'grad_clip must be >= 0, got {cfg.grad_clip}')
    need(0 <= cfg.ema_decay < 1, f'ema_decay must be in [0, 1), got {cfg.ema_decay}')
    need(cfg.checkpoint_every >= 0 and cfg.log_every >= 1 and cfg.eval_every >= 0,
         'checkpoint_every >= 0, log_every >= 1 and eval_every >= 0 are required')
    extra = getattr(cfg, 'check', None)
    if callable(extra):
        extra()


def base_lr(cfg) -> float:
    """The base learning rate: ``lr`` when set, else YOLOX's per-image rate times the batch."""
    return cfg.lr if cfg.lr > 0 else cfg.basic_lr_per_img * cfg.batch_size


def config_to_dict(cfg) -> Dict[str, Any]:
    """Plain JSON-able dict (tuples become lists) for checkpoints, logs and model.json."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def format_config(cfg) -> str:
    """The resolved config as a two-column table (printed at start, like YOLOX's Exp repr)."""
    rows = [(k, repr(v)) for k, v in config_to_dict(cfg).items()]
    width = max(len(k) for k, _ in rows)
    line = '-' * (width + 2 + max(len(v) for _, v in rows))
    body = '\n'.join(f'{k:<{width}}  {v}' for k, v in rows)
    return f'{type(cfg).__name__}\n{line}\n{body}\n{line}'
