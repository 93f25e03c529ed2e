"""StreamNet evidence on the synthetic driving benchmark (issue 4, item 5): history vs none,
distilled vs undistilled, each scored on a held-out test split that no run saw or was selected on.

The runs are trained first (one thread each; see docs/STREAMNET_EVIDENCE.md for the commands)::

    video-perception train streamnet_tiny_synth          # N = 3 (also the shipped model)
    video-perception train streamnet_tiny_n0_synth       # N = 0, same recipe
    video-perception train still_teacher_tiny_synth      # stage 1 of distillation
    video-perception train streamnet_tiny_distill_synth  # N = 3 + asymmetric logits distillation
    make evidence-streamnet   # runs this script --out docs/streamnet_evidence_table.md

Each run's last checkpoint is exported (ONNX, as the node runs it) and replayed over the test split
with `video-perception replay`: streaming AP at the latency measured on this machine, and the
offline K-step sAP_1..6 (the output of frame t scored against frame t + k: a forecaster should
peak at k = 1). Whatever the outcome, the table is written as measured.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
TEST = REPO / 'runs' / 'data' / 'synth_driving_test'
RUNS = [  # (row label, experiment); export reads each run's model from its checkpoint
    ('N=0 (no history)', 'streamnet_tiny_n0_synth'),
    ('N=3', 'streamnet_tiny_synth'),
    ('N=3 + distillation', 'streamnet_tiny_distill_synth'),
]


def vp(*args) -> None:
    cmd = [str(BIN / 'video-perception')] + [str(a) for a in args]
    res = subprocess.run(cmd, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS='1'))
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()
        raise SystemExit(f'evidence: {" ".join(cmd[1:3])} failed: {tail[-1] if tail else ""}')


def evaluate(label: str, exp: str, work: pathlib.Path, test: pathlib.Path = TEST) -> dict:
    ckpt = REPO / 'runs' / exp / 'last.pt'
    if not ckpt.is_file():
        return {'label': label, 'exp': exp, 'missing': f'no checkpoint {ckpt}'}
    bundle, replay = work / exp / 'bundle', work / exp / 'replay'
    vp('export', '--checkpoint', ckpt, '--out', bundle, '--force')
    vp('replay', test / 'dataset.json', '--model', bundle, '--gt', test / 'dataset.json',
       '--backend', 'onnxruntime', '--threads', 1, '--out', replay, '--force')
    rep = json.loads((replay / 'report.json').read_text())
    meta = json.loads((bundle / 'model.json').read_text())['provenance']
    return {'label': label, 'exp': exp, 'streaming_AP': rep['AP'],
            'latency_ms': 1000 * rep['latency_s']['median'],
            'dropped': rep['replay']['dropped'], 'frames': rep['replay']['frames'],
            'offline_AP': rep['offline']['AP'],
            'sap_k': {int(k): v for k, v in rep['sap_k'].items()},
            'val': (meta.get('metrics') or {})}


def markdown(rows, seconds: float) -> str:
    ks = sorted(next((r['sap_k'] for r in rows if 'sap_k' in r), {}))
    head = ['run', 'experiment', 'streaming AP', 'latency med ms', 'dropped/frames',
            'offline AP (own frame)'] + [f'sAP_{k}' for k in ks]
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        if 'missing' in r:
            lines.append(f"| {r['label']} | `{r['exp']}` | {r['missing']} |")
            continue
        cells = [r['label'], f"`{r['exp']}`", f"{100 * r['streaming_AP']:.1f}",
                 f"{r['latency_ms']:.1f}", f"{r['dropped']}/{r['frames']}",
                 f"{100 * r['offline_AP']:.1f}"] + [f"{100 * r['sap_k'][k]:.1f}" for k in ks]
        lines.append('| ' + ' | '.join(cells) + ' |')
    date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    return '\n'.join(lines) + (
        f'\n\nAP in percent (COCO AP@[.5:.95], pycocotools). Measured on {date} in '
        f'{seconds:.0f} s by `python scripts/evidence_streamnet.py`.\n')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(REPO / 'docs' / 'streamnet_evidence_table.md'),
                   help='markdown table to write')
    p.add_argument('--json', default=str(REPO / 'runs' / 'evidence' / 'streamnet.json'))
    args = p.parse_args(argv)
    t0 = datetime.datetime.now()
    if not (TEST / 'dataset.json').is_file():  # seed 3: neither training (1) nor validation (2)
        vp('synth', 'driving', TEST, '--seed', 3, '--videos', 2)
    work = REPO / 'runs' / 'evidence'
    rows = [evaluate(label, exp, work) for label, exp in RUNS]
    pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.json).write_text(json.dumps(rows, indent=1))
    text = markdown(rows, (datetime.datetime.now() - t0).total_seconds())
    pathlib.Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
