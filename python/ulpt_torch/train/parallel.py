"""Mirrors src/train/parallel.ts (data parallelism), with PyTorch's own runtime: processes started by torchrun, the
prompt's gradient (a few KB) all-reduced in one flat tensor, so the order of the sum is fixed. Each rank computes
its share of every micro-batch; the sum over ranks equals one process with the same global batch up to float
reassociation."""
import gc
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List

import torch
import torch.distributed as dist


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def init_world(device_type: str) -> World:
    """The process group torchrun describes in the environment (RANK, WORLD_SIZE, MASTER_ADDR…); one process without it."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    backend = "nccl" if device_type == "cuda" else "gloo"
    # A long evaluation or a slow first step on one rank keeps the others waiting in a collective: allow it.
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=60))
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_sum(world: World, tensors: List[torch.Tensor]) -> List[torch.Tensor]:
    """The element-wise sum over ranks of each tensor, in one flat all-reduce (fixed layout, fixed order)."""
    if not world.distributed:
        return tensors
    flat = torch.cat([t.reshape(-1).float() for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, at = [], 0
    for t in tensors:
        out.append(flat[at : at + t.numel()].reshape(t.shape).to(t.dtype))
        at += t.numel()
    return out


def agree(world: World, flag: bool, device: torch.device) -> bool:
    """Rank 0's decision (stop now?) on every rank."""
    if not world.distributed:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def most(world: World, counts: List[int], device: torch.device) -> List[int]:
    """Each of `counts` as its largest over the ranks, in one all-reduce (a flag as 0/1: true when true on any rank)."""
    if not world.distributed:
        return counts
    t = torch.tensor(counts, dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [int(x) for x in t.tolist()]


def gather_objects(world: World, mine) -> list:
    """Every rank's value (a device name, an evaluation share), in rank order, on every rank."""
    if not world.distributed:
        return [mine]
    out = [None] * world.size
    dist.all_gather_object(out, mine)
    return out


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def close_world(world: World, finished: bool = False) -> None:
    """Ends the process group while the interpreter is whole. The model FSDP sharded (and the async collectives it
    keeps) is freed first: objects holding Gloo work that outlive the group are destroyed during interpreter
    finalization, where taking the GIL aborts the process (seen once in CI after a completed sharded run). `finished`:
    every rank ended the loop, so they also wait for each other and tear down together."""
    if not (world.distributed and dist.is_initialized()):
        return
    gc.collect()
    if finished:
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 — a peer already gone: nothing to wait for
            pass
    dist.destroy_process_group()
    gc.collect()
