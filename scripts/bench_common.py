"""Shared parts of ``scripts/bench.py``: the machine, interleaved timing, FLOPs, memory, tables.

Timing: every comparison is a dict of variants measured in one loop. Each repetition runs every
variant once, in an order rotated by one each repetition, so a burst of load from another process
hits all variants alike; warm-up calls are made first and discarded. A variant's callable may
return its own duration in seconds (e.g. the detector's model time, which excludes pre- and
post-processing); otherwise the wall time of the call is used.

FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` (aten-level: convolution, mm/addmm/bmm,
scaled-dot-product attention; 2 FLOPs per multiply-accumulate). Element-wise ops, ``grid_sample``
and normalisation are not counted, so achieved FLOP/s is a lower bound for models that spend time
there (deformable attention, DCN).

Memory is measured in a fresh process per model: ``bench_memory.py``.
"""
from __future__ import annotations

import os
import platform
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

from video_perception.eval.latency import latency_stats


# -- the machine ----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def machine_lines(threads: int) -> List[str]:
    """Markdown bullet lines describing this machine and the software measured."""
    import cv2
    import onnxruntime
    import torch
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    mem_kb = None
    try:
        with open('/proc/meminfo') as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    return [
        f'- CPU: {cpu_model()}; {os.cpu_count()} logical cores ({affinity} usable by this '
        f'process); memory {mem_kb / 2 ** 20:.1f} GiB' if mem_kb else f'- CPU: {cpu_model()}',
        f'- OS: {platform.platform()}; Python {platform.python_version()}',
        f'- torch {torch.__version__} (intra-op threads {torch.get_num_threads()}, inter-op '
        f'{torch.get_num_interop_threads()}); onnxruntime {onnxruntime.__version__} '
        f'(intra-op threads {threads}, providers '
        f'{", ".join(onnxruntime.get_available_providers())}); numpy {np.__version__}; '
        f'opencv {cv2.__version__}',
        f'- Threads: torch.set_num_threads({threads}), ONNX Runtime intra_op_num_threads={threads}'
        f' (spinning off: `session.intra_op.allow_spinning=0`); OMP_NUM_THREADS='
        f'{os.environ.get("OMP_NUM_THREADS", "unset")}',
        f'- Load average at start (1, 5, 15 min): {load}',
        f'- GPU: {gpu_line()}',
    ]


def gpu_line() -> str:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return 'none (torch.cuda.is_available() is False): TensorRT and CUDA rows are not measured'


def no_ort_spinning() -> None:
    """Make every later ONNX Runtime session park its idle intra-op threads instead of spinning.

    ORT's workers spin for a while after each run; in a benchmark that interleaves ORT and torch
    in one process they would steal the cores from the torch call that follows. The nodes keep
    ORT's default (only ORT runs there). Patched here, not in the backend, so the backend code
    measured is the nodes' own.
    """
    import onnxruntime
    base = onnxruntime.SessionOptions
    if getattr(base, '_bench_no_spin', False):
        return

    class SessionOptions(base):
        _bench_no_spin = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.add_session_config_entry('session.intra_op.allow_spinning', '0')
    onnxruntime.SessionOptions = SessionOptions


# -- timing ---------------------------------------------------------------------------------------
def measure_interleaved(variants: Dict[str, Callable[[], Optional[float]]], reps: int,
                        warmup: int = 1, desc: str = 'bench') -> Dict[str, List[float]]:
    """Seconds per call of each variant over ``reps`` interleaved repetitions (warm-up excluded).

    Args:
        variants: name -> callable; a callable may return its own duration in seconds (a
                Python float); any other return value is ignored and the wall time used.
        reps: timed repetitions of every variant.
        warmup: untimed calls of every variant before the first timed one.
    """
    if reps < 1:
        raise ValueError(f'reps {reps}: expected >= 1')
    names = list(variants)
    times: Dict[str, List[float]] = {n: [] for n in names}
    with tqdm(total=(warmup + reps) * len(names), desc=desc, unit='call', leave=False) as bar:
        for _ in range(warmup):
            for n in names:
                variants[n]()
                bar.update(1)
        for r in range(reps):
            k = r % len(names)
            for n in names[k:] + names[:k]:
                t0 = time.perf_counter()
                own = variants[n]()
                wall = time.perf_counter() - t0
                times[n].append(own if isinstance(own, float) else wall)
                bar.update(1)
    return times


