"""``video-perception check-bundle BUNDLE [--image FILE ...] [--backend B] [--precision P]``:
does the deployed graph compute what the trained model computes?

Runs the bundle's torch twin (``model.pt`` through the training code) and the chosen backend on
the same frames (two non-square ones by default, or ``--image`` files) and compares two things:

* **raw outputs**: every output of every graph (StreamNet's encoder and forecast, the V2I
  student), the backend against the twin on identical inputs (the forecast of both gets the
  twin's encoder features), element by element with Polygraphy's rule
  ``|got - ref| <= atol + rtol * |ref|`` (``training.output_compare``); a table per graph gives
  each output's max / median absolute and relative error. The tolerance is the precision's row
  of ``output_compare.TOLERANCES`` (``--precision``; default the bundle's ``model.json``
  ``precision``, else fp32 for onnxruntime / torch and fp16 for TensorRT, fp32 with ``--fp32``),
  ``--atol`` / ``--rtol`` override it. A graph whose weights were altered (one tensor scaled by
  1.1) fails here even where the decoded detections barely move;
* **decoded detections**, end to end as the node runs them: the largest score and box
  differences, within ``--score-tol`` / ``--box-tol`` (FP16-sized defaults).

Exit status 0 when both pass, 1 when either fails, 2 when the bundle or an image cannot be used.
Run it after exporting (``export`` does, at fp32) and after building a TensorRT engine.

Both sides see the same letterboxed picture (the runtime's resize); what follows it is each
side's own:

* V2I: the reference normalises the picture with ``training.data.v2i.normalise_image``, pads it
  with 0 and a True mask as ``collate_v2i`` does, calls ``model(images, masks)`` and reads boxes
  relative to the picture (as ``v2i_eval``); the backend gets the bundle's preprocessing (pad
  value, normalisation) and ``valid_hw`` when its graph takes it. Boxes are compared in network
  pixels, scores after the output's activation (sigmoid, or softmax without no-object), per query.
* StreamNet: the reference is the evaluation forward ``model(frames [1, 3 (N + 1), H, W])`` (all
  N + 1 frames recomputed, no buffer); the backend runs the encoder per frame and the forecast on
  the current features plus the N buffered ones. Boxes (cx, cy, w, h) in network pixels and
  objectness x class scores are compared per anchor.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from training.output_compare import (PRECISIONS, OutputDiff, Tolerance, all_ok,
                                     compare_outputs, format_table, tolerance_for)
from video_perception.backends.base import (BACKEND_NAMES, BackendOptions, graph_input_names,
                                            graph_output_names)
from video_perception.bundle import Bundle, BundleError, load_bundle
from video_perception.letterbox import letterbox, preprocess
from video_perception.validate import arg_nonnegative

SCORE_TOL = 0.02      # FP16-sized; FP32 backends agree to ~1e-5
BOX_TOL = 2.0         # network pixels


def default_frames(n: int = 2, seed: int = 0, portrait: bool = True) -> List[np.ndarray]:
    """``n`` smooth BGR frames, landscape 360x640 (alternately portrait 500x300 with
    ``portrait``), each a small shift of the last (a moving camera for StreamNet's history)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    import cv2
    big = cv2.resize(base, (700, 700), interpolation=cv2.INTER_CUBIC)
    frames = []
    for i in range(n):
        h, w = (500, 300) if portrait and i % 2 else (360, 640)
        frames.append(np.ascontiguousarray(big[3 * i:3 * i + h, 5 * i:5 * i + w]))
    return frames


def read_images(paths: Sequence[str]) -> List[np.ndarray]:
    import cv2
    frames = []
    for path in paths:
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f'--image {path}: not a readable image file')
        frames.append(img)
    return frames


def _scores(logits: np.ndarray, kind: str) -> np.ndarray:
    """[Q, C'] -> [Q, C] class probabilities as the decoders see them."""
    if kind == 'detr_softmax':
        e = np.exp(logits - logits.max(-1, keepdims=True))
        return (e / e.sum(-1, keepdims=True))[:, :-1]
    return 1.0 / (1.0 + np.exp(-logits))


