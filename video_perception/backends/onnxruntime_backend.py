"""ONNX Runtime backend: the CUDA provider where present, else the CPU provider.

One session per graph and exported batch size (``bundle.batch_sizes``); a run picks the session
of its inputs' batch (``Backend.run`` has cut the batch into exported sizes)."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from video_perception.backends import qdq_cpu
from video_perception.backends.base import Backend, BackendError, BackendOptions, batch_of
from video_perception.bundle import Bundle

CUDA_PROVIDER = 'CUDAExecutionProvider'
CPU_PROVIDER = 'CPUExecutionProvider'


def available_providers() -> List[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def has_cuda() -> bool:
    return CUDA_PROVIDER in available_providers()


def choose_providers(device: str, available: List[str]) -> List[str]:
    """Providers for a device request; 'cuda' without the CUDA provider is an error."""
    if device == 'cpu':
        return [CPU_PROVIDER]
    if CUDA_PROVIDER in available:
        return [CUDA_PROVIDER, CPU_PROVIDER]
    if device == 'cuda':
        raise BackendError('onnxruntime: device "cuda" asked for but this onnxruntime has no '
                           f'CUDA provider (available: {available}); install onnxruntime-gpu')
    return [CPU_PROVIDER]


class OnnxRuntimeBackend(Backend):
    name = 'onnxruntime'
    concurrent_runs = True      # InferenceSession.run is thread-safe; one copy of the weights

    def __init__(self, bundle: Bundle, options: Optional[BackendOptions] = None):
        super().__init__(bundle, options)
        try:
            import onnxruntime
        except ImportError as exc:
            raise BackendError(f'onnxruntime is not installed ({exc})') from None
        providers = choose_providers(self.options.device, available_providers())
        self.device = 'cuda' if providers[0] == CUDA_PROVIDER else 'cpu'
        so = onnxruntime.SessionOptions()
        if self.options.threads > 0:
            so.intra_op_num_threads = int(self.options.threads)
            so.inter_op_num_threads = 1
        so.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sessions = {}          # (role, batch) -> InferenceSession
        for batch in bundle.batch_sizes:
            for role in bundle.graphs:
                path = bundle.graph(role, batch)
                source = path
                if bundle.raw.get('precision') == 'int8' and self.device == 'cpu' \
                        and qdq_cpu.wants_u8():   # x86 fuses int8 convs for u8 activations
                    source = qdq_cpu.activations_to_u8(path) or path
                try:
                    sess = onnxruntime.InferenceSession(source, sess_options=so,
                                                        providers=providers)
                except Exception as exc:  # ORT raises its own types for corrupt files
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    raise BackendError(f'onnxruntime cannot load {path}: {first}') from None
                # a named (dynamic) leading dimension takes any batch; a number must match
                lead = {i.shape[0] for i in sess.get_inputs() if isinstance(i.shape[0], int)}
                if lead - {batch}:
                    raise BackendError(f'{path}: inputs lead with {sorted(lead)}, expected '
                                       f'batch {batch} (model.json batch_sizes)')
                self.sessions[role, batch] = sess

    def _run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        sess = self.sessions[role, batch_of(inputs)]
        feed = {i.name: np.ascontiguousarray(inputs[i.name], dtype=np.float32)
                for i in sess.get_inputs()}
        names = [o.name for o in sess.get_outputs()]
        return dict(zip(names, sess.run(names, feed)))

    def close(self) -> None:
        self.sessions.clear()


def load(bundle: Bundle, device: str = 'auto',
         options: Optional[BackendOptions] = None) -> OnnxRuntimeBackend:
    options = options or BackendOptions()
    if device != options.device:
        options = BackendOptions(**{**options.__dict__, 'device': device})
    return OnnxRuntimeBackend(bundle, options)
