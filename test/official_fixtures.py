"""Parity fixtures of official checkpoints (issue 19): reading them, and regenerating weights.

A fixture folder ``test/fixtures/official/<layout>/`` holds what the official code produced
(it is run beside the project, never committed):

* ``meta.json``: repository, commit, the official model config, seed, image sizes, how the
  weights were made and the sha256 of the regenerated state dict (``weights_sha256``);
* ``keys.json``: the official state dict's keys with their shapes, in the official order;
* ``inputs.npz``: ``images`` [B, 3, H, W] float32 (0 on padding) and ``masks`` [B, H, W] bool;
* ``outputs.npz``: ``pred_logits_f64``, ``pred_boxes_f64``, ``pred_logits_f32``,
  ``pred_boxes_f32`` of the official model in eval mode (float64 and float32 runs);
* ``state_dict.npz`` instead of regeneration when the weights are small.

Large weights are regenerated from the seed and the key list (``generate_state_dict``): each
tensor from its own PCG64 stream seeded by sha256(seed, key), whose raw 64-bit output is fixed by
the algorithm (numpy's distribution methods are not), mapped to a range chosen by the key's role
so that the network is neither trivial nor exploding: FrozenBatchNorm statistics with variances
in [0.5, 1.5), norm scales in [0.5, 1.5), small biases, and matrices U(-b, b) with b =
sqrt(3 / fan_in) (unit gain).
"""
import hashlib
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'official')
KeyShapes = List[Tuple[str, Tuple[int, ...]]]


def _uniform01(seed: int, key: str, n: int) -> np.ndarray:
    """n float64 in [0, 1) from the 53 high bits of PCG64's raw output (stable by definition)."""
    digest = hashlib.sha256(f'{seed}:{key}'.encode()).digest()
    bits = np.random.PCG64(int.from_bytes(digest[:16], 'little'))
    raw = bits.random_raw(n)
    return (raw >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def generated_tensor(seed: int, key: str, shape: Tuple[int, ...]) -> np.ndarray:
    """The fixture value of one state-dict entry, float64 [shape]."""
    n = int(np.prod(shape)) if shape else 1
    u = _uniform01(seed, key, n).reshape(shape)
    if key.endswith('running_var'):
        return 0.5 + u
    if key.endswith('running_mean'):
        return (u - 0.5) * 0.4
    if len(shape) == 1 and key.endswith('weight'):           # BN / LayerNorm / GroupNorm scale
        return 0.5 + u
    if len(shape) == 1:                                      # biases
        return (u - 0.5) * 0.2
    fan_in = int(np.prod(shape[1:]))
    return (2.0 * u - 1.0) * np.sqrt(3.0 / fan_in)


def generate_state_dict(seed: int, key_shapes: KeyShapes,
                        aliases: Optional[Dict[str, str]] = None) -> Dict[str, np.ndarray]:
    """``aliases`` {key: earlier key}: entries that share one tensor in the official model
    (SAM-DETR's ``transformer.decoder.bbox_embed`` is ``bbox_embed``) get its value."""
    aliases = aliases or {}
    out = {}
    for k, s in key_shapes:
        out[k] = out[aliases[k]] if k in aliases else generated_tensor(seed, k, tuple(s))
    return out


def state_dict_sha256(state: Dict[str, np.ndarray]) -> str:
    """sha256 over (key, shape, float64 little-endian bytes) in the dict's order."""
    h = hashlib.sha256()
    for k, v in state.items():
        a = np.ascontiguousarray(v, dtype='<f8')
        h.update(f'{k}:{list(a.shape)};'.encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_fixture(layout: str) -> Dict:
    """-> {'meta', 'key_shapes', 'inputs', 'outputs', 'dir'}; arrays as numpy."""
    d = os.path.join(FIXTURES, layout)
    with open(os.path.join(d, 'meta.json'), encoding='utf-8') as f:
        meta = json.load(f)
    with open(os.path.join(d, 'keys.json'), encoding='utf-8') as f:
        key_shapes = [(k, tuple(s)) for k, s in json.load(f)]
    with np.load(os.path.join(d, 'inputs.npz')) as z:
        inputs = {k: z[k] for k in z.files}
    with np.load(os.path.join(d, 'outputs.npz')) as z:
        outputs = {k: z[k] for k in z.files}
    return {'meta': meta, 'key_shapes': key_shapes, 'inputs': inputs, 'outputs': outputs,
            'dir': d}


def fixture_state_dict(fixture: Dict) -> Dict[str, np.ndarray]:
    """The official-layout weights of a fixture (stored, or regenerated and hash-checked)."""
    stored = os.path.join(fixture['dir'], 'state_dict.npz')
    if os.path.isfile(stored):
        with np.load(stored) as z:
            state = {k: z[k] for k, _ in fixture['key_shapes']}
    else:
        state = generate_state_dict(int(fixture['meta']['seed']), fixture['key_shapes'],
                                    fixture['meta'].get('aliases'))
    digest = state_dict_sha256(state)
    want = fixture['meta']['weights_sha256']
    if digest != want:
        raise AssertionError(f'{fixture["dir"]}: regenerated weights sha256 {digest}, '
                             f'expected {want}')
    return state


# --- StreamNet family (YOLOX, DAMO-StreamNet) -------------------------------------------------
# Same folder format; the official state dicts hold BatchNorm ``num_batches_tracked`` counters,
# which are left out of keys.json (no value to draw) and put back as the int64 zeros they are in
# a fresh model, one beside each ``running_var``.

def streamnet_family_checkpoint(fixture: Dict, dtype: str = 'float64') -> Dict:
    """``{'model': state dict}`` as the official trainers save it (torch tensors of ``dtype``,
    counters included), from a yolox / damo_streamnet fixture."""
    import torch
    out = {}
    for k, v in fixture_state_dict(fixture).items():
        out[k] = torch.from_numpy(np.asarray(v, dtype=dtype))
        if k.endswith('.running_var'):
            out[k[:-len('running_var')] + 'num_batches_tracked'] = torch.tensor(0)
    return {'model': out}
