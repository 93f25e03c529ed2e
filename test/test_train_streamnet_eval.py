"""The StreamNet experiment's evaluator scores a perfect forecaster at sAP_1 = 1 (pycocotools).

A fake model reads the frame index off the pixels and outputs the letterboxed ground truth of
the *next* frame; the evaluator must undo the letterbox, map class indexes back to category
ids and pair output(t) with GT(t+1). Forecasting the present instead must score lower.
"""
import dataclasses

import pytest
import torch
from torch import nn

from test_train_streamnet_data import BOXES, H0, SIZE, W0, dataset  # noqa: F401 (fixture)
from training.exps.streamnet_base import StreamNetExp, StreamNetExpConfig


class Oracle(nn.Module):
    def __init__(self, shift: int):
        super().__init__()
        self.shift = shift
        self.dummy = nn.Parameter(torch.zeros(1))
        self.r = min(SIZE[0] / H0, SIZE[1] / W0)

    def forward(self, frames):                          # [B, 3 (1 + N), H, W]
        preds = torch.zeros(frames.shape[0], 2, 5 + 2)  # [B, A, 5 + C], class 1 = 'car'
        for b, v in enumerate(frames[:, 0, 0, 0].tolist()):
            t = min(int(round(v / 40)) + self.shift, 4)
            x, y, w, h = BOXES[t][0]
            preds[b, 0] = torch.tensor([(x + w / 2) * self.r, (y + h / 2) * self.r, w * self.r,
                                        h * self.r, 1.0, 0.0, 0.9])
        return preds


@pytest.mark.parametrize('shift, perfect', [(1, True), (0, False)])
def test_evaluator_pairs_output_t_with_gt_t_plus_1(dataset, shift, perfect):  # noqa: F811
    cfg = dataclasses.replace(StreamNetExpConfig(), train_json=dataset, val_json=dataset,
                              input_size=SIZE, batch_size=2, history_frames=3, eval_batch=2)
    exp = StreamNetExp(cfg)
    _, val = exp.build_datasets()
    metrics = exp.build_evaluator(val)(Oracle(shift))
    if perfect:
        assert metrics['sAP1'] == pytest.approx(1.0) and metrics['sAP1_50'] == pytest.approx(1.0)
    else:
        assert metrics['sAP1'] < 0.9
