"""Pick and load a backend by name; ``auto`` takes the fastest one present and says why."""
from __future__ import annotations

from typing import Callable, List, Optional, Tuple

from video_perception.backends import onnxruntime_backend, tensorrt_backend, torch_backend
from video_perception.backends.base import (BACKEND_NAMES, DEVICES, Backend, BackendError,
                                            BackendOptions)
from video_perception.bundle import Bundle


def auto_order(bundle: Bundle, device: str = 'auto') -> List[Tuple[str, str, str]]:
    """Candidates for ``auto`` as (backend, device, why), fastest first.

    tensorrt > onnxruntime-cuda > torch-cuda > onnxruntime-cpu; a candidate that cannot run here
    is left out and the reason kept in ``why`` of the next one.
    """
    out, skipped = [], []
    if device != 'cpu':
        reason = tensorrt_backend.available()
        if reason is None:
            out.append(('tensorrt', 'cuda', 'TensorRT and a CUDA GPU are present'))
        else:
            skipped.append(f'tensorrt: {reason}')
        if onnxruntime_backend.has_cuda():
            out.append(('onnxruntime', 'cuda', 'onnxruntime has the CUDA provider'))
        else:
            skipped.append('onnxruntime-cuda: no CUDAExecutionProvider')
        if torch_backend.has_cuda() and bundle.torch_builder and bundle.torch_state_dict:
            out.append(('torch', 'cuda', 'torch sees a CUDA GPU and the bundle has a state dict'))
        else:
            skipped.append('torch-cuda: no CUDA torch or no state dict in the bundle')
    if device == 'cuda':
        # explicit means explicit: a user who asked for CUDA never gets the CPU
        if not out:
            raise BackendError(f'device "cuda" asked for but no backend can run on CUDA here '
                               f'({"; ".join(skipped)}); expected a CUDA GPU with TensorRT, '
                               'onnxruntime-gpu or CUDA torch (device:=auto falls back to the '
                               'CPU)')
        return out
    why = 'fallback on CPU' + (f' ({"; ".join(skipped)})' if skipped else '')
    out.append(('onnxruntime', 'cpu', why))
    return out


def check_request(backend: str, device: str) -> None:
    """Refuse, before anything loads, a backend and device that cannot go together."""
    from video_perception import validate
    if backend not in BACKEND_NAMES:
        raise BackendError(f'backend "{backend}" unknown; expected one of {BACKEND_NAMES}')
    validate.choice('device', device, DEVICES, error=BackendError)
    if backend == 'tensorrt' and device == 'cpu':
        raise BackendError('backend "tensorrt" runs on a CUDA GPU only but device "cpu" was '
                           'asked for; expected device auto or cuda, or another backend')


def load_backend(bundle: Bundle, backend: str = 'auto', options: Optional[BackendOptions] = None,
                 log: Callable[[str], None] = print) -> Backend:
    """Load ``backend`` ('auto', 'tensorrt', 'onnxruntime', 'torch') for ``bundle``.

    With 'auto' a candidate that fails to load is logged and the next one tried, so a broken
    CUDA install degrades to CPU instead of stopping the robot (with device 'auto' only: device
    'cuda' tries the CUDA candidates and raises when none loads); a named backend that fails
    raises.
    """
    options = options or BackendOptions()
    check_request(backend, options.device)
    loaders = {'tensorrt': lambda dev: tensorrt_backend.TensorRTBackend(
                   bundle, _with(options, dev), log=log),
               'onnxruntime': lambda dev: onnxruntime_backend.OnnxRuntimeBackend(
                   bundle, _with(options, dev)),
               'torch': lambda dev: torch_backend.TorchBackend(bundle, _with(options, dev))}
    if backend != 'auto':
        result = loaders[backend](options.device)
        log(f'backend: {result.describe()} (asked for by name)')
        return result
    errors = []
    for name, dev, why in auto_order(bundle, options.device):
        try:
            result = loaders[name](dev)
        except (BackendError, RuntimeError, OSError) as exc:
            # auto must degrade, not stop: a broken CUDA/TensorRT install falls back to the CPU
            errors.append(f'{name}-{dev}: {exc}')
            log(f'backend auto: {name} on {dev} failed to load ({exc}); trying the next one')
            continue
        log(f'backend auto: {result.describe()}: {why}')
        return result
    raise BackendError('no backend could load the bundle: ' + ' | '.join(errors))


def _with(options: BackendOptions, device: str) -> BackendOptions:
    return BackendOptions(**{**options.__dict__, 'device': device})
