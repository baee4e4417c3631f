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
