"""torch backend: the bundle's builder (named by string) plus a state dict (weights_only=True).

The runtime never imports ``training``: ``model.json`` names a ``module:callable`` that returns
an ``nn.Module`` with one method per graph role (the family's ``TORCH_METHODS``; ``__call__``:
``forward``) taking the graphs' inputs positionally, in the bundle contract's order.
"""
from __future__ import annotations

import importlib
from typing import Dict, Optional

import numpy as np

from video_perception.backends.base import (Backend, BackendError, BackendOptions,
                                            graph_input_names, graph_output_names)
from video_perception.bundle import Bundle


def resolve_builder(spec: str):
    """'package.module:callable' -> the callable (one-line error when it is not there)."""
    if not spec or ':' not in spec:
        raise BackendError(f'torch builder "{spec}" must be "module:callable"')
    module_name, attr = spec.split(':', 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendError(f'torch builder module {module_name} cannot be imported ({exc})') \
            from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise BackendError(f'torch builder {spec}: {module_name} has no callable "{attr}"')
    return fn


def has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _as_list(out) -> list:
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (list, tuple)):
        return list(out)
    return [out]


class TorchBackend(Backend):
    name = 'torch'

    def __init__(self, bundle: Bundle, options: Optional[BackendOptions] = None):
        super().__init__(bundle, options)
        try:
            import torch
        except ImportError as exc:
            raise BackendError(f'torch is not installed ({exc})') from None
        self.torch = torch
        if not bundle.torch_builder or not bundle.torch_state_dict:
            raise BackendError(f'bundle {bundle.root} has no torch builder/state dict '
                               '(model.json "torch"); use backend onnxruntime')
        want_cuda = self.options.device in ('auto', 'cuda') and torch.cuda.is_available()
        if self.options.device == 'cuda' and not want_cuda:
            raise BackendError('torch: device "cuda" asked for but torch.cuda is not available')
        self.device = 'cuda' if want_cuda else 'cpu'
        if self.options.threads > 0 and self.device == 'cpu':
            torch.set_num_threads(int(self.options.threads))
        model = resolve_builder(bundle.torch_builder)(bundle)
        try:
            state = torch.load(bundle.torch_state_dict, map_location='cpu', weights_only=True)
        except Exception as exc:  # unpickling errors come in many types
            raise BackendError(f'torch cannot load {bundle.torch_state_dict}: '
                               f'{str(exc).splitlines()[0] if str(exc) else repr(exc)}') from None
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise BackendError(f'{bundle.torch_state_dict} does not fit the model built by '
                               f'{bundle.torch_builder}: {str(exc).splitlines()[0]}') from None
        self.model = model.eval().to(self.device)
        from video_perception.families import bundle_family
        names = getattr(bundle_family(bundle), 'TORCH_METHODS', {})
        self.methods = {role: getattr(model, names.get(role, '__call__'), None)
                        for role in bundle.graphs}
        for role in bundle.graphs:
            if self.methods.get(role) is None:
                raise BackendError(f'torch model from {bundle.torch_builder} has no method for '
                                   f'the "{role}" graph')

    def _run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        torch = self.torch
        args = [torch.from_numpy(np.ascontiguousarray(inputs[n], dtype=np.float32))
                .to(self.device) for n in graph_input_names(self.bundle, role)]
        with torch.inference_mode():
            outs = _as_list(self.methods[role](*args))
        names = graph_output_names(self.bundle, role)
        if len(outs) != len(names):
            raise BackendError(f'torch {role}: {len(outs)} outputs, expected {names}')
        return {n: o.detach().float().cpu().numpy() for n, o in zip(names, outs)}

    def close(self) -> None:
        self.model = None
        if self.device == 'cuda':
            self.torch.cuda.empty_cache()


def load(bundle: Bundle, device: str = 'auto',
         options: Optional[BackendOptions] = None) -> TorchBackend:
    options = options or BackendOptions()
    if device != options.device:
        options = BackendOptions(**{**options.__dict__, 'device': device})
    return TorchBackend(bundle, options)
