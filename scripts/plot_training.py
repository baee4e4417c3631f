#!/usr/bin/env python
"""Plot per-epoch training curves (loss; accuracy on noisy train and test images and on
clean test images; the learning-rate steps) from the metrics tables that train.py writes, a
row per training method.

    python scripts/plot_training.py size32=results/models/size32/epochs.tsv ... --outdir results/figures

Each run's training method, architecture and dataset come from the checkpoint train.py
writes beside its metrics table (``model.pt``, or --checkpoint LABEL=PATH); the title is
--title, or else what the checkpoints record."""
from pathlib import Path

import pandas as pd

from linf_smoothing import cli
from linf_smoothing.analysis import architecture_name, dataset_name, training_method_label
from linf_smoothing.checks import checkpoint_metadata
from linf_smoothing.figures import Shown, training_figure
from linf_smoothing.training import METRIC_COLUMNS


def shown_training(metadata: dict) -> Shown:
    """A training run as the figure shows it: its method (SmoothAdv with its attack), image size
    and sigma, as its checkpoint records them."""
    training = metadata.get("training") or {}
    return Shown(training_method_label(training), metadata.get("image_size"),
                 {"noise": f"σ {training['sigma']:g}"} if "sigma" in training else {})


def default_title(metadata: dict[str, dict]) -> str:
    """"Training on DATASET, ARCHITECTURE" from what the checkpoints record."""
    parts = []
    for name, of in (("dataset", lambda m: dataset_name(m.get("dataset"))),
                     ("architecture", lambda m: architecture_name(m.get("architecture")))):
        values = list(dict.fromkeys(v for m in metadata.values() if (v := of(m)) is not None))
        if values:
            parts.append(" / ".join(values))
    return "Training" + (f" ({', '.join(parts)})" if parts else " (model not recorded)")


def main() -> None:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path, help="folder of the figure")
    parser.add_argument("--title", help="title of the figure (default: from the checkpoints)")
    parser.add_argument("--checkpoint", type=cli.labelled, nargs="*", default=[], metavar="LABEL=PATH",
                        help="the run's checkpoint, whose metadata names its training method "
                             "(default: model.pt beside the metrics table)")
    args = parser.parse_args()
    checkpoints = dict(args.checkpoint)
    histories, metadata = {}, {}
    for label, path in args.runs:
        history = pd.read_csv(path, sep="\t")
        missing = set(METRIC_COLUMNS) - set(history.columns)
        if missing:
            raise ValueError(f"{path} is not a metrics table of train.py: columns {sorted(missing)} are missing")
        histories[label] = history
        metadata[label] = checkpoint_metadata(Path(checkpoints.get(label, Path(path).parent / "model.pt"))) or {}
    shown = {label: shown_training(m) for label, m in metadata.items()}
    title = args.title or default_title(metadata)
    paths = [args.outdir / "training_curves.png", args.outdir / "training_curves.pdf"]
    training_figure(histories, title, paths, shown)
    print("\n".join(map(str, paths)))


if __name__ == "__main__":
    cli.run(main)
