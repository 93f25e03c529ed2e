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


def graph_input_names(bundle: Bundle, role: str) -> List[str]:
    """Input names of a graph in the order of the bundle contract (also the torch call order)."""
    if role == 'student' and (bundle.raw.get('input') or {}).get('valid_hw'):
        return ['image', 'valid_hw']       # the graph masks the letterbox padding (bundle.py)
    if role in ('encoder', 'student'):
        return ['image']
    if role == 'forecast':
        names = [f.name for f in bundle.features]
        for k in range(1, bundle.history_frames + 1):
            names += [f'{f.name}_h{k}' for f in bundle.features]
        return names
    raise BackendError(f'graph role "{role}" unknown; expected encoder, forecast or student')


def graph_output_names(bundle: Bundle, role: str) -> List[str]:
    if role == 'encoder':
        return [f.name for f in bundle.features]
    if role == 'forecast':
        return ['predictions']
    if role == 'student':
        return ['pred_logits', 'pred_boxes']
    raise BackendError(f'graph role "{role}" unknown; expected encoder, forecast or student')


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
        """Run graph ``role`` ('encoder', 'forecast', 'student') on float32 arrays by name."""
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
        b = self.bundle
        image = np.zeros((1, 3, b.height, b.width), np.float32)  # [1, 3, H, W]
        if role in ('encoder', 'student'):
            valid_hw = np.array([[b.height, b.width]], np.float32)            # [1, 2]
            return {'image': image, 'valid_hw': valid_hw}
        shapes = {f.name: f.shape for f in b.features}
        out = {}
        for name in graph_input_names(b, role):
            base = name.rsplit('_h', 1)[0] if name not in shapes else name
            out[name] = np.zeros(shapes[base], np.float32)
        return out

    def close(self) -> None:
        """Free the runtime's resources (GPU memory); the backend is unusable afterwards."""
