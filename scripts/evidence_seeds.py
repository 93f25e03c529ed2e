"""Multi-seed evidence (issue 13, item 9): does distillation pay where it must, and does history?

Two studies, three seeds each, every run one thread, trained from scratch:

* **V2I on the ambiguous-lesion benchmark** (``synth lesion_ambiguous``: lesions fade for 1-3
  frames, one-frame look-alikes): the video teacher, the plain single-frame student and the
  student distilled with TFD, CQD and both. Student seed s is distilled from teacher seed s.
  Scored by ``training.v2i_eval`` on the test split (best checkpoint chosen on the validation
  split), and on the test frames where a lesion is faded.
* **StreamNet on the synthetic driving benchmark**: N = 0 against N = 3, and N = 3 distilled
  from the still teacher (one still teacher, seed 0, for all three students) against N = 3
  alone. Scored by ``scripts/evidence_streamnet.py``'s export + replay (streaming AP, sAP_k) on
  a 6-video test split (seed 3). Half the epochs of ``streamnet_tiny_synth`` (12), so that the
  nine runs fit a CPU afternoon: an under-trained regime, read it as such.

Usage::

    python scripts/evidence_seeds.py data                # the three splits of both benchmarks
    python scripts/evidence_seeds.py train --workers 2   # skips finished runs; resumable
    python scripts/evidence_seeds.py report --out docs/evidence_seeds_table.md

Runs go to runs/<name>/ (a ``.finished`` marker after a clean exit), logs to runs/evidence_logs/.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, Sequence

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNS = REPO / 'runs'
LOGS = RUNS / 'evidence_logs'
SEEDS = (0, 1, 2)
# StreamNet: half the 24 epochs of streamnet_tiny_synth, so nine runs fit a CPU afternoon
STREAMNET_SHORT = ('max_epoch=12', 'no_aug_epochs=2', 'num_workers=0')
V2I_ROWS = [  # (row label, run prefix, experiment, extra overrides)
    ('teacher (3-frame clips)', 'amb_teacher', 'v2i_teacher_tiny_ambiguous', ()),
    ('student, plain', 'amb_student', 'v2i_student_tiny_ambiguous', ()),
    ('student + TFD', 'amb_tfd', 'v2i_distill_tiny_ambiguous', ('use_cqd=False',)),
    ('student + CQD', 'amb_cqd', 'v2i_distill_tiny_ambiguous', ('use_tfd=False',)),
    ('student + TFD + CQD', 'amb_distill', 'v2i_distill_tiny_ambiguous', ()),
]
STREAMNET_ROWS = [
    ('N=0 (no history)', 'sn_n0', 'streamnet_tiny_n0_synth', ()),
    ('N=3', 'sn_n3', 'streamnet_tiny_synth', ()),
    ('N=3 + distillation', 'sn_distill', 'streamnet_tiny_distill_synth',
     ('teacher_checkpoint=runs/sn_still/best.pt',)),
]
DATA = [  # (preset, folder, seed, videos, frames)
    ('lesion_ambiguous', 'v2i_data/lesion_ambiguous_train', 1, 24, 30),
    ('lesion_ambiguous', 'v2i_data/lesion_ambiguous_val', 2, 4, 30),
    ('lesion_ambiguous', 'v2i_data/lesion_ambiguous_test', 3, 8, 30),
    ('driving', 'data/synth_driving_train', 1, 8, 60),
    ('driving', 'data/synth_driving_val', 2, 2, 60),
    # seed 3 like evidence_streamnet.py's test split (its 2 videos are the first 2 of these),
    # 6 videos: three times the frames, so the AP of one run moves less with the split
    ('driving', 'data/synth_driving_test6', 3, 6, 60),
]


def jobs() -> List[dict]:
    """Every training run, in an order where each run's teacher comes first."""
    out = [{'name': 'sn_still', 'exp': 'still_teacher_tiny_synth',
            'args': ('seed=0',) + STREAMNET_SHORT, 'after': ()}]
    for s in SEEDS:
        for _, prefix, exp, extra in V2I_ROWS:
            args = (f'seed={s}', 'num_workers=0') + tuple(extra)
            after = ()
            if exp == 'v2i_distill_tiny_ambiguous':
                args += (f'teacher_checkpoint=runs/amb_teacher_s{s}/best.pt',)
                after = (f'amb_teacher_s{s}',)
            out.append({'name': f'{prefix}_s{s}', 'exp': exp, 'args': args, 'after': after})
        for _, prefix, exp, extra in STREAMNET_ROWS:
            out.append({'name': f'{prefix}_s{s}', 'exp': exp,
                        'args': (f'seed={s}',) + STREAMNET_SHORT + tuple(extra),
                        'after': ('sn_still',) if prefix == 'sn_distill' else ()})
    return out


def finished(name: str) -> bool:
    return (RUNS / name / '.finished').is_file()


def train_one(job: dict) -> int:
    while not all(finished(d) for d in job['after']):
        if any((LOGS / f'{d}.failed').exists() for d in job['after']):
            return 1
        time.sleep(10)
    LOGS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'training.train', job['exp'], f'exp_name={job["name"]}',
           'resume=auto', *job['args']]
    t0 = time.time()
    with open(LOGS / f'{job["name"]}.log', 'w') as log:
        rc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS='1')).returncode
    if rc == 0:
        (RUNS / job['name'] / '.finished').write_text(f'{time.time() - t0:.0f} s\n')
    else:
        (LOGS / f'{job["name"]}.failed').write_text(f'rc {rc}\n')
    print(f'{job["name"]}: rc {rc} in {time.time() - t0:.0f} s', flush=True)
    return rc


