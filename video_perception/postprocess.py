"""Raw network outputs -> ``Detections`` (numpy; the runtime never imports torch for this).

* ``decode_yolox``: YOLOX ``postprocess`` (StreamNet's head output): score = obj * best class
  probability, keep score >= threshold, class-aware NMS.
* ``decode_detr_softmax``: DETR ``PostProcess``: softmax over C + 1 classes, drop the trailing
  no-object column, best class per query; no NMS (set prediction).
* ``decode_detr_sigmoid``: Deformable DETR ``PostProcess``: sigmoid, top-k over the flattened
  Q * C scores (k = ``max_detections``), query = flat index // C, class = flat index % C.

Boxes come out in network-input pixels, or in original image pixels (letterbox undone, clipped)
when a ``LetterboxTransform`` is passed as ``transform``. Score thresholds are inclusive.
"""
from __future__ import annotations

import numpy as np

from video_perception.detections import Detections, box_cxcywh_to_xyxy, nms_class_aware


def _squeeze_batch(array: np.ndarray, name: str, ndim: int) -> np.ndarray:
    """Accept [1, ...] or the unbatched array; anything else is an error naming ``name``."""
    array = np.asarray(array)
    if array.ndim == ndim + 1:
        if array.shape[0] != 1:
            raise ValueError(f'{name}: batch of {array.shape[0]}; expected batch 1')
        array = array[0]
    if array.ndim != ndim:
        raise ValueError(f'{name}: shape {array.shape}; expected {ndim} or {ndim + 1} dims')
    return array


def _finish(boxes_xyxy, scores, class_ids, transform) -> Detections:
    if transform is not None and len(boxes_xyxy):
        boxes_xyxy = transform.boxes_to_original(boxes_xyxy)
    return Detections(boxes_xyxy, scores, class_ids)


def decode_yolox(predictions: np.ndarray, score_threshold: float = 0.01, nms_iou: float = 0.65,
                 max_detections: int = 100, transform=None) -> Detections:
    """YOLOX inference output -> detections.

    Args:
        predictions: [1, A, 5 + C] or [A, 5 + C]: (cx, cy, w, h) in network pixels, sigmoid-ed
            objectness, C sigmoid-ed class probabilities.
        score_threshold: keep obj * cls >= this.
        nms_iou: class-aware NMS IoU threshold (suppress when IoU > this).
        max_detections: keep at most this many, best first.
        transform: optional LetterboxTransform to return boxes in original pixels.
    """
    pred = _squeeze_batch(predictions, 'decode_yolox predictions', 2)      # [A, 5 + C]
    if pred.shape[1] < 6:
        raise ValueError(f'decode_yolox predictions: {pred.shape[1]} columns; expected 5 + C '
                         f'with C >= 1')
    cls = pred[:, 5:]                                                      # [A, C]
    class_ids = np.argmax(cls, axis=1)                                     # [A]
    class_conf = np.take_along_axis(cls, class_ids[:, None], 1)[:, 0]
    scores = pred[:, 4] * class_conf
    keep = np.nonzero(scores >= score_threshold)[0]
    boxes = box_cxcywh_to_xyxy(pred[keep, :4].astype(np.float32))
    scores, class_ids = scores[keep], class_ids[keep]
    kept = nms_class_aware(boxes, scores, class_ids, nms_iou, max_detections)
    return _finish(boxes[kept], scores[kept], class_ids[kept], transform)


def _detr_boxes(pred_boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised cxcywh [Q, 4] -> xyxy in network-input pixels [Q, 4] float32."""
    scale = np.array([width, height, width, height], np.float32)
    return box_cxcywh_to_xyxy(pred_boxes.astype(np.float32)) * scale


def _top(scores: np.ndarray, score_threshold: float, max_detections: int) -> np.ndarray:
    """Indices with score >= threshold, best first (stable for ties), at most max_detections."""
    order = np.argsort(-scores, kind='stable')
    order = order[scores[order] >= score_threshold]
    return order[:max(0, int(max_detections))]


def decode_detr_softmax(pred_logits: np.ndarray, pred_boxes: np.ndarray, width: int,
                        height: int, score_threshold: float = 0.5, max_detections: int = 100,
                        transform=None) -> Detections:
    """DETR output (softmax classes with a trailing no-object column) -> detections.

    Args:
        pred_logits: [1, Q, C + 1] or [Q, C + 1] raw logits.
        pred_boxes: [1, Q, 4] or [Q, 4] normalised (cx, cy, w, h) of the network input.
        width, height: network input size (boxes are scaled to it, then ``transform`` undoes the
            letterbox).
    """
    logits = _squeeze_batch(pred_logits, 'decode_detr_softmax pred_logits', 2)    # [Q, C + 1]
    boxes = _squeeze_batch(pred_boxes, 'decode_detr_softmax pred_boxes', 2)       # [Q, 4]
    if logits.shape[1] < 2 or boxes.shape != (logits.shape[0], 4):
        raise ValueError(f'decode_detr_softmax: logits {logits.shape} and boxes {boxes.shape}; '
                         f'expected [Q, C + 1] (C >= 1) and [Q, 4]')
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    prob = z / z.sum(axis=1, keepdims=True)                                       # [Q, C + 1]
    class_ids = np.argmax(prob[:, :-1], axis=1)
    scores = prob[np.arange(len(prob)), class_ids]
    idx = _top(scores, score_threshold, max_detections)
    return _finish(_detr_boxes(boxes[idx], width, height), scores[idx], class_ids[idx],
                   transform)


def decode_detr_sigmoid(pred_logits: np.ndarray, pred_boxes: np.ndarray, width: int,
                        height: int, score_threshold: float = 0.3, max_detections: int = 100,
                        transform=None) -> Detections:
    """Deformable DETR output (sigmoid classes, no background) -> detections.

    Top-k (k = ``max_detections``) over all query x class scores, then the score threshold;
    a query may appear with several classes, as in the reference PostProcess.

    Args:
        pred_logits: [1, Q, C] or [Q, C] raw logits.
        pred_boxes: [1, Q, 4] or [Q, 4] normalised (cx, cy, w, h) of the network input.
        width, height: network input size.
    """
    logits = _squeeze_batch(pred_logits, 'decode_detr_sigmoid pred_logits', 2)    # [Q, C]
    boxes = _squeeze_batch(pred_boxes, 'decode_detr_sigmoid pred_boxes', 2)       # [Q, 4]
    if logits.shape[1] < 1 or boxes.shape != (logits.shape[0], 4):
        raise ValueError(f'decode_detr_sigmoid: logits {logits.shape} and boxes {boxes.shape}; '
                         f'expected [Q, C] and [Q, 4]')
    num_classes = logits.shape[1]
    prob = 1.0 / (1.0 + np.exp(-logits.astype(np.float64).reshape(-1)))          # [Q * C]
    flat = _top(prob, -np.inf, max_detections)          # top-k first, as the reference does
    flat = flat[prob[flat] >= score_threshold]
    query, class_ids = flat // num_classes, flat % num_classes
    return _finish(_detr_boxes(boxes[query], width, height), prob[flat], class_ids, transform)
