"""The training side's family registry: one module per detector family, keyed by the family
NAME, as ``video_perception.families`` is for the runtime.

A training family module (``streamnet.py``, ``v2i.py``) says which model names are its
(``model_names()``: the names ``video-perception export NAME`` and ``train`` take) and which
function writes its bundles (``export(variant, out, size=, checkpoint=, check=, batch_sizes=)``,
the existing exporters of ``training/export.py``). Code that exports by model name asks
``family_for_model(name).export`` and never names a family (``scripts/bench_models.py``,
``export.main``). Built-in families are imported on first use, so ``training.export`` can import
this module while the family modules import ``training.export``.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple

# the built-in families (the one place the training side's registry names them)
_BUILTIN = {'streamnet': 'training.families.streamnet', 'v2i': 'training.families.v2i'}
_REQUIRED = ('NAME', 'model_names', 'export')
_registry: Dict[str, Any] = {}


def register_family(family: Any, replace: bool = False) -> Any:
    """Add a training family (a module or object with ``NAME``, ``model_names``, ``export``)."""
    missing = [a for a in _REQUIRED if not hasattr(family, a)]
    if missing:
        raise TypeError(f'training family {getattr(family, "__name__", family)!r} lacks '
                        f'{missing}')
    old = _registry.get(family.NAME)
    if old is not None and old is not family and not replace:
        raise ValueError(f'training family "{family.NAME}" is already registered; pass '
                         'replace=True to replace it')
    _registry[family.NAME] = family
    return family


def known_families() -> Tuple[str, ...]:
    return tuple(sorted(set(_BUILTIN) | set(_registry)))


def get_family(name: str) -> Any:
    """The training family registered as ``name`` (the bundles' ``family``)."""
    if name not in _registry and name in _BUILTIN:
        register_family(importlib.import_module(_BUILTIN[name]))
    if name not in _registry:
        raise ValueError(f'training family "{name}" unknown; expected one of '
                         f'{", ".join(known_families())}')
    return _registry[name]


def family_of(model: str) -> str:
    """The family whose models include ``model`` (e.g. streamnet_s -> streamnet); a one-line
    ValueError listing every known model otherwise. A family whose model code does not import
    (a missing optional dependency) lists no models."""
    names = []
    for fam in known_families():
        try:
            models = tuple(get_family(fam).model_names())
        except ImportError:
            continue
        if model in models:
            return fam
        names += models
    raise ValueError(f'export: unknown model {model!r}; expected one of {", ".join(names)}')


def family_for_model(model: str) -> Any:
    """The training family module of a model name: ``family_for_model(name).export(...)``."""
    return get_family(family_of(model))