def cmd_train(args) -> int:
    todo = [j for j in jobs() if not finished(j['name'])
            and (not args.only or j['name'].startswith(tuple(args.only)))]
    print(f'{len(todo)} runs to train with {args.workers} workers', flush=True)
    with ThreadPoolExecutor(args.workers) as pool:
        return max(pool.map(train_one, todo), default=0)


def cmd_data(args) -> int:
    for preset, folder, seed, videos, frames in DATA:
        out = RUNS / folder
        if (out / 'dataset.json').is_file():
            continue
        subprocess.run([sys.executable, '-m', 'training.data.synth', preset, str(out),
                        '--seed', str(seed), '--videos', str(videos), '--frames', str(frames)],
                       cwd=REPO, check=True)
    return 0


# ---- report --------------------------------------------------------------------------------

def evaluate_v2i(name: str, exp: str) -> dict:
    out = RUNS / 'evidence_results' / f'{name}.json'
    if not out.is_file():
        subprocess.run([sys.executable, '-m', 'training.v2i_eval', exp,
                        str(RUNS / name / 'best.pt'), '--split', 'test', '--out', str(out)],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, OMP_NUM_THREADS='1'))
    return json.loads(out.read_text())


def evaluate_streamnet(name: str, exp: str) -> dict:
    out = RUNS / 'evidence_results' / f'{name}.json'
    if not out.is_file():
        from evidence_streamnet import evaluate   # beside this script (sys.path[0])
        res = evaluate(name, name, RUNS / 'evidence_work', RUNS / 'data' / 'synth_driving_test6')
        out.write_text(json.dumps(res))
    return json.loads(out.read_text())


def spread(values: Sequence[float], scale: float = 100.0) -> str:
    """'mean ± sample std (v0 / v1 / v2)' in percent."""
    vals = [scale * v for v in values]
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f'{statistics.mean(vals):.1f} ± {sd:.1f} ({" / ".join(f"{v:.1f}" for v in vals)})'


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(r) + ' |' for r in rows])


def seed_table(rows, evaluate, columns) -> str:
    """One line per row of ``rows``: each column's 'mean ± std (per seed)' over finished seeds;
    ``columns``: (header, getter of one result)."""
    lines = []
    for label, prefix, exp, _ in rows:
        names = [f'{prefix}_s{s}' for s in SEEDS if finished(f'{prefix}_s{s}')]
        if not names:
            lines.append([label, 'not run'] + [''] * (len(columns) - 1))
            continue
        res = [evaluate(n, exp) for n in names]
        lines.append([f'{label} (n={len(res)})'] + [spread([get(r) for r in res])
                                                    for _, get in columns])
    return table(['run'] + [h for h, _ in columns], lines)


def v2i_table() -> str:
    def metric(split, key):
        return lambda r: r[split][key]
    return seed_table(V2I_ROWS, evaluate_v2i, [
        ('AP', metric('test@0.5', 'AP')), ('AP50', metric('test@0.5', 'AP50')),
        ('AP75', metric('test@0.5', 'AP75')),
        ('AP50 faded frames', metric('test_faded@0.5', 'AP50')),
        ('best F1 centroid (oracle)', metric('test@0.5', 'best_f1_centroid')),
        ('F1 centroid @ val thr', metric('test@val_thr', 'f1_centroid'))])


def streamnet_table() -> str:
    def sap(k):  # JSON turned the int keys of sap_k into strings
        return lambda r: {int(j): v for j, v in r['sap_k'].items()}[k]
    return seed_table(STREAMNET_ROWS, evaluate_streamnet, [
        ('streaming AP', lambda r: r['streaming_AP']),
        ('offline AP (own frame)', lambda r: r['offline_AP']),
        ('sAP_1', sap(1)), ('sAP_2', sap(2)), ('sAP_3', sap(3))])


def cmd_report(args) -> int:
    (RUNS / 'evidence_results').mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    text = (f'### V2I, ambiguous-lesion benchmark, test split (percent, mean ± std over seeds, '
            f'per-seed values in brackets)\n\n{v2i_table()}\n\n'
            f'### StreamNet, synthetic driving benchmark, test split (percent)\n\n'
            f'{streamnet_table()}\n\nMeasured on {stamp} by `python scripts/evidence_seeds.py '
            f'report`.\n')
    if args.out:
        pathlib.Path(args.out).write_text(text)
    print(text)
    return 0


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    sub.add_parser('data', help='generate the benchmarks (skips existing ones)')
    t = sub.add_parser('train', help='train every run not yet finished')
    t.add_argument('--workers', type=int, default=2, help='runs at once (one thread each)')
    t.add_argument('--only', nargs='*', default=(), help='run-name prefixes to train')
    r = sub.add_parser('report', help='evaluate finished runs and print the tables')
    r.add_argument('--out', help='also write the markdown here')
    args = p.parse_args(argv)
    return {'data': cmd_data, 'train': cmd_train, 'report': cmd_report}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
