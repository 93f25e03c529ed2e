"""The inference backend interface: run a bundle's graphs by role on named numpy arrays.

Every backend (TensorRT, ONNX Runtime, torch) takes the same inputs and returns the same outputs as
the bundle's ONNX graphs (``bundle.py``), so the detectors never know which one runs them.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

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


def graph_inputs(bundle: Bundle, role: str, batch: int = 1) -> Dict[str, tuple]:
    """Input name -> static shape of a graph, in the order of the bundle contract (also the
    torch call order), as the bundle's family states it; ``batch`` replaces the leading 1."""
    from video_perception.families import bundle_family
    family = bundle_family(bundle)
    if role not in family.GRAPHS:
        raise BackendError(f'graph role "{role}" unknown; expected one of {family.GRAPHS}')
    return {n: (batch,) + tuple(s[1:]) for n, s in family.graph_inputs(bundle, role).items()}


def batch_plan(n: int, sizes: Sequence[int]) -> List[Tuple[int, int, int]]:
    """Cut a batch of ``n`` frames into runs of the exported ``sizes``: (start, count, size)
    chunks; the largest size while more frames remain, then the smallest size that holds the
    rest (padded), so 3 frames with sizes (1, 2, 4) run as one batch of 4 with one pad."""
    out, start = [], 0
    biggest = max(sizes)
    while start < n:
        left = n - start
        size = biggest if left >= biggest else min(s for s in sizes if s >= left)
        count = min(left, size)
        out.append((start, count, size))
        start += count
    return out


def batch_of(inputs: Dict[str, np.ndarray]) -> int:
    """The leading dimension shared by a graph's inputs (the number of frames)."""
    sizes = {int(np.shape(v)[0]) for v in inputs.values()}
    if len(sizes) != 1:
        raise ValueError(f'graph inputs disagree on the batch size: {sorted(sizes)}')
    return sizes.pop()


def graph_input_names(bundle: Bundle, role: str) -> List[str]:
    return list(graph_inputs(bundle, role))


def graph_output_names(bundle: Bundle, role: str) -> List[str]:
    from video_perception.families import bundle_family
    graph_inputs(bundle, role)          # the role check
    return bundle_family(bundle).graph_outputs(bundle, role)


def graph_roles(bundle: Bundle) -> List[str]:
    return list(bundle.graphs)


def check_inputs(bundle: Bundle, role: str, inputs: Dict[str, np.ndarray]) -> None:
    """Raise a one-line ValueError when inputs miss a name the graph needs."""
    missing = [n for n in graph_input_names(bundle, role) if n not in inputs]
    if missing:
        raise ValueError(f'{role} graph: missing inputs {missing} (got {sorted(inputs)})')


class Backend(abc.ABC):
    """Runs the graphs of one bundle. Not thread-safe (one worker thread calls it) unless
    ``concurrent_runs``: then several threads may call ``run`` at once (multi_camera's
    per-camera workers)."""

    name: str = 'backend'
    concurrent_runs = False

    def __init__(self, bundle: Bundle, options: Optional[BackendOptions] = None):
        self.bundle = bundle
        self.options = options or BackendOptions()
        self.device = 'cpu'

    @abc.abstractmethod
    def _run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]: ...

    def run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Run graph ``role`` (one of the bundle family's GRAPHS) on float32 arrays by name.

        Inputs lead with the number of frames B; B not among the bundle's ``batch_sizes`` runs
        as chunks of exported sizes (``batch_plan``: a short chunk is padded with copies of its
        last frame, whose outputs are dropped), and the outputs lead with B again."""
        if role not in self.bundle.graphs:
            raise BackendError(f'bundle {self.bundle.root} has no "{role}" graph '
                               f'(it has {sorted(self.bundle.graphs)})')
        check_inputs(self.bundle, role, inputs)
        n = batch_of(inputs)
        if n in self.bundle.batch_sizes:
            return self._run(role, inputs)
        parts = []
        for start, count, size in batch_plan(n, self.bundle.batch_sizes):
            chunk = {k: _padded(v[start:start + count], size) for k, v in inputs.items()}
            parts.append({k: v[:count] for k, v in self._run(role, chunk).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def describe(self) -> str:
        """One line for logs and diagnostics: backend and device."""
        return f'{self.name} ({self.device})'

    def warmup(self, iterations: int = 2) -> None:
        """Run every graph, at every batch size, on zeros so the first real frame (or batch)
        does not pay for lazy init."""
        for _ in range(iterations):
            for batch in self.bundle.batch_sizes:
                for role in self.bundle.graphs:
                    self._run(role, self.zero_inputs(role, batch))

    def zero_inputs(self, role: str, batch: int = 1) -> Dict[str, np.ndarray]:
        return {n: np.zeros(shape, np.float32)
                for n, shape in graph_inputs(self.bundle, role, batch).items()}

    def close(self) -> None:
        """Free the runtime's resources (GPU memory); the backend is unusable afterwards."""


def _padded(array: np.ndarray, size: int) -> np.ndarray:
    """[n, ...] -> [size, ...], the rows after n copies of the last one (n <= size)."""
    n = array.shape[0]
    if n == size:
        return array
    return np.concatenate([array, np.repeat(array[-1:], size - n, axis=0)])
