"""``video-perception import KIND CHECKPOINT --model NAME --out BUNDLE``: released weights -> a
bundle the nodes serve, in one command.

KIND is the layout of CHECKPOINT: ``yolox`` (Megvii YOLOX / StreamYOLO), ``damo-streamnet``
(zhiqic/DAMO-StreamNet releases and their ``yolox_*_drfpn`` COCO inits), ``detr``,
``deformable-detr`` or ``sam-detr`` (the official ``{'model': state dict}`` files). The layout is
recognised from the keys and must be KIND (a typo in KIND or a file of another model is one line,
exit 2). NAME is one of our models that the layout fits (``yolox_nano`` .. ``yolox_l``, served as
a single-frame bundle, or ``streamnet_*``, whose DRFPN and dual path a YOLOX file cannot fill;
``streamnet_*`` for DAMO-StreamNet; ``detr_*``, ``deformable_detr_*``, ``sam_detr_*``). The
importers (``training/models/{streamnet,detr}/importers.py``) map the keys, the exporter writes
the graphs, check-bundle compares them with the torch model, and model.json carries the class
names the checkpoint was trained on, so the node's ``LabelInfo`` names them.

The same detection serves ``init_checkpoint=`` (``load_init_checkpoint``): an official layout
goes through its importer, our own checkpoints load as they always did.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from training.coco_classes import COCO_80, COCO_91

KINDS = ('yolox', 'damo-streamnet', 'detr', 'deformable-detr', 'sam-detr')
# the prefix of our model names each layout fits (yolox: any StreamNet-family model)
MODEL_PREFIX = {'detr': 'detr_', 'deformable-detr': 'deformable_detr_', 'sam-detr': 'sam_detr_'}


def read_official(path: str) -> Dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint ({'model': sd, ...} or a bare sd; the DDP
    ``module.`` prefix dropped). Deformable DETR and SAM-DETR also pickle their argparse
    ``args``: that one class is allowed, nothing else outside tensors and containers."""
    if not os.path.isfile(path):
        raise ValueError(f'CHECKPOINT {path!r}: no such file')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # a foreign or truncated file: one line naming it
        first = (str(exc).splitlines() or [''])[0].split('. ')[0]
        raise ValueError(f'CHECKPOINT {path!r}: cannot be read ({type(exc).__name__}: '
                         f'{first[:120]}); expected a torch checkpoint') from None
    return unwrap(obj, path)


def unwrap(obj, where: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ('model', 'state_dict'):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f'{where}: expected a state dict or {{"model": state dict}}')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in obj.items()}


def detect_layout(sd: Dict[str, torch.Tensor]) -> Optional[str]:
    """One of KINDS, or None for a layout no importer knows (our own checkpoints included)."""
    from training.models.detr.importers import detect_detr_layout
    from training.models.streamnet.importers import is_damo_layout, is_yolox_layout
    if is_yolox_layout(sd):
        return 'yolox'
    if is_damo_layout(sd) and any(k.startswith('backbone.backbone.') for k in sd):
        return 'damo-streamnet'
    return detect_detr_layout(sd)


def import_into(model: nn.Module, sd: Dict[str, torch.Tensor], layout: str) -> Dict:
    """Load ``sd`` (of ``layout``) into ``model`` through its importer. Returns {'layout',
    'loaded' (count), 'skipped' [(key, why)] (shapes that differ), 'unused' [keys of the file with
    no place in the model], 'teacher' [the release's distillation teacher keys], 'missing'
    [model keys left at init]}. ValueError when the layout does not fit the model."""
    from training.models.streamnet.model import StreamNet, StillDetector
    if layout in ('yolox', 'damo-streamnet'):
        from training.models.streamnet import importers as sn
        if not isinstance(model, (StreamNet, StillDetector)) or (
                layout == 'damo-streamnet' and not isinstance(model, StreamNet)):
            want = 'a StreamNet' if layout == 'damo-streamnet' else 'a YOLOX or StreamNet'
            raise ValueError(f'a {layout} checkpoint does not fit {type(model).__name__}; '
                             f'expected {want} model')
        rep = (sn.import_yolox if layout == 'yolox' else sn.import_damo_streamnet)(model, sd)
        teacher = [k for k in rep['unmapped'] if k.startswith(('backbone_t.', 'head_t.'))]
        return {'layout': layout, 'loaded': rep['loaded'],
                'skipped': [(k, f'shape {list(a)} != {list(b)}') for k, a, b in
                            rep['shape_mismatch']],
                'unused': [k for k in rep['unmapped'] if k not in teacher], 'teacher': teacher,
                'missing': rep['missing']}
    from training.models.detr.importers import import_official_checkpoint
    if not hasattr(model, 'transformer') or (
            detect_detr_layout_of(model) not in (layout, None)):
        raise ValueError(f'a {layout} checkpoint does not fit {type(model).__name__}; expected '
                         f'a {layout} model')
    rep = import_official_checkpoint(model, sd)
    return {'layout': layout, 'loaded': len(rep['loaded']),
            'skipped': [(k, why) for k, why in rep['skipped'] if why != 'not in model'],
            'unused': [k for k, why in rep['skipped'] if why == 'not in model'], 'teacher': [],
            'missing': [k for k in rep['missing'] if not k.endswith('num_batches_tracked')]}