def summary_ms(seconds: Sequence[float]) -> dict:
    """latency_stats in milliseconds plus min and the relative spread (p95 / median - 1)."""
    s = latency_stats([x * 1000.0 for x in seconds])
    s['min'] = min(seconds) * 1000.0 if len(seconds) else float('nan')
    s['spread'] = s['p95'] / s['median'] - 1.0 if s['n'] and s['median'] > 0 else float('nan')
    return s


def _ort_matmul(n: int, threads: int, shape=None):
    """An ONNX Runtime session of one fp32 MatMul [n, n] x [n, n] (or [m, k] x [k, n] for
    ``shape`` = (m, k, n)) and its call."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper
    m, k, n = shape or (n, n, n)
    graph = helper.make_graph(
        [helper.make_node('MatMul', ['a', 'b'], ['c'])], 'mm',
        [helper.make_tensor_value_info('a', TensorProto.FLOAT, [m, k]),
         helper.make_tensor_value_info('b', TensorProto.FLOAT, [k, n])],
        [helper.make_tensor_value_info('c', TensorProto.FLOAT, [m, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], ir_version=8)
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    sess = onnxruntime.InferenceSession(model.SerializeToString(), so,
                                        providers=['CPUExecutionProvider'])
    rng = np.random.default_rng(0)
    feeds = {'a': rng.random((m, k), np.float32), 'b': rng.random((k, n), np.float32)}
    del onnx
    return lambda: sess.run(None, feeds)


def matmul_peak(sizes: Sequence[int] = (2048, 1024), reps: int = 10, threads: int = 2) -> dict:
    """fp32 n x n matrix products (2 n^3 FLOPs a call) by torch ``mm`` and by ONNX Runtime's
    MatMul (MLAS), interleaved over ``sizes``: per (library, size) the best and median GFLOP/s,
    and ``best_gflops`` over all of them, the peak.

    The smaller size is there because a call short enough to run inside one scheduler time slice
    shows what a core can do even when other processes share it; ONNX Runtime is there because
    torch's CPU wheels multiply with MKL, which may not take its fastest path on a non-Intel CPU.
    """
    import torch
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    variants = {}
    for n in sizes:
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        variants[('torch', n)] = (lambda a=a, b=b: torch.mm(a, b))
        variants[('onnxruntime', n)] = _ort_matmul(n, threads)
    times = measure_interleaved(variants, reps, warmup=2, desc='matmul peak')
    per = {}
    for (lib, n), t in times.items():
        flops = 2.0 * n ** 3
        per[f'{lib} {n}^3'] = {'best_gflops': flops / min(t) / 1e9,
                               'median_gflops': flops / float(np.median(t)) / 1e9,
                               'median_ms': float(np.median(t)) * 1000.0}
    return {'reps': reps, 'sizes': per,
            'best_gflops': max(p['best_gflops'] for p in per.values())}


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` as counted by FlopCounterMode (see the module docstring)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    mode = FlopCounterMode(display=False)
    with torch.inference_mode(), mode:
        fn()
    return int(mode.get_total_flops())


# -- output ---------------------------------------------------------------------------------------
def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table; floats should be formatted by the caller."""
    lines = ['| ' + ' | '.join(str(h) for h in headers) + ' |',
             '|' + '|'.join('---' for _ in headers) + '|']
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f'table row has {len(row)} cells, expected {len(headers)}')
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return '\n'.join(lines)


def fmt(x: Optional[float], digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return 'n/a'
    return f'{x:.{digits}f}'


def atomic_write(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.bench-', suffix='.md', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
