"""What a training or a certification costs, in FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (matrix products and convolutions, forward and
backward, 2 FLOPs a multiply-add; element-wise work such as BatchNorm and ReLU is not counted),
and the rate at which this machine runs them.

The counts run the real work once on a small batch: one ``training.train_step`` of the
method (its loss, its attack, backward, the SGD step) or one ``Smooth.votes`` call. Every
operation of either is per image, so the counts scale exactly with the batch, and a job's
FLOPs are the count per image times its images:

- training = epochs x (step FLOPs x training images + forward FLOPs x (training images +
  2 x test images)), the last term being the loop's per-epoch accuracies;
- certification = forward FLOPs x samples per image x images.

``benchmarks/estimate_gpu_hours.py`` turns them into GPU hours at an assumed rate;
``training_cost`` and ``sampling_cost`` give a job's FLOPs and measure the rate at which this
machine runs that job's own steps, from which ``devices.check_cpu_time`` estimates its time here.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from linf_smoothing.models import cifar_resnet
from linf_smoothing.settings import TrainSettings
from linf_smoothing.smoothing import Smooth
from linf_smoothing.training import make_optimizer, train_step


def counted_flops(work: Callable[[], object]) -> float:
    """FLOPs of one call of ``work`` (which runs it)."""
    with FlopCounterMode(display=False) as counter:
        work()
    return float(counter.get_total_flops())


def measured_rate(work_of: Callable[[int], Callable[[], object]], flops_per_item: float, largest: int,
                  first: Callable[[], object], enough: float = 0.5) -> float:
    """FLOP/s at which this machine runs ``work_of(batch)`` (``flops_per_item`` x batch FLOPs):
    one timed call at batches 1 (``first``, already called once), 2, 4, ... up to ``largest``,
    each after an untimed call (the first call at a shape prepares its kernels), until a timed
    call takes ``enough`` seconds of wall time (small batches underrate a machine by their fixed
    costs per call); the best rate of them. A call's rate counts its wall time, or the CPU time
    the process got where that is less: a machine shared with other jobs stretches the wall time
    of a call, not the job's own cost."""
    best, batch, work = 0.0, 1, first
    while True:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best = max(best, flops_per_item * batch / max(min(wall, cpu), 1e-9))
        if wall >= enough or batch >= largest:
            return best
        batch = min(2 * batch, largest)
        work = work_of(batch)
        work()


def training_step(settings: TrainSettings, image_size: int, batch: int = 1, in_channels: int = 3,
                  num_classes: int = 10, epoch: int | None = None) -> Callable[[], torch.Tensor]:
    """One ``train_step`` of ``settings.method`` on a fresh model and a random uint8 batch of
    ``batch`` images of ``image_size`` pixels, on the CPU, at ``epoch`` (by default the last,
    so warm-ups and deferrals are over; neither changes the count), as a call. Building it
    leaves torch's global generator as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cifar_resnet(settings.depth, settings.widths, in_channels, num_classes)
    optimizer = make_optimizer(model, settings)
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch, in_channels, image_size, image_size), dtype=torch.uint8,
                           generator=generator)
    labels = torch.randint(0, num_classes, (batch,), generator=generator)
    epoch = settings.epochs - 1 if epoch is None else epoch
    return lambda: train_step(model, optimizer, images, labels, settings, generator, epoch=epoch)


def sampling_call(model: torch.nn.Module, image_shape: tuple[int, ...], num_classes: int, batch: int = 1,
                  sigma: float = 0.25) -> Callable[[], object]:
    """One ``Smooth.votes`` call of ``model`` on ``batch`` noisy copies of a random image of
    ``image_shape`` (C, H, W), on the model's device."""
    device = next(model.parameters()).device
    smooth = Smooth(model, num_classes, sigma, batch)
    x = torch.rand(image_shape, generator=torch.Generator().manual_seed(0)).to(device)
    return lambda: smooth.votes(x, batch, generator=torch.Generator(device=device).manual_seed(0))


def training_step_flops(settings: TrainSettings, image_size: int, batch: int = 1, in_channels: int = 3,
                        num_classes: int = 10, epoch: int | None = None) -> float:
    """FLOPs per image of one ``train_step`` (``training_step``'s arguments)."""
    return counted_flops(training_step(settings, image_size, batch, in_channels, num_classes, epoch)) / batch


def sampling_flops(depth: int, widths: tuple[int, ...], image_size: int, sigma: float = 0.25, batch: int = 1,
                   in_channels: int = 3, num_classes: int = 10) -> float:
    """FLOPs per noisy sample of the certification's sampling (``Smooth.votes``: one forward
    pass of ``batch`` noisy copies of one image through the eval-mode model)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cifar_resnet(depth, widths, in_channels, num_classes).eval()
    call = sampling_call(model, (in_channels, image_size, image_size), num_classes, batch, sigma)
    return counted_flops(call) / batch


def training_flops(epochs: int, step_flops: float, forward_flops: float, train_images: int,
                   test_images: int) -> float:
    """A training run's FLOPs: per epoch, one step per training image, and the accuracies the
    loop reports (a forward pass of every training image and two of every test image)."""
    return epochs * (step_flops * train_images + forward_flops * (train_images + 2 * test_images))


class Cost(NamedTuple):
    """A job's FLOPs, and how to measure the FLOP/s at which this machine runs its own steps
    (which takes a few of them)."""

    flops: float
    measure_rate: Callable[[], float]


def training_cost(settings: TrainSettings, image_size: int, in_channels: int, num_classes: int, train_images: int,
                  test_images: int) -> Cost:
    """A training run's ``Cost`` (its steps counted on one image, then timed by ``measured_rate``)."""
    def step(batch: int) -> Callable[[], torch.Tensor]:
        return training_step(settings, image_size, batch, in_channels, num_classes)

    first = step(1)
    per_image = counted_flops(first)
    forward = sampling_flops(settings.depth, settings.widths, image_size, settings.sigma, 1, in_channels, num_classes)
    return Cost(training_flops(settings.epochs, per_image, forward, train_images, test_images),
                lambda: measured_rate(step, per_image, settings.batch_size, first))


def sampling_cost(model: torch.nn.Module, image_shape: tuple[int, ...], num_classes: int, samples: int,
                  batch_size: int) -> Cost:
    """The ``Cost`` of ``samples`` noisy forward passes of ``model`` (a certification's or a
    prediction's sampling), in ``Smooth.votes`` calls of up to ``batch_size`` (counted on one
    sample, then timed by ``measured_rate``)."""
    def call(batch: int) -> Callable[[], object]:
        return sampling_call(model, image_shape, num_classes, batch)

    first = call(1)
    per_sample = counted_flops(first)
    return Cost(per_sample * samples, lambda: measured_rate(call, per_sample, batch_size, first))
