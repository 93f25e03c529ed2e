"""Latency statistics: median, p95, max and mean.

Percentiles use numpy's default method 'linear' (the C = 1 interpolation of Hyndman and Fan's
type 7, as ``numpy.percentile(x, q, method='linear')``), stated here so that numbers from other
tools can be compared.
"""
from __future__ import annotations

import numpy as np


def latency_stats(latencies) -> dict[str, float]:
    """Summary of latencies (any unit; the result is in the same unit).

    Returns {'n', 'median', 'p95', 'max', 'mean'}; NaN values (and n = 0) when empty.
    """
    x = np.asarray(list(latencies), dtype=np.float64).reshape(-1)
    if x.size and not np.isfinite(x).all():
        raise ValueError('latency: expected finite values')
    if x.size == 0:
        nan = float('nan')
        return {'n': 0, 'median': nan, 'p95': nan, 'max': nan, 'mean': nan}
    return {'n': int(x.size),
            'median': float(np.percentile(x, 50, method='linear')),
            'p95': float(np.percentile(x, 95, method='linear')),
            'max': float(x.max()),
            'mean': float(x.mean())}


def latencies_from_results(gt, results, fps: float | None = None) -> np.ndarray:
    """finish_time - input frame timestamp of every timed output, in seconds."""
    return np.array([t - gt.timestamp(i, fps) for i, t in results.outputs.items()
                     if t is not None], dtype=np.float64)
