"""Import official YOLOX (0.3.0) COCO checkpoints as initialisation for our still and StreamNet
models (spec §6: every released model starts from COCO YOLOX weights).

Official layout (``yolox/models/yolox.py``: ``YOLOX(backbone=YOLOPAFPN, head=YOLOXHead)``)::

    backbone.backbone.{stem,dark2..dark5}.*     CSPDarknet          -> backbone.*
    backbone.{lateral_conv0,C3_p4,reduce_conv1,C3_p3,bu_conv2,C3_n3,bu_conv1,C3_n4}.*
                                                PAFPN               -> neck.*   (still models)
    backbone.jian{2,1,0}.*                      StreamYOLO DFP      -> dfp.jian.{0,1,2}.*
    head.{stems,cls_convs,reg_convs,cls_preds,reg_preds,obj_preds}.*  -> head.*

A StreamNet has a DRFPN neck, not a PAFPN, so only the backbone and the head transfer from
YOLOX (DAMO's own ``yolox_*_drfpn.pth`` COCO weights also hold the DRFPN: see below). Tensors
whose shapes differ (``cls_preds`` for 80 COCO classes against 8) are skipped and reported,
never forced::

    python -m training.models.streamnet.importers yolox_s.pth --model streamnet_s \
        --out runs/init/s.pt
    video-perception train streamnet_s_argoverse init_checkpoint=runs/init/s.pt

DAMO-StreamNet's released checkpoints (``YOLOXLONGSHORTV3ODDIL`` / ``YOLOXLONGSHORTV3`` in
zhiqic/DAMO-StreamNet ``exps/model``) hold the whole model, DRFPN included, and load
completely (``map_damo_key``; the layout is recognised by its ``short_backbone.`` or DRFPN
``neck.`` keys)::

    backbone.backbone.*                   CSPDarknet                   -> backbone.*
    backbone.neck.*                       DRFPN (GiraffeNeckV2: merge_*, bu_conv*; RepConv
                                          rbr_dense / rbr_1x1, mmcv DCN conv_offset) -> neck.*
    short_backbone.group_0_jian{2,1,0}.*  short-path 1x1 (P3, P4, P5)  -> dual.short.{0,1,2}.*
    long_backbone.group_G_jian{2,1,0}.*   long-path 1x1 of group G     -> dual.long.G.{0,1,2}.*
    jian{2,1,0}.*                         long_fusion's Phi            -> dual.long_fuse.{0,1,2}.*
    head.*                                TAL head                     -> head.*
    backbone_t.*, head_t.*                the frozen still teacher: left out, or with
                                          ``teacher=`` loaded into a still_teacher_l

    python -m training.models.streamnet.importers streamnet_s.pth --model streamnet_s \
        --out runs/init/streamnet_s_released.pt
    python -m training.models.streamnet.importers streamnet_l_1200x1920.pth \
        --model streamnet_l --fusion pure_concat --out runs/init/streamnet_l_1200.pt

DAMO's COCO initialisations ``yolox_{s,m,l}_drfpn.pth`` (the release's ``-c`` of every run) go
through the same map: backbone, DRFPN and head land (``cls_preds`` of 80 classes is skipped for
shape), the dual-path 1x1s stay at init. Those files are not in the repository; their DRFPN sits
at top-level ``neck.*`` as the release's trainer reads them (``update_ckpt``: neck.* ->
backbone.neck.*), which ``map_damo_key`` takes as well as ``backbone.neck.*``.
"""
from __future__ import annotations

import argparse
import re
import sys
from functools import partial
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

PAFPN_PARTS = ('lateral_conv0', 'C3_p4', 'reduce_conv1', 'C3_p3', 'bu_conv2', 'C3_n3',
               'bu_conv1', 'C3_n4')
# StreamYOLO names its DFP reductions by depth from the top: jian2 reduces P3, jian0 P5.
DFP_PARTS = {'jian2': 'dfp.jian.0', 'jian1': 'dfp.jian.1', 'jian0': 'dfp.jian.2'}


def map_yolox_key(key: str) -> Optional[str]:
    """Our name for an official YOLOX / StreamYOLO key, or None when it has no counterpart."""
    if key.startswith('backbone.backbone.'):
        return 'backbone.' + key[len('backbone.backbone.'):]
    if key.startswith('backbone.'):
        part, _, rest = key[len('backbone.'):].partition('.')
        if part in PAFPN_PARTS:
            return f'neck.{part}.{rest}'
        if part in DFP_PARTS:
            return f'{DFP_PARTS[part]}.{rest}'
        return None
    if key.startswith('head.'):
        return key
    return None


