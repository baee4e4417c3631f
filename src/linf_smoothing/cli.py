"""What every command-line script shares: logging to stderr (the rules send it to the log
file, flushed per line so ``tail -f`` works) and one clear line for errors a user can cause."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable

from linf_smoothing.errors import CheckpointError, ConfigError, DataError

USER_ERRORS = (ConfigError, DataError, CheckpointError, ValueError, FileNotFoundError)


def run(main: Callable[[], None]) -> None:
    """Call ``main``; a user error prints ``error: <cause and fix>`` and exits with status 1."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def labelled(text: str) -> tuple[str, str]:
    """argparse type of LABEL=VALUE arguments (LABEL=PATH of a run, LABEL=SIGMA:DIM, ...)."""
    label, sep, value = text.partition("=")
    if not sep or not label or not value:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE, got {text!r}")
    return label, value


def add_device_arguments(parser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"],
                        help="auto: CUDA when present, else the CPU")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


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
    images (certify.py, predict.py): the model, the test split, the settings, the device."""
    from linf_smoothing.settings import add_arguments

    parser.add_argument("--model", required=True, help="checkpoint written by train.py or import_checkpoint.py")
    parser.add_argument("--test-data", required=True, help="resized test split (.npz)")
    add_arguments(parser, settings_class)
    add_device_arguments(parser)
    parser.add_argument("--out", required=True, help=out_help)


def smoothed_classifier(args, settings):
    """From ``add_smoothing_arguments``' options: the smoothed classifier (``smoothing.Smooth``)
    of --model at ``settings``, the test images and labels, the description of what the run
    writes (the settings, the data, the model's digest, the project's version), the device."""
    import linf_smoothing
    from linf_smoothing.checks import file_digest
    from linf_smoothing.data import read_dataset_name, read_split
    from linf_smoothing.models import inference_model
    from linf_smoothing.noises import NOISES
    from linf_smoothing.results import check_model_fits, load_model
    from linf_smoothing.settings import as_dict
    from linf_smoothing.smoothing import Smooth, check_sampling

    check_sampling(settings.alpha, **{k: getattr(settings, k) for k in ("n0", "n") if hasattr(settings, k)})
    device = device_from_arguments(args)
    model, meta = load_model(args.model, device)
    trained_sigma = meta.get("training", {}).get("sigma")
    if trained_sigma is not None and abs(trained_sigma - settings.sigma) > 1e-12:
        logging.getLogger("smoothing").warning("sampling at sigma %g a model trained at sigma %g", settings.sigma,
                                               trained_sigma)
    images, labels = read_split(args.test_data)
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
        "model_sha256": file_digest(args.model), "project_version": linf_smoothing.__version__,
        # what the figures' titles and legends say of the model (None where the checkpoint does not record it)
        "architecture": {k: meta["architecture"][k] for k in ("depth", "widths") if k in meta.get("architecture", {})},
        "training_method": meta.get("training", {}).get("method"), "training": meta.get("training")}
    return smooth, images, labels, description, device
