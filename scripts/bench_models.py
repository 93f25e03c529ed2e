"""Model benchmarks for ``scripts/bench.py``: latency per model and backend, StreamNet history
cost, V2I student against teacher. Each function returns (markdown, data)."""
from __future__ import annotations

import dataclasses
import os
from typing import List, Sequence, Tuple

import numpy as np

import bench_memory as memory
from bench_common import count_flops, fmt, md_table, measure_interleaved, summary_ms


@dataclasses.dataclass
class ModelCase:
    """One model at one input size; ``reps``/``warmup`` sized to its cost on 2 CPU cores."""
    name: str
    height: int
    width: int
    reps: int
    warmup: int = 1

    @property
    def size(self) -> str:
        return f'{self.height}x{self.width}'


def ensure_bundle(name: str, height: int, width: int, cache_dir: str,
                  batch_sizes: Sequence[int] = (1,)) -> str:
    """A bundle of ``name`` at HxW with random weights, exported once into ``cache_dir``
    (with its graphs for ``batch_sizes`` too, in a folder of its own).

    The export's own checks (ONNX Runtime vs torch, TensorRT ops) are skipped here: they are the
    export step's tests. A folder whose model.json has another input size is exported again.
    """
    from training.families import family_for_model
    from video_perception.bundle import BundleError, load_bundle
    from video_perception.outdir import output_dir
    batches = tuple(sorted(set(batch_sizes) | {1}))
    suffix = '_b' + '-'.join(str(b) for b in batches) if batches != (1,) else ''
    path = os.path.join(cache_dir, f'{name}_{height}x{width}{suffix}')
    try:
        b = load_bundle(path)
        if (b.height, b.width, b.variant, b.batch_sizes) == (height, width, name, batches):
            return path
    except (BundleError, OSError, ValueError):
        pass
    # written into a hidden .NAME.partial-PID, renamed onto `path` only once complete (a stop
    # mid-export removes it), so a later run never takes a half-exported bundle as the cache
    with output_dir(path, force=True, what='bench bundle') as tmp:
        family_for_model(name).export(name, str(tmp), size=(height, width), check=False,
                                      batch_sizes=batches)
    return path


def _frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A [h, w, 3] uint8 frame of noise (already at the network size: no resize in model time)."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _detector_call(det, frame):
    """One ``detect`` through the real detector; returns its model time (pre/post excluded)."""
    state = {'stamp': 0}

    def call() -> float:
        state['stamp'] += 33_000_000
        det.detect(frame, state['stamp'])
        return det.model_ms / 1000.0
    return call


def bench_latency(cases: List[ModelCase], backends: List[str], threads: int, cache_dir: str,
                  peak_gflops: float) -> Tuple[str, dict]:
    """Section 2 (and the FLOP/s of section 1): model time per frame for each case x backend."""
    from tqdm import tqdm
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.families import get_family
    rows, data = [], {}
    opts = BackendOptions(device='cpu', threads=threads)
    for case in tqdm(cases, desc='latency per model', unit='model'):
        path = ensure_bundle(case.name, case.height, case.width, cache_dir)
        bundle = load_bundle(path)
        cls = get_family(bundle.family).Detector
        frame = _frame(case.height, case.width)
        dets = {be: cls(bundle, load_backend(bundle, be, opts, log=lambda _: None))
                for be in backends}
        times = measure_interleaved({be: _detector_call(d, frame) for be, d in dets.items()},
                                    case.reps, case.warmup, desc=f'{case.name} {case.size}')
        flops = None
        if 'torch' in dets:
            # FlopCounterMode's module tracker hooks tensors that require grad; parameters used
            # directly as activations (DETR's query embeddings) have no grad_fn in inference mode
            for prm in dets['torch'].backend.model.parameters():
                prm.requires_grad_(False)
            flops = count_flops(_detector_call(dets['torch'], frame))
        for be, det in dets.items():
            det.close()
        for be in backends:
            s = summary_ms(times[be])
            mem = memory.measure(path, be, threads) or {}
            gflops = flops / 1e9 if flops else None
            achieved = gflops / (s['median'] / 1000.0) if gflops else None
            data[f'{case.name}/{be}'] = dict(s, gflop=gflops, achieved_gflops=achieved, **mem)
            rows.append([case.name, case.size, be, fmt(s['median']), fmt(s['p95']),
                         fmt(s['min']), f'{s["spread"] * 100:.0f}%', s['n'], fmt(gflops, 2),
                         fmt(achieved, 1), fmt(100 * achieved / peak_gflops if achieved else None),
                         fmt(mem.get('load_mib'), 0), fmt(mem.get('peak_mib'), 0)])
        rows.append([case.name, case.size, 'tensorrt', 'not available on this machine (no '
                     'tensorrt package, no CUDA GPU)'] + [''] * 9)
    headers = ['model', 'input HxW', 'backend', 'median ms', 'p95 ms', 'min ms', 'p95/median-1',
               'n', 'GFLOP/frame', 'achieved GFLOP/s', '% of matmul peak', 'RSS load MiB',
               'peak RSS MiB']
    text = md_table(headers, rows)
    return text, data