@torch.no_grad()
def v2i_pair(twin, backend, bundle: Bundle, frame: np.ndarray) -> Tuple[Dict, Dict]:
    """(reference, backend) as {'scores' [Q, C], 'boxes' [Q, 4] network-pixel cxcywh}."""
    from training.data.v2i import normalise_image
    h_net, w_net = bundle.height, bundle.width
    canvas, t = letterbox(frame, h_net, w_net, 'top_left', 0)
    rows, cols = t.new_height, t.new_width
    picture = normalise_image(canvas[:rows, :cols])                    # [3, rows, cols]
    images = torch.zeros(1, 3, h_net, w_net)
    images[0, :, :rows, :cols] = torch.from_numpy(picture)
    masks = torch.ones(1, h_net, w_net, dtype=torch.bool)
    masks[0, :rows, :cols] = False
    out = twin.model(images, masks)
    kind = bundle.output_kind
    ref = {'scores': _scores(out['pred_logits'][0].numpy(), kind),
           'boxes': out['pred_boxes'][0].numpy() * np.array([cols, rows, cols, rows])}
    tensor, _ = preprocess(frame, bundle, input_order='bgr')
    inputs = {'image': tensor}
    if 'valid_hw' in graph_input_names(bundle, 'student'):
        inputs['valid_hw'] = np.array([[rows, cols]], np.float32)
    res = backend.run('student', inputs)
    got = {'scores': _scores(res['pred_logits'][0], kind),
           'boxes': res['pred_boxes'][0] * np.array([w_net, h_net, w_net, h_net])}
    return ref, got


def _split_yolox(preds: np.ndarray) -> Dict:
    """[A, 5 + C] -> boxes [A, 4] and objectness x class scores [A, C]."""
    return {'boxes': preds[:, :4], 'scores': preds[:, 4:5] * preds[:, 5:]}


@torch.no_grad()
def streamnet_pair(twin, backend, bundle: Bundle,
                   frames: Sequence[np.ndarray]) -> Tuple[Dict, Dict]:
    """``frames`` newest first: [t, t - dt, ..., t - N dt]."""
    tensors = [preprocess(f, bundle, input_order='bgr')[0] for f in frames]
    ref = twin.model(torch.from_numpy(np.concatenate(tensors, 1)))[0].numpy()
    feats = [backend.run('encoder', {'image': x}) for x in tensors]
    inputs = dict(feats[0])
    for k, past in enumerate(feats[1:], 1):
        inputs.update({f'{name}_h{k}': value for name, value in past.items()})
    got = backend.run('forecast', inputs)['predictions'][0]
    return _split_yolox(ref), _split_yolox(got)


