"""How long a training's first epoch will take, estimated before it starts, so that a setting
that makes it run for days (10^9 attack steps, say) says so at once instead of after hours.

Every method's step costs a number of forward+backward passes of the network per image (the
README's table of methods): ``passes_per_image``. One such pass is timed on a copy of the model
on the training's device (``seconds_per_pass``), so the estimate is that device's, at that
image size and architecture; the per-epoch accuracies add a forward pass (about a third of a
forward+backward) per training image and two per test image.
"""
from __future__ import annotations

import copy
import logging
import time

from linf_smoothing.devices import duration
from linf_smoothing.settings import TrainSettings

# A first epoch estimated above this many seconds is announced before training starts.
LONG_EPOCH_SECONDS = 3600.0
# A forward pass costs about a third of a forward+backward pass.
FORWARD_SHARE = 1 / 3


def passes_per_image(settings: TrainSettings) -> float:
    """Forward+backward passes of the network per training image in one step of ``settings.method``:
    trades K + 2 (K attack steps, the natural and adversarial passes), smoothadv m (k + 1), consistency
    and macer m (the noise copies), gaussian 1."""
    m, k = settings.noise_copies, settings.attack_steps
    return {"trades": k + 2 if settings.beta > 0 else 1, "smoothadv": m * (k + 1), "consistency": m,
            "macer": m}.get(settings.method, 1)


def seconds_per_pass(model, image_shape: tuple[int, ...], device, batch: int = 8) -> float:
    """Seconds of one forward+backward pass per image, timed on a copy of ``model`` (which is
    left untouched, and no random generator is drawn from) on a batch of ``batch`` zero images
    of ``image_shape`` (C, H, W), after one untimed pass."""
    import torch

    probe = copy.deepcopy(model).to(device).train()
    images = torch.zeros((batch, *image_shape), device=device)

    def one_pass():
        probe.zero_grad(set_to_none=True)
        probe(images).sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    one_pass()
    start = time.perf_counter()
    one_pass()
    return (time.perf_counter() - start) / batch


def first_epoch_seconds(settings: TrainSettings, pass_seconds: float, train_images: int, test_images: int,
                        processes: int = 1) -> float:
    """The first epoch's estimated seconds: every training image's step passes, then the
    accuracies' forward passes, shared by ``processes`` data-parallel processes."""
    passes = train_images * (passes_per_image(settings) + FORWARD_SHARE) + 2 * test_images * FORWARD_SHARE
    return passes * pass_seconds / processes


def warn_if_long(model, settings: TrainSettings, train_shape: tuple[int, ...], test_images: int, device,
                 processes: int = 1) -> float:
    """Log a warning, before training starts, where the first epoch is estimated to take more than
    an hour; return the estimate in seconds. ``train_shape`` is the training images' (N, C, H, W)."""
    pass_seconds = seconds_per_pass(model, tuple(train_shape[1:]), device)
    seconds = first_epoch_seconds(settings, pass_seconds, train_shape[0], test_images, processes)
    if seconds > LONG_EPOCH_SECONDS:
        logging.getLogger("train").warning(
            "the first epoch is estimated to take %s (%d training images, %.3g forward+backward passes each for "
            "method %s, %.3g ms a pass and image measured on %s; %d epochs in all): check attack_steps, "
            "noise_copies and the device, or let it run", duration(seconds), train_shape[0],
            passes_per_image(settings), settings.method, 1000 * pass_seconds, device, settings.epochs)
    return seconds
