"""COCO's class names as the released detectors number them.

* ``COCO_80``: YOLOX and DAMO-StreamNet's COCO initialisations predict 80 contiguous classes in
  the order of COCO's category ids (``yolox/data/datasets/coco_classes.py``).
* ``COCO_91``: DETR, Deformable DETR and SAM-DETR predict COCO's category ids directly (91
  logits for ids 0..90, plus no-object): id 0 and the ten ids COCO never used are 'N/A'
  (``CLASSES`` of DETR's notebooks), so a class index is the COCO category id.
"""
from typing import Tuple

COCO_80: Tuple[str, ...] = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich',
    'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote',
    'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book',
    'clock', 'vase', 'scissors', 'teddy bear', 'hair drier', 'toothbrush')

# category ids 1..90 that COCO 2017 leaves unused
COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_IDS: Tuple[int, ...] = tuple(i for i in range(1, 91) if i not in COCO_UNUSED_IDS)


def _coco_91() -> Tuple[str, ...]:
    names = ['N/A'] * 91
    for cid, name in zip(COCO_IDS, COCO_80):
        names[cid] = name
    return tuple(names)


COCO_91: Tuple[str, ...] = _coco_91()