def detect_detr_layout_of(model: nn.Module) -> Optional[str]:
    from training.models.detr.importers import detect_detr_layout
    return detect_detr_layout(model.state_dict())


def _some(keys: List[str], n: int = 3) -> str:
    return ', '.join(keys[:n]) + (f', ... ({len(keys)})' if len(keys) > n else '')


def summary(report: Dict) -> str:
    """One line: what landed, what was skipped and why, what stays at init."""
    parts = [f'{report["loaded"]} tensors imported from the {report["layout"]} layout']
    if report['skipped']:
        parts.append(f'{len(report["skipped"])} skipped for shape ('
                     + '; '.join(f'{k}: {why}' for k, why in report['skipped'][:3])
                     + (', ...' if len(report['skipped']) > 3 else '') + ')')
    if report['teacher']:
        parts.append(f'{len(report["teacher"])} of the release\'s distillation teacher left out '
                     '(backbone_t.*, head_t.*)')
    if report['unused']:
        parts.append(f'{len(report["unused"])} with no place in the model ('
                     f'{_some(report["unused"])})')
    parts.append(f'{len(report["missing"])} of the model left at init'
                 + (f' ({_some(report["missing"])})' if report['missing'] else ''))
    return '; '.join(parts)


def load_init_checkpoint(model: nn.Module, path: str) -> str:
    """``init_checkpoint=``: an official layout through its importer, else our own checkpoint
    (training run or state dict) with ``strict=False`` as before. Returns the report line;
    ValueError when nothing of the file fits the model (it would train from scratch silently)."""
    from training.engine.checkpoint import load_checkpoint, model_weights_from
    if not os.path.isfile(path):
        raise ValueError(f'init_checkpoint {path!r}: no such file')
    try:
        weights = model_weights_from(load_checkpoint(path))
    except ValueError:
        weights = read_official(path)    # official files that pickle their argparse args
    weights = unwrap(weights, f'init_checkpoint {path}')
    layout = detect_layout(weights)
    if layout is not None:
        return f'init from {path}: ' + summary(import_into(model, weights, layout))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if len(unexpected) == len(weights):
        raise ValueError(f'init_checkpoint {path}: none of its {len(weights)} tensors fits the '
                         f'model (keys like {next(iter(weights))}); expected a checkpoint of '
                         f'this model or a layout of {", ".join(KINDS)}')
    return (f'init from {path}: {len(missing)} missing, {len(unexpected)} unexpected keys')


def _class_file(spec: str) -> Optional[str]:
    """The file --classes names, or None for the built-in tables."""
    return None if spec in ('auto', 'coco', 'argoverse') else spec


def read_classes(spec: str, kind: str, head_classes: Optional[int]) -> List[str]:
    """--classes: auto (from the checkpoint's class head), coco, argoverse or a FILE with one
    name per line (line i names class index i: DETR's ids, 'N/A' for unused ones)."""
    from training.models.streamnet.zoo import ARGOVERSE_CLASSES
    detr = kind in MODEL_PREFIX
    if spec == 'auto':
        if detr:
            spec = 'coco' if head_classes in (None, 91) else ''
        else:
            spec = {80: 'coco', 8: 'argoverse'}.get(head_classes, '')
        if not spec:
            raise ValueError(f'--classes: the checkpoint\'s class head has {head_classes} '
                             f'classes, neither COCO\'s nor Argoverse-HD\'s; expected --classes '
                             f'FILE naming them')
    if spec == 'coco':
        return list(COCO_91 if detr else COCO_80)
    if spec == 'argoverse':
        return list(ARGOVERSE_CLASSES)
    if not os.path.isfile(spec):
        raise ValueError(f'--classes {spec!r}: expected auto, coco, argoverse or a file of names')
    with open(spec, encoding='utf-8') as f:
        names = [ln.strip() for ln in f if ln.strip()]
    if not names:
        raise ValueError(f'--classes {spec}: no class names in the file; expected one a line')
    return names


def head_classes(sd: Dict[str, torch.Tensor], kind: str) -> Optional[int]:
    """Classes of the checkpoint's class head (DETR family: logits minus no-object)."""
    if kind in MODEL_PREFIX:
        w = sd.get('class_embed.weight', sd.get('class_embed.0.weight'))
        return None if w is None else int(w.shape[0]) - (1 if kind == 'detr' else 0)
    w = sd.get('head.cls_preds.0.weight')
    return None if w is None else int(w.shape[0])


