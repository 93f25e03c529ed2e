"""Detector families: one module per family, one table from family name to module.

A family (``streamnet.py``, ``v2i.py``) is everything the runtime needs to know about one kind of
model: its detector class (pre/post-processing, any state it keeps), the graphs of its bundles
and their input/output names, the output kinds it decodes and the node parameters it adds. The
shared runtime (bundle loading, backends, node, replay, bench) asks this registry and never names
a family; ``docs/ARCHITECTURE.md`` shows how to add one.

Families from outside the package register with ``register_family(module)``, or are named in
the environment variable ``VIDEO_PERCEPTION_FAMILIES`` (comma-separated importable modules),
which a node process started by ``python -m video_perception.node_runner --family NAME`` reads.
"""
from __future__ import annotations

import importlib
import os
from typing import Any, Dict, List, Protocol, Tuple, Union

from video_perception.errors import BundleError

ENV_VAR = 'VIDEO_PERCEPTION_FAMILIES'
# The built-in families, imported on first use (the one place the runtime names them).
_BUILTIN = {'streamnet': 'video_perception.families.streamnet',
            'v2i': 'video_perception.families.v2i'}
_REQUIRED = ('NAME', 'GRAPHS', 'OUTPUT_KINDS', 'Detector', 'graph_inputs', 'graph_outputs',
             'parameter_specs')
_registry: Dict[str, Any] = {}
_env_loaded = ''


class Family(Protocol):
    """What a family module offers (module attributes; a class instance works too)."""

    NAME: str                       # the bundle's "family" in model.json
    GRAPHS: Tuple[str, ...]         # graph roles a bundle must name, e.g. ('student',)
    OUTPUT_KINDS: Tuple[str, ...]   # accepted "output.kind" values
    HISTORY: bool                   # bundles must list "history.features" (buffered features)
    TORCH_METHODS: Dict[str, str]   # role -> method of the torch module ('__call__': forward)
    Detector: type                  # Detector(bundle, backend), see detector.Detector

    def graph_inputs(self, bundle, role: str) -> Dict[str, tuple]:
        """Input name -> static shape, in the order the torch module takes them."""

    def graph_outputs(self, bundle, role: str) -> List[str]:
        """Output names, in the order the torch module returns them."""

    def parameter_specs(self) -> list:
        """Node parameters of this family (a spec named as a common one replaces it)."""


class UnknownFamilyError(BundleError):
    """A family name no module registered; the message lists the known ones."""


def register_family(family: Any, replace: bool = False) -> Any:
    """Add a family (a module or object with the ``Family`` attributes) under its ``NAME``."""
    missing = [a for a in _REQUIRED if not hasattr(family, a)]
    if missing:
        raise TypeError(f'family {getattr(family, "__name__", family)!r} lacks {missing}')
    name = str(family.NAME)
    old = _registry.get(name)
    if old is not None and old is not family and not replace:
        by = getattr(old, '__name__', old)
        raise ValueError(f'family "{name}" is already registered (by {by}); pass replace=True '
                         'to replace it')
    _registry[name] = family
    return family


def _load_env() -> None:
    """Import the modules named in VIDEO_PERCEPTION_FAMILIES (again if the variable changed)."""
    global _env_loaded
    spec = os.environ.get(ENV_VAR, '')
    if spec == _env_loaded:
        return
    for module_name in filter(None, (m.strip() for m in spec.split(','))):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UnknownFamilyError(f'{ENV_VAR}: cannot import family module {module_name} '
                                     f'({exc})') from None
        if getattr(module, 'NAME', None) not in _registry:
            register_family(module)
    _env_loaded = spec


def known_families() -> Tuple[str, ...]:
    _load_env()
    return tuple(sorted(set(_BUILTIN) | set(_registry)))


def get_family(name: str, what: str = 'model') -> Family:
    """The family registered as ``name``; an unknown one is an error listing the known ones."""
    if name not in _registry:
        if name in _BUILTIN:
            register_family(importlib.import_module(_BUILTIN[name]))
        else:
            _load_env()
    family = _registry.get(name)
    if family is None:
        raise UnknownFamilyError(f'{what} family "{name}" unknown; expected one of '
                                 f'{", ".join(known_families())}')
    return family


def resolve(family: Union[str, Family], what: str = 'model') -> Family:
    """A family object as it is (resolved once by its caller), a name through ``get_family``."""
    return get_family(family, what) if isinstance(family, str) else family


def bundle_family(bundle) -> Family:
    """The family a bundle was loaded with (``Bundle.family_module``; the registry's entry for
    a bundle built by hand)."""
    fam = getattr(bundle, 'family_module', None)
    return fam if fam is not None else get_family(bundle.family)
