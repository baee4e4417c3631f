"""Where torch computes: the one place a device name from the configuration becomes a device,
and the check that ``device: auto`` does not silently start days of work on a CPU."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import torch

from linf_smoothing.errors import ConfigError

if TYPE_CHECKING:
    from linf_smoothing.costs import Cost

# The longest a job may be estimated to take on the CPU that `device: auto` fell back to
# without the user saying so (device: cpu): longer than any job of the demo profiles or the
# tests (minutes), far shorter than one of the paper's (ResNet-110 on CIFAR-10: days).
CPU_HOURS_WITHOUT_ASKING = 1.0
# A rate below any CPU's that runs torch's convolutions (one laptop core: tens of GFLOP/s; a
# 2-core machine shared by a dozen jobs measured 1-10 GFLOP/s of CPU time): a job that takes less
# than CPU_HOURS_WITHOUT_ASKING even at this rate is let through unmeasured.
SLOWEST_CPU_FLOPS = 1e9


def resolve_device(name: str) -> torch.device:
    """'auto' is CUDA when present, else the CPU; 'cuda' without a visible GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is visible: set device: auto or cpu")
    return torch.device(name)


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps the number at least 1 ("2.5 days", "1 hour")."""
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= length or unit == "second":
            number = f"{seconds / length:.2g}" if seconds < 10 * length else f"{seconds / length:.0f}"
            return f"{number} {unit}{'' if number == '1' else 's'}"


def check_cpu_time(requested: str, device: torch.device, job: str, cost: Callable[[], Cost]) -> None:
    """When ``requested`` was 'auto' and ``device`` is the CPU, estimate the time of ``job`` (a
    description such as "training ResNet-110 ...") from ``cost()``: its FLOPs, at the FLOP/s at
    which this machine runs its own steps (``costs.training_cost``, ``costs.sampling_cost``;
    measured only for a job that SLOWEST_CPU_FLOPS would not finish within the limit). Refuse
    it, with the estimate, when it exceeds CPU_HOURS_WITHOUT_ASKING; else log the estimate. A
    device asked for by name (cpu, cuda) is never checked."""
    if requested != "auto" or device.type != "cpu":
        return
    log = logging.getLogger("devices")
    limit = CPU_HOURS_WITHOUT_ASKING * 3600
    flops, measure_rate = cost()
    if flops < limit * SLOWEST_CPU_FLOPS:
        log.info("device auto found no CUDA device: %s on the CPU (%.2g PFLOP, less than %s even at %.2g GFLOP/s)",
                 job, flops / 1e15, duration(limit), SLOWEST_CPU_FLOPS / 1e9)
        return
    rate = measure_rate()
    seconds = flops / rate
    measured = f"{flops / 1e15:.2g} PFLOP counted, at {rate / 1e9:.3g} GFLOP/s measured on steps of this job here"
    if seconds > limit:
        raise ConfigError(f"device auto found no CUDA device, and {job} would take about {duration(seconds)} on this "
                          f"CPU ({measured}): run it where a GPU is visible, or set device: cpu (the scripts' option "
                          "--device cpu) to run it on the CPU anyway")
    log.info("device auto found no CUDA device: %s on the CPU, estimated at %s (%s)", job, duration(seconds), measured)
