"""Detections -> vision_msgs (Humble/Jazzy layout), LabelInfo and diagnostics messages.

Conventions (specs/ros2.md section 3): the output header is the input image's header (stamp and
frame_id, so consumers can synchronise); boxes are axis-aligned in original image pixels as
``bbox.center.position.x/y`` + ``size_x/size_y`` (theta 0); one hypothesis per detection with
``hypothesis.class_id`` = the class index as a decimal string (as Isaac ROS does), so it matches
``LabelInfo.class_map[].class_id``, which carries the names. ``class_names`` given to
``detections_to_msg`` switches ``class_id`` to the name instead (ultralytics_ros style) for users
who want readable ids without LabelInfo. The pose covariance stays zero (no pose estimate).
"""
from __future__ import annotations

import copy
from typing import Dict, Optional, Sequence

from video_perception import msgs
from video_perception.detections import Detections


def detections_to_msg(dets: Detections, header: msgs.Header,
                      class_names: Optional[Sequence[str]] = None,
                      id_prefix: str = '') -> msgs.Detection2DArray:
    """One frame's detections as a Detection2DArray.

    Args:
        dets: boxes_xyxy [N, 4] in original pixels, scores [N], class_ids [N].
        header: the source image's header (copied, not referenced).
        class_names: if given, ``class_id`` holds the class name instead of the index.
        id_prefix: if non-empty, ``Detection2D.id`` = prefix + index within the frame.
    Detections that carry ``track_ids`` (``streaming.stage.TrackedDetections``) put each box's
    track id in ``Detection2D.id`` instead: the same object keeps it from frame to frame.
    """
    track_ids = getattr(dets, 'track_ids', None)
    header = copy.deepcopy(header)
    out = msgs.Detection2DArray(header=header)
    boxes = dets.boxes_xyxy.astype(float)  # [N, 4]
    for i, ((x1, y1, x2, y2), score, cls) in enumerate(
            zip(boxes.tolist(), dets.scores.tolist(), dets.class_ids.tolist())):
        if class_names is not None:
            if not 0 <= cls < len(class_names):
                raise ValueError(f'detection class id {cls} is outside class_names '
                                 f'(0..{len(class_names) - 1})')
            class_id = class_names[cls]
        else:
            class_id = str(int(cls))
        hyp = msgs.ObjectHypothesisWithPose(
            hypothesis=msgs.ObjectHypothesis(class_id=class_id, score=float(score)))
        bbox = msgs.BoundingBox2D(
            center=msgs.Pose2D(position=msgs.Point2D(x=(x1 + x2) / 2, y=(y1 + y2) / 2)),
            size_x=x2 - x1, size_y=y2 - y1)
        out.detections.append(msgs.Detection2D(
            header=copy.deepcopy(header), results=[hyp], bbox=bbox,
            id=str(int(track_ids[i])) if track_ids is not None
            else f'{id_prefix}{i}' if id_prefix else ''))
    return out


def msg_to_boxes_xyxy(msg: msgs.Detection2DArray):
    """The inverse for consumers and tests: [(x1, y1, x2, y2, class_id, score), ...]."""
    rows = []
    for det in msg.detections:
        cx, cy = det.bbox.center.position.x, det.bbox.center.position.y
        hw, hh = det.bbox.size_x / 2, det.bbox.size_y / 2
        hyp = det.results[0].hypothesis if det.results else msgs.ObjectHypothesis()
        rows.append((cx - hw, cy - hh, cx + hw, cy + hh, hyp.class_id, hyp.score))
    return rows


def label_info_msg(class_names: Sequence[str], header: msgs.Header,
                   threshold: float = 0.0) -> msgs.LabelInfo:
    """vision_msgs/LabelInfo mapping class indices (uint16) to names; publish transient-local."""
    if len(class_names) > 65536:
        raise ValueError(f'LabelInfo holds at most 65536 classes, got {len(class_names)}')
    return msgs.LabelInfo(header=copy.deepcopy(header), threshold=float(threshold),
                          class_map=[msgs.VisionClass(class_id=i, class_name=str(n))
                                     for i, n in enumerate(class_names)])


def diagnostic_array(header: msgs.Header, name: str, level: int, message: str,
                     values: Optional[Dict[str, object]] = None,
                     hardware_id: str = '') -> msgs.DiagnosticArray:
    """A DiagnosticArray with one status; ``values`` become KeyValue strings (floats 4 d.p.)."""
    if level not in (0, 1, 2, 3):
        raise ValueError(f'diagnostic level {level}: expected 0 OK, 1 WARN, 2 ERROR or 3 STALE')
    kvs = [msgs.KeyValue(key=str(k), value=f'{v:.4f}' if isinstance(v, float) else str(v))
           for k, v in (values or {}).items()]
    status = msgs.DiagnosticStatus(level=level, name=name, message=message,
                                   hardware_id=hardware_id, values=kvs)
    return msgs.DiagnosticArray(header=copy.deepcopy(header), status=[status])
