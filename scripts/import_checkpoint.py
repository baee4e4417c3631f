#!/usr/bin/env python
"""Convert a checkpoint released by others into this project's format, so that certify.py
and predict.py take it like a model trained here:

    python scripts/import_checkpoint.py --format original --checkpoint model-res110-epoch.pt --out m.pt
    python scripts/import_checkpoint.py --format cohen --checkpoint noise_0.25/checkpoint.pth.tar --out m.pt

--format original: the original's (hongyanz/TRADES-smoothing) state dict of its DataParallel
CIFAR ResNet-110; cohen: Cohen et al.'s or Salman et al.'s CIFAR-10 checkpoint (a dict with
arch and state_dict, the ResNet behind CIFAR-10's normalization, which becomes part of the
imported model). The file is read with weights_only, so a malicious pickle cannot run code;
the imported model computes the same logits as the released one (linf_smoothing.released)."""
from pathlib import Path

from linf_smoothing import cli
from linf_smoothing.checks import file_digest
from linf_smoothing.errors import CheckpointError
from linf_smoothing.models import cifar_resnet
from linf_smoothing.released import FORMATS, convert
from linf_smoothing.results import load_torch_file, save_checkpoint


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("--format", required=True, choices=FORMATS, help="whose checkpoint it is")
    parser.add_argument("--checkpoint", required=True, type=Path, help="the released checkpoint")
    parser.add_argument("--out", required=True, type=Path, help="the checkpoint in this project's format (.pt)")
    args = parser.parse_args()
    released = load_torch_file(args.checkpoint, f"give the path of the released {args.format} checkpoint")
    state, metadata = convert(released, args.format)
    model = cifar_resnet(**metadata["architecture"], in_channels=metadata["in_channels"],
                         num_classes=metadata["num_classes"])
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"{args.checkpoint} does not fit a CIFAR ResNet ({str(exc).splitlines()[0]})") from None
    metadata["imported"] = {"format": args.format, "source": str(args.checkpoint),
                            "source_sha256": file_digest(args.checkpoint)}
    save_checkpoint(args.out, model, metadata)
    print(f"{args.out}: CIFAR ResNet-{metadata['architecture']['depth']} from the {args.format} checkpoint "
          f"{args.checkpoint}, {sum(p.numel() for p in model.parameters())} parameters")


if __name__ == "__main__":
    cli.run(main)
