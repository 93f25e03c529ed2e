"""torch.distributed set-up from torchrun's environment, a resumable sampler, reduce helpers.

No custom launcher (nanoGPT): ``torchrun --nproc_per_node=N -m training.train EXP`` sets RANK,
WORLD_SIZE and LOCAL_RANK; without them the run is a single process. NCCL on CUDA, gloo on CPU.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Dict, Iterator, List

import torch
import torch.distributed as dist


@dataclasses.dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    if pref == 'cuda' and not torch.cuda.is_available():
        raise ValueError('device=cuda: CUDA is not available on this machine (use device=cpu)')
    if pref == 'cuda' or (pref == 'auto' and torch.cuda.is_available()):
        return torch.device('cuda', local_rank)
    return torch.device('cpu')


def init_distributed(device_pref: str = 'auto') -> DistInfo:
    """Join the process group torchrun describes in the environment (or run alone)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    device = resolve_device(device_pref, local_rank)
    if world > 1 and not dist.is_initialized():
        backend = 'nccl' if device.type == 'cuda' else 'gloo'
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return DistInfo(rank, world, local_rank, device)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def all_reduce_mean(values: Dict[str, float], device: torch.device) -> Dict[str, float]:
    """Mean of each scalar over all ranks (for logging: every rank's loss counts)."""
    if world_size() == 1 or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def all_gather_object(obj: Any) -> List[Any]:
    """Every rank's ``obj`` in rank order (a one-element list when alone)."""
    if world_size() == 1:
        return [obj]
    out: List[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


class ResumableSampler(torch.utils.data.Sampler):
    """torch's DistributedSampler order, plus a start offset so a resumed epoch skips what's done.

    The epoch's permutation is ``randperm(n, generator=seed + epoch)`` (the same as
    ``DistributedSampler``); rank r takes positions r, r + W, r + 2W, ... With drop_last the
    length is trimmed so every rank gets the same number of whole batches, hence the same
    number of optimizer steps (a rank that steps once more would hang DDP). Consequence: the
    global batch of step i on W ranks is exactly the batch of step i of one process running
    W x the per-rank batch, which is what makes DDP and single-process runs comparable.
    """

    def __init__(self, length: int, batch_per_rank: int, rank: int = 0, world: int = 1,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = True):
        if length < batch_per_rank * world and drop_last:
            raise ValueError(f'dataset has {length} samples, fewer than one global batch '
                             f'({batch_per_rank} x {world} ranks)')
        self.length, self.batch, self.rank, self.world = length, batch_per_rank, rank, world
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self.start_batch = 0

    def batches_per_epoch(self) -> int:
        per_rank = self.length // self.world if self.drop_last else -(-self.length // self.world)
        full = per_rank // self.batch
        return full if self.drop_last else -(-per_rank // self.batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def _order(self) -> List[int]:
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=g).tolist()
        else:
            order = list(range(self.length))
        used = self.batches_per_epoch() * self.batch * self.world
        if not self.drop_last and used > len(order):  # pad like DistributedSampler
            order += order[:used - len(order)]
        return order[:used]

    def __iter__(self) -> Iterator[int]:
        mine = self._order()[self.rank::self.world]
        return iter(mine[self.start_batch * self.batch:])

    def __len__(self) -> int:
        return (self.batches_per_epoch() - self.start_batch) * self.batch
