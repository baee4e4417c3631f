"""Data-parallel training over processes (``torch.distributed``, launched by ``torchrun``).

Every process holds the whole data set and generators in the same state. Each global batch
is drawn (shuffle, crops, flips, noise, the attack's start) exactly as one process would
draw it, and each process keeps its contiguous rows (``Replica.rows``). BatchNorm statistics
are summed over the processes (``SyncBatchNorm2d``) and gradients averaged by
DistributedDataParallel, each process's loss weighted by its share of the batch. A step
therefore equals one process's step on the global batch up to floating-point rounding, and
the replicas stay identical.

One draw is not shared: where the attack's gradient is exactly zero for an image, the random
direction that replaces it is drawn by the process that holds the image, so from then on
the processes' draws differ from one process's (still independent Gaussian draws).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce

from linf_smoothing.shards import contiguous_part


@dataclass(frozen=True)
class Replica:
    """This process's place among ``world_size`` data-parallel processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that logs and writes files."""
        return self.rank == 0

    def rows(self, batch: int) -> slice:
        """This process's contiguous part of a global batch of ``batch`` rows."""
        return contiguous_part(batch, self.rank, self.world_size)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes (in place; unchanged for one process)."""
        if self.world_size > 1:
            dist.all_reduce(tensor)
        return tensor


SINGLE = Replica()


def world_size() -> int:
    """Processes of this training job, as ``torchrun`` set them (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(device: torch.device) -> tuple[Replica, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment (RANK,
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, ...); return this process's replica and the device
    it should use (``cuda:LOCAL_RANK`` on GPUs). Without torchrun, one process: SINGLE."""
    if world_size() == 1:
        return SINGLE, device
    replica = Replica(int(os.environ["RANK"]), world_size(), int(os.environ["LOCAL_RANK"]))
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.set_device(replica.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    return replica, torch.device(f"cuda:{replica.local_rank}" if cuda else "cpu")


def stop(replica: Replica) -> None:
    if replica.world_size > 1:
        dist.destroy_process_group()


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training-mode statistics are those of the global batch.

    One differentiable all-reduce of (sum, sum of squares, count) per layer gives the
    global mean and biased variance, as one process would compute them on the whole batch;
    the running statistics take the unbiased variance, as BatchNorm2d does. Unlike
    ``torch.nn.SyncBatchNorm`` it runs on every device, the CPU (gloo) included. In eval
    mode, or with one process, it is BatchNorm2d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        channels = x.shape[1]
        x32 = x.float()
        count = torch.full((1,), x.numel() // channels, dtype=torch.float32, device=x.device)
        stats = torch.cat([x32.sum((0, 2, 3)), (x32 * x32).sum((0, 2, 3)), count])
        stats = differentiable_all_reduce(stats)
        total = stats[-1]
        mean = stats[:channels] / total
        var = stats[channels:2 * channels] / total - mean * mean
        with torch.no_grad():
            self.num_batches_tracked.add_(1)
            factor = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
            self.running_mean.lerp_(mean.detach(), factor)
            self.running_var.lerp_(var.detach() * total / (total - 1), factor)
        scale = self.weight * torch.rsqrt(var + self.eps)
        out = x32 * scale[None, :, None, None] + (self.bias - mean * scale)[None, :, None, None]
        return out.to(x.dtype)


def synchronize_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm2d in ``module`` by a SyncBatchNorm2d with the same state
    (the state-dict keys do not change, so checkpoints load into the plain model)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = SyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                     child.track_running_stats, device=child.weight.device)
            synced.load_state_dict(child.state_dict())
            setattr(module, name, synced)
        else:
            synchronize_batchnorm(child)
    return module


def data_parallel(model: nn.Module, replica: Replica) -> nn.Module:
    """The module a training step calls for its loss: ``model`` itself for one process, else
    ``model`` with synchronized BatchNorm wrapped in DistributedDataParallel. Buffers are
    not broadcast: synchronized statistics keep them equal on every process."""
    if replica.world_size == 1:
        return model
    synchronize_batchnorm(model)
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False)
