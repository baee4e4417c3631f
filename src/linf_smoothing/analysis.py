"""From certification files to the paper's table and its vary-dim figure.

Certified accuracy at l-inf radius r is the share of images whose smoothed prediction is
correct with a certified radius of at least r; at r = 0 (or any r, for abstentions, whose
``correct`` is 0) it never exceeds the natural accuracy, the mean of ``correct``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from linf_smoothing.results import atomic_path

# The paper's Table 1 (l-inf 2/255 on CIFAR-10, percent): (method, certified, natural).
PUBLISHED_ROWS = [
    ("TRADES + Random Smoothing (Blum et al. 2020)", 62.6, 78.7),
    ("Salman et al. (2019)", 60.8, 82.1),
    ("Zhang et al. (2020)", 54.0, 72.0),
    ("Wong et al. (2018)", 53.9, 68.3),
    ("Mirman et al. (2018)", 52.2, 62.0),
    ("Gowal et al. (2018)", 50.0, 70.2),
    ("Xiao et al. (2019)", 45.9, 61.1),
]
TABLE_COLUMNS = ["source", "label", "images", "natural_accuracy", "certified_accuracy",
                 "abstentions", "abstention_rate"]


def every_nth(frame: pd.DataFrame, skip: int) -> pd.DataFrame:
    """The rows of test images whose index is a multiple of ``skip`` (the original's --skip)."""
    return frame[frame["idx"] % skip == 0]


def certified_accuracy(frame: pd.DataFrame, radii, column: str = "radius") -> np.ndarray:
    """Certified accuracy at each radius in ``radii`` (l-inf by default; any radius column)."""
    radius = frame[column].to_numpy()[:, None]
    correct = frame["correct"].to_numpy()[:, None].astype(bool)
    return (correct & (radius >= np.asarray(radii, dtype=float)[None, :])).mean(axis=0)


def summarize(label: str, frame: pd.DataFrame, threshold: float) -> dict:
    abstentions = int((frame["predict"] == -1).sum())
    return {
        "source": "run", "label": label, "images": len(frame),
        "natural_accuracy": float(frame["correct"].mean()),
        "certified_accuracy": float(certified_accuracy(frame, [threshold])[0]),
        "abstentions": abstentions, "abstention_rate": abstentions / len(frame),
    }


def benchmark_table(runs: dict[str, pd.DataFrame], threshold: float) -> pd.DataFrame:
    """One row per run (all its images), then the paper's published rows."""
    ours = [summarize(label, frame, threshold) for label, frame in runs.items()]
    paper = [{"source": "published", "label": method, "images": np.nan, "natural_accuracy": natural / 100,
              "certified_accuracy": certified / 100, "abstentions": np.nan, "abstention_rate": np.nan}
             for method, certified, natural in PUBLISHED_ROWS]
    return pd.DataFrame(ours + paper, columns=TABLE_COLUMNS)


def _format(value, column: str) -> str:
    if pd.isna(value):
        return "–"
    if column in ("images", "abstentions"):
        return str(int(value))
    if column.endswith(("accuracy", "rate")):
        return f"{100 * value:.2f}%"
    return str(value)


def write_tables(table: pd.DataFrame, outdir: Path, threshold: float, stem: str = "benchmark") -> list[Path]:
    """benchmark.csv (full precision), benchmark.md and benchmark.tex (booktabs), atomically."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv", outdir / f"{stem}.md", outdir / f"{stem}.tex"]
    header = ["Source", "Method / run", "Images", "Natural acc.",
              f"Certified acc. (l-inf {threshold * 255:g}/255)", "Abstentions", "Abstention rate"]
    cells = [[_format(row[c], c) for c in TABLE_COLUMNS] for _, row in table.iterrows()]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(r) + " |" for r in cells]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    latex_header = [h.replace("l-inf ", r"$\ell_\infty$ ").replace("%", r"\%") for h in header]
    latex = [r"\begin{tabular}{llrrrrr}", r"\toprule", " & ".join(latex_header) + r" \\", r"\midrule"]
    for i, r in enumerate(cells):
        if i > 0 and table["source"].iloc[i] != table["source"].iloc[i - 1]:
            latex.append(r"\midrule")
        latex.append(" & ".join(c.replace("%", r"\%").replace("&", r"\&") for c in r) + r" \\")
    latex += [r"\bottomrule", r"\end{tabular}"]
    with atomic_path(paths[2]) as tmp:
        tmp.write_text("\n".join(latex) + "\n")
    return paths


def with_scaled_radii(frame: pd.DataFrame, sigma: float, dimension: int) -> pd.DataFrame:
    """Add ``radius_l2`` (where the file lacks it: l-inf radius * sqrt(d)) and
    ``radius_over_sigma`` = l2 radius / sigma = l-inf radius * sqrt(d) / sigma, the radius in
    which the paper predicts the curves of all sizes coincide."""
    frame = frame.copy()
    if "radius_l2" not in frame:
        frame["radius_l2"] = frame["radius"] * np.sqrt(dimension)
    frame["radius_over_sigma"] = frame["radius_l2"] / sigma
    return frame


def radius_grid_table(runs: dict[str, pd.DataFrame], radii) -> pd.DataFrame:
    """Certified accuracy of each run (rows) at each l-inf radius of ``radii`` (columns)."""
    return pd.DataFrame({f"{r:.6g}": [certified_accuracy(f, [r])[0] for f in runs.values()] for r in radii},
                        index=pd.Index(list(runs), name="label"))


def write_radius_grid(table: pd.DataFrame, outdir: Path, stem: str = "certified_at_radii") -> list[Path]:
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv", outdir / f"{stem}.md"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp)
    header = ["run"] + [f"r = {c}" for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([label] + [f"{100 * v:.1f}%" for v in row]) + " |" for label, row in table.iterrows()]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return paths


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)
    return sns


def _save(fig, paths) -> None:
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=200, format=Path(path).suffix.lstrip("."))


def curve_figure(runs: dict[str, pd.DataFrame], radii: np.ndarray, column: str, xlabel: str, title: str,
                 paths: list[Path], marks: list[tuple[float, str, str]] = (),
                 reference: dict[str, pd.DataFrame] | None = None):
    """Certified accuracy against a radius column, one solid curve per run, optional dashed
    curves for ``reference`` runs (e.g. the original's published files), and vertical
    ``marks`` (x, label, line style); saved to each of ``paths``; returns the figure."""
    sns = _style()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    palette = sns.color_palette("colorblind", max(len(runs), len(reference or {})))
    for color, (label, frame) in zip(palette, runs.items()):
        ax.plot(radii, certified_accuracy(frame, radii, column), label=label, color=color, linewidth=2)
    for color, (label, frame) in zip(palette, (reference or {}).items()):
        ax.plot(radii, certified_accuracy(frame, radii, column), label=label, color=color, linewidth=1.2,
                linestyle="--", alpha=0.8)
    for i, (x, label, style) in enumerate(marks):
        ax.axvline(x, color="0.3" if style == "--" else "0.5", linestyle=style, linewidth=1, label=label)
    ax.set_xlim(radii[0], radii[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("certified accuracy")
    ax.set_title(title)
    ax.legend(loc="best", frameon=True)
    fig.tight_layout()
    _save(fig, paths)
    plt.close(fig)
    return fig


def vary_dim_figure(runs: dict[str, pd.DataFrame], radii: np.ndarray, threshold: float,
                    ceilings: list[float], title: str, paths: list[Path],
                    reference: dict[str, pd.DataFrame] | None = None):
    """The paper's figure: certified accuracy against l-inf radius, one curve per run, with
    the threshold and the largest certifiable radius (``ceilings``) marked."""
    marks = [(threshold, f"{threshold * 255:g}/255", "--")]
    marks += [(c, "largest certifiable radius" if i == 0 else None, ":")
              for i, c in enumerate(sorted(set(round(c, 12) for c in ceilings)))]
    return curve_figure(runs, radii, "radius", r"$\ell_\infty$ radius", title, paths, marks, reference)


def training_figure(histories: dict[str, pd.DataFrame], title: str, paths: list[Path]):
    """Per-epoch training curves of each experiment: the loss, and the accuracies on noisy
    training and test images and on clean test images."""
    sns = _style()
    import matplotlib.pyplot as plt

    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4.0))
    palette = sns.color_palette("colorblind", len(histories))
    styles = {"train_accuracy_noisy": ("-", "train, noisy"), "test_accuracy_noisy": ("--", "test, noisy"),
              "test_accuracy_clean": (":", "test, clean")}
    for color, (label, history) in zip(palette, histories.items()):
        epochs = history["epoch"] + 1
        loss_ax.plot(epochs, history["train_loss"], color=color, label=label, linewidth=2)
        for column, (style, what) in styles.items():
            acc_ax.plot(epochs, history[column], color=color, linestyle=style, label=f"{label}: {what}")
    loss_ax.set(xlabel="epoch", ylabel="training loss (TRADES)", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    loss_ax.legend(frameon=True)
    acc_ax.legend(frameon=True, fontsize="x-small", ncol=max(1, len(histories) // 2))
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, paths)
    plt.close(fig)
    return fig
