"""Raw graph outputs against a reference, element by element: Polygraphy's rule, one table.

An element passes when ``|got - ref| <= atol + rtol * |ref|`` (Polygraphy's ``--atol`` /
``--rtol`` with ``--check-error-stat elemwise``, the reference on the right, as
``numpy.isclose``); an output passes when every element does, and a comparison when every output
of the reference is there, with its shape, and nothing else is. NaN never passes; equal
infinities do.

The tolerances per precision are one table (``TOLERANCES``), measured with
``scripts/measure_output_tolerances.py`` (figures in the comment above the table).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """An element passes when |got - ref| <= atol + rtol * |ref|."""

    atol: float
    rtol: float

    def __post_init__(self):
        for name in ('atol', 'rtol'):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f'--{name} {value}: expected a finite tolerance >= 0')


# Measured by scripts/measure_output_tolerances.py on the shipped models/streamnet_tiny_synth
# (encoder features up to 15, forecast predictions up to 314: boxes in pixels), the shipped
# models/v2i_distill_tiny_vocalfolds (logits up to 6.7, boxes in [0, 1]) and a random-weight
# streamnet_tiny whose BatchNorm statistics take activations to 66 and predictions to 454
# (test_check_bundle.py), every output of every graph against the fp32 torch twin on
# check-bundle's frames. "Needed atol at rtol r" = max over elements of |got - ref| - r |ref|.
# * fp32 (ONNX Runtime CPU): needed atol at rtol 1e-3 <= 1.2e-5 (V2I: 0). atol 1e-4 leaves 8x
#   for thread counts and CPUs; the bundle's largest weight tensor x 1.1 needs >= 1.3e-3 (V2I
#   boxes) to 1.8 (StreamNet features): 13x and more above, caught on every bundle.
# * fp16 (torch twin all-half on CPU, V2I under CPU autocast fp16: a TensorRT FP16 engine keeps
#   some layers and its accumulators in fp32, so it errs less): needed atol at rtol 0.02 <= 0.11
#   (all-half StreamNet, features up to 66), 0.045 on its predictions, 0 for V2I. atol 0.2
#   leaves 2x. The x 1.1 StreamNet needs >= 0.85 there: caught; the x 1.1 V2I backbone tensor
#   moves logits by only 0.035 at rtol 0.02 after its frozen-BN backbone and transformer: NOT
#   caught at fp16 (it is at fp32).
# * int8 (ONNX Runtime static QDQ, per-channel int8 weights, MinMax calibration on two other
#   frames): needed atol at rtol 0.2 <= 2.9 on the shipped StreamNet, 0 on V2I, 4.4 on the
#   large-activation features and 20 on its predictions (per-tensor steps of ~3.6 at 454).
#   atol 5, rtol 0.2 passes the trained bundles; at int8 the raw rule only catches gross
#   errors (a swapped or broken graph: a x 1.1 tensor needs about the same atol as int8 itself),
#   so accuracy at int8 rests on the decoded detections and an evaluation. The int8 bundles
#   `export --int8` writes (training/quantize.py: symmetric activations, 7-bit per-channel
#   weights, calibrated from 8 frames of a rosbag2): largest |got - ref| 1.02 on the shipped
#   StreamNet's encoder features and 1.46 on its predictions over 4 held-out frames, so atol 5
#   at rtol 0.2 keeps a 3x margin (docs/BENCHMARKS.md, INT8).
TOLERANCES: Dict[str, Tolerance] = {
    'fp32': Tolerance(atol=1e-4, rtol=1e-3),
    'fp16': Tolerance(atol=0.2, rtol=0.02),
    'int8': Tolerance(atol=5.0, rtol=0.2),
}
PRECISIONS = tuple(TOLERANCES)


def tolerance_for(precision: str, atol: Optional[float] = None,
                  rtol: Optional[float] = None) -> Tolerance:
    """The table's tolerance for ``precision``, with ``atol`` / ``rtol`` overriding its values."""
    if precision not in TOLERANCES:
        raise ValueError(f'--precision {precision}: expected one of {", ".join(PRECISIONS)}')
    base = TOLERANCES[precision]
    return Tolerance(base.atol if atol is None else float(atol),
                     base.rtol if rtol is None else float(rtol))


