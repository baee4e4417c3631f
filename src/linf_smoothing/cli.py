"""What every command-line script shares: logging to stderr (the rules send it to the log
file, flushed per line so ``tail -f`` works) and one clear line for errors a user can cause."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from linf_smoothing import validators
from linf_smoothing.errors import CheckpointError, ConfigError, DataError, DiskFullError

if TYPE_CHECKING:  # the heavy modules load only where a script samples a model
    import numpy as np
    import torch

    from linf_smoothing.settings import SamplingSettings
    from linf_smoothing.smoothing import Smooth

USER_ERRORS = (ConfigError, DataError, CheckpointError, ValueError, FileNotFoundError, DiskFullError)


def run(main: Callable[[], None]) -> None:
    """Call ``main``; a user error prints ``error: <cause and fix>`` and exits with status 1."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a path a user gave that cannot be read or written (a folder, no permission, ...)
        print(f"error: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}: give another path",
              file=sys.stderr)
        sys.exit(1)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """--help with the description as written (its paragraphs and examples) and, after each
    option's help, its default or "(required)". An option whose default is None says what that
    means in its own help, as "(default: ...)"; a --x/--no-x switch shows the one in effect; a
    flag without a value (--quick) shows none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        switch = isinstance(action, argparse.BooleanOptionalAction)
        if (not action.option_strings or (action.nargs == 0 and not switch) or action.default is argparse.SUPPRESS
                or "(default:" in text or "%(default)" in text):
            return text
        if action.required:
            return f"{text} (required)"
        if action.default is None:
            return text
        default = action.default
        if switch:
            default = action.option_strings[0 if default else 1]
        elif isinstance(default, (list, tuple)):
            default = " ".join(map(str, default)) or "none"
        return f"{text} (default: {str(default).replace('%', '%%')})"


def argument_parser(description: str | None) -> argparse.ArgumentParser:
    """A script's argument parser: ``description`` (its docstring) and ``HelpFormatter``."""
    return argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)


def labelled(text: str) -> tuple[str, str]:
    """argparse type of LABEL=VALUE arguments (LABEL=PATH of a run, LABEL=SIGMA:DIM, ...)."""
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE, got {text!r}")
    return label, value


def add_device_arguments(parser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                        help="auto: CUDA when present, else the CPU, where a job estimated at more than an hour stops "
                             "before it starts (give cpu to run it there anyway)")
    parser.add_argument("--threads", type=validators.positive_int, default=None,
                        help="CPU threads for torch (default: torch's own choice)")