@torch.no_grad()
def reference_run(twin, bundle: Bundle, role: str,
                  inputs: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The twin's outputs of graph ``role`` by name, fed as the graph is (its input order; the
    family's ``TORCH_METHODS`` names the method, as the torch backend calls it)."""
    from video_perception.families import get_family
    method = getattr(twin, getattr(get_family(bundle.family), 'TORCH_METHODS', {})
                     .get(role, '__call__'))
    args = [torch.from_numpy(np.ascontiguousarray(inputs[n], dtype=np.float32))
            for n in graph_input_names(bundle, role)]
    outs = method(*args)
    outs = list(outs.values()) if isinstance(outs, dict) else \
        list(outs) if isinstance(outs, (list, tuple)) else [outs]
    names = graph_output_names(bundle, role)
    names = names + [f'output_{i}' for i in range(len(names), len(outs))]  # extra: named
    return {n: o.float().numpy() for n, o in zip(names, outs)}


def raw_cases(twin, bundle: Bundle, frames: Sequence[np.ndarray]) -> List[Tuple[str, str, Dict]]:
    """[(role, label, inputs)]: every graph's inputs on the check frames. StreamNet: the encoder
    on every frame, the forecast on the twin's features of the newest N + 1 (the earliest frame
    repeated when there are fewer, as the buffer primes)."""
    tensors = [preprocess(f, bundle, input_order='bgr')[0] for f in frames]
    shapes = [f'{f.shape[0]}x{f.shape[1]}' for f in frames]
    if bundle.family == 'v2i':
        cases = []
        for i, (frame, x) in enumerate(zip(frames, tensors)):
            inputs = {'image': x}
            if 'valid_hw' in graph_input_names(bundle, 'student'):
                _, t = letterbox(frame, bundle.height, bundle.width, 'top_left', 0)
                inputs['valid_hw'] = np.array([[t.new_height, t.new_width]], np.float32)
            cases.append(('student', f'frame {i} ({shapes[i]})', inputs))
        return cases
    cases = [('encoder', f'frame {i} ({shapes[i]})', {'image': x}) for i, x in enumerate(tensors)]
    feats = [reference_run(twin, bundle, 'encoder', {'image': x}) for x in tensors]
    n = bundle.history_frames
    window = ([feats[0]] * max(0, n + 1 - len(feats)) + feats)[-(n + 1):][::-1]  # newest first
    inputs = dict(window[0])
    for k, past in enumerate(window[1:], 1):
        inputs.update({f'{name}_h{k}': value for name, value in past.items()})
    cases.append(('forecast', f'frame {len(frames) - 1} + {n} past', inputs))
    return cases


def compare_raw(twin, backend, bundle: Bundle, frames: Sequence[np.ndarray],
                tol: Tolerance) -> List[Tuple[str, List[OutputDiff]]]:
    """[(graph label, per-output diffs)] of every graph on ``frames``."""
    out = []
    for role, label, inputs in raw_cases(twin, bundle, frames):
        ref = reference_run(twin, bundle, role, inputs)
        got = backend.run(role, {k: v for k, v in inputs.items()
                                 if k in graph_input_names(bundle, role)})
        out.append((f'{role}, {label}', compare_outputs(got, ref, tol)))
    return out


def default_precision(bundle: Bundle, backend_name: str,
                      options: Optional[BackendOptions] = None) -> str:
    """model.json's ``precision`` when it states one, else what the backend computes in:
    fp16 for a TensorRT engine built with FP16, fp32 otherwise."""
    stated = bundle.raw.get('precision')
    if stated:
        if stated not in PRECISIONS:
            raise BundleError(f'bundle model.json precision is {stated!r}; expected one of '
                              f'{", ".join(PRECISIONS)}')
        return str(stated)
    fp16 = options.fp16 if options is not None else True
    return 'fp16' if backend_name == 'tensorrt' and fp16 else 'fp32'


def _diff(ref: Dict, got: Dict) -> Tuple[float, float]:
    return (float(np.abs(ref['scores'] - got['scores']).max()),
            float(np.abs(ref['boxes'] - got['boxes']).max()))


def check_bundle(path: str, frames: Optional[List[np.ndarray]] = None,
                 backend_name: str = 'onnxruntime', score_tol: float = SCORE_TOL,
                 box_tol: float = BOX_TOL, options: Optional[BackendOptions] = None,
                 out=None, precision: Optional[str] = None, atol: Optional[float] = None,
                 rtol: Optional[float] = None) -> int:
    """Print the raw-output tables, one line per frame's detections and the verdict; returns 0
    (agrees) or 1 (differs). ``precision`` None: ``default_precision``."""
    from training.twin import build_from_bundle
    from video_perception.backends.select import load_backend
    bundle = load_bundle(path)
    precision = precision or default_precision(bundle, backend_name, options)
    tol = tolerance_for(precision, atol, rtol)
    twin = build_from_bundle(bundle).eval()
    backend = load_backend(bundle, backend_name, options or BackendOptions(device='cpu'),
                           log=lambda text: print(f'check-bundle: {text}', file=sys.stderr))
    try:
        if bundle.family == 'v2i':
            frames = frames or default_frames(2)
            raw = compare_raw(twin, backend, bundle, frames, tol)
            pairs = [(f'frame {i} ({f.shape[0]}x{f.shape[1]})', v2i_pair(twin, backend, bundle, f))
                     for i, f in enumerate(frames)]
        else:
            n = bundle.history_frames
            frames = frames or default_frames(n + 1, portrait=False)   # time order
            raw = compare_raw(twin, backend, bundle, frames, tol)
            # fewer frames than the history: the earliest repeats, as the node's buffer primes
            seq = [frames[0]] * max(0, n + 1 - len(frames)) + list(frames)
            pairs = []
            for i in range(n, len(seq)):
                window = seq[i - n:i + 1][::-1]
                f = window[0]
                pairs.append((f'frame {i - n} ({f.shape[0]}x{f.shape[1]}) + {n} past',
                              streamnet_pair(twin, backend, bundle, window)))
    finally:
        backend.close()
    out = out or sys.stdout
    worst_score, worst_box = 0.0, 0.0
    print(f'check-bundle {path}: {bundle.family} {bundle.variant} at {bundle.height}x'
          f'{bundle.width}, torch reference vs {backend.describe()}', file=out)
    print(f'raw outputs, {precision} tolerance |got - ref| <= {tol.atol:g} + {tol.rtol:g} x '
          f'|ref| per element:', file=out)
    for label, diffs in raw:
        print(f'  {label}', file=out)
        print('\n'.join('    ' + line for line in format_table(diffs).splitlines()), file=out)
    raw_ok = all(all_ok(diffs) for _, diffs in raw)
    bad = [f'{label}: {d.name}' for label, diffs in raw for d in diffs if not d.ok]
    print('decoded detections:', file=out)
    for label, (ref, got) in pairs:
        ds, db = _diff(ref, got)
        worst_score, worst_box = max(worst_score, ds), max(worst_box, db)
        print(f'  {label}: max |score diff| {ds:.3g}, max |box diff| {db:.3g} px', file=out)
    dets_ok = worst_score <= score_tol and worst_box <= box_tol
    ok = raw_ok and dets_ok
    raw_verdict = ('raw outputs within' if raw_ok else
                   f'raw outputs OUTSIDE ({len(bad)}: {", ".join(bad[:3])}'
                   f'{", ..." if len(bad) > 3 else ""})') + \
        f' {precision} tolerance (atol {tol.atol:g}, rtol {tol.rtol:g})'
    print(f'{"PASS" if ok else "FAIL"}: max score diff {worst_score:.3g} (tolerance {score_tol}), '
          f'max box diff {worst_box:.3g} px (tolerance {box_tol}) over {len(pairs)} frames; '
          f'{raw_verdict}', file=out)
    return 0 if ok else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='video-perception check-bundle',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('bundle', help='model bundle folder (model.json + ONNX graphs)')
    parser.add_argument('--image', action='append', default=[],
                        help='image file (repeatable; StreamNet: in time order, newest last)')
    parser.add_argument('--backend', default='onnxruntime', choices=BACKEND_NAMES,
                        help='backend to check against the torch reference')
    parser.add_argument('--device', default='auto', help='auto, cpu or cuda')
    parser.add_argument('--fp32', action='store_true', help='TensorRT: an FP32 engine')
    parser.add_argument('--precision', choices=PRECISIONS,
                        help='tolerance row for the raw outputs (default: model.json '
                             '"precision", else fp32; fp16 for a TensorRT FP16 engine)')
    parser.add_argument('--atol', type=float, help='raw outputs: absolute tolerance override')
    parser.add_argument('--rtol', type=float, help='raw outputs: relative tolerance override')
    parser.add_argument('--score-tol', type=arg_nonnegative, default=SCORE_TOL)
    parser.add_argument('--box-tol', type=arg_nonnegative, default=BOX_TOL,
                        help='network pixels')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames = read_images(args.image) or None
        return check_bundle(args.bundle, frames, args.backend, args.score_tol, args.box_tol,
                            BackendOptions(device=args.device, fp16=not args.fp32),
                            precision=args.precision, atol=args.atol, rtol=args.rtol)
    except (BundleError, ValueError, OSError, RuntimeError) as exc:
        print(f'video-perception check-bundle: {str(exc).strip().splitlines()[0]}',
              file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
