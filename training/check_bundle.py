"""``video-perception check-bundle BUNDLE [--image FILE ...] [--backend B]``: does the deployed
graph compute what the trained model computes?

Runs the bundle's torch twin (``model.pt`` through the training code) with the training code's
evaluation semantics, and the chosen backend as the nodes run it, on the same frames (two
non-square ones by default, or ``--image`` files), and prints the largest score and box
differences and one verdict line. Exit status 0 within ``--score-tol`` / ``--box-tol``, 1 past
them, 2 when the bundle or an image cannot be used. Run it after exporting (``export`` does) and
after building a TensorRT engine (FP16 drift: the default tolerances are FP16-sized; FP32
backends agree to about 1e-5).

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

from video_perception.backends.base import BACKEND_NAMES, BackendOptions, graph_input_names
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


def _diff(ref: Dict, got: Dict) -> Tuple[float, float]:
    return (float(np.abs(ref['scores'] - got['scores']).max()),
            float(np.abs(ref['boxes'] - got['boxes']).max()))


def check_bundle(path: str, frames: Optional[List[np.ndarray]] = None,
                 backend_name: str = 'onnxruntime', score_tol: float = SCORE_TOL,
                 box_tol: float = BOX_TOL, options: Optional[BackendOptions] = None,
                 out=None) -> int:
    """Print one line per frame and the verdict; returns 0 (agrees) or 1 (differs)."""
    from training.twin import build_from_bundle
    from video_perception.backends.select import load_backend
    bundle = load_bundle(path)
    twin = build_from_bundle(bundle).eval()
    backend = load_backend(bundle, backend_name, options or BackendOptions(device='cpu'),
                           log=lambda text: print(f'check-bundle: {text}', file=sys.stderr))
    try:
        if bundle.family == 'v2i':
            frames = frames or default_frames(2)
            pairs = [(f'frame {i} ({f.shape[0]}x{f.shape[1]})', v2i_pair(twin, backend, bundle, f))
                     for i, f in enumerate(frames)]
        else:
            n = bundle.history_frames
            frames = frames or default_frames(n + 1, portrait=False)   # time order
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
    for label, (ref, got) in pairs:
        ds, db = _diff(ref, got)
        worst_score, worst_box = max(worst_score, ds), max(worst_box, db)
        print(f'  {label}: max |score diff| {ds:.3g}, max |box diff| {db:.3g} px', file=out)
    ok = worst_score <= score_tol and worst_box <= box_tol
    print(f'{"PASS" if ok else "FAIL"}: max score diff {worst_score:.3g} (tolerance {score_tol}), '
          f'max box diff {worst_box:.3g} px (tolerance {box_tol}) over {len(pairs)} frames',
          file=out)
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
    parser.add_argument('--score-tol', type=arg_nonnegative, default=SCORE_TOL)
    parser.add_argument('--box-tol', type=arg_nonnegative, default=BOX_TOL,
                        help='network pixels')
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames = read_images(args.image) or None
        return check_bundle(args.bundle, frames, args.backend, args.score_tol, args.box_tol,
                            BackendOptions(device=args.device, fp16=not args.fp32))
    except (BundleError, ValueError, OSError, RuntimeError) as exc:
        print(f'video-perception check-bundle: {str(exc).strip().splitlines()[0]}',
              file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
