#!/usr/bin/env python
"""Download CIFAR-10 (python version) into a folder, verifying its checksum.

Offline: put cifar-10-python.tar.gz into ROOT first; it is verified and extracted.
"""
import logging

from linf_smoothing import cli
from linf_smoothing.data import download_cifar10


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--root", required=True, help="folder for the archive and cifar-10-batches-py/")
    args = parser.parse_args()
    folder = download_cifar10(args.root)
    logging.getLogger("download").info("CIFAR-10 ready in %s", folder)


if __name__ == "__main__":
    cli.run(main)
