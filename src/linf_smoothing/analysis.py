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


def certified_accuracy(frame: pd.DataFrame, radii) -> np.ndarray:
    """Certified accuracy at each l-inf radius in ``radii``."""
    radius = frame["radius"].to_numpy()[:, None]
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


def vary_dim_figure(runs: dict[str, pd.DataFrame], radii: np.ndarray, threshold: float,
                    ceilings: list[float], title: str, paths: list[Path]):
    """Certified accuracy against l-inf radius, one curve per run, with the threshold and the
    largest certifiable radius (``ceilings``) marked; saved to each of ``paths``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    palette = sns.color_palette("colorblind", len(runs))
    for color, (label, frame) in zip(palette, runs.items()):
        ax.plot(radii, certified_accuracy(frame, radii), label=label, color=color, linewidth=2)
    ax.axvline(threshold, color="0.3", linestyle="--", linewidth=1, label=f"{threshold * 255:g}/255")
    for i, ceiling in enumerate(sorted(set(round(c, 12) for c in ceilings))):
        ax.axvline(ceiling, color="0.5", linestyle=":", linewidth=1,
                   label="largest certifiable radius" if i == 0 else None)
    ax.set_xlim(radii[0], radii[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(r"$\ell_\infty$ radius")
    ax.set_ylabel("certified accuracy")
    ax.set_title(title)
    ax.legend(loc="best", frameon=True)
    fig.tight_layout()
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=200, format=Path(path).suffix.lstrip("."))
    plt.close(fig)
    return fig