def _streamnet_pair(name: str):
    """(N=3 model, N=0 model) of a StreamNet size, eval mode, RepConv fused (as deployed)."""
    import torch
    from training.models.streamnet import zoo
    from training.models.streamnet.blocks import fuse_repconv
    torch.manual_seed(0)
    m3 = zoo.MODELS[name]().eval()
    m0 = zoo.MODELS[name](long_groups=()).eval()
    for m in (m3, m0):
        fuse_repconv(m)
    return m3, m0


HISTORY_CACHED = 'N=3 + buffered reductions'
HISTORY_PER_SLOT = 'N=3 + buffered maps, long convs per slot'
HISTORY_RECOMPUTE = 'N=3 recompute 4 frames'


def bench_history(cases: List[ModelCase], threads: int) -> Tuple[str, dict]:
    """Section 3: per-frame cost of N=3 buffering the long-path reductions (the default), N=3
    buffering the neck maps and recomputing the long convs per slot (the buffer before), N=0,
    and N=3 re-encoding all 4 frames (the released offline forward)."""
    import torch
    from training.models.streamnet.model import StreamingRunner
    torch.set_num_threads(threads)
    rows, data = [], {}
    for case in cases:
        m3, m0 = _streamnet_pair(case.name)
        gen = torch.Generator().manual_seed(0)
        frames = [torch.rand(1, 3, case.height, case.width, generator=gen) * 255
                  for _ in range(4)]
        runners = {HISTORY_CACHED: StreamingRunner(m3, m3.cfg.history_step),
                   HISTORY_PER_SLOT: StreamingRunner(m3, m3.cfg.history_step, cached=False)}

        def n0():
            with torch.inference_mode():
                m0.forecast(m0.encode(frames[0]), [])

        def buffered(runner):
            def call():
                with torch.inference_mode():
                    runner(frames[0])
            return call

        def recompute():
            with torch.inference_mode():        # the released code: encode all 4 frames
                m3(frames[0], frames[1:])
        variants = {'N=0': n0, **{k: buffered(r) for k, r in runners.items()},
                    HISTORY_RECOMPUTE: recompute}
        for runner in runners.values():
            runner(frames[0])                   # primes the buffer: counted runs read history
        flops = {k: count_flops(f) for k, f in variants.items()}
        times = measure_interleaved(variants, case.reps, case.warmup,
                                    desc=f'history {case.name}')
        stats = {k: summary_ms(v) for k, v in times.items()}
        base = stats['N=0']['median']
        for k, s in stats.items():
            ratio = s['median'] / base
            # paired: each repetition's ratio (same moment, same load), then their median
            paired = float(np.median(np.array(times[k]) / np.array(times['N=0'])))
            flop_ratio = flops[k] / flops['N=0']
            data[f'{case.name}/{k}'] = dict(s, ratio=ratio, paired_ratio=paired,
                                            gflop=flops[k] / 1e9, flop_ratio=flop_ratio)
            rows.append([case.name, case.size, k, fmt(s['median']), fmt(s['p95']),
                         f'{s["spread"] * 100:.0f}%', s['n'], f'{ratio:.3f}', f'{paired:.3f}',
                         f'{flops[k] / 1e9:.4f}', f'{flop_ratio:.4f}'])
    headers = ['model', 'input HxW', 'variant', 'median ms', 'p95 ms', 'p95/median-1', 'n',
               'ratio to N=0 (medians)', 'paired ratio (median of per-rep ratios)',
               'GFLOP/frame', 'FLOP ratio to N=0']
    return md_table(headers, rows), data


def bench_v2i(groups: List[Tuple[List[ModelCase], ModelCase]], threads: int,
              frames: int = 3) -> Tuple[str, dict]:
    """Section 4: students (one frame) against the video teacher (a T-frame clip per frame)."""
    import torch
    from training.models.detr import zoo
    torch.set_num_threads(threads)
    rows, data = [], {}
    for students, teacher in groups:
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        variants = {}
        for case in students + [teacher]:
            model = zoo.build(case.name).eval()
            if case is teacher:
                x = torch.rand(1, frames, 3, case.height, case.width, generator=gen)

                def call(m=model, x=x):
                    with torch.inference_mode():
                        m(x)
            else:
                x = torch.rand(1, 3, case.height, case.width, generator=gen)

                def call(m=model, x=x):
                    with torch.inference_mode():
                        m.forward_export(x)
            variants[case.name] = call
        times = measure_interleaved(variants, teacher.reps, teacher.warmup,
                                    desc=f'v2i {teacher.name}')
        t_med = summary_ms(times[teacher.name])['median']
        for case in students + [teacher]:
            s = summary_ms(times[case.name])
            ratio = t_med / s['median']
            data[case.name] = dict(s, teacher_over_model=ratio)
            role = f'teacher (T={frames} frames)' if case is teacher else 'student (1 frame)'
            rows.append([case.name, role, case.size, fmt(s['median']), fmt(s['p95']),
                         f'{s["spread"] * 100:.0f}%', s['n'], f'{ratio:.2f}'])
        variants.clear()
    headers = ['model', 'role', 'input HxW', 'median ms', 'p95 ms', 'p95/median-1', 'n',
               'teacher / this (medians)']
    return md_table(headers, rows), data