def build_model(kind: str, name: str, sd: Dict[str, torch.Tensor], num_classes: int):
    """(model, family, model_kwargs) for NAME, refusing a NAME the layout does not fit."""
    if kind in MODEL_PREFIX:
        from training.models.detr import zoo as detr_zoo
        names = [n for n in detr_zoo.STUDENTS if n.startswith(MODEL_PREFIX[kind])]
        if name not in names:
            raise ValueError(f'--model {name}: a {kind} checkpoint goes into one of '
                             f'{", ".join(names)}')
        return detr_zoo.build(name, num_classes), 'v2i', {}
    from training.models.streamnet import importers as sn
    from training.models.streamnet import zoo
    names = list(zoo.STREAMNET_CONFIGS) + (
        [n for n in zoo.STILL_CONFIGS if n.startswith('yolox_')] if kind == 'yolox' else [])
    if name not in names:
        raise ValueError(f'--model {name}: a {kind} checkpoint goes into one of '
                         f'{", ".join(names)}')
    kwargs = {'fusion': sn.damo_fusion(sd)} if kind == 'damo-streamnet' else {}
    return zoo.MODELS[name](num_classes=num_classes, **kwargs), 'streamnet', kwargs


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='video-perception import', description='turn a released checkpoint into a bundle '
        'the nodes serve: detect its layout, import, export, check')
    parser.add_argument('kind', choices=KINDS, help='the layout of CHECKPOINT')
    parser.add_argument('checkpoint', help='the official .pth, e.g. yolox_s.pth')
    parser.add_argument('--model', required=True,
                        help='our model to build, e.g. yolox_s, streamnet_s, detr_r50')
    parser.add_argument('--out', required=True, help='bundle folder to write')
    parser.add_argument('--size', help='network input HxW (default: the model\'s)')
    parser.add_argument('--classes', default='auto', help='auto (from the class head: COCO or '
                        'Argoverse-HD), coco, argoverse, or a FILE of names, one a line')
    parser.add_argument('--force', action='store_true', help='replace a non-empty --out')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    from training import export as ex
    from training.check_bundle import check_bundle as check_against_torch
    from video_perception.bundle import load_bundle, write_model_json
    from video_perception.bundle_check import check_bundle
    from training.families import get_family
    from video_perception.outdir import check_apart, check_writable, output_dir
    try:
        # before any work: an --out that is or holds the checkpoint (or a class file) would be
        # deleted by --force, or read back half-written
        check_apart({'--out': args.out}, {'CHECKPOINT': args.checkpoint,
                                          '--classes': _class_file(args.classes)})
        check_writable(args.out, args.force, '--out')
        size = ex.parse_size(args.size) if args.size else None
        sd = read_official(args.checkpoint)
        layout = detect_layout(sd)
        if layout is None:
            raise ValueError(f'CHECKPOINT {args.checkpoint}: a layout no importer knows (keys '
                             f'like {_some(sorted(sd), 2)}); expected one of {", ".join(KINDS)}')
        if layout != args.kind:
            raise ValueError(f'CHECKPOINT {args.checkpoint} holds a {layout} layout, not '
                             f'{args.kind}; expected: video-perception import {layout} ...')
        classes = read_classes(args.classes, args.kind, head_classes(sd, args.kind))
        model, family, kwargs = build_model(args.kind, args.model, sd, len(classes))
        report = import_into(model, sd, layout)
        ckpt = ex.Checkpoint(args.checkpoint, model.state_dict(), {
            'model': args.model, 'class_names': classes, 'model_kwargs': kwargs}, {})
        export = get_family(family).export
        with output_dir(args.out, args.force, '--out') as tmp:
            export(args.model, str(tmp), size=size, checkpoint=ckpt)
            with open(os.path.join(tmp, 'model.json'), encoding='utf-8') as f:
                meta = json.load(f)
            meta['provenance']['imported'] = {'layout': layout, 'summary': summary(report)}
            write_model_json(str(tmp), meta)
            check_bundle(load_bundle(tmp))
            if check_against_torch(str(tmp), backend_name='onnxruntime') != 0:
                raise ValueError('the exported graphs disagree with the imported torch model '
                                 '(check-bundle above); nothing written')
    except (ValueError, OSError) as exc:
        print(f'video-perception import: {(str(exc).splitlines() or [""])[0]}', file=sys.stderr)
        return 2
    print(f'{args.model}: {summary(report)}')
    if report['missing']:
        print(f'WARNING: {len(report["missing"])} tensors of {args.model} were not in the '
              f'checkpoint and stay random: fine-tune before serving', file=sys.stderr)
    print(json.dumps({'bundle': args.out, 'classes': len(classes), 'layout': layout}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
