"""Import official YOLOX (0.3.0) COCO checkpoints as initialisation for our still and StreamNet
models (spec §6: every released model starts from COCO YOLOX weights).

Official layout (``yolox/models/yolox.py``: ``YOLOX(backbone=YOLOPAFPN, head=YOLOXHead)``)::

    backbone.backbone.{stem,dark2..dark5}.*     CSPDarknet          -> backbone.*
    backbone.{lateral_conv0,C3_p4,reduce_conv1,C3_p3,bu_conv2,C3_n3,bu_conv1,C3_n4}.*
                                                PAFPN               -> neck.*   (still models)
    backbone.jian{2,1,0}.*                      StreamYOLO DFP      -> dfp.jian.{0,1,2}.*
    head.{stems,cls_convs,reg_convs,cls_preds,reg_preds,obj_preds}.*  -> head.*

A StreamNet has a DRFPN neck, not a PAFPN, so only the backbone and the head transfer (DAMO's
own ``yolox_*_drfpn.pth`` COCO weights, which also hold the DRFPN, were trained with a recipe not
in the release). Tensors whose shapes differ (``cls_preds`` for 80 COCO classes against 8) are
skipped and reported, never forced::

    python -m training.models.streamnet.importers yolox_s.pth --model streamnet_s \
        --out runs/init/s.pt
    video-perception train streamnet_s_argoverse init_checkpoint=runs/init/s.pt
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, Optional, Sequence, Tuple

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


def official_state_dict(obj) -> Dict[str, torch.Tensor]:
    """The model weights inside an official checkpoint ({'model': ..., 'optimizer': ...})."""
    if isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        obj = obj['model']
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError('YOLOX checkpoint: expected a state dict or {"model": state dict}')
    # DataParallel checkpoints prefix every key with 'module.'.
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in obj.items()}


def convert_yolox_state_dict(official: Dict[str, torch.Tensor], target: Dict[str, torch.Tensor]
                             ) -> Tuple[Dict[str, torch.Tensor], Dict]:
    """Map ``official`` onto the keys of ``target`` (a state dict of our model).

    Returns:
        (weights to load with strict=False, report) where report has 'loaded' (count),
        'params_loaded' (elements), 'shape_mismatch' [(key, official shape, ours)],
        'unmapped' (official keys with no counterpart) and 'missing' (our keys not set).
    """
    out: Dict[str, torch.Tensor] = {}
    mismatch, unmapped = [], []
    for key, value in official.items():
        ours = map_yolox_key(key)
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


def import_yolox(model: nn.Module, checkpoint) -> Dict:
    """Load an official checkpoint (path or loaded object) into ``model``; returns the report."""
    if isinstance(checkpoint, str):
        try:
            checkpoint = torch.load(checkpoint, map_location='cpu', weights_only=True)
        except Exception as exc:
            raise ValueError(f'YOLOX checkpoint {checkpoint!r}: cannot be read '
                             f'({type(exc).__name__})') from None
    weights, report = convert_yolox_state_dict(official_state_dict(checkpoint),
                                               model.state_dict())
    if not weights:
        raise ValueError('YOLOX checkpoint: no tensor matched the model (not a YOLOX '
                         'checkpoint, or another width)')
    model.load_state_dict(weights, strict=False)
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m training.models.streamnet.importers',
                                     description='convert an official YOLOX COCO checkpoint')
    parser.add_argument('checkpoint', help='official yolox_{s,m,l}.pth')
    parser.add_argument('--model', required=True, help='our model, e.g. streamnet_s, yolox_s')
    parser.add_argument('--num-classes', type=int, default=None)
    parser.add_argument('--out', required=True, help='state dict to write (init_checkpoint=)')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from training.engine.checkpoint import save_checkpoint
    from training.models.streamnet import zoo
    try:
        if args.model not in zoo.MODELS:
            raise ValueError(f'--model {args.model!r}: expected one of {", ".join(zoo.MODELS)}')
        model = zoo.MODELS[args.model](num_classes=args.num_classes)
        report = import_yolox(model, args.checkpoint)
    except ValueError as exc:
        print(f'yolox_import: {exc}', file=sys.stderr)
        return 2
    save_checkpoint(args.out, {'model': model.state_dict(), 'yolox_import': {
        k: v for k, v in report.items() if k != 'shape_mismatch'}})
    print(f'{args.model}: {report["loaded"]} tensors ({report["params_loaded"]:,} parameters) '
          f'imported; {len(report["shape_mismatch"])} skipped for shape, '
          f'{len(report["missing"])} of ours left at init, {len(report["unmapped"])} unused')
    return 0


if __name__ == '__main__':
    sys.exit(main())
