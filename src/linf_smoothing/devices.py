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


def _in_largest_unit(value: float, units: tuple[tuple[str, float], ...]) -> tuple[str, str]:
    """``value`` as a number and the first of ``units`` (name, size, largest first) that keeps
    it at least 1 (else the last), two significant digits below 100."""
    name, size = next(((n, s) for n, s in units if value >= s), units[-1])
    number = value / size
    return (f"{number:,.0f}" if number >= 100 else f"{number:.2g}"), name


def duration(seconds: float) -> str:
    """``seconds`` in days, hours, minutes or seconds: "2.5 days", "1 hour"."""
    number, unit = _in_largest_unit(seconds, (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)))
    return f"{number} {unit}{'' if number == '1' else 's'}"


def amount_of_flops(flops: float) -> str:
    """``flops`` in PFLOP, TFLOP or GFLOP: "2.5 PFLOP", "410 TFLOP"."""
    return " ".join(_in_largest_unit(flops, (("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9))))


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
        log.info("device auto found no CUDA device: %s on the CPU (%s, less than %s even at %.2g GFLOP/s)",
                 job, amount_of_flops(flops), duration(limit), SLOWEST_CPU_FLOPS / 1e9)
        return
    rate = measure_rate()
    seconds = flops / rate
    measured = f"{amount_of_flops(flops)} counted, at {rate / 1e9:.3g} GFLOP/s measured on steps of this job here"
    if seconds > limit:
        raise ConfigError(f"device auto found no CUDA device, and {job} would take about {duration(seconds)} on this "
                          f"CPU ({measured}): run it where a GPU is visible, or set device: cpu (the scripts' option "
                          "--device cpu) to run it on the CPU anyway")
    log.info("device auto found no CUDA device: %s on the CPU, estimated at %s (%s)", job, duration(seconds), measured)