# jian2 reduces P3 (stride 8), jian0 P5, in every DAMO-StreamNet module too
JIAN_LEVEL = {'jian2': 0, 'jian1': 1, 'jian0': 2}
_DUAL = re.compile(r'(short|long)_backbone\.group_(\d+)_(jian[012])\.(.+)')
_FUSE = re.compile(r'(jian[012])\.(.+)')


def map_damo_key(key: str) -> Optional[str]:
    """Our StreamNet name for a DAMO-StreamNet key (teacher keys: None)."""
    if key.startswith('backbone.backbone.'):
        return 'backbone.' + key[len('backbone.backbone.'):]
    if key.startswith(('backbone.neck.', 'neck.', 'head.')):
        return key[len('backbone.'):] if key.startswith('backbone.') else key
    m = _DUAL.fullmatch(key)
    if m:
        path, group, jian, rest = m.groups()
        if path == 'short':
            return f'dual.short.{JIAN_LEVEL[jian]}.{rest}' if group == '0' else None
        return f'dual.long.{group}.{JIAN_LEVEL[jian]}.{rest}'
    m = _FUSE.fullmatch(key)
    return f'dual.long_fuse.{JIAN_LEVEL[m.group(1)]}.{m.group(2)}' if m else None


def map_damo_teacher_key(key: str) -> Optional[str]:
    """Our still-detector name for a key of the DAMO checkpoint's teacher (StreamYOLO still
    L: ``backbone_t`` = DFPPAFPN, ``head_t`` = TAL head), through the YOLOX layout."""
    for ours, theirs in (('backbone.', 'backbone_t.'), ('head.', 'head_t.')):
        if key.startswith(theirs):
            return map_yolox_key(ours + key[len(theirs):])
    return None


def is_damo_layout(official: Dict[str, torch.Tensor]) -> bool:
    """A DAMO-StreamNet release (dual path) or its COCO DRFPN initialisation (a neck)."""
    return any(k.startswith(('short_backbone.', 'neck.', 'backbone.neck.')) for k in official)


def is_yolox_layout(official: Dict[str, torch.Tensor]) -> bool:
    """An official YOLOX / StreamYOLO checkpoint (CSPDarknet under ``backbone.backbone.``, a
    YOLOX head), not a DAMO-StreamNet one."""
    return (any(k.startswith('backbone.backbone.dark2.') for k in official)
            and any(k.startswith('head.cls_preds.') for k in official)
            and not is_damo_layout(official))


def damo_fusion(official: Dict[str, torch.Tensor]) -> str:
    """The long-path fusion of a DAMO-StreamNet release: long_fusion has its Phi 1x1s at
    top-level ``jian{0,1,2}``; the 1200x1920 L release (pure_concat) has none."""
    return 'long_fusion' if any(k.startswith('jian2.') for k in official) else 'pure_concat'


def official_state_dict(obj) -> Dict[str, torch.Tensor]:
    """The model weights inside an official checkpoint ({'model': ..., 'optimizer': ...})."""
    if isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        obj = obj['model']
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError('YOLOX checkpoint: expected a state dict or {"model": state dict}')
    # DataParallel checkpoints prefix every key with 'module.'.
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in obj.items()}


