"""Checkpoints that survive a crash and resume a run exactly.

A checkpoint is one ``torch.save`` dict::

    {'format': 'video_perception.train/1', 'epoch': e, 'step': s, 'iter_in_epoch': i,
     'model': state dict (frozen prefixes left out), 'optimizer': ..., 'scheduler': ...,
     'ema': {'updates', 'model'} | None, 'scaler': ... | None,
     'rng': [per-rank {'python', 'numpy', 'torch', 'cuda'}],  # index = rank
     'config': {...}, 'metrics': {...}, 'exp': name}

It is written to a temporary file in the same directory, flushed to disk, then renamed over the
old one (``os.replace`` is atomic on POSIX), so a crash mid-write leaves the last good checkpoint
intact. The temporary file of a writer that was killed (``.best.pt.tmp<pid>``) is removed by the
next save of that name, once its process is gone. The trainer writes ``best.pt`` before
``last.pt``, so a run killed between the two resumes from a ``last.pt`` that does not yet know of
the new best, evaluates that epoch again and writes ``best.pt`` again; ``best_on_disk`` lets a run
whose ``last.pt`` claims a best that ``best.pt`` never received write it again. Every value is a
tensor or a plain Python container, so it loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import errno
import glob
import os
import random
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

FORMAT = 'video_perception.train/1'


def get_rng_state() -> Dict[str, Any]:
    """This process's RNG states (python, numpy, torch CPU, CUDA) in weights_only-safe types."""
    np_state = np.random.get_state()
    state = {
        'python': random.getstate(),
        # numpy's MT19937 state: (name, key[624] uint32, pos, has_gauss, cached_gaussian)
        'numpy': (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  int(np_state[2]), int(np_state[3]), float(np_state[4])),
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what ``get_rng_state`` returned (python's tuple may come back as lists)."""
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, key, pos, has_gauss, cached = state['numpy']
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state['torch'])
    if state.get('cuda') and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def model_state(model: torch.nn.Module, exclude_prefixes: Sequence[str] = ()) -> Dict:
    """The state dict without frozen sub-modules (e.g. the distillation teacher)."""
    return {k: v for k, v in model.state_dict().items()
            if not any(k.startswith(p) for p in exclude_prefixes)}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temps(path: str) -> None:
    """Remove ``path``'s temporary files left by writers that were killed mid-write."""
    directory, name = os.path.split(os.path.abspath(path))
    for tmp in glob.glob(os.path.join(glob.escape(directory), f'.{glob.escape(name)}.tmp*')):
        pid = tmp.rsplit('.tmp', 1)[1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.remove(tmp)
            except FileNotFoundError:
                pass


def has_checkpoint(run_dir) -> bool:
    """Whether a run folder holds a checkpoint worth keeping (for resume=auto)."""
    return bool(glob.glob(os.path.join(glob.escape(str(run_dir)), '*.pt')))


def best_on_disk(run_dir: str) -> Optional[float]:
    """The best metric that ``run_dir/best.pt`` holds, None when it is missing or unreadable."""
    try:
        best = load_checkpoint(os.path.join(run_dir, 'best.pt')).get('best')
    except ValueError:
        return None
    return float(best) if isinstance(best, (int, float)) else None


def torch_save(obj, target, path: Optional[str] = None) -> None:
    """``torch.save(obj, target)`` (a path or an open file; ``path`` names the file) whose write
    errors are OSErrors naming the file: torch raises a RuntimeError such as 'unexpected pos 704
    vs 598' when the disk is full."""
    path = str(target) if path is None else path
    try:
        torch.save(obj, target)
    except RuntimeError as exc:
        try:
            free = os.statvfs(os.path.dirname(os.path.abspath(path)) or '.').f_bavail
        except OSError:
            free = 1
        code = errno.ENOSPC if free == 0 else errno.EIO
        cause = os.strerror(code) if free == 0 else f'torch.save failed: {str(exc).strip()[:120]}'
        raise OSError(code, cause, str(path)) from exc


def save_checkpoint(path: str, state: Dict[str, Any]) -> str:
    """Write ``state`` to ``path`` atomically (temp file in the same dir, fsync, rename).

    On any failure the temporary file is removed and the previous ``path`` is untouched.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    state = dict(state)
    state.setdefault('format', FORMAT)
    remove_stale_temps(path)
    tmp = os.path.join(directory, f'.{os.path.basename(path)}.tmp{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            torch_save(state, f, tmp)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str, map_location: Optional[str] = 'cpu') -> Dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``); ValueError names a bad file."""
    if not os.path.isfile(path):
        raise ValueError(f'checkpoint {path!r}: no such file')
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which and why, in one line
        first = str(exc).splitlines()[0].split('. ')[0] if str(exc) else ''
        raise ValueError(f'checkpoint {path!r}: cannot be read ({type(exc).__name__}: {first}); '
                         f'expected a torch checkpoint written by training (truncated or '
                         f'another kind of file?)') from None
    if not isinstance(state, dict):
        raise ValueError(f'checkpoint {path!r}: expected a dict, got {type(state).__name__}')
    return state


def model_weights_from(state: Dict[str, Any], prefer_ema: bool = True) -> Dict[str, Any]:
    """The weights to deploy from a training checkpoint (EMA when present) or a bare state dict."""
    if state.get('format') == FORMAT and isinstance(state.get('model'), dict):
        if prefer_ema and state.get('ema'):
            return state['ema']['model']
        return state['model']
    for key in ('model', 'state_dict'):  # YOLOX / DETR checkpoints keep weights under these
        if isinstance(state.get(key), dict):
            return state[key]
    return state