@dataclasses.dataclass
class OutputDiff:
    """One output: its error statistics and verdict. ``problem`` names a missing or extra
    output or a shape mismatch (then the statistics are NaN and ``ok`` is False)."""

    name: str
    shape: Optional[tuple]
    max_abs: float
    median_abs: float
    max_rel: float
    median_rel: float
    n_bad: int
    n: int
    ok: bool
    problem: str = ''


def _not_compared(name: str, shape, problem: str) -> OutputDiff:
    nan = float('nan')
    return OutputDiff(name, shape, nan, nan, nan, nan, 0, 0, False, problem)


def compare_arrays(name: str, got, ref, tol: Tolerance) -> OutputDiff:
    """``got`` against the reference ``ref`` under ``tol``, in float64 (no overflow of a
    half-precision difference). The relative error of an element is |got - ref| / |ref|
    (0 where both are 0, inf where only ref is)."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        return _not_compared(name, tuple(ref.shape),
                             f'shape {tuple(got.shape)}, reference {tuple(ref.shape)}')
    a = got.astype(np.float64).ravel()
    b = ref.astype(np.float64).ravel()
    n = int(b.size)
    if n == 0:
        return OutputDiff(name, tuple(ref.shape), 0.0, 0.0, 0.0, 0.0, 0, 0, True)
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        diff = np.abs(a - b)
        same = a == b                          # equal infinities: no error
        diff[same] = 0.0
        # NaN compares False; an infinite reference passes only when equal (inf <= inf)
        good = same | (np.isfinite(b) & (diff <= tol.atol + tol.rtol * np.abs(b)))
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
        rel[np.isnan(rel)] = np.inf                # inf / inf: a difference, unbounded
    n_bad = int(n - np.count_nonzero(good))
    return OutputDiff(name, tuple(ref.shape), float(np.max(diff)), float(np.median(diff)),
                      float(np.max(rel)), float(np.median(rel)), n_bad, n, n_bad == 0)


def compare_outputs(got: Mapping[str, np.ndarray], ref: Mapping[str, np.ndarray],
                    tol: Tolerance) -> List[OutputDiff]:
    """Every reference output against ``got`` (reference order); a name ``got`` lacks or has
    beyond the reference is a failed row naming it."""
    diffs = []
    for name, value in ref.items():
        if name not in got:
            diffs.append(_not_compared(name, tuple(np.shape(value)), 'missing from the output'))
        else:
            diffs.append(compare_arrays(name, got[name], value, tol))
    for name in got:
        if name not in ref:
            diffs.append(_not_compared(name, tuple(np.shape(got[name])),
                                       'not an output of the reference'))
    return diffs


def _g(value: float) -> str:
    return 'nan' if value != value else f'{value:.3g}'


def format_table(diffs: Sequence[OutputDiff]) -> str:
    """A fixed-width table: one row per output, the error statistics and the verdict."""
    head = ('output', 'shape', 'max abs', 'median abs', 'max rel', 'median rel', 'bad / n', '')
    rows = [head]
    for d in diffs:
        shape = 'x'.join(str(s) for s in d.shape) if d.shape is not None else '?'
        verdict = 'ok' if d.ok else f'FAIL{": " + d.problem if d.problem else ""}'
        rows.append((d.name, shape, _g(d.max_abs), _g(d.median_abs), _g(d.max_rel),
                     _g(d.median_rel), f'{d.n_bad} / {d.n}', verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r[:-1], widths)) + '  ' + r[-1]
             for r in rows]
    return '\n'.join(line.rstrip() for line in lines)


def all_ok(diffs: Sequence[OutputDiff]) -> bool:
    return bool(diffs) and all(d.ok for d in diffs)
