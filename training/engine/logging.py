"""Run logs on rank 0: JSON lines (``log.jsonl``), TensorBoard scalars, a tqdm progress bar.

Every other rank gets a logger that does nothing, so the loop never tests the rank itself.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Dict, Optional

from tqdm import tqdm


class RunLogger:
    """Writes ``<run_dir>/log.jsonl`` (one object per line, appended across resumes)."""

    def __init__(self, run_dir: str, enabled: bool = True, tensorboard: bool = True,
                 progress: bool = True):
        self.enabled = enabled
        self.run_dir = run_dir
        self._bar: Optional[tqdm] = None
        self._progress = progress and enabled
        self._tb = None
        self._jsonl = None
        if not enabled:
            return
        os.makedirs(run_dir, exist_ok=True)
        self._jsonl = open(os.path.join(run_dir, 'log.jsonl'), 'a', encoding='utf-8')
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(os.path.join(run_dir, 'tb'))
            except ImportError as exc:  # tensorboard is pinned, but logs must not stop a run
                print(f'train: TensorBoard disabled ({exc})', file=sys.stderr)

    def info(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text)
        else:
            print(text, flush=True)

    def log(self, kind: str, step: int, values: Dict[str, float], **extra) -> None:
        """One JSON line ``{"kind", "step", "time", **extra, **values}`` and TB scalars."""
        if not self.enabled:
            return
        record = {'kind': kind, 'step': step, 'time': round(time.time(), 3), **extra}
        for k, v in values.items():
            record[k] = v if not isinstance(v, float) or math.isfinite(v) else str(v)
        self._jsonl.write(json.dumps(record) + '\n')
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)):
                    self._tb.add_scalar(f'{kind}/{k}', v, step)

    def start_epoch(self, epoch: int, total: int, initial: int = 0) -> None:
        if self._progress:
            self._bar = tqdm(total=total, initial=initial, desc=f'epoch {epoch}',
                             dynamic_ncols=True, leave=False, file=sys.stderr)

    def advance(self, postfix: Dict[str, float]) -> None:
        if self._bar is not None:
            if postfix:
                self._bar.set_postfix({k: f'{v:.4g}' for k, v in postfix.items()},
                                      refresh=False)
            self._bar.update(1)

    def end_epoch(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def close(self) -> None:
        self.end_epoch()
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
