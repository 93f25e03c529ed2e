"""What a replay writes: the results file, the output bag, the MP4 and the end-of-run rows (the
report and its plots are ``eval.report`` and ``eval.plots``, as for ``evaluate``).

Bag topics are the node's (``node_runner``): ``/detections`` (vision_msgs/Detection2DArray),
``/detections/image`` (annotated sensor_msgs/Image, with ``--save-images``) and
``/detections/labels`` (vision_msgs/LabelInfo, once). Every message's header is the input frame's
header (stamp and frame_id, as the node publishes with ``stamp_mode: input``) and its receive time
is the simulated finish time on the input's clock, so the bag plays beside the input bag.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from video_perception import msgs
from video_perception.eval.results import Results, result_rows
from video_perception.replay.engine import OutputRecord, ReplayRun, latest_outputs

TOPIC_DETECTIONS = '/detections'
TOPIC_IMAGE = '/detections/image'
TOPIC_LABELS = '/detections/labels'


class BagOutput:
    """Writes outputs into an open ``bagio.BagWriter`` as they finish."""

    def __init__(self, writer, class_names, pixel_format: str, save_images: bool,
                 threshold: float = 0.0):
        self.writer, self.class_names = writer, list(class_names)
        self.pixel_format, self.save_images = pixel_format, save_images
        self.threshold = threshold
        self.labels_written = False

    def __call__(self, frame, image: np.ndarray, rec: OutputRecord) -> None:
        from video_perception.ros_convert import detections_to_msg, label_info_msg
        header = msgs.Header(stamp=msgs.Time.from_ns(rec.stamp_ns), frame_id=frame.frame_id)
        if not self.labels_written:
            self.writer.write(TOPIC_LABELS, label_info_msg(self.class_names, header,
                                                           self.threshold), rec.bag_ns)
            self.labels_written = True
        self.writer.write(TOPIC_DETECTIONS, detections_to_msg(rec.dets, header), rec.bag_ns)
        if self.save_images:
            from video_perception.draw import draw_detections
            from video_perception.node_runner import image_to_msg
            canvas = draw_detections(image, rec.dets, self.class_names,
                                     pixel_order=self.pixel_format)
            self.writer.write(TOPIC_IMAGE, image_to_msg(canvas, header, self.pixel_format),
                              rec.bag_ns)


def build_results(run: ReplayRun, cat_ids: list[int], frame_to_image: Optional[dict] = None,
                  gt=None) -> tuple[Results, int]:
    """The results file of a run: one output per processed frame that has an id.

    Without ground truth, ids are the frames' dataset image ids or their source positions and
    finish times are seconds on the input's clock. With ground truth (``frame_to_image``), ids are
    GT image ids and finish = timestamp(image) + (finish - stamp). Returns (results, number of
    outputs left out because their frame matched no GT image).
    """
    outputs, dets, left_out = {}, {}, 0
    ids = {f.index: f.image_id for f in run.frames}
    for o in run.outputs:
        if frame_to_image is not None:
            iid = frame_to_image.get(o.index)
            if iid is None:
                left_out += 1
                continue
            finish = gt.timestamp(iid) + (o.finish_ns - o.stamp_ns) / 1e9
        else:
            iid = ids[o.index] if ids[o.index] is not None else o.index
            finish = o.finish_ns / 1e9
        outputs[int(iid)] = float(finish)
        dets[int(iid)] = result_rows(o.dets.boxes_xyxy, o.dets.scores, o.dets.class_ids,
                                     cat_ids)
    return Results(outputs, dets), left_out


def write_video(source, run: ReplayRun, path, class_names, fps: float,
                score_thr: float = 0.0) -> int:
    """An MP4 of every source frame with the detections the vehicle had at that moment (the
    latest output finished by the frame's stamp) and a caption naming that output's frame."""
    from tqdm import tqdm

    from video_perception.draw import draw_detections
    from video_perception.eval.video import write_mp4
    from video_perception.tools.cli_common import raise_if_stopped
    shown = latest_outputs(run)

    def frames():
        for f in tqdm(source.frames(), total=source.count, desc='video', unit='frame',
                      leave=False, disable=None):
            raise_if_stopped()
            image = f.load()
            out = shown.get(f.index)
            if out is not None:
                keep = out.dets.select(out.dets.scores >= score_thr)
                image = draw_detections(image, keep, class_names)
                caption = f'frame {f.index}: output of frame {out.index} ({f.index - out.index} ' \
                          f'behind)'
            else:
                caption = f'frame {f.index}: no output yet'
            yield _caption(image, caption)
    return write_mp4(frames(), path, fps)


def _caption(image: np.ndarray, text: str) -> np.ndarray:
    import cv2
    out = np.ascontiguousarray(image).copy()
    scale = max(0.35, min(out.shape[1] / 900.0, 1.0))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    top = out.shape[0] - (th + base + 6)  # bottom band: box labels sit at the top of boxes
    cv2.rectangle(out, (0, top), (tw + 8, out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (4, top + th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                1, cv2.LINE_AA)
    return out


def summary_rows(run: ReplayRun, report: Optional[dict]) -> list[tuple[str, str]]:
    """(quantity, value) rows of the end-of-run table: the run's counts and latency, then each
    registered metric's brief rows (``eval.metrics``)."""
    from video_perception.eval.latency import latency_stats
    from video_perception.eval.metrics import brief_rows, latency_rows
    lat = latency_stats([o.latency_s for o in run.outputs])
    delay = latency_stats([o.delay_s for o in run.outputs])
    rows = [('frames', str(len(run.frames))), ('processed', str(len(run.outputs))),
            ('dropped', str(run.dropped))]
    if run.bad:
        rows.append(('bad frames', str(run.bad)))
    if lat['n']:
        rows += latency_rows(lat, ('median', 'p95'))
        rows.append(('frame to output median (ms)', f"{1000 * delay['median']:.1f}"))
    return rows + (brief_rows(report) if report is not None else [])
