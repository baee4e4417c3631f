"""The training loop: a training method's loss (``methods``; TRADES + Gaussian noise in the
paper) with SGD and a step learning-rate schedule, on resized uint8 arrays held in device memory.

Each epoch shuffles the training set, crops and flips every batch on the device, takes one
optimizer step per batch, then reports the mean loss and accuracies under one noise draw on
the training and test sets (as the original does) and on clean test images.

With several processes (``distributed.Replica``), every batch is still drawn whole and each
process computes its rows; see ``distributed`` for why the result equals one process's.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from linf_smoothing.data import random_crop_flip, to_float
from linf_smoothing.distributed import SINGLE, Replica, data_parallel
from linf_smoothing.methods import METHODS
from linf_smoothing.models import memory_format_for
from linf_smoothing.noises import Noise
from linf_smoothing.progress import Progress
from linf_smoothing.results import atomic_path
from linf_smoothing.settings import TrainSettings, as_dict

METRIC_COLUMNS = ["epoch", "lr", "train_loss", "train_accuracy_noisy", "test_accuracy_noisy",
                  "test_accuracy_clean", "seconds"]


def _batches(num: int, batch_size: int, order: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    order = torch.arange(num) if order is None else order
    for start in range(0, num, batch_size):
        yield order[start:start + batch_size]


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, noise: Noise | None,
             batch_size: int, generator: torch.Generator | None = None, replica: Replica = SINGLE) -> float:
    """Accuracy of the base classifier on x + eta (one draw of ``noise`` per image; None is
    clean), each process classifying its rows of every batch."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=images.device)
    with torch.inference_mode():
        for idx in _batches(len(images), batch_size):
            x = to_float(images[idx])
            if noise is not None:
                x = x + noise.sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            rows = replica.rows(len(idx))
            correct += (model(x[rows]).argmax(1) == labels[idx][rows]).sum()
    return replica.sum(correct).item() / len(images)


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor,
               labels: torch.Tensor, settings: TrainSettings, generator: torch.Generator | None = None,
               replica: Replica = SINGLE, parallel_model: torch.nn.Module | None = None,
               epoch: int = 0) -> torch.Tensor:
    """One optimizer step on a (global) batch of uint8 images already on the device: crop and
    flip, draw the noise and the method's own randomness (TRADES: the attack's start), then on
    this process's rows the method's loss (bf16 autocast on CUDA if asked), backward, step.

    With several processes, ``parallel_model`` (``model`` in DistributedDataParallel)
    computes the loss and ``model`` runs the attack. ``epoch`` (0-based) reaches the method
    (SmoothAdv's warm-up). Returns this process's share of the
    batch's mean loss (the shares sum to the mean) as a device tensor, so the loop never
    waits for the device."""
    method = METHODS[settings.method]
    x = random_crop_flip(to_float(images), settings.crop_padding, generator)
    eta = settings.smoothing_noise(x[0].numel()).sample(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    drawn = method.draw(x, settings, generator)
    rows = replica.rows(len(x))
    x = x[rows].contiguous(memory_format=memory_format_for(x.device))
    autocast = torch.autocast(x.device.type, dtype=torch.bfloat16,
                              enabled=settings.mixed_precision and x.device.type == "cuda")
    with autocast:
        loss = method.loss(model if parallel_model is None else parallel_model, x, labels[rows], eta[rows],
                           None if drawn is None else drawn[rows], settings, generator, attack_model=model,
                           epoch=epoch)
    share = loss * (len(x) / len(images))
    optimizer.zero_grad(set_to_none=True)
    # DistributedDataParallel averages the processes' gradients; the shares sum to the mean.
    (share * replica.world_size).backward()
    optimizer.step()
    return share.detach()


def make_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum,
                           weight_decay=settings.weight_decay)


