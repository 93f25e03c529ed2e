"""Annotated frames and an MP4 of a clip: the detections paired with each ground-truth frame
(offline, K-step or streaming pairing) drawn over the frame, ground truth in thin white."""
from __future__ import annotations

import errno
import pathlib

import cv2
import numpy as np
from tqdm import tqdm

from video_perception.detections import Detections
from video_perception.eval.results import GroundTruth
from video_perception.tools.cli_common import raise_if_stopped

try:  # the runtime's drawing (H2); a minimal stand-in keeps evaluation usable without it
    from video_perception.draw import draw_detections
except ImportError:  # pragma: no cover - depends on the checkout
    draw_detections = None


def _draw_minimal(image: np.ndarray, dets: Detections, class_names) -> np.ndarray:
    for (x1, y1, x2, y2), s, c in zip(dets.boxes_xyxy, dets.scores, dets.class_ids):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        color = tuple(int(v) for v in np.random.RandomState(int(c)).randint(60, 255, 3))
        cv2.rectangle(image, p1, p2, color, 2)
        name = class_names[c] if 0 <= c < len(class_names) else str(c)
        cv2.putText(image, f'{name} {s:.2f}', (p1[0], max(p1[1] - 4, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return image


def rows_to_detections(rows: np.ndarray, cat_index: dict[int, int],
                       score_thr: float = 0.0) -> Detections:
    """[N, 6] (x, y, w, h, score, category_id) rows -> ``Detections`` with class indices."""
    rows = rows[rows[:, 4] >= score_thr]
    boxes = np.concatenate([rows[:, :2], rows[:, :2] + rows[:, 2:4]], 1)  # [N, 4] xyxy
    return Detections(boxes, rows[:, 4], [cat_index[int(c)] for c in rows[:, 5]])


def annotate_frame(image_bgr: np.ndarray, rows: np.ndarray, gt_xyxy: np.ndarray,
                   class_names: list[str], cat_index: dict[int, int], score_thr: float = 0.3,
                   caption: str = '') -> np.ndarray:
    """Draws ground truth (thin white) and detections above ``score_thr`` on a copy."""
    out = image_bgr.copy()
    for x1, y1, x2, y2 in np.asarray(gt_xyxy).reshape(-1, 4):
        cv2.rectangle(out, (int(x1), int(y1)), (int(x2), int(y2)), (255, 255, 255), 1)
    dets = rows_to_detections(rows, cat_index, score_thr)
    draw = draw_detections if draw_detections is not None else _draw_minimal
    drawn = draw(out, dets, class_names)
    out = out if drawn is None else drawn  # drawing in place or returning a copy both work
    if caption:  # white on a black band, readable on any frame
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1)
        cv2.rectangle(out, (0, 0), (tw + 12, th + base + 10), (0, 0, 0), -1)
        cv2.putText(out, caption, (6, th + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def write_mp4(frames, path, fps: float) -> int:
    """Writes BGR frames (all the same size) with cv2.VideoWriter 'mp4v'; returns the count."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer, n = None, 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), float(fps),
                                         (w, h))
                if not writer.isOpened():
                    raise ValueError(f'mp4 {path}: cv2.VideoWriter could not open it (mp4v)')
            writer.write(np.ascontiguousarray(frame))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    if n:
        _check_mp4(path, n)
    return n


def _check_mp4(path: pathlib.Path, n: int) -> None:
    """cv2.VideoWriter reports no write error (a full disk leaves a truncated file that does not
    play): the finished file's boxes must fill it exactly and its sample table hold every frame
    written. Read from the MP4 boxes (ISO/IEC 14496-12), not by decoding, so a broken file
    prints no decoder noise."""
    held = mp4_sample_count(path)
    if held != n:
        size = path.stat().st_size if path.exists() else 0
        raise OSError(errno.EIO, f'the video writer wrote {n} frames but the file holds '
                      f'{held or 0} ({size} bytes; a full disk or a write error)', str(path))


def mp4_sample_count(path) -> int | None:
    """Samples in the first track's ``stsz`` box; None when the top-level boxes do not fill the
    file exactly or there is no ``moov`` (a truncated MP4)."""
    data = pathlib.Path(path).read_bytes() if pathlib.Path(path).exists() else b''

    def boxes(start: int, end: int):
        """[(type, payload start, end)] of the boxes in [start, end); None unless they fill
        it exactly."""
        out, pos = [], start
        while pos + 8 <= end:
            size, kind = int.from_bytes(data[pos:pos + 4], 'big'), data[pos + 4:pos + 8]
            head = 8
            if size == 1:  # a 64-bit size follows the type
                size, head = int.from_bytes(data[pos + 8:pos + 16], 'big'), 16
            elif size == 0:  # to the end of the enclosing box
                size = end - pos
            if size < head or pos + size > end:
                return None
            out.append((kind, pos + head, pos + size))
            pos += size
        return out if pos == end else None

    level = boxes(0, len(data))
    for name in (b'moov', b'trak', b'mdia', b'minf', b'stbl', b'stsz'):
        found = [(s, e) for k, s, e in (level or []) if k == name]
        if not found:
            return None
        s, e = found[0]
        level = boxes(s, e) if name != b'stsz' else None
    return int.from_bytes(data[s + 8:s + 12], 'big')  # version/flags, sample_size, count


def count_mp4_frames(path) -> int:
    """Frames cv2.VideoCapture decodes from ``path`` (reads them all; the header can lie)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.isOpened():
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n


def render_clip(gt: GroundTruth, dets: dict[int, np.ndarray], image_root, out_dir,
                video_id=None, score_thr: float = 0.3, fps: float | None = None,
                captions: dict[int, str] | None = None, max_frames: int | None = None
                ) -> tuple[list[pathlib.Path], pathlib.Path]:
    """Annotated PNGs of one video's frames and ``clip.mp4`` in ``out_dir``.

    Args:
        dets: GT image id -> [N, 6] detections paired with that frame.
        image_root: folder the images' ``file_name`` paths are relative to.
        video_id: which video (default the first).
        fps: MP4 frame rate (default the video's ``fps``, else from timestamps, else 30).
    Returns:
        (PNG paths, MP4 path).
    """
    videos = gt.require_videos('render')
    vid = next(iter(videos)) if video_id is None else video_id
    if vid not in videos:
        raise ValueError(f'render: video_id {vid!r} not in the ground truth')
    ids = videos[vid][:max_frames]
    if fps is None:
        fps = gt.video_fps.get(vid)
    if fps is None:
        stamps = [gt.images[i].get('timestamp') for i in ids]
        steps = np.diff([s for s in stamps if s is not None])
        fps = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 30.0
    cats = sorted(c['id'] for c in gt.dataset['categories'])
    names = {c['id']: c['name'] for c in gt.dataset['categories']}
    class_names = [names[c] for c in cats]
    cat_index = {c: j for j, c in enumerate(cats)}
    gt_boxes: dict[int, list] = {i: [] for i in ids}
    for a in gt.dataset['annotations']:
        if a['image_id'] in gt_boxes and not a['iscrowd']:
            x, y, w, h = a['bbox']
            gt_boxes[a['image_id']].append([x, y, x + w, y + h])
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = []

    def frames():
        for iid in tqdm(ids, desc='render', unit='frame', leave=False):
            raise_if_stopped()  # a stop a library swallowed: not one frame more
            path = pathlib.Path(image_root) / gt.images[iid]['file_name']
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f'render: frame file not found or unreadable: {path}')
            out = annotate_frame(image, dets.get(iid, np.zeros((0, 6))), gt_boxes[iid],
                                 class_names, cat_index, score_thr,
                                 (captions or {}).get(iid, f"frame {gt.images[iid]['frame_id']}"))
            png = out_dir / f"frame_{gt.images[iid]['frame_id']:06d}.png"
            cv2.imwrite(str(png), out)
            pngs.append(png)
            yield out

    mp4 = out_dir / 'clip.mp4'
    write_mp4(frames(), mp4, fps)
    return pngs, mp4
