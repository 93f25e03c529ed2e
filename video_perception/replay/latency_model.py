"""Runtime drawn from a recorded distribution, as the sAP toolkit's simulated detector does.

The streaming-perception toolkit (Li, Wang and Ramanan 2020, mtli/sAP ``srt_det.py`` and
``util/runtime_dist.py``) does not time the detector during a simulation: it seeds numpy's
global generator once (``np.random.seed(seed)``) for the whole dataset, then draws the runtime of
every frame it starts independently, with replacement, from the empirical runtimes measured on
the target hardware (``np.random.choice(samples / perf_factor)``), in processing order, one
video after the other. ``SampledLatency`` is that model, draw for draw: a legacy
``np.random.RandomState(seed)`` (the same Mersenne Twister stream as ``np.random.seed``) shared
by all the streams of a run, ``choice`` over the recorded seconds divided by ``speed`` (the
toolkit's ``perf_factor``: 2 = hardware twice as fast), rounded to integer ns for the simulation
(``simulate``). With the same seed and runtime file, a replay draws the same runtimes as
``srt_det.py --seed`` and processes the same frames (``test_replay_sap_toolkit.py`` holds the
toolkit's own numbers). A speed sweep uses common random numbers: every speed starts the draws
over, so the k-th processed frame of every speed gets the k-th draw, scaled.

Latency file (``--latency FILE``), any of:

* JSON ``{"unit": "ms" | "s", "latencies": [...]}`` plus any metadata: what ``replay`` writes
  as ``latency.json`` (the wall time of every detector run on the machine it ran on);
* a JSON list of numbers, in milliseconds;
* the toolkit's runtime distribution as JSON, ``{"type": "empirical", "samples": [...]}`` in
  seconds (its files are pickles: load and dump them with ``json`` once; a pickle is not read
  here because unpickling runs code);
* CSV or text: one number per line in milliseconds, an optional header line; with several
  columns, the one named ``latency_ms``.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import pathlib
import numpy as np

from video_perception.replay.engine import LatencyModel

_UNITS = {'ms': 1e-3, 's': 1.0}


def _checked(values, path, scale: float) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64).reshape(-1) * scale
    except (TypeError, ValueError):
        raise ValueError(f'latency file {path}: expected numbers') from None
    if x.size == 0:
        raise ValueError(f'latency file {path}: no latencies')
    bad = np.flatnonzero(~(np.isfinite(x) & (x >= 0)))
    if bad.size:     # the first bad one named, through the validation layer's wording
        from video_perception.validate import number
        number(f'latency file {path}: value {int(bad[0])}', float(x[bad[0]]) / scale, lo=0.0,
               error=ValueError, want='latency')
    return x


def _from_json(data, path) -> np.ndarray:
    if isinstance(data, list):
        return _checked(data, path, _UNITS['ms'])
    if isinstance(data, dict) and data.get('type') == 'empirical' and 'samples' in data:
        return _checked(data['samples'], path, 1.0)  # the toolkit's seconds
    if isinstance(data, dict) and 'latencies' in data:
        unit = data.get('unit', 'ms')
        if unit not in _UNITS:
            raise ValueError(f'latency file {path}: unit {unit!r}; expected "ms" or "s"')
        return _checked(data['latencies'], path, _UNITS[unit])
    raise ValueError(f'latency file {path}: expected {{"unit", "latencies"}}, a list of ms or '
                     '{"type": "empirical", "samples"}')


def _from_csv(text: str, path) -> np.ndarray:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f'latency file {path}: no latencies')
    column = 0
    try:
        float(rows[0][0])
    except ValueError:  # a header line
        header = [c.strip().lower() for c in rows.pop(0)]
        if len(header) > 1:
            if 'latency_ms' not in header:
                raise ValueError(f'latency file {path}: several columns and none named '
                                 f'latency_ms ({header})')
            column = header.index('latency_ms')
    try:
        values = [float(r[column]) for r in rows]
    except (IndexError, ValueError):
        raise ValueError(f'latency file {path}: expected one number (ms) per line') from None
    return _checked(values, path, _UNITS['ms'])


def load_latency_file(path) -> np.ndarray:
    """The latencies of a latency file, in seconds ([N] float64, N >= 1)."""
    path = pathlib.Path(path)
    text = path.read_text(encoding='utf-8')
    if path.suffix.lower() == '.json':
        try:
            return _from_json(json.loads(text), path)
        except json.JSONDecodeError as e:
            raise ValueError(f'latency file {path}: not JSON ({e.msg} at line {e.lineno})')
    return _from_csv(text, path)


def latency_file_dict(latencies_s, **metadata) -> dict:
    """The JSON object of a latency file (what ``replay`` writes as ``latency.json``)."""
    ms = [round(1000.0 * float(x), 4) for x in latencies_s]
    return dict(metadata, unit='ms', latencies=ms)


@dataclasses.dataclass
class SampledLatency(LatencyModel):
    """Each processed frame's runtime drawn i.i.d. from ``samples_s``, then divided by
    ``speed``; ``seed`` fixes the sequence (a copy, ``dataclasses.replace``, starts it over)."""

    samples_s: tuple = ()
    seed: int = 0
    source: str = ''

    def __post_init__(self):
        super().__post_init__()
        if not len(self.samples_s):
            raise ValueError('--latency: a sampled latency needs at least one recorded value')
        if not 0 <= int(self.seed) < 2 ** 32:   # what np.random.seed takes
            raise ValueError(f'--seed {self.seed}: expected an integer in [0, 2**32)')
        # the toolkit divides the samples once (Empirical.__init__), then draws among them
        self._samples = np.asarray(self.samples_s, dtype=np.float64) / self.speed
        self._rng = np.random.RandomState(self.seed)

    def latency_ns(self, wall_s: float) -> int:
        # the measured wall time is ignored: the recorded hardware's runtime replaces it
        return int(round(float(self._rng.choice(self._samples)) * 1e9))


def parse_latency(text: str, speed: float = 1.0, seed: int = 0) -> LatencyModel:
    """``--latency``: 'measured', seconds (e.g. 0.05) or a latency file (sampled, ``seed``)."""
    text = str(text).strip()
    path = pathlib.Path(text)
    if path.is_file():
        return SampledLatency(None, speed, tuple(load_latency_file(path)), seed, str(path))
    if path.suffix.lower() in ('.json', '.csv', '.txt') or '/' in text:
        raise ValueError(f'--latency {text}: no such latency file')
    try:
        return LatencyModel.parse(text, speed)
    except ValueError:
        raise ValueError(f"--latency {text!r}: expected 'measured', seconds >= 0 (e.g. 0.05) "
                         'or a latency file (JSON or CSV of per-frame ms)') from None


def describe(model: LatencyModel) -> str:
    """How a report names the latency model (the speed is reported on its own)."""
    if isinstance(model, SampledLatency):
        return f'sampled from {model.source or "recorded values"} (seed {model.seed})'
    return 'measured' if model.fixed_s is None else f'{model.fixed_s:g} s'


def parse_speeds(text: str) -> list[float]:
    """``--speed``: one factor or a comma-separated list (a sweep), each > 0, no repeats."""
    try:
        speeds = [float(s) for s in str(text).split(',') if s.strip()]
    except ValueError:
        raise ValueError(f'--speed {text}: expected factors > 0, e.g. 1 or 0.5,1,2,4,8') from None
    if not speeds or not all(np.isfinite(s) and s > 0 for s in speeds):
        raise ValueError(f'--speed {text}: expected factors > 0, e.g. 1 or 0.5,1,2,4,8')
    if len(set(speeds)) != len(speeds):
        raise ValueError(f'--speed {text}: a factor is repeated')
    return speeds


def with_speed(model: LatencyModel, speed: float) -> LatencyModel:
    """The same model at another speed; a sampled one starts its draws over (same seed)."""
    return dataclasses.replace(model, speed=speed)
