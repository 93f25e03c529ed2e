"""The steps of ``scripts/demo.py``: clips, the live run over DDS, the offline replay, the table.

Kept apart from the command so that tests can call each piece (``test/test_demo.py``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Optional

import numpy as np

BIN = pathlib.Path(sys.executable).parent
DRIVING_SEED = 101      # training used seeds 1 (train) and 2 (val): 101 is held out
STREAMNET_BUNDLE = 'streamnet_tiny_synth'
V2I_BUNDLE = 'v2i_distill_tiny_vocalfolds'
SCORE_THR_AP = 0.05     # AP needs the low-score tail; the boxes drawn use the node's default
LESION_THR = 0.5        # the lesion F1 operating point (V2I paper: 0.5)


class DemoError(RuntimeError):
    """A step failed: one line for the user, the demo exits non-zero."""


class Unavailable(RuntimeError):
    """A step cannot run on this machine (a missing bundle or data): said, never faked."""


@dataclasses.dataclass
class ClipSpec:
    name: str                          # driving | endoscopy | argoverse
    executable: str                    # streamnet_node | v2i_node
    bundle: pathlib.Path
    source: Optional[pathlib.Path] = None    # rosbag2 or image folder
    gt: Optional[pathlib.Path] = None        # canonical dataset JSON
    gt_video: Optional[str] = None
    image_root: Optional[pathlib.Path] = None
    fps: float = 30.0
    stamps_ns: list = dataclasses.field(default_factory=list)  # published header stamps
    lesion: bool = False
    available: bool = True
    why: str = ''

    @property
    def node_name(self) -> str:  # unique: /diagnostics statuses are named by node
        return f'{self.executable}_{self.name}'

    @property
    def ns(self) -> str:
        return f'/demo/{self.name}'

    def describe(self) -> dict:
        return {'name': self.name, 'node': self.executable, 'bundle': str(self.bundle),
                'source': str(self.source) if self.source else None,
                'gt': str(self.gt) if self.gt else None, 'gt_video': self.gt_video,
                'frames': len(self.stamps_ns), 'fps': self.fps, 'available': self.available,
                'why': self.why}


class Procs:
    """Every subprocess the demo starts, stopped (SIGINT, then SIGKILL) by its own pid."""

    def __init__(self):
        self.items: list[subprocess.Popen] = []
        self.lock = threading.Lock()

    def start(self, cmd, env, log_path: pathlib.Path) -> subprocess.Popen:
        log = open(log_path, 'w')
        proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        with self.lock:
            self.items.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> Optional[int]:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            except ProcessLookupError:
                pass
        return proc.returncode

    def stop_all(self) -> None:
        with self.lock:
            items, self.items = self.items, []
        for proc in items:
            self.stop(proc)


def run_tool(args, env, what: str, timeout: float = 300.0, log: Optional[pathlib.Path] = None
             ) -> str:
    """Runs ``video-perception ARGS`` to completion; DemoError with its last line on failure."""
    cmd = [str(BIN / 'video-perception')] + [str(a) for a in args]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DemoError(f'{what}: no answer within {timeout:.0f} s ({" ".join(cmd[1:4])} ...)')
    if log is not None:
        log.write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).strip().splitlines() if ln.strip()]
        raise DemoError(f'{what}: {lines[-1] if lines else f"exit {res.returncode}"}')
    return res.stdout


def _bundle_or_why(models: pathlib.Path, name: str) -> tuple[pathlib.Path, str]:
    path = models / name
    if not (path / 'model.json').is_file():
        return path, (f'no bundle {path}/model.json (scripts/train_shipped_models.sh makes it)')
    return path, ''


def prepare_clips(out: pathlib.Path, models: pathlib.Path, data: pathlib.Path, quick: bool,
                  env) -> list[ClipSpec]:
    """Writes the demo's clips under OUT/data; a clip whose bundle or data is missing is kept
    with ``available=False`` and the reason."""
    from training.data.synth import write_image_bag
    from video_perception.eval.results import load_ground_truth
    root = out / 'data'
    root.mkdir()
    clips = []

    sn, why = _bundle_or_why(models, STREAMNET_BUNDLE)
    c = ClipSpec('driving', 'streamnet_node', sn, why=why, available=not why)
    if c.available:
        d = root / 'driving'
        run_tool(['synth', 'driving', d, '--seed', DRIVING_SEED, '--videos', 1, '--frames',
                  45 if quick else 90, '--bag', 'sqlite3'], env, 'synth driving')
        c.gt, c.image_root, c.source = d / 'dataset.json', d, d / 'bags' / 'driving_000'
        gt = load_ground_truth(c.gt)
        c.stamps_ns = [int(round(gt.images[i]['timestamp'] * 1e9))
                       for i in next(iter(gt.videos.values()))]
        c.fps = 30.0
    clips.append(c)

    v2i, why = _bundle_or_why(models, V2I_BUNDLE)
    vf = data / 'vocalfolds'
    if not why and not (vf / 'img' / 'patient1' / 'seq2').is_dir():
        why = f'no VocalFolds sample at {vf} (set VIDEO_PERCEPTION_DATA or --data)'
    c = ClipSpec('endoscopy', 'v2i_node', v2i, why=why, available=not why, lesion=True,
                 gt_video='patient1/seq2', fps=25.0)
    if c.available:
        d = root / 'vocalfolds'
        run_tool(['convert', 'labelmap', vf, d, '--class-value', 4, '--class-name', 'pathology',
                  '--fps', 25], env, 'convert vocalfolds')
        c.gt, c.image_root = d / 'dataset.json', d
        gt = load_ground_truth(c.gt)
        videos = json.loads(c.gt.read_text())['videos']
        vid = next(v for v in videos if v['name'] == c.gt_video)['id']
        ids = gt.videos[vid]
        stamps = [gt.images[i]['timestamp'] for i in ids]
        files = [d / gt.images[i]['file_name'] for i in ids]
        c.source = d / 'bags' / 'seq2'
        write_image_bag(c.source, files, stamps)
        c.stamps_ns = [int(round(s * 1e9)) for s in stamps]
    clips.append(c)

    frames = data / 'argoverse_hd_sample' / 'frames'
    why = _bundle_or_why(models, STREAMNET_BUNDLE)[1]
    if not why and not frames.is_dir():
        why = f'no Argoverse-HD sample frames at {frames}'
    c = ClipSpec('argoverse', 'streamnet_node', sn, why=why, available=not why)
    if c.available:
        from video_perception.sources import stamp_from_name
        d = root / 'argoverse'
        d.mkdir()
        files = sorted(frames.iterdir())[:20 if quick else 60]
        for f in files:  # a shorter clip of the real frames, same names (their stamps)
            os.symlink(f, d / f.name)
        c.source = d
        c.stamps_ns = [stamp_from_name(f.name) for f in files]
        c.fps = 1e9 / float(np.median(np.diff(c.stamps_ns)))
    clips.append(c)
    return clips


class Recorder:
    """A DDS participant in this process: camera frames and detections with arrival times."""

    def __init__(self, clips):
        from video_perception import msgs
        from video_perception.transport.base import QOS_DEFAULT, QOS_SENSOR_DATA
        from video_perception.transport.dds_transport import DdsTransport
        self.t = DdsTransport('demo_recorder', [])
        self.lock = threading.Lock()
        self.cams: dict[str, dict[int, float]] = {}
        self.dets: dict[str, list] = {}
        self.diag: dict[str, dict] = {}
        for c in clips:
            self.cams[c.name], self.dets[c.name] = {}, []
            self.t.create_subscription(msgs.Image, f'{c.ns}/image', self._cam(c.name),
                                       QOS_SENSOR_DATA)
            self.t.create_subscription(msgs.Detection2DArray, f'{c.ns}/detections',
                                       self._det(c.name), QOS_DEFAULT)
        self.t.create_subscription(msgs.DiagnosticArray, '/diagnostics', self._on_diag,
                                   QOS_DEFAULT)

    @staticmethod
    def _ns(stamp) -> int:
        return stamp.sec * 1_000_000_000 + stamp.nanosec

    def _cam(self, name):
        def cb(msg):
            now = time.monotonic()
            with self.lock:
                self.cams[name].setdefault(self._ns(msg.header.stamp), now)
        return cb

    def _det(self, name):
        from video_perception.ros_convert import msg_to_boxes_xyxy

        def cb(msg):
            now = time.monotonic()
            with self.lock:
                self.dets[name].append((now, self._ns(msg.header.stamp), msg_to_boxes_xyxy(msg)))
        return cb

    def _on_diag(self, msg):
        with self.lock:
            for s in msg.status:
                self.diag[s.name] = {kv.key: kv.value for kv in s.values}

    def count(self, name) -> int:
        with self.lock:
            return len(self.dets[name])

    def close(self):
        self.t.close()


def _node_cmd(c: ClipSpec) -> list:
    return [BIN / c.executable, '--ros-args', '-r', f'__ns:={c.ns}', '-r',
            f'__node:={c.node_name}', '-p',
            f'model_path:={c.bundle}', '-p', 'backend:=onnxruntime', '-p', 'threads:=1',
            '-p', f'score_threshold:={SCORE_THR_AP}']


def _last_line(path: pathlib.Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors='replace').splitlines() if ln.strip()]
    except OSError:
        return ''
    return lines[-1] if lines else ''


def live_run(clips, out: pathlib.Path, env, procs: Procs) -> dict:
    """Starts the nodes, plays every clip into them, returns what the recorder saw per clip."""
    run = [c for c in clips if c.available]
    if not run:
        return {}
    root = out / 'live'
    root.mkdir()
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_LOCALHOST_ONLY',
                                           'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    rec = Recorder(run)
    try:
        nodes = {}
        for c in run:
            (root / c.name).mkdir()
            nodes[c.name] = procs.start(_node_cmd(c), env, root / c.name / 'node.log')
        for c in run:  # LabelInfo is latched: once it arrives, the node is serving
            try:
                run_tool(['echo', f'{c.ns}/detections/labels', '--type', 'LabelInfo',
                          '--count', 1, '--timeout', 120], env, f'{c.executable} ({c.name})',
                         timeout=150, log=root / c.name / 'labels.txt')
            except DemoError as exc:
                proc = nodes[c.name]
                if proc.poll() is not None:
                    raise DemoError(f'{c.executable} ({c.name}) exited {proc.returncode}: '
                                    f'{_last_line(root / c.name / "node.log")}')
                raise exc
        for c in run:
            print(f'demo: live  {c.name:<10} {len(c.stamps_ns)} frames at {c.fps:.0f} Hz '
                  f'-> {c.executable}', flush=True)
            run_tool(['publish', c.source, '--topic', f'{c.ns}/image', '--rate', f'{c.fps:.3f}',
                      '--stamps', 'source', '--wait-subscribers', 10,
                      '--times', root / c.name / 'publish_times.txt'], env,
                     f'publish {c.name}', timeout=300, log=root / c.name / 'publish.log')
            _settle(rec, c.name, len(c.stamps_ns), nodes[c.name])
        time.sleep(1.2)  # one more /diagnostics period
        with rec.lock:
            seen = {c.name: {'cams': dict(rec.cams[c.name]), 'dets': list(rec.dets[c.name])}
                    for c in run}
            diag = dict(rec.diag)
    finally:
        rec.close()
    for c in run:
        rc = procs.stop(nodes[c.name])
        if rc not in (0, -signal.SIGINT, 130):
            raise DemoError(f'{c.executable} ({c.name}) ended with exit {rc}: '
                            f'{_last_line(root / c.name / "node.log")}')
        seen[c.name]['diagnostics'] = next(
            (v for k, v in diag.items() if k.split(':')[0] == c.node_name), {})
    return seen


def _settle(rec: Recorder, name: str, n_frames: int, proc, quiet: float = 1.5,
            limit: float = 20.0) -> None:
    """Waits until the node has answered every frame or stayed quiet for ``quiet`` s."""
    start = last_change = time.monotonic()
    last = rec.count(name)
    while time.monotonic() - start < limit:
        n = rec.count(name)
        if n >= n_frames or proc.poll() is not None:
            return
        if n != last:
            last, last_change = n, time.monotonic()
        elif time.monotonic() - last_change > quiet:
            return
        time.sleep(0.05)