def device_from_arguments(args, processes: int = 1):
    """Give torch its share of --threads (the whole job's, split over ``processes``) and
    resolve --device."""
    import torch

    from linf_smoothing.devices import resolve_device

    if args.threads:
        torch.set_num_threads(max(1, args.threads // processes))
    return resolve_device(args.device)


def add_smoothing_arguments(parser, settings_class, out_help: str) -> None:
    """The options of a script that samples a trained model's smoothed classifier on test
    images (certify.py, predict.py): the model, the test split, the settings (--sigma by
    default the checkpoint's), the device."""
    from linf_smoothing.settings import add_arguments

    parser.add_argument("--model", required=True, help="checkpoint written by train.py or import_checkpoint.py")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    add_arguments(parser, settings_class, taken_from={"sigma": "the sigma the checkpoint was trained at"})
    add_device_arguments(parser)
    parser.add_argument("--out", required=True, help=out_help)


@dataclass(frozen=True)
class SmoothingRun:
    """What ``smoothed_classifier`` prepares: the ``settings`` (--sigma filled in), the smoothed
    classifier (``smoothing.Smooth``) of ``model`` (the checkpoint's network, uncompiled), the
    test images and labels, the description of what the run writes (the settings, the data,
    the model's digest, the project's version) and the device."""

    settings: SamplingSettings
    smooth: Smooth
    model: torch.nn.Module
    images: np.ndarray
    labels: np.ndarray
    description: dict
    device: torch.device


def smoothed_classifier(args, settings_class) -> SmoothingRun:
    """From ``add_smoothing_arguments``' options: the ``SmoothingRun`` of --model on --test-data.
    Without --sigma, the sigma the checkpoint records for its training; with a different one,
    a warning."""
    import linf_smoothing
    from linf_smoothing.checks import file_digest
    from linf_smoothing.data import read_dataset_name, read_split
    from linf_smoothing.models import inference_model
    from linf_smoothing.noises import NOISES
    from linf_smoothing.results import check_model_fits, load_model
    from linf_smoothing.settings import as_dict, from_config
    from linf_smoothing.smoothing import Smooth, check_sampling

    check_sampling(args.alpha, **{k: getattr(args, k) for k in ("n0", "n") if hasattr(args, k)})
    device = device_from_arguments(args)
    model, meta = load_model(args.model, device)
    trained_sigma = meta.get("training", {}).get("sigma")
    log = logging.getLogger("smoothing")
    sigma = args.sigma
    if sigma is None:
        if trained_sigma is None:
            raise CheckpointError(f"{args.model} does not record the sigma its model was trained at (an imported "
                                  "checkpoint): give --sigma")
        sigma = trained_sigma
        log.info("sigma %g: the sigma the checkpoint was trained at", sigma)
    elif trained_sigma is not None and abs(trained_sigma - sigma) > 1e-12:
        log.warning("sampling at sigma %g a model trained at sigma %g", sigma, trained_sigma)
    settings = from_config(settings_class, vars(args) | {"sigma": sigma})
    images, labels = read_split(args.test_data, "test")
    check_model_fits(meta, images, labels, args.model, args.test_data)
    noise = settings.smoothing_noise(int(images[0].size))
    # the noise the checkpoint's training records, in Noise.describe's keys (a Gaussian names none)
    keys = {"noise", *(key for cls in NOISES.values() for key in cls.parameter_keys())}
    trained = {"noise": "gaussian", **{k: v for k, v in meta.get("training", {}).items() if k in keys}}
    if "training" in meta and trained != noise.describe():
        logging.getLogger("smoothing").warning("sampling the noise %s with a model trained with the noise %s",
                                               noise.describe(), trained)
    smooth = Smooth(inference_model(model, device, settings.compile), meta["num_classes"], settings.sigma,
                    settings.batch_size, settings.mixed_precision, noise.name, noise.parameters)
    description = {
        **as_dict(settings), "dataset": read_dataset_name(args.test_data), "image_size": int(images.shape[-1]),
        "dimension": int(images[0].size), "num_classes": int(meta["num_classes"]), "test_images": len(images),
        "model": str(args.model), "model_sha256": file_digest(args.model),
        "test_data": str(args.test_data), "test_data_sha256": file_digest(args.test_data),
        "project_version": linf_smoothing.__version__,
        # what the figures' titles and legends say of the model (None where the checkpoint does not record it)
        "architecture": {k: meta["architecture"][k] for k in ("depth", "widths") if k in meta.get("architecture", {})},
        "training_method": meta.get("training", {}).get("method"), "training": meta.get("training")}
    return SmoothingRun(settings, smooth, model, images, labels, description, device)


def check_sampling_time(args, run: SmoothingRun, what: str, images: int, samples: int) -> None:
    """Refuse, before it starts, ``what`` ("certifying") ``images`` test images with ``samples``
    noisy copies each, on the CPU that --device auto fell back to, if it would take long
    (``devices.check_cpu_time``)."""
    from linf_smoothing.costs import sampling_cost
    from linf_smoothing.devices import check_cpu_time

    depth = run.description["architecture"].get("depth")
    job = (f"{what} {images:,} images of {run.images.shape[-1]} px with {f'ResNet-{depth}' if depth else 'its model'} "
           f"({samples:,} noisy samples each)")
    check_cpu_time(args.device, run.device, job, lambda: sampling_cost(
        run.model, tuple(run.images.shape[1:]), run.smooth.num_classes, samples * images, run.settings.batch_size))
