"""What an export starts from (``export --checkpoint``): a training checkpoint, a bare state dict
or a bundle (its folder or its ``model.pt``), read as one ``Checkpoint``: the weights, the run's
config (model name, classes, input size, model_kwargs) and its metrics.

A bundle's ``model.pt`` holds the graph wrapper's state dict (keys prefixed ``model.``, StreamNet's
RepConv already fused); its config is rebuilt from ``model.json``, so a shipped or imported bundle
re-exports at another size, batch or precision. The one-line errors name the file and what was
expected (a NAME that disagrees with the checkpoint, weights that do not fit the model).
"""
from __future__ import annotations

import os
from typing import Dict, NamedTuple, Optional, Union

import torch


class Checkpoint(NamedTuple):
    """What the exporter takes from a training checkpoint (or a bare state dict, or a bundle)."""
    path: str
    weights: Dict
    config: Dict       # the run's config + Exp.export_meta(); {} for a bare state dict
    metrics: Dict
    fused_repconv: bool = False    # a bundle's model.pt holds the RepConv-fused weights

    @property
    def model_name(self) -> str:
        """The model the run trained ('' when the file does not say: a bare state dict)."""
        return str(self.config.get('model') or '')


def bundle_root(path: str) -> Optional[str]:
    """The bundle folder ``path`` names (the folder, or its model.pt beside model.json)."""
    root = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    if os.path.isfile(os.path.join(root, 'model.json')) and (
            os.path.isdir(path) or os.path.basename(path) == 'model.pt'):
        return root
    return None


def read_bundle_checkpoint(root: str, path: str) -> Checkpoint:
    """A bundle as a checkpoint: model.pt's weights without the graph wrapper's ``model.``
    prefix, and the training config rebuilt from model.json (variant, classes, input size,
    model_kwargs, history step, forecast horizon), so it re-exports at another size, batch or
    precision."""
    from video_perception.bundle import BundleError, load_bundle
    try:
        bundle = load_bundle(root)
    except BundleError as exc:
        raise ValueError(f'--checkpoint {path}: {exc}') from None
    if not bundle.torch_state_dict or not os.path.isfile(bundle.torch_state_dict):
        raise ValueError(f'--checkpoint {path}: the bundle has no model.pt to re-export from')
    state = torch.load(bundle.torch_state_dict, map_location='cpu', weights_only=True)
    weights = {k[len('model.'):]: v for k, v in state.items() if k.startswith('model.')}
    prov = bundle.raw.get('provenance') or {}
    torch_meta = bundle.raw.get('torch') or {}
    config = dict(prov.get('config') or {}, model=bundle.variant,
                  class_names=list(bundle.classes), input_size=[bundle.height, bundle.width],
                  model_kwargs=torch_meta.get('model_kwargs') or {})
    if bundle.family == 'streamnet':
        config.update(history_step=bundle.history_step, future=bundle.future_frames)
    return Checkpoint(path, weights, config, prov.get('metrics') or {},
                      fused_repconv=bool(torch_meta.get('fused_repconv', bundle.family ==
                                                        'streamnet')))


def read_checkpoint(path: str) -> Checkpoint:
    """The checkpoint, state dict or bundle at ``path``."""
    from training.engine.checkpoint import load_checkpoint, model_weights_from
    root = bundle_root(path)
    if root is not None:
        return read_bundle_checkpoint(root, path)
    state = load_checkpoint(path)
    return Checkpoint(path, model_weights_from(state), state.get('config') or {},
                      state.get('metrics') or {})


def unpack_checkpoint(checkpoint: Union[str, Checkpoint, None]):
    """(path, weights, training config, metrics) of a path or a read Checkpoint; None: no
    path, random weights and empty dicts."""
    if not checkpoint:
        return None, None, {}, {}
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = read_checkpoint(checkpoint)
    return checkpoint[:4]


def is_fused(checkpoint) -> bool:
    """A bundle's weights: the model must be RepConv-fused before they load."""
    return isinstance(checkpoint, Checkpoint) and checkpoint.fused_repconv


def model_name_of(name: Optional[str], checkpoint: Optional[Checkpoint]) -> str:
    """NAME as given, else the one the checkpoint records; a one-line error if they disagree."""
    recorded = checkpoint.model_name if checkpoint is not None else ''
    if name and recorded and name != recorded:
        raise ValueError(f'NAME {name} disagrees with --checkpoint {checkpoint.path}, which '
                         f'trained {recorded}; drop NAME or pass {recorded}')
    if not (name or recorded):
        where = (f'--checkpoint {checkpoint.path} records no model name'
                 if checkpoint is not None else 'no --checkpoint to read it from')
        raise ValueError(f'expected a model NAME ({where})')
    return name or recorded


def weights_mismatch(checkpoint: str, variant: str, exc: RuntimeError) -> ValueError:
    """The one-line error for ``load_state_dict``'s ``exc``."""
    # torch's message: a heading line, then one line of key names per kind of mismatch
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    detail = lines[min(1, len(lines) - 1)] if lines else ''
    return ValueError(f'--checkpoint {checkpoint}: weights do not fit {variant} '
                      f'({detail[:160]}{"..." if len(detail) > 160 else ""}); expected a '
                      f'checkpoint trained for {variant}')
