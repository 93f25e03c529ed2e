"""The inference backend interface: run a bundle's graphs by role on named numpy arrays.

Every backend (TensorRT, ONNX Runtime, torch) takes the same inputs and returns the same outputs as
the bundle's ONNX graphs (``bundle.py``), so the detectors never know which one runs them.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Dict, List, Optional

import numpy as np

from video_perception.bundle import Bundle

BACKEND_NAMES = ('auto', 'tensorrt', 'onnxruntime', 'torch')
DEVICES = ('auto', 'cpu', 'cuda')


class BackendError(RuntimeError):
    """A backend that cannot be loaded or run; the message says which and why."""


@dataclasses.dataclass
class BackendOptions:
    """How to load a backend (plain config; every field has a node parameter of the same name).

    device: 'auto' (GPU where present), 'cpu' or 'cuda'.
    threads: CPU threads per inference (0 = the runtime's default).
    fp16: TensorRT builds a half-precision engine.
    engine_cache_dir: where TensorRT engines are cached ('' = ``<bundle>/engines``).
    force_engine_update: rebuild the TensorRT engine even when a cached one matches.
    """

    device: str = 'auto'
    threads: int = 0
    fp16: bool = True
    engine_cache_dir: str = ''
    force_engine_update: bool = False


def graph_inputs(bundle: Bundle, role: str) -> Dict[str, tuple]:
    """Input name -> static shape of a graph, in the order of the bundle contract (also the
    torch call order), as the bundle's family states it."""
    from video_perception.families import get_family
    family = get_family(bundle.family)
    if role not in family.GRAPHS:
        raise BackendError(f'graph role "{role}" unknown; expected one of {family.GRAPHS}')
    return family.graph_inputs(bundle, role)


def graph_input_names(bundle: Bundle, role: str) -> List[str]:
    return list(graph_inputs(bundle, role))


def graph_output_names(bundle: Bundle, role: str) -> List[str]:
    from video_perception.families import get_family
    graph_inputs(bundle, role)          # the role check
    return get_family(bundle.family).graph_outputs(bundle, role)


def graph_roles(bundle: Bundle) -> List[str]:
    return list(bundle.graphs)


def check_inputs(bundle: Bundle, role: str, inputs: Dict[str, np.ndarray]) -> None:
    """Raise a one-line ValueError when inputs miss a name the graph needs."""
    missing = [n for n in graph_input_names(bundle, role) if n not in inputs]
    if missing:
        raise ValueError(f'{role} graph: missing inputs {missing} (got {sorted(inputs)})')


class Backend(abc.ABC):
    """Runs the graphs of one bundle. Not thread-safe: one worker thread calls it."""

    name: str = 'backend'

    def __init__(self, bundle: Bundle, options: Optional[BackendOptions] = None):
        self.bundle = bundle
        self.options = options or BackendOptions()
        self.device = 'cpu'

    @abc.abstractmethod
    def _run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]: ...

    def run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run graph ``role`` (one of the bundle family's GRAPHS) on float32 arrays by name."""
        if role not in self.bundle.graphs:
            raise BackendError(f'bundle {self.bundle.root} has no "{role}" graph '
                               f'(it has {sorted(self.bundle.graphs)})')
        check_inputs(self.bundle, role, inputs)
        return self._run(role, inputs)

    def describe(self) -> str:
        """One line for logs and diagnostics: backend and device."""
        return f'{self.name} ({self.device})'

    def warmup(self, iterations: int = 2) -> None:
        """Run every graph on zeros so the first real frame does not pay for lazy init."""
        for _ in range(iterations):
            for role in self.bundle.graphs:
                self._run(role, self.zero_inputs(role))

    def zero_inputs(self, role: str) -> Dict[str, np.ndarray]:
        return {n: np.zeros(shape, np.float32)
                for n, shape in graph_inputs(self.bundle, role).items()}

    def close(self) -> None:
        """Free the runtime's resources (GPU memory); the backend is unusable afterwards."""
