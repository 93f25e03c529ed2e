"""The replay's streaming simulation against the streaming-perception toolkit's own numbers.

``fixtures/sap_srt_det.json`` holds what mtli/sAP ``det/srt_det.py`` wrote for a few synthetic
datasets (several videos, a 1-frame one included; fps 30 and 10; perf factors 1 and 1.5): the
frames it processed, their finish times and the runtimes it drew after ``np.random.seed(seed)``.
The same runtime distribution, seed and speed through ``run_replay`` (and the sweep's
``reschedule``) must process the same frames at the same times with the same draws, video after
video: one draw more or less anywhere (an extra draw at a video's end) shifts every later
video's runtimes.

The toolkit discards a result that finishes after its video (``t_total = n / fps``); the replay
keeps it (no frame is scored against it), so the comparison leaves those out.
"""
import json
import pathlib

import numpy as np
import pytest

from video_perception.detections import Detections
from video_perception.replay.engine import LatencyModel, run_replay
from video_perception.replay.latency_model import parse_latency
from video_perception.replay.sweep import reschedule
from video_perception.sources import SourceFrame

CASES = json.loads((pathlib.Path(__file__).parent / 'fixtures' / 'sap_srt_det.json')
                   .read_text())['cases']


class EmptyDetector:
    """Stands in for the detector the toolkit reads from --cached-res: no detections."""

    def __init__(self):
        self.seen = []

    def detect(self, frame, stamp_ns):
        self.seen.append(stamp_ns)
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.int64))

    def reset(self, reason=''):
        pass


def _frames(case):
    """Every video from stamp 0 at index / fps (as a folder source stamps it)."""
    out, index = [], 0
    img = np.zeros((2, 2, 3), np.uint8)
    for sid, n in enumerate(case['n_frames']):
        for j in range(n):
            ns = int(round(j * 1e9 / case['fps']))
            out.append(SourceFrame(index, ns, ns, 'cam', lambda: img, segment=sid))
            index += 1
    return out


def _by_video(case, outputs):
    """video -> [(frame within the video, finish_ns, runtime_ns)] of the outputs that finish
    before the video's end (what the toolkit keeps)."""
    offsets = np.cumsum([0] + case['n_frames'])
    got = {}
    for o in outputs:
        t_total = int(round(case['n_frames'][o.stream] * 1e9 / case['fps']))
        if o.finish_ns < t_total:
            got.setdefault(o.stream, []).append(
                (o.index - int(offsets[o.stream]), o.finish_ns, o.finish_ns - o.start_ns))
    return got


@pytest.mark.parametrize('name', sorted(CASES))
def test_replay_draws_and_schedules_as_the_toolkit(name, tmp_path):
    case = CASES[name]
    path = tmp_path / 'runtime.json'   # the toolkit's runtime pickle, dumped as JSON
    path.write_text(json.dumps({'type': 'empirical', 'samples': case['samples']}))
    model = lambda: parse_latency(str(path), case['perf_factor'], case['seed'])  # noqa: E731
    frames = _frames(case)
    direct = run_replay(frames, EmptyDetector(), model())
    ceiling = run_replay(frames, EmptyDetector(), LatencyModel(0.0))
    again = reschedule(ceiling, model())   # the sweep's path for a history-free detector
    assert direct.streams == len(case['n_frames'])
    for run in (direct, again):
        got = _by_video(case, run.outputs)
        for sid, want in enumerate(case['sequences']):
            # the toolkit decides in float seconds, the replay in ns: no finish of these cases
            # is within a microsecond of a frame arrival, so rounding cannot flip a decision
            assert want['min_margin_s'] > 1e-6
            mine = got.get(sid, [])
            assert [f for f, _, _ in mine] == want['input_fidx'], (name, sid)
            assert [r for _, _, r in mine] == [int(round(x * 1e9)) for x in want['runtime']]
            np.testing.assert_allclose([t / 1e9 for _, t, _ in mine], want['timestamps'],
                                       rtol=0, atol=1e-8)
    assert sum(len(s['input_fidx']) for s in case['sequences']) > 10
