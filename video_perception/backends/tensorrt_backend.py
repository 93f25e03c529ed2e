"""TensorRT 10 backend: build an engine from the bundle's ONNX once per machine, cache it, run it.

Lessons from Isaac ROS and Autoware (specs/ros2.md section 2): engines built elsewhere or by
another TensorRT break, so the cache key holds the ONNX sha256, the precision, the input shapes,
the TensorRT version and the GPU name; a build takes minutes, so a heartbeat line is logged while
it runs (``video-perception build-engine`` builds before driving); the first inferences are slow,
so ``warmup()`` runs before serving. ``tensorrt`` is imported only when this backend is used.
A bundle exported for several batch sizes gets one engine per graph and batch size (the batch is
in the cache key and the file name); a run picks the engine of its inputs' batch.

INT8 bundles (``precision: int8`` in model.json, training/quantize.py) carry explicit
QuantizeLinear / DequantizeLinear nodes: TensorRT 10 builds them as an explicitly quantised
network, which needs ``BuilderFlag.INT8`` on a weakly typed network (the Q/DQ scales fix every
int8 tensor; no calibrator); where the builder has no INT8 flag (TensorRT 11: strongly typed
networks only) the network is created ``STRONGLY_TYPED`` and the Q/DQ types decide. The engine's
precision ('int8', or 'int8+fp16' when the float-kept layers may run in half) is in its key.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from video_perception.backends.base import (Backend, BackendError, BackendOptions,
                                            batch_of, graph_inputs)
from video_perception.bundle import Bundle

LOG = logging.getLogger('video_perception.tensorrt')
WORKSPACE_BYTES = 1 << 30
PRECISIONS = ('fp32', 'fp16', 'int8', 'int8+fp16')
HEARTBEAT_S = 10.0


def import_tensorrt():
    """The tensorrt module, or BackendError saying why it is unusable here."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendError(f'TensorRT is not installed ({exc}); it comes from NVIDIA\'s index '
                           '(pip install tensorrt) on a machine with a CUDA GPU') from None
    major = int(str(tensorrt.__version__).split('.')[0])
    if major < 10:
        raise BackendError(f'TensorRT {tensorrt.__version__} found; this backend needs >= 10')
    return tensorrt


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def engine_cache_key(onnx_sha256: str, precision: str, input_shapes: Dict[str, Sequence[int]],
                     trt_version: str, gpu_name: str, batch: int = 1) -> str:
    """The cache key of an engine: every field whose change makes an old engine wrong or unsafe.

    Pure function (tested without TensorRT). Returns 24 hex digits.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision "{precision}": expected one of {", ".join(PRECISIONS)}')
    canonical = json.dumps({
        'onnx_sha256': onnx_sha256, 'precision': precision,
        'input_shapes': {k: [int(d) for d in v] for k, v in sorted(input_shapes.items())},
        'tensorrt': str(trt_version), 'gpu': str(gpu_name).strip(),
        # batch 1 keeps the key it had before batches existed: cached engines stay valid
        **({'batch': int(batch)} if batch != 1 else {}),
    }, sort_keys=True, separators=(',', ':'))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def input_shapes(bundle: Bundle, role: str, batch: int = 1) -> Dict[str, tuple]:
    """Static input shapes of a graph, from the bundle contract."""
    return dict(graph_inputs(bundle, role, batch))


def engine_label(role: str, batch: int = 1) -> str:
    """'encoder' for batch 1, 'encoder_b4' for the batch-4 engine."""
    return role if batch == 1 else f'{role}_b{batch}'


def engine_path(bundle: Bundle, role: str, precision: str, trt_version: str, gpu_name: str,
                cache_dir: str = '', batch: int = 1) -> str:
    """Where the engine of ``role`` at ``batch`` lives:
    ``<cache>/<role>[_b<B>]-<precision>-<key>.engine``."""
    key = engine_cache_key(file_sha256(bundle.graph(role, batch)), precision,
                           input_shapes(bundle, role, batch), trt_version, gpu_name, batch)
    cache = cache_dir or os.path.join(bundle.root, 'engines')
    return os.path.join(cache, f'{engine_label(role, batch)}-{precision}-{key}.engine')


def gpu_name() -> str:
    try:
        import torch
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(torch.cuda.current_device())
    except ImportError:
        pass
    return 'unknown-gpu'


class _Heartbeat:
    """Logs 'still building' every HEARTBEAT_S so a multi-minute build is not taken for a hang."""

    def __init__(self, what: str, log: Callable[[str], None]):
        self.what, self.log = what, log
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self.stop.wait(HEARTBEAT_S):
            self.log(f'still building {self.what}: {time.monotonic() - self.t0:.0f} s elapsed '
                     '(first builds take minutes; the engine is cached afterwards)')

    def __enter__(self):
        self.log(f'building {self.what} (this takes minutes on a Jetson)')
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.log(f'built {self.what} in {time.monotonic() - self.t0:.0f} s')


def bundle_precision(bundle: Bundle, fp16: bool) -> str:
    """The engines' precision: 'int8' ('int8+fp16') for an int8 bundle, else fp16 or fp32."""
    if bundle.raw.get('precision') == 'int8':
        return 'int8+fp16' if fp16 else 'int8'
    return 'fp16' if fp16 else 'fp32'


def _network_flags(trt, int8: bool) -> int:
    """create_network flags: 0 (explicit batch is TensorRT 10's only mode), or STRONGLY_TYPED
    for a Q/DQ graph on a TensorRT without the INT8 builder flag."""
    if int8 and not hasattr(trt.BuilderFlag, 'INT8'):
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


