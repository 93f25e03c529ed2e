"""Memory of one bundle on one backend, measured in a fresh process.

    python scripts/bench_memory.py BUNDLE BACKEND THREADS

prints one JSON line: ``load_mib`` (resident set growth while the detector loads) and ``peak_mib``
(peak resident set, VmHWM, during load and two frames), both above the RSS after importing torch,
onnxruntime and the project (so the libraries themselves are not counted, but everything the model
needs is: weights, the runtime's arenas, activations). A fresh process, because in a long-running
one freed memory of earlier models is reused without the RSS moving.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Optional

MiB = 2.0 ** 20
HERE = os.path.dirname(os.path.abspath(__file__))


def _status_kb(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {field}')


def _child(bundle_path: str, backend: str, threads: int) -> dict:
    import numpy as np
    import onnxruntime  # noqa: F401 - imported before the baseline on purpose
    import torch
    import training.export  # noqa: F401 - the torch builder of the bundles
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    torch.set_num_threads(threads)
    base = _status_kb('VmRSS')
    det = load_detector(bundle_path, backend, BackendOptions(device='cpu', threads=threads),
                        log=lambda _: None, warmup=False)
    loaded = _status_kb('VmRSS')
    b = det.bundle
    frame = np.random.default_rng(0).integers(0, 256, (b.height, b.width, 3), dtype=np.uint8)
    for i in range(2):
        det.detect(frame, (i + 1) * 33_000_000)
    peak = _status_kb('VmHWM')
    return {'load_mib': (loaded - base) * 1024 / MiB, 'peak_mib': (peak - base) * 1024 / MiB}


def measure(bundle_path: str, backend: str, threads: int,
            timeout_s: float = 600.0) -> Optional[dict]:
    """Run this script in a fresh interpreter; None (and a line on stderr) if it failed."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(HERE), os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), bundle_path, backend,
                           str(threads)], capture_output=True, text=True, env=env,
                          timeout=timeout_s)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('{')]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ['no output'])[-1]
        print(f'bench memory: {bundle_path} on {backend} failed: {tail}', file=sys.stderr)
        return None
    return json.loads(lines[-1])


if __name__ == '__main__':
    if len(sys.argv) != 4:
        print('usage: bench_memory.py BUNDLE BACKEND THREADS', file=sys.stderr)
        sys.exit(2)
    print(json.dumps(_child(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
