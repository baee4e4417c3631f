#!/usr/bin/env python
"""Train a CIFAR ResNet with a training method (--method trades: TRADES + Gaussian noise;
gaussian: Gaussian augmentation) on resized arrays; write the final checkpoint and a per-epoch metrics table (TSV).

Launched by torchrun (e.g. `python -m torch.distributed.run --standalone --nproc-per-node 4
scripts/train.py ...`), it trains data-parallel: --batch-size stays the global batch, each
process takes its share of every batch, and the result equals one process's run up to
floating-point rounding (linf_smoothing.distributed)."""
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from linf_smoothing import cli, distributed
from linf_smoothing.checks import file_digest
from linf_smoothing.costs import Cost, training_cost
from linf_smoothing.data import read_dataset_name, read_split
from linf_smoothing.devices import check_cpu_time
from linf_smoothing.estimate import warn_if_long
from linf_smoothing.models import cifar_resnet
from linf_smoothing.progress import clock_time
from linf_smoothing.results import atomic_path, save_checkpoint
from linf_smoothing.settings import TrainSettings, add_arguments, as_dict, from_arguments
from linf_smoothing.training import METRIC_COLUMNS, train


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--train-data", required=True, help="resized train split (.npz)")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    add_arguments(parser, TrainSettings)
    cli.add_device_arguments(parser)
    parser.add_argument("--model-out", required=True, help="final checkpoint (.pt)")
    parser.add_argument("--metrics-out", required=True, help="per-epoch metrics (.tsv)")
    parser.add_argument("--resume-state", type=Path, default=None,
                        help="save the training state here after every epoch, and resume from it after a kill; "
                             "deleted once the model is written (default: none, no resuming)")
    args = parser.parse_args()
    settings = from_arguments(TrainSettings, args)
    log = logging.getLogger("train")
    replica, device = distributed.start(cli.device_from_arguments(args, processes=distributed.world_size()))
    if not replica.is_main:
        logging.getLogger().setLevel(logging.WARNING)

    train_x, train_y = read_split(args.train_data, "train")
    test_x, test_y = read_split(args.test_data, "test")
    data_sha256 = {"train": file_digest(args.train_data), "test": file_digest(args.test_data)}
    num_classes = int(max(train_y.max(), test_y.max()) + 1)
    architecture = {"depth": settings.depth, "widths": list(settings.widths)}
    torch.manual_seed(settings.seed)  # the initial weights come from torch's global generator
    model = cifar_resnet(**architecture, in_channels=train_x.shape[1], num_classes=num_classes)
    log.info("%d train / %d test images of %s on %s (%d processes); %d parameters; %s", len(train_x), len(test_x),
             "x".join(map(str, train_x.shape[1:])), device, replica.world_size,
             sum(p.numel() for p in model.parameters()), settings)
    if replica.is_main:
        warn_if_long(model, settings, train_x.shape, len(test_x), device, replica.world_size)

    def cpu_cost() -> Cost:
        """This job's cost; with several processes, each process's share and the mean of their
        measured rates, so that all take the same decision."""
        flops, measure_rate = training_cost(settings, train_x.shape[-1], train_x.shape[1], num_classes,
                                            len(train_x), len(test_x))
        return Cost(flops / replica.world_size, lambda: replica.sum(
            torch.tensor(measure_rate(), dtype=torch.float64)).item() / replica.world_size)

    check_cpu_time(args.device, device, f"training ResNet-{settings.depth} ({settings.method}) for {settings.epochs} "
                   f"epochs of {len(train_x):,} images of {train_x.shape[-1]} px", cpu_cost)

    seconds = []

    def report(row: dict) -> None:
        seconds.append(row["seconds"])
        left = (settings.epochs - row["epoch"] - 1) * float(np.mean(seconds))
        log.info("epoch %d/%d lr %.4g loss %.4f train acc (noisy) %.4f test acc (noisy) %.4f "
                 "test acc (clean) %.4f %.1f s (%.0f images/s), %s left", row["epoch"] + 1, settings.epochs, row["lr"],
                 row["train_loss"], row["train_accuracy_noisy"], row["test_accuracy_noisy"],
                 row["test_accuracy_clean"], row["seconds"], len(train_x) / row["seconds"], clock_time(left))

    history = train(model, train_x, train_y, test_x, test_y, settings, device, on_epoch=report,
                    resume_path=args.resume_state, replica=replica, progress=True)
    distributed.stop(replica)
    if not replica.is_main:
        return
    with atomic_path(args.metrics_out) as tmp:
        pd.DataFrame(history, columns=METRIC_COLUMNS).to_csv(tmp, sep="\t", index=False)
    save_checkpoint(args.model_out, model, {
        "architecture": architecture, "in_channels": int(train_x.shape[1]), "num_classes": num_classes,
        "image_size": int(train_x.shape[-1]), "training": as_dict(settings),
        "dataset": read_dataset_name(args.test_data), "data_sha256": data_sha256})
    if args.resume_state is not None:
        args.resume_state.unlink(missing_ok=True)
    last = history[-1]
    log.info("done: test accuracy %.4f under noise, %.4f clean, after %d epochs (%.0f s)",
             last["test_accuracy_noisy"], last["test_accuracy_clean"], len(history),
             float(np.sum([r["seconds"] for r in history])))


if __name__ == "__main__":
    cli.run(main)