def convert_state_dict(official: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor],
                       mapper: Callable[[str], Optional[str]] = map_yolox_key
                       ) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map ``official`` onto the keys of ``target`` (a state dict of our model) by ``mapper``.

    Returns:
        (weights to load with strict=False, report) where report has 'loaded' (count),
        'params_loaded' (elements), 'shape_mismatch' [(key, official shape, ours)],
        'unmapped' (official keys with no counterpart) and 'missing' (our keys not set).
    """
    out: Dict[str, torch.Tensor] = {}
    mismatch, unmapped = [], []
    for key, value in official.items():
        ours = mapper(key)
        if ours is None or ours not in target:
            unmapped.append(key)
            continue
        if tuple(target[ours].shape) != tuple(value.shape):
            mismatch.append((ours, tuple(value.shape), tuple(target[ours].shape)))
            continue
        out[ours] = value.to(target[ours].dtype)
    missing = [k for k in target if k not in out and not k.endswith('num_batches_tracked')]
    params = sum(v.numel() for k, v in out.items()
                 if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked')))
    return out, {'loaded': len(out), 'params_loaded': params, 'shape_mismatch': mismatch,
                 'unmapped': unmapped, 'missing': missing}


convert_yolox_state_dict = partial(convert_state_dict, mapper=map_yolox_key)


def _read_official(checkpoint) -> Dict[str, torch.Tensor]:
    if isinstance(checkpoint, str):
        try:
            checkpoint = torch.load(checkpoint, map_location='cpu', weights_only=True)
        except Exception as exc:
            raise ValueError(f'checkpoint {checkpoint!r}: cannot be read '
                             f'({type(exc).__name__})') from None
    return official_state_dict(checkpoint)


def _load(model: nn.Module, official: Dict, mapper, what: str) -> Dict:
    weights, report = convert_state_dict(official, model.state_dict(), mapper)
    if not weights:
        raise ValueError(f'{what} checkpoint: no tensor matched the model (another layout, '
                         'or another width)')
    model.load_state_dict(weights, strict=False)
    return report


def import_yolox(model: nn.Module, checkpoint) -> Dict:
    """Load an official checkpoint (path or loaded object) into ``model``; returns the report."""
    return _load(model, _read_official(checkpoint), map_yolox_key, 'YOLOX')


def import_damo_streamnet(model: nn.Module, checkpoint,
                          teacher: Optional[nn.Module] = None) -> Dict:
    """Load a released DAMO-StreamNet checkpoint into our StreamNet ``model`` (and its still
    teacher into ``teacher`` when given and present). Returns the report of ``model`` with the
    teacher's under 'teacher'; the teacher's keys count as 'unmapped' when no teacher is given.
    """
    official = _read_official(checkpoint)
    if not is_damo_layout(official):
        raise ValueError('DAMO-StreamNet checkpoint: no short_backbone.* or DRFPN neck keys (a '
                         'YOLOX checkpoint? use import_yolox)')
    report = _load(model, official, map_damo_key, 'DAMO-StreamNet')
    if teacher is not None:
        report['teacher'] = _load(teacher, official, map_damo_teacher_key, 'teacher')
        report['unmapped'] = [k for k in report['unmapped'] if map_damo_teacher_key(k) is None]
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m training.models.streamnet.importers',
                                     description='convert an official YOLOX COCO or '
                                     'DAMO-StreamNet checkpoint (recognised by its keys)')
    parser.add_argument('checkpoint', help='official yolox_{s,m,l}.pth or streamnet_*.pth')
    parser.add_argument('--model', required=True, help='our model, e.g. streamnet_s, yolox_s')
    parser.add_argument('--num-classes', type=int, default=None)
    parser.add_argument('--fusion', choices=('long_fusion', 'pure_concat'), default=None,
                        help='StreamNet long-path fusion (the 1200x1920 L release: pure_concat)')
    parser.add_argument('--out', required=True, help='state dict to write (init_checkpoint=)')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from training.engine.checkpoint import save_checkpoint
    from training.models.streamnet import zoo
    try:
        if args.model not in zoo.MODELS:
            raise ValueError(f'--model {args.model!r}: expected one of {", ".join(zoo.MODELS)}')
        extra = {'fusion': args.fusion} if args.fusion else {}
        model = zoo.MODELS[args.model](num_classes=args.num_classes, **extra)
        official = _read_official(args.checkpoint)
        damo = is_damo_layout(official)
        report = (import_damo_streamnet if damo else import_yolox)(model, official)
    except ValueError as exc:
        print(f'yolox_import: {exc}', file=sys.stderr)
        return 2
    save_checkpoint(args.out, {'model': model.state_dict(), 'yolox_import': {
        k: v for k, v in report.items() if k != 'shape_mismatch'}})
    layout = 'DAMO-StreamNet layout' if damo else 'YOLOX'
    print(f'{args.model} from a {layout}: {report["loaded"]} tensors '
          f'({report["params_loaded"]:,} parameters) '
          f'imported; {len(report["shape_mismatch"])} skipped for shape, '
          f'{len(report["missing"])} of ours left at init, {len(report["unmapped"])} unused')
    return 0


if __name__ == '__main__':
    sys.exit(main())
