"""The papers' ablation rows as experiment files (issue 19 item 7), and the switches they need.

Every row's file passes ``train EXP --dry-run`` with its own switches at a CPU size (the student
and teacher swapped for their tiny twins, a small input): the loss of the row is computed and
backpropagated. The full-size dry runs are in test_train_dry_run.py (slow). A row whose method is
not implemented refuses in one line, exit 2. The switches are checked against hand-computed
values and the spec's parameter counts.
"""
import json
import pathlib

import pytest
import torch

from training import train
from training.engine.exp import load_exp

EXPS_DIR = pathlib.Path(train.__file__).parent / 'exps'
ROWS = sorted(p.stem for p in EXPS_DIR.glob('*.py')
              if p.stem.startswith(('v2i_ablation_', 'longshortnet_', 'streamyolo_'))
              or p.stem.endswith('_noakd'))
REFUSED = {'v2i_ablation_fd_attnmask_r50_sun': 'attention', 'v2i_ablation_ed_r50_sun': 'encoder',
           'v2i_ablation_ed_attnmask_r50_sun': 'encoder', 'v2i_ablation_qd_r50_sun': 'query'}
# the row -> the loss terms its dry run must report (V2I: which distillation is on)
V2I_TERMS = {'fd': {'loss_tfd'}, 'fd_gtmask': {'loss_tfd'}, 'tfd': {'loss_tfd'},
             'cqd_tsq': {'loss_cqd'}, 'cqd_tsq_half': {'loss_cqd'}, 'cqd_sq': {'loss_cqd'}}


def test_every_row_is_here():
    # V2I Table IV rows 2-11 (row 1 is v2i_student_r50_sun); DAMO Table 2 StreamYOLO /
    # LongShortNet with and without DRFPN at S/M/L (LongShortNet + DRFPN = AK-D off)
    assert len([r for r in ROWS if r.startswith('v2i_ablation_')]) == 10
    for size in 'sml':
        for name in ('streamyolo_{}_argoverse', 'streamyolo_drfpn_{}_argoverse',
                     'longshortnet_{}_argoverse', 'streamnet_{}_argoverse_noakd'):
            assert name.format(size) in ROWS


def _small(name, cfg, tmp_path):
    gone = str(tmp_path / 'nowhere')
    keys = ('train_json', 'val_json', 'test_json', 'teacher_checkpoint')
    out = [f'{k}={gone}/{k}' for k in keys if getattr(cfg, k, '')]
    if name.startswith('v2i_'):
        return out + ['model=deformable_detr_tiny', 'teacher_model=v2i_teacher_tiny',
                      'input_size=64,96', 'batch_size=2']
    return out + ['input_size=64,96', 'batch_size=2']


@pytest.mark.parametrize('name', [r for r in ROWS if r not in REFUSED])
def test_row_dry_run_at_a_cpu_size(name, tmp_path, capsys):
    cfg = load_exp(name).config
    assert train.main([name, *_small(name, cfg, tmp_path), '--dry-run']) == 0
    out = capsys.readouterr().out.strip().splitlines()
    res = json.loads(out[-1])
    assert res['dry_run'] == 'ok' and res['params'] > 0
    if name.startswith('v2i_'):
        row = name[len('v2i_ablation_'):-len('_r50_sun')]
        terms = {k for k in res['losses'] if k in ('loss_tfd', 'loss_cqd')}
        assert terms == V2I_TERMS[row] and res['teacher_params'] > 0
    else:
        assert res['teacher_params'] == 0        # StreamYOLO, LongShortNet, AK-D off: no teacher
    assert not (tmp_path / 'nowhere').exists()


@pytest.mark.parametrize('name', sorted(REFUSED))
def test_unimplemented_row_refuses_in_one_line(name, capsys):
    assert train.main([name, '--dry-run']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and 'not implemented' in err[0]
    assert REFUSED[name] in err[0]


def test_fd_without_mask_is_eq2_and_the_gt_mask_is_the_boxes():
    from training.models.detr.tfd import TFDLoss, box_mask, tfd_loss
    g = torch.Generator().manual_seed(0)
    fs, ft = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 3, 4, 5, generator=g)
    targets = [{'boxes': torch.tensor([[0.5, 0.5, 0.5, 0.5]])}, {'boxes': torch.zeros(0, 4)}]
    # Eq. 2: sum over pixels and channels of |F_s - F_t| / (h w), averaged over the batch
    want = sum(float((fs[b] - ft[b]).abs().sum()) / 20 for b in range(2)) / 2
    got = TFDLoss(mask='none')({'features': fs}, {'features': ft}, targets)
    assert float(got) == pytest.approx(want, rel=1e-6)
    # a box covering the middle half of a 4 x 5 map: pixel centres 1.5, 2.5 (rows) and
    # 1.5, 2.5, 3.5 at x in [1.25, 3.75] (columns)
    m = box_mask(torch.tensor([[0.5, 0.5, 0.5, 0.5]]), 4, 5)
    want_mask = torch.zeros(4, 5)
    want_mask[1:3, 1:4] = 1
    assert torch.equal(m, want_mask)
    got = TFDLoss(mask='box')({'features': fs}, {'features': ft}, targets)
    masks = torch.stack([want_mask, torch.zeros(4, 5)])
    assert float(got) == pytest.approx(float(tfd_loss(fs, ft, masks, form='paper')), rel=1e-6)
    with pytest.raises(ValueError, match='FD mask'):
        TFDLoss(mask='attention')


def test_cqd_counts_of_table_iv():
    from training.models.detr.cqd import CQD
    assert [CQD(300, 3, count=c).n for c in ('T*sq', 'T*sq/2', 'sq')] == [300, 150, 100]
    idx = CQD(100, 3, count='T*sq', generator=torch.Generator().manual_seed(1)).draw()
    assert sorted(idx.tolist()) == list(range(100))            # all of them, each once
    with pytest.raises(ValueError, match='count'):
        CQD(100, 3, count='2*sq')


def test_streamyolo_baselines_match_the_spec_parameter_counts_and_dfp():
    """spec §7.2: StreamYOLO-S/M/L about 9.1 / 25.7 / 54.8 M parameters (computed there from
    the released configs); DFP is Concat[R(P_t), R(P_t-1)] + P_t with one R per level."""
    from training.models.streamnet import zoo
    for name, millions in (('streamyolo_s', 9.1), ('streamyolo_m', 25.7), ('streamyolo_l', 54.8)):
        model = zoo.MODELS[name]()
        count = sum(p.numel() for p in model.parameters()) / 1e6
        assert count == pytest.approx(millions, abs=0.06), name
        assert model.history_frames == 1
    model = zoo.MODELS['streamyolo_s']().eval()
    g = torch.Generator().manual_seed(0)
    cur = [torch.randn(1, c, 2, 3, generator=g) for c in (128, 256, 512)]
    past = [torch.randn(1, c, 2, 3, generator=g) for c in (128, 256, 512)]
    with torch.no_grad():
        fused = model.dual(cur, [past])
        for lvl, (p, s) in enumerate(zip(cur, past)):
            r = model.dual.short[lvl]
            assert torch.allclose(fused[lvl], torch.cat([r(p), r(s)], 1) + p, atol=1e-6)
    assert zoo.make_config('longshortnet_m').neck == 'pafpn'
    assert zoo.make_config('longshortnet_m').fusion == 'pure_concat'
    with pytest.raises(ValueError, match='shared reduction'):
        zoo.MODELS['streamnet_tiny'](shared_reduction=True)