def run_identity(settings: TrainSettings, replica: Replica, *arrays: np.ndarray) -> dict:
    """Everything that determines a training run's result: its settings (method, architecture,
    hyper-parameters), the number of processes, and the digests of its data arrays."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(np.ascontiguousarray(array).data)
    return {"settings": as_dict(settings), "processes": replica.world_size, "data_sha256": digest.hexdigest()}


def _resume(path: Path | None, identity: dict, model, optimizer, scheduler, generators) -> list[dict]:
    """Restore the state of the last finished epoch from ``path`` if it was written by the same
    run (``identity``); return the history so far (empty when starting afresh). A state of
    another run, a foreign or an unsafe file is ignored with one warning line."""
    if path is None or not Path(path).exists():
        return []
    log = logging.getLogger("train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or unsafe (weights_only refuses to run its code)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        log.warning("ignoring resume state %s, which is not loadable (%s: %s): starting afresh", path,
                    type(exc).__name__, first_line)
        return []
    if not isinstance(state, dict) or state.get("identity") != identity:
        log.warning("resume state %s is for another run (other settings, data or processes) or not a resume "
                    "state: starting afresh", path)
        return []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    for generator, rng in zip(generators, state["generators"]):
        generator.set_state(rng)
    log.info("resuming after epoch %d of %d from %s", len(state["history"]), identity["settings"]["epochs"], path)
    return state["history"]


def train(model: torch.nn.Module, train_images: np.ndarray, train_labels: np.ndarray,
          test_images: np.ndarray, test_labels: np.ndarray, settings: TrainSettings,
          device: torch.device, on_epoch: Callable[[dict], None] | None = None,
          resume_path: Path | None = None, replica: Replica = SINGLE, progress: bool = False) -> list[dict]:
    """Train ``model`` in place; return one metrics dict per epoch (METRIC_COLUMNS).

    Every random draw (shuffling, crops and flips, noise, the attack's start) comes from
    generators seeded with ``settings.seed``, so the same initial model gives the same run.
    With ``resume_path``, the full training state (model, optimizer, schedule, generator
    states, history) is saved there after every epoch, and a later call with the same
    settings continues after the last finished epoch, reproducing the uninterrupted run.

    With several processes (``replica``), each calls ``train`` with the same arguments; the
    main process writes the resume state, and every process gets the same history.

    With ``progress``, the main process shows each epoch's progress (batches done, images/s,
    time left: ``progress.Progress``) on stderr.
    """
    if settings.method not in METHODS:
        raise ValueError(f"unknown training method {settings.method!r}; choose one of {', '.join(METHODS)}")
    last_batch = len(train_images) % settings.batch_size
    if 0 < last_batch < replica.world_size:
        raise ValueError(f"the last batch of an epoch holds {last_batch} images, fewer than the {replica.world_size} "
                         "processes: change training.batch_size or training.processes")
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    shuffle = torch.Generator().manual_seed(settings.seed)
    model.to(device).to(memory_format=memory_format_for(device))
    x_train = torch.from_numpy(train_images).to(device)
    y_train = torch.from_numpy(train_labels).to(device)
    x_test = torch.from_numpy(test_images).to(device)
    y_test = torch.from_numpy(test_labels).to(device)

    noise = settings.smoothing_noise(int(np.prod(train_images.shape[1:])))
    parallel_model = data_parallel(model, replica)
    optimizer = make_optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(settings.lr_milestones), settings.lr_gamma)
    identity = run_identity(settings, replica, train_images, train_labels, test_images, test_labels)
    history = _resume(resume_path, identity, model, optimizer, scheduler, (generator, shuffle))
    batches = -(-len(x_train) // settings.batch_size)
    for epoch in range(len(history), settings.epochs):
        start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        with Progress(f"epoch {epoch + 1}/{settings.epochs}", batches, "batches", "images", logging.getLogger("train"),
                      enabled=progress and replica.is_main) as shown:
            order = torch.randperm(len(x_train), generator=shuffle)
            for done, idx in enumerate(_batches(len(x_train), settings.batch_size, order), 1):
                idx = idx.to(device)
                loss_sum += train_step(model, optimizer, x_train[idx], y_train[idx], settings, generator,
                                       replica, parallel_model, epoch) * len(idx)
                shown.update(done, min(done * settings.batch_size, len(x_train)),
                             "then the epoch's accuracies" if done == batches else "")
            scheduler.step()
            row = {
                "epoch": epoch, "lr": lr,
                "train_loss": replica.sum(loss_sum).item() / len(x_train),
                "train_accuracy_noisy": accuracy(model, x_train, y_train, noise, settings.batch_size,
                                                 generator, replica),
                "test_accuracy_noisy": accuracy(model, x_test, y_test, noise, settings.batch_size,
                                                generator, replica),
                "test_accuracy_clean": accuracy(model, x_test, y_test, None, settings.batch_size, replica=replica),
                "seconds": time.perf_counter() - start,
            }
        history.append(row)
        if resume_path is not None and replica.is_main:
            with atomic_path(Path(resume_path)) as tmp:
                torch.save({"identity": identity, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                            "generators": [generator.get_state(), shuffle.get_state()], "history": history}, tmp)
        if on_epoch is not None:
            on_epoch(row)
    return history