def build_engine(onnx_path: str, out_path: str, fp16: bool,
                 log: Callable[[str], None] = LOG.info, int8: bool = False) -> str:
    """Parse the ONNX, build a serialized engine and write it atomically to ``out_path``.
    ``int8``: the graph is explicitly quantised (Q/DQ nodes): INT8 flag or strongly typed."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = _network_flags(trt, int8)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    with open(onnx_path, 'rb') as f:
        if not parser.parse(f.read()):
            errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f'TensorRT cannot parse {onnx_path}: {errors}')
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if int8 and not _has_qdq(network, trt):
        raise BackendError(f'{onnx_path}: the bundle says int8 but the graph has no '
                           'QuantizeLinear / DequantizeLinear layers; re-export it with --int8')
    if int8 and not flags:
        config.set_flag(trt.BuilderFlag.INT8)   # explicit quantisation: the Q/DQ scales rule
    if fp16 and flags:
        log('strongly typed int8 network: fp16:=true has no effect (the graph sets the types)')
    elif fp16:
        # TensorRT 11 removed the flag (strongly typed networks only); say so in one line
        if not hasattr(trt.BuilderFlag, 'FP16'):
            raise BackendError(f'TensorRT {trt.__version__} has no FP16 builder flag; '
                               'set fp16:=false (or export a half-precision ONNX)')
        config.set_flag(trt.BuilderFlag.FP16)
    with _Heartbeat(f'TensorRT engine for {os.path.basename(onnx_path)}', log):
        plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(f'TensorRT failed to build an engine from {onnx_path} (see its log)')
    os.makedirs(os.path.dirname(out_path) or '.', exist_ok=True)
    tmp = out_path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(plan)
    os.replace(tmp, out_path)
    return out_path


def _has_qdq(network, trt) -> bool:
    """Whether the parsed network holds Q/DQ layers (TensorRT's own view of the graph)."""
    kinds = (trt.LayerType.QUANTIZE, trt.LayerType.DEQUANTIZE)
    return any(network.get_layer(i).type in kinds for i in range(network.num_layers))


def ensure_engines(bundle: Bundle, options: BackendOptions,
                   log: Callable[[str], None] = LOG.info) -> Dict[str, str]:
    """Build (or find in the cache) one engine per graph and batch size; returns
    ``engine_label(role, batch)`` -> engine path."""
    trt = import_tensorrt()
    precision = bundle_precision(bundle, options.fp16)
    gpu = gpu_name()
    paths = {}
    for batch in bundle.batch_sizes:
        for role in bundle.graphs:
            path = engine_path(bundle, role, precision, trt.__version__, gpu,
                               options.engine_cache_dir, batch)
            if os.path.isfile(path) and not options.force_engine_update:
                log(f'using cached TensorRT engine {path}')
            else:
                build_engine(bundle.graph(role, batch), path, options.fp16, log,
                             int8=precision.startswith('int8'))
            paths[engine_label(role, batch)] = path
    return paths


class TensorRTBackend(Backend):
    name = 'tensorrt'

    def __init__(self, bundle: Bundle, options: Optional[BackendOptions] = None,
                 log: Callable[[str], None] = LOG.info):
        super().__init__(bundle, options)
        trt = import_tensorrt()
        try:
            import torch
        except ImportError:
            torch = None
        if torch is None or not torch.cuda.is_available():
            raise BackendError('tensorrt backend: device buffers need torch with CUDA')
        self.torch, self.trt = torch, trt
        self.device = 'cuda'
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engines, self.contexts, self.io = {}, {}, {}    # by engine_label(role, batch)
        for label, path in ensure_engines(bundle, self.options, log).items():
            with open(path, 'rb') as f:
                engine = self.runtime.deserialize_cuda_engine(f.read())
            if engine is None:
                raise BackendError(f'TensorRT cannot load {path}; rerun with '
                                   'force_engine_update:=true')
            self.engines[label] = engine
            self.contexts[label] = engine.create_execution_context()
            self.io[label] = self._allocate(engine, self.contexts[label])
        self.stream = torch.cuda.Stream()

    def _allocate(self, engine, context) -> Dict[str, tuple]:
        """One static device tensor per I/O name (shapes are static by contract)."""
        torch, trt = self.torch, self.trt
        io = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.DataType.HALF \
                else torch.float32
            buf = torch.empty(shape, dtype=dtype, device='cuda')
            context.set_tensor_address(name, buf.data_ptr())
            io[name] = (engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT, buf)
        return io

    def _run(self, role: str, inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        torch = self.torch
        label = engine_label(role, batch_of(inputs))
        with torch.cuda.stream(self.stream):
            for name, (is_input, buf) in self.io[label].items():
                if is_input:
                    buf.copy_(torch.from_numpy(np.ascontiguousarray(inputs[name])), True)
            if not self.contexts[label].execute_async_v3(self.stream.cuda_stream):
                raise BackendError(f'TensorRT {label}: execute_async_v3 failed')
            outs = {n: buf.float().cpu() for n, (is_input, buf) in self.io[label].items()
                    if not is_input}
        self.stream.synchronize()
        return {n: t.numpy() for n, t in outs.items()}

    def close(self) -> None:
        self.contexts.clear()
        self.engines.clear()
        self.io.clear()


def load(bundle: Bundle, device: str = 'cuda',
         options: Optional[BackendOptions] = None) -> TensorRTBackend:
    if device == 'cpu':
        raise BackendError('tensorrt backend runs on a CUDA GPU only; device "cpu" asked for')
    return TensorRTBackend(bundle, options)


def available() -> Optional[str]:
    """None when TensorRT can run here, else the reason it cannot."""
    try:
        import_tensorrt()
    except BackendError as exc:
        return str(exc)
    try:
        import torch
    except ImportError:
        return 'torch (for CUDA buffers) is not installed'
    if not torch.cuda.is_available():
        return 'no CUDA GPU visible to torch'
    return None
