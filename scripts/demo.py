"""``make demo``: the whole chain on this machine, no GPU, no ROS installation.

1. data: a held-out synthetic driving clip (``video-perception synth``, a seed the shipped model
   never saw) as a rosbag2, the real VocalFolds endoscopy sequence patient1/seq2 (held out by the
   shipped V2I recipe) as a rosbag2, and the real Argoverse-HD frames (no ground truth here);
2. live: ``streamnet_node`` and ``v2i_node`` run as separate processes over the DDS transport
   (a random ``ROS_DOMAIN_ID``, localhost only); ``video-perception publish`` plays each clip at
   its frame rate; a recorder in this process (a DDS participant, as ``echo`` is) stamps every
   camera frame and every Detection2DArray when it arrives;
3. replay: ``video-perception replay`` runs the same clips through the same bundles offline, in
   the streaming simulation (measured latency, dropped frames);
4. one table: streaming AP (live, replay), offline AP, lesion F1, latency median/p95, frames
   dropped; plots, annotated videos and reports in one folder.

Missing pieces (a bundle, the shared data) make their rows say why; any step that fails prints one
line and the demo exits non-zero. Every process it starts is stopped on exit or Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import shutil
import signal
import sys
import time
import traceback

# scripts/ is on sys.path as this script's folder; training and video_perception are the
# installed package (`make setup` installs it editable).
from demo_report import live_report, make_summary_figure, replay_run, table_rows
from demo_steps import ClipSpec, DemoError, Procs, Unavailable, live_run, prepare_clips

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent

MARKER = '.video_perception_demo'


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='make demo', description=__doc__.split('\n')[0])
    p.add_argument('--out', default='demo_out', help='output folder (replaced on each run)')
    p.add_argument('--quick', action='store_true', help='shorter clips (a smoke run)')
    p.add_argument('--models', default=str(REPO / 'models'), help='folder of the bundles')
    p.add_argument('--data', default=os.environ.get('VIDEO_PERCEPTION_DATA',
                                                    str(REPO.parent / 'shared' / 'data')),
                   help='the real sample data (vocalfolds, argoverse_hd_sample)')
    return p


def fresh_out(out: pathlib.Path) -> pathlib.Path:
    """Empties ``out`` when a previous demo made it; refuses any other non-empty folder."""
    if out.exists():
        if not out.is_dir():
            raise DemoError(f'--out {out} is a file; expected a folder for the demo output')
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise DemoError(f'--out {out} is not empty and was not made by the demo; '
                            'choose another folder')
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text('written by scripts/demo.py\n')
    return out


def demo_env() -> dict:
    env = dict(os.environ)
    # a domain of its own: two demos (or a robot) on the same network never see each other
    env['ROS_DOMAIN_ID'] = str(random.Random().randint(1, 101))
    env['ROS_LOCALHOST_ONLY'] = '1'
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['VIDEO_PERCEPTION_TRANSPORT'] = 'dds'
    env['OMP_NUM_THREADS'] = '1'
    env['PYTHONUNBUFFERED'] = '1'
    return env


def print_table(rows) -> str:
    head = ('clip', 'run', 'streaming AP', 'offline AP', 'lesion F1', 'latency med ms',
            'latency p95 ms', 'dropped/frames')
    cells = [head] + [tuple(r['cells']) for r in rows]
    width = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines = []
    for k, c in enumerate(cells):
        lines.append('  '.join(v.ljust(width[i]) if i < 2 else v.rjust(width[i])
                               for i, v in enumerate(c)))
        if k == 0:
            lines.append('  '.join('-' * w for w in width))
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.monotonic()
    procs = Procs()

    def on_signal(signum, _frame):
        procs.stop_all()
        print(f'demo: interrupted (signal {signum}); stopped every process it started',
              file=sys.stderr)
        os._exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    out = pathlib.Path(args.out).resolve()
    step = 'setup'
    try:
        out = fresh_out(out)
        env = demo_env()
        print(f"demo: output in {out}  (ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}, localhost only)")
        step = 'data'
        clips: list[ClipSpec] = prepare_clips(out, pathlib.Path(args.models),
                                              pathlib.Path(args.data), args.quick, env)
        step = 'live'
        seen = live_run(clips, out, env, procs)
        procs.stop_all()
        step = 'live report'
        live = {c.name: live_report(c, seen[c.name], out) for c in clips if c.available}
        step = 'replay'
        replay = {}
        for c in clips:
            if c.available:
                print(f'demo: replay {c.name:<10} video-perception replay {c.source.name} '
                      f'--model {c.bundle.name}', flush=True)
                replay[c.name] = replay_run(c, out, env)
        step = 'report'
        rows = table_rows(clips, live, replay)
        summary = {'out': str(out), 'quick': args.quick, 'domain_id': env['ROS_DOMAIN_ID'],
                   'clips': [c.describe() for c in clips], 'rows': rows,
                   'seconds': round(time.monotonic() - t0, 1)}
        figure = make_summary_figure(clips, out)
        summary['figure'] = str(figure) if figure else None
        tmp = out / 'summary.json.tmp'
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, out / 'summary.json')
    except Unavailable as exc:
        print(f'demo: {step}: unavailable: {exc}', file=sys.stderr)
        return 3
    except DemoError as exc:
        print(f'demo: {step} failed: {exc}', file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: one line here, the traceback in a file
        log = out / 'demo_error.log' if out.is_dir() else pathlib.Path('demo_error.log')
        log.write_text(traceback.format_exc())
        text = str(exc).strip().splitlines()
        print(f'demo: {step} failed: {type(exc).__name__}: {text[0] if text else ""} '
              f'(traceback in {log})', file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
    print()
    print(print_table(rows))
    print()
    for c in clips:
        if not c.available:
            print(f'demo: {c.name}: not run: {c.why}')
    print('streaming AP: every ground-truth frame against the newest output finished by its '
          'time; offline AP: each output against its own frame; dropped: frames the detector '
          'never processed (live: published but never answered).')
    print(f'demo: reports, plots and annotated videos in {out}'
          + (f'; overview {figure}' if figure else ''))
    print(f'demo: done in {time.monotonic() - t0:.0f} s')
    ran = [c for c in clips if c.available]
    return 0 if ran else 3


if __name__ == '__main__':
    sys.exit(main())
