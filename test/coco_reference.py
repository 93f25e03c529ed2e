"""The evaluation tests' COCO reference: pycocotools on its own, with nothing of ours between.

Tests compare ``video_perception.eval`` (and what replay and evaluate write) against these
numbers; this module must not import the code under test.
"""
import contextlib
import io
import json

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def pycocotools_stats(gt, dets, img_ids=None):
    """``COCOeval(..., 'bbox').stats`` (AP, AP50, AP75, ...) of the COCO result list ``dets``
    on ``gt``: a COCO dict (copied, pycocotools adds to it) or the path of a COCO JSON;
    ``img_ids`` restricts the images. pycocotools' prints are swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        if isinstance(gt, dict):
            coco = COCO()
            coco.dataset = json.loads(json.dumps(gt))
            coco.createIndex()
        else:
            coco = COCO(str(gt))
        ev = COCOeval(coco, coco.loadRes(dets), 'bbox')
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats
