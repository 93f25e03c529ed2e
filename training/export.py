"""``video-perception export [NAME] [--checkpoint PT] [--size HxW] --out DIR``: write a bundle.

StreamNet variants give ``encoder.onnx`` + ``forecast.onnx`` (video_perception/bundle.py has the
exact signatures), RepConv fused, through ``training.models.streamnet.export_onnx``; V2I students
give ``student.onnx`` through ``training.models.detr.export_onnx``. This module writes the bundle
around the graphs. Both also leave ``model.pt`` (the fused
state dict) and ``model.json`` whose torch builder is ``training.export:build_from_bundle``.

Exporter: ``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript, torch's default).
It emits opset 18 and converts down to 17; the graphs come out static and free of Shape /
ConstantOfShape / Expand plumbing that the TorchScript exporter leaves around ``grid_sample``
and sized nearest upsampling. Every export is checked on the spot (onnx_check.py): the ONNX
checker, every op in TensorRT 10's ONNX parser list, every shape static, and ONNX Runtime
against torch on a random frame; then check-bundle on non-square frames. Both compare every
output element by element with Polygraphy's rule |ort - torch| <= atol + rtol |torch| at the
fp32 row of ``training.output_compare.TOLERANCES``.

Without ``--checkpoint`` the weights are random (a loud warning says so): enough for benchmarks
and for checking the graphs, useless for detection.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Dict, Optional, Sequence, Tuple, Union

import torch

# what an export starts from (a checkpoint, a state dict, a bundle): its own module since the
# split; the names stay importable from here
from training.export_checkpoint import (Checkpoint, is_fused, model_name_of,  # noqa: F401
                                        read_bundle_checkpoint, read_checkpoint,
                                        unpack_checkpoint, weights_mismatch)
from training.families import family_of, get_family
from training.models.streamnet.export_onnx import StreamNetGraphs, export_streamnet_onnx
from training.engine.checkpoint import torch_save
from training.onnx_check import TRT_OPS_FILE, check_graph
# the torch twin of a bundle lives below this module and check_bundle.py (training/twin.py);
# model.json's builder names it here, as bundles exported before the move do
from training.twin import (V2IGraph, _build_streamnet, _streamnet_names,  # noqa: F401
                           build_from_bundle)
from video_perception.bundle import batched_graph_name, load_bundle, write_model_json
from video_perception.bundle_check import check_bundle
from video_perception.outdir import check_apart, error_line, output_dir
from video_perception.tools.cli_common import raise_if_stopped

OPSET = 17
BUILDER = 'training.export:build_from_bundle'


def parse_size(text: str) -> Tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'--size {text!r}: expected HxW, e.g. 600x960') from None
    if h <= 0 or w <= 0:
        # what each architecture allows is checked where it is built (StreamNet: even sides)
        raise ValueError(f'--size {text}: height and width must be positive')
    return h, w


def parse_batch(text: str) -> Tuple[int, ...]:
    """'1,2,4' -> (1, 2, 4): the static batch sizes to export (1 always included)."""
    try:
        sizes = {int(v) for v in text.split(',') if v.strip()}
    except ValueError:
        raise ValueError(f'--batch {text!r}: expected batch sizes, e.g. 1,2,4,8') from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f'--batch {text!r}: expected positive batch sizes, e.g. 1,2,4,8')
    return tuple(sorted(sizes | {1}))


def _git_revision() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__)),
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ''


def _future_frames(model, train_cfg: dict) -> int:
    """How many frame periods ahead the boxes are (the forecast stamps add K periods): 0 for a
    still detector (no dual path: the ``yolox_*`` models and the still teacher, trained on the
    frame they see), else K of a model trained on GT(t + K) (the config's ``future``; 1, the
    next frame, by default)."""
    if not hasattr(model, 'dual'):
        return 0
    return int(train_cfg.get('future') or 1)


def _specs_json(specs) -> list:
    """[(name, shape)] -> model.json's [{"name", "shape"}]."""
    return [{'name': nm, 'shape': list(shape)} for nm, shape in specs]


def export_streamnet(variant: str, out: str, size: Optional[Tuple[int, int]] = None,
                     checkpoint: Union[str, Checkpoint, None] = None, check: bool = True,
                     seed: int = 0, batch_sizes: Sequence[int] = (1,)) -> Dict:
    """Export a StreamNet variant to ``out``; returns the check report (max abs per graph).
    ``batch_sizes``: the graphs are also written for these batches (``<role>_b<B>.onnx``)."""
    from training.models.streamnet.blocks import fuse_repconv
    zoo = _streamnet_names()
    if checkpoint and not isinstance(checkpoint, Checkpoint):
        checkpoint = read_checkpoint(checkpoint)
    path, weights, train_cfg, metrics = unpack_checkpoint(checkpoint)
    classes = list(train_cfg.get('class_names') or zoo.ARGOVERSE_CLASSES)
    model_kwargs = dict(train_cfg.get('model_kwargs') or {})
    model = _build_streamnet(variant, len(classes), model_kwargs)
    if is_fused(checkpoint):   # a bundle's weights: fuse first so that the keys match
        model.eval()
        fuse_repconv(model)
    if weights is not None:
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise weights_mismatch(path, variant, exc) from None
    h, w = size or tuple(train_cfg.get('input_size') or zoo.make_config(variant).input_size)
    model.eval()
    fuse_repconv(model)
    graphs = StreamNetGraphs(model).eval()
    result = export_streamnet_onnx(graphs, h, w, out, OPSET, check=check, seed=seed)
    for b in batch_sizes:
        raise_if_stopped()      # between graphs: a SIGTERM a library swallowed still stops here
        if b != 1:
            more = export_streamnet_onnx(graphs, h, w, out, OPSET, check=check, seed=seed,
                                         batch=b)
            result['report'].update({f'{r}_b{b}': v for r, v in more['report'].items()})
    torch_save(graphs.state_dict(), os.path.join(out, 'model.pt'))
    meta = {
        'family': 'streamnet', 'variant': variant,
        'input': {'height': h, 'width': w, 'pixel_format': 'bgr', 'scale': 1.0,
                  'mean': [0.0, 0.0, 0.0], 'std': [1.0, 1.0, 1.0], 'letterbox': 'top_left',
                  'pad_value': 114},
        'classes': classes,
        'graphs': {'encoder': 'encoder.onnx', 'forecast': 'forecast.onnx'},
        'output': {'kind': 'yolox', 'strides': list(model.strides),
                   'future_frames': _future_frames(model, train_cfg)},
        'batch_sizes': sorted(set(batch_sizes) | {1}),
        'history': {'frames': graphs.history_frames,
                    'step': int(train_cfg.get('history_step') or model.cfg.history_step),
                    'features': _specs_json(result['features']),
                    # only bundles whose buffer is not the current features carry it
                    **({'current': _specs_json(result['current'])} if result['current'] else {})},
        'torch': {'state_dict': 'model.pt', 'builder': BUILDER, 'fused_repconv': True,
                  'model_kwargs': model_kwargs},
        'provenance': {'config': train_cfg, 'git': _git_revision(),
                       'data': train_cfg.get('data_dir', ''), 'metrics': metrics,
                       'checkpoint': os.path.abspath(path) if path else None,
                       'random_weights': weights is None, 'exporter': 'torch.onnx dynamo',
                       'opset': OPSET},
    }
    write_model_json(out, meta)
    return result['report']


# DETR's input convention (torchvision ImageNet normalisation of RGB in [0, 1]).
V2I_INPUT = {'pixel_format': 'rgb', 'scale': 1.0 / 255, 'mean': [0.485, 0.456, 0.406],
             'std': [0.229, 0.224, 0.225], 'letterbox': 'top_left', 'pad_value': 0}


def export_v2i(variant: str, out: str, size: Optional[Tuple[int, int]] = None,
               checkpoint: Union[str, Checkpoint, None] = None, check: bool = True,
               batch_sizes: Sequence[int] = (1,)) -> Dict:
    """V2I students: ``student.onnx`` through the DETR family's exporter, plus model.json;
    ``student_b<B>.onnx`` too for each of ``batch_sizes`` other than 1."""
    from training.models.detr import zoo as detr_zoo
    from training.models.detr.export_onnx import export_student_onnx
    if variant not in getattr(detr_zoo, 'STUDENTS', ()):
        raise ValueError(f'export: {variant} is not a student (only students are exported; '
                         f'expected one of {", ".join(detr_zoo.STUDENTS)})')
    path, weights, train_cfg, metrics = unpack_checkpoint(checkpoint)
    classes = list(train_cfg.get('class_names') or ['lesion'])
    model = detr_zoo.build(variant, len(classes), **(train_cfg.get('model_kwargs') or {}))
    if weights is not None:
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise weights_mismatch(path, variant, exc) from None
    h, w = size or tuple(train_cfg.get('input_size') or (512, 512))
    os.makedirs(out, exist_ok=True)
    graph = V2IGraph(model.eval()).eval()
    result = export_student_onnx(model, h, w, os.path.join(out, 'student.onnx'), opset=OPSET,
                                 check=check, trt_ops_json=TRT_OPS_FILE)
    for b in batch_sizes:
        raise_if_stopped()      # between graphs (see export_streamnet)
        if b != 1:
            path_b = os.path.join(out, batched_graph_name('student.onnx', b))
            export_student_onnx(model, h, w, path_b, opset=OPSET, check=check,
                                trt_ops_json=TRT_OPS_FILE, batch=b)
    torch_save(graph.state_dict(), os.path.join(out, 'model.pt'))
    write_model_json(out, {
        'family': 'v2i', 'variant': variant,
        'input': {'height': h, 'width': w, **V2I_INPUT, 'valid_hw': True},
        'classes': classes, 'graphs': {'student': 'student.onnx'},
        'batch_sizes': sorted(set(batch_sizes) | {1}),
        'output': {'kind': result['output_kind'], 'num_queries': result['num_queries']},
        'torch': {'state_dict': 'model.pt', 'builder': BUILDER,
                  'model_kwargs': train_cfg.get('model_kwargs') or {}},
        'provenance': {'config': train_cfg, 'git': _git_revision(),
                       'data': train_cfg.get('data_dir', ''), 'metrics': metrics,
                       'checkpoint': os.path.abspath(path) if path else None,
                       'random_weights': weights is None,
                       'exporter': 'torch.onnx torchscript (H7 export_student_onnx)',
                       'opset': OPSET}})
    if not check:
        return {}
    raise_if_stopped()
    # H7's exporter checked ONNX Runtime and the ops; static shapes are checked here, with
    # the same on-the-spot comparison as the StreamNet graphs.
    image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(1))
    valid_hw = torch.tensor([[h, max(1, w * 3 // 4)]], dtype=torch.float32)   # portrait picture
    with torch.no_grad():
        logits, boxes = graph(image, valid_hw)
    return {'student': check_graph(os.path.join(out, 'student.onnx'),
                                   {'image': image, 'valid_hw': valid_hw},
                                   {'pred_logits': logits, 'pred_boxes': boxes},
                                   static_intermediates=False)}


def _int8_check_args(args) -> Dict:
    """check-bundle's frames and decoded-detection tolerances for an int8 bundle: frames of the
    calibration source and the int8 tolerances (training/quantize.py); the raw outputs use the
    int8 row of output_compare.TOLERANCES. Nothing for fp32."""
    if not args.int8:
        return {}
    from training.calibration import check_frames
    from training.quantize import INT8_BOX_TOL, INT8_SCORE_TOL
    return {'score_tol': INT8_SCORE_TOL, 'box_tol': INT8_BOX_TOL,
            'frames': check_frames(args.calib, topic=args.calib_topic)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='video-perception export',
                                     description='export a model bundle (ONNX + model.json)')
    parser.add_argument('name', nargs='?',
                        help='model variant, e.g. streamnet_tiny, streamnet_s, detr_tiny '
                             '(default: the one --checkpoint was trained as)')
    parser.add_argument('--checkpoint', help='training checkpoint or state dict (EMA preferred), '
                        'or a bundle folder or its model.pt (re-export at another size, batch '
                        'or precision)')
    parser.add_argument('--size', help='network input HxW, e.g. 600x960 (default: the model\'s)')
    parser.add_argument('--out', required=True, help='bundle directory to write')
    parser.add_argument('--batch', default='1', help='static batch sizes to export, e.g. '
                        '1,2,4,8 (one node serving several cameras runs them batched)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the ONNX Runtime / operator / static-shape checks')
    parser.add_argument('--force', action='store_true', help='replace a non-empty --out')
    parser.add_argument('--int8', action='store_true', help='quantise the graphs to int8 (QDQ, '
                        'per-channel weights; training/quantize.py), calibrated on --calib')
    parser.add_argument('--calib', help='calibration frames for --int8: a dataset JSON, an image '
                        'folder or a rosbag2')
    parser.add_argument('--calib-frames', type=int, default=200,
                        help='frames spread evenly over --calib (default 200)')
    parser.add_argument('--calib-method', default='minmax',
                        choices=('minmax', 'entropy', 'percentile'))
    parser.add_argument('--calib-topic', help='the image topic of a --calib bag with several')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.int8 != bool(args.calib):
        parser.error('--int8 and --calib go together (an int8 bundle is calibrated on frames)')
    try:
        check_apart({'--out': args.out}, {'--checkpoint': args.checkpoint})
        size = parse_size(args.size) if args.size else None
        batch_sizes = parse_batch(args.batch)
        if args.int8:   # a bad calibration source fails before minutes of export
            from training.calibration import CalibSource
            CalibSource(args.calib, args.calib_frames, args.calib_topic)
        ckpt = read_checkpoint(args.checkpoint) if args.checkpoint else None
        name = model_name_of(args.name, ckpt)
        family = family_of(name)
        if ckpt is None:
            print('=' * 78 + f'\nWARNING: no --checkpoint: exporting {name} with RANDOM '
                  'weights.\nThe bundle is good for benchmarks and graph checks only; it will '
                  'not detect anything.\n' + '=' * 78, file=sys.stderr)
        export = get_family(family).export     # training/families/<family>.py
        with output_dir(args.out, args.force, '--out') as tmp:
            report = export(name, str(tmp), size=size, checkpoint=ckpt, check=not args.no_check,
                            batch_sizes=batch_sizes)
            # a SIGTERM that a library's bare ``except:`` swallowed (mpmath's ``import gmpy2``,
            # run when torch.export first imports sympy) stops here, between the steps, and
            # output_dir removes the partial bundle (test/test_sigterm_export.py)
            raise_if_stopped()
            if args.int8:
                from training.calibration import quantize_bundle
                quantize_bundle(str(tmp), args.calib, args.calib_frames, args.calib_method,
                                topic=args.calib_topic)
                raise_if_stopped()
            check_bundle(load_bundle(tmp))   # what the nodes will do: fails loudly if bad
            raise_if_stopped()
            if not args.no_check:   # non-square frames, the padding mask, the runtime's feeding
                from training.check_bundle import check_bundle as check_against_torch
                if check_against_torch(str(tmp), backend_name='onnxruntime',
                                       precision='int8' if args.int8 else 'fp32',
                                       **_int8_check_args(args)) != 0:
                    raise ValueError('the exported graphs disagree with the torch model on '
                                     'non-square frames (check-bundle above); nothing written')
    except (ValueError, OSError) as exc:
        print(f'video-perception export: {error_line(exc, args.out)}', file=sys.stderr)
        return 2
    for role, r in report.items():
        print(f'{role}: {r["nodes"]} nodes, opset {r["opset"]}, TensorRT ops ok, static I/O '
              f'({r["unresolved"]} intermediate shapes unresolved), onnxruntime vs torch max '
              f'abs {r["max_abs"]:.2e}')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
