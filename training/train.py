"""``video-perception train EXP [key=value ...]``: train or distil a model from an experiment.

Runbook::

    # one process (CPU, or the GPU when there is one); data from `video-perception synth`
    video-perception train streamnet_tiny_synth \
        train_json=runs/data/synth_driving_train/dataset.json max_epoch=4
    # resume the last checkpoint of the run (runs/<exp>/last.pt)
    video-perception train streamnet_tiny_synth resume=auto
    # 4 GPUs on one machine (NCCL); on CPU the same command uses gloo
    torchrun --nproc_per_node=4 -m training.train streamnet_s_argoverse batch_size=16
    # two machines: add --nnodes=2 --node_rank=R --rdzv-endpoint=HOST:PORT to torchrun
    # show the resolved config and exit
    video-perception train streamnet_tiny_synth --print-config
    # build the model at the configured size (and the teacher, random: no checkpoint read), one
    # forward + backward on random input of that size, print parameters and config; no data
    video-perception train streamnet_s_argoverse --dry-run

EXP is a file name in training/exps/ (without .py) or a path to an experiment file. Every field
of the experiment's config can be overridden with key=value (cast to the field's type).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import List, Optional

from training.engine.config import apply_overrides, check_config, format_config


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='video-perception train', description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, add_help=True)
    parser.add_argument('exp', help='experiment name in training/exps/ or a path to a .py file')
    parser.add_argument('overrides', nargs='*', metavar='key=value',
                        help='config overrides, e.g. max_epoch=2 batch_size=8 resume=auto')
    parser.add_argument('--print-config', action='store_true',
                        help='print the resolved config and exit')
    parser.add_argument('--force', action='store_true',
                        help='empty an existing run folder and start over (else resume=auto)')
    parser.add_argument('--dry-run', action='store_true',
                        help='one forward + backward on random input at the configured size; '
                             'reads no data; loads and reports init_checkpoint')
    return parser


def dry_run(exp) -> dict:
    """Build ``exp``'s model (and teacher) without data, run its loss function on the
    experiment's random batch and backpropagate; returns {'params', 'teacher_params', 'losses'}.
    Raises ValueError when a loss is not finite or a trainable parameter gets no gradient."""
    import torch
    if not hasattr(exp, 'dry_run_batch'):
        raise ValueError(f'{type(exp).__module__}: the experiment defines no dry_run_batch')
    torch.manual_seed(0)
    data = exp.dry_run_dataset()
    model = exp.build_model(data)
    init = None
    if getattr(exp.cfg, 'init_checkpoint', ''):   # loaded and reported as training would
        from training.import_weights import load_init_checkpoint
        init = load_init_checkpoint(model, exp.cfg.init_checkpoint)
    exp.set_train_mode(model)
    loss_fn = exp.build_loss_fn(model, data)
    batch = exp.dry_run_batch()
    losses = loss_fn(model, batch, 0)
    total = losses['total_loss']
    if not torch.isfinite(total):
        raise ValueError(f'dry run: total loss {float(total)} is not finite')
    total.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # DETR's unused aux heads and the like stay None; all None means the graph is cut
    if trainable and all(p.grad is None for _, p in trainable):
        raise ValueError('dry run: no trainable parameter received a gradient')
    teacher = getattr(loss_fn, 'teacher', None)     # StreamNetLoss, V2IDistiller
    return {**({'init_checkpoint': init} if init else {}),
            'params': sum(p.numel() for _, p in trainable),
            'teacher_params': sum(p.numel() for p in teacher.parameters()) if teacher else 0,
            'losses': {k: float(v.detach()) for k, v in losses.items() if torch.is_tensor(v)
                       and v.numel() == 1}}


def train_inputs(cfg, run_dir: str, force: bool) -> dict:
    """The files a run reads (datasets, checkpoints), by config field; a run folder must stay
    apart from them. ``resume`` inside the run folder is the normal resume, unless ``--force``
    would empty that folder before the checkpoint is read."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not isinstance(value, str) or not value or f.name == 'output_dir':
            continue
        if f.name == 'resume':
            if value == 'auto' or (not force and os.path.realpath(value).startswith(
                    os.path.realpath(run_dir) + os.sep)):
                continue
        elif not f.name.endswith(('_json', '_checkpoint', '_root', '_path', '_dir')):
            continue
        out[f.name] = value
    return out


def main(argv: Optional[List[str]] = None) -> int:
    args = get_args_parser().parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    # Imported late: `--help` should not pay for torch.
    from training.engine.exp import exp_name_of, load_exp
    from training.engine.trainer import train
    from training.engine.checkpoint import has_checkpoint
    from video_perception.outdir import check_apart, output_dir
    cfg = None
    try:
        exp_cls = load_exp(args.exp)
        cfg = apply_overrides(exp_cls.config, args.overrides)
        if cfg.no_aug_epochs > cfg.max_epoch and not any(  # a short run of a long recipe: all
                o.startswith('no_aug_epochs=') for o in args.overrides):  # its epochs are last
            cfg = dataclasses.replace(cfg, no_aug_epochs=cfg.max_epoch)
        if not cfg.exp_name:
            cfg = dataclasses.replace(cfg, exp_name=exp_name_of(args.exp))
        check_config(cfg)
        if args.print_config or args.dry_run:
            print(format_config(cfg))
        if args.dry_run:
            res = dry_run(exp_cls(cfg))
            print(json.dumps({'dry_run': 'ok', **res}))
            return 0
        if args.print_config:
            return 0
        run_dir = os.path.join(cfg.output_dir, cfg.exp_name)
        check_apart({'run folder': run_dir}, train_inputs(cfg, run_dir, args.force))
        with output_dir(run_dir, args.force, 'run folder',
                        in_place=True, reuse=bool(cfg.resume), keep=has_checkpoint,
                        hint='pass resume=auto to continue that run, or --force to start over'):
            result = train(exp_cls(cfg))
    except (ValueError, KeyError, FileNotFoundError, FloatingPointError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f'video-perception train: {msg}', file=sys.stderr)
        return 2
    except OSError as exc:  # a full disk, a write error: the run failed (checkpoints are atomic)
        from video_perception.outdir import error_line
        line = error_line(exc, cfg and cfg.output_dir)
        print(f'video-perception train: {line}', file=sys.stderr)
        return 1
    if os.environ.get('RANK', '0') == '0' and result is not None:
        print(json.dumps({'step': result['step'], 'run_dir': result['run_dir'],
                          'metrics': result['metrics']}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
