"""SimOTA (YOLOX 0.3.0) pieces on hand-made cases whose answers are worked out in comments."""
import math

import torch

from training.models.streamnet.head import make_grids
from training.models.streamnet.simota import dynamic_k_matching, in_boxes_info, simota_assign


def test_dynamic_k_matching_hand_case():
    cost = torch.tensor([[1.0, 2.0, 3.0, 0.5, 9.0],
                         [4.0, 1.5, 0.2, 0.6, 8.0]])
    ious = torch.tensor([[0.9, 0.8, 0.3, 0.6, 0.1],     # top-5 sum 2.7 -> k = 2: anchors 3, 0
                         [0.2, 0.7, 0.9, 0.5, 0.1]])    # sum 2.4 -> k = 2: anchors 2, 3
    # Anchor 3 is claimed twice; GT 0 is cheaper there (0.5 < 0.6) and keeps it.
    fg, matched_gt, matched_ious = dynamic_k_matching(cost, ious)
    assert fg.tolist() == [True, False, True, True, False]
    assert matched_gt.tolist() == [0, 1, 0]
    assert torch.allclose(matched_ious, torch.tensor([0.9, 0.9, 0.6]))


def test_dynamic_k_is_at_least_one_and_uses_top_10():
    # Sum of IoUs 0.3 -> int 0 -> clamped to 1: the single cheapest anchor (index 1).
    fg, gt, _ = dynamic_k_matching(torch.tensor([[2.0, 1.0, 3.0]]),
                                   torch.tensor([[0.1, 0.1, 0.1]]))
    assert fg.tolist() == [False, True, False] and gt.tolist() == [0]
    # 12 candidates with IoU 0.5: only the top 10 count -> k = int(5.0) = 5, the 5 cheapest.
    cost = torch.arange(12, dtype=torch.float32).flip(0)       # cheapest are the last ones
    fg, _, _ = dynamic_k_matching(cost[None], torch.full((1, 12), 0.5))
    assert fg.nonzero().flatten().tolist() == [7, 8, 9, 10, 11]


def test_in_boxes_info_hand_case():
    # 8x8 grid at stride 8 (64x64 image): anchor centres at 4, 12, ..., 60.
    grid_xy, stride = make_grids([(8, 8)], [8])
    gt = torch.tensor([[12.0, 12.0, 8.0, 8.0]])    # box (8, 16)^2; centre region (-8, 32)^2
    cand, both = in_boxes_info(gt, grid_xy, stride)
    # Centre region holds centres 4, 12, 20, 28 on each axis: 16 candidates (x, y < 4).
    expect = [(y < 4 and x < 4) for y in range(8) for x in range(8)]
    assert cand.tolist() == expect
    # Strictly inside the box only centre (12, 12) = cell (1, 1), the 6th candidate (row-major).
    assert both.shape == (1, 16)
    assert both[0].nonzero().flatten().tolist() == [5]


def test_simota_assign_hand_case():
    # 2x2 grid at stride 8, one class, one GT covering the whole 16x16 image. Raw reg 0 decodes
    # to 8x8 boxes centred on grid * 8 (no +0.5): IoUs with the GT are 16/304, 32/288, 32/288
    # and 64/256 = 0.25; their sum 0.525 gives k = 1, and equal class costs leave the IoU cost
    # to pick the last anchor.
    grid_xy, stride = make_grids([(2, 2)], [8])
    pred = torch.cat([grid_xy * 8, torch.full((4, 2), 8.0)], 1)
    gt = torch.tensor([[8.0, 8.0, 16.0, 16.0]])
    asg = simota_assign(gt, torch.tensor([0.0]), pred, torch.zeros(4, 1), torch.zeros(4, 1),
                        grid_xy, stride, num_classes=1)
    assert asg.fg_mask.tolist() == [False, False, False, True]
    assert asg.num_fg == 1 and asg.matched_gt_inds.tolist() == [0]
    assert math.isclose(float(asg.matched_ious[0]), 0.25, rel_tol=1e-6)


def test_simota_two_gts_prefer_their_own_class():
    # Two anchors inside both GTs; anchor 0 predicts class 0 strongly, anchor 1 class 1.
    grid_xy = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    stride = torch.tensor([[8.0], [8.0]])
    pred = torch.tensor([[8.0, 4.0, 16.0, 8.0], [8.0, 4.0, 16.0, 8.0]])
    gt = torch.tensor([[8.0, 4.0, 16.0, 8.0], [8.0, 4.0, 16.0, 8.0]])
    cls_logits = torch.tensor([[6.0, -6.0], [-6.0, 6.0]])
    asg = simota_assign(gt, torch.tensor([0.0, 1.0]), pred, cls_logits,
                        torch.full((2, 1), 6.0), grid_xy, stride, num_classes=2)
    # IoUs are 1 -> k = 2 for each GT, both claim both anchors; argmin cost splits them.
    assert asg.fg_mask.tolist() == [True, True]
    assert asg.matched_gt_inds.tolist() == [0, 1]
    assert asg.matched_classes.tolist() == [0, 1]
