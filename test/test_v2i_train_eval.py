"""The V2I evaluator: boxes mapped back to original pixels, AP and F1 on known answers."""
import numpy as np
import pytest
import torch
from torch import nn

from training.data.v2i import V2IClips
from training.v2i_eval import ground_truth_of, make_evaluator, predict
from v2i_train_fixtures import box_of, write_tiny_video


class Oracle(nn.Module):
    """Outputs the true box of each key frame (looked up by hand from the fixture) as query 0
    with a high score, plus one far-away low-score box as query 1."""
    output_kind = 'detr_sigmoid'

    def __init__(self, boxes_cxcywh):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.boxes = boxes_cxcywh                                  # list of [4] or None
        self.calls = 0

    def forward(self, images, masks):
        b = images.shape[0]
        logits = torch.full((b, 3, 1), -8.0)
        boxes = torch.tensor([[0.05, 0.9, 0.05, 0.05]]).repeat(b, 3, 1)
        for i in range(b):
            box = self.boxes[self.calls + i]
            if box is not None:
                logits[i, 0, 0] = 4.0
                boxes[i, 0] = torch.tensor(box)
            logits[i, 1, 0] = -1.0                                   # score 0.27, a FP
        self.calls += b
        return {'pred_logits': logits, 'pred_boxes': boxes}


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    return write_tiny_video(tmp_path_factory.mktemp('v2i_eval'), videos=2, frames=8)


def _truth(n=8, h=64, w=80):
    out = []
    for f in range(n):
        box = box_of(f, h, w)
        if box is None:
            out.append(None)
        else:
            x, y, bw, bh = box
            out.append([(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h])
    return out


def test_predict_maps_back_to_original_pixels(video):
    ds = V2IClips(str(video), (32, 40), videos=['vid1'])               # scale 0.5
    dets = predict(Oracle(_truth()), ds, video=False, batch_size=3)
    assert sorted(dets) == sorted(ds.image_ids())
    for f, iid in enumerate(ds.ds.frames[1]):
        rows = dets[iid]
        box = box_of(f, 64, 80)
        if box is not None:
            assert rows[0, 4] == pytest.approx(1 / (1 + np.exp(-4.0)), abs=1e-6)
            assert np.allclose(rows[0, :4], box, atol=1e-3)           # x, y, w, h in pixels
            assert rows[0, 5] == 7                                    # the category id
        else:
            assert rows[0, 4] < 0.5


def test_metrics_known_answers(video):
    ds = V2IClips(str(video), (32, 40), videos=['vid1'])
    gt = ground_truth_of(ds)
    assert len(gt.images) == 8 and len(gt.dataset['annotations']) == 6   # vid1 only
    m = make_evaluator(ds, video=False, score_thr=0.5)(Oracle(_truth()))
    assert m['AP'] == pytest.approx(1.0) and m['AP50'] == pytest.approx(1.0)
    for proto in ('centroid', 'iou'):                                 # 6 TP, 0 FP at 0.5
        assert m[f'f1_{proto}'] == pytest.approx(1.0)
    # at 0.25 the six far-away boxes (one per lesion frame, 2 on empty frames) come in:
    # centroid P = 6 / (6 + 8) (each of the 8 far boxes is an FP), R = 1
    m = make_evaluator(ds, video=False, score_thr=0.25)(Oracle(_truth()))
    p = 6 / 14
    assert m['precision_centroid'] == pytest.approx(p)
    assert m['f1_centroid'] == pytest.approx(2 * p / (p + 1))
    assert m['f1_iou'] == pytest.approx(2 * 6 / (14 + 6))             # YONA: 2TP / (dets + GT)
    assert m['best_f1_centroid'] == pytest.approx(1.0)
