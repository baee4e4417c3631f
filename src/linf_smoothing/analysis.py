"""From certification files to the paper's table and its vary-dim figure.

Certified accuracy at l-inf radius r is the share of images whose smoothed prediction is
correct with a certified radius of at least r; at r = 0 (or any r, for abstentions, whose
``correct`` is 0) it never exceeds the natural accuracy, the mean of ``correct``.

A ``Run`` is one certification file with what the analysis must know of it: our files
describe themselves (``results.read_description``) and hold the vote counts from which
every certificate variant is recomputed (``Run.certified``); a foreign file (the
original's, Cohen et al.'s) holds one certificate, and its sigma, d, N and alpha are given
by the user.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from linf_smoothing.certificates import VARIANTS, certify_counts, max_certifiable_radius, parse_counts
from linf_smoothing.results import atomic_path, read_certification, read_description

AS_IN_FILE = "as in file"  # the certificate of a file without counts, whatever made it
# Published files print radii with three significant digits (0.953 for a ceiling of 0.9527).
ROUNDING = 1.005
CERTIFICATE_NOTE = (
    "Certificates (linf_smoothing.certificates): blum is the original's (Blum et al. 2020), which the paper's "
    "numbers use; it is not sound in general (its runner-up bound covers the selected class alone, and its two "
    "bounds hold jointly only at 2 alpha). sound_top2 and cohen hold with probability at least 1 - alpha. "
    "Published rows are typed from the paper unless marked as computed from a published file.")

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
TABLE_COLUMNS = ["source", "label", "certificate", "images", "natural_accuracy", "certified_accuracy",
                 "abstentions", "abstention_rate", "computed_from"]


@dataclass
class Run:
    """A certification file: its rows, its description (None for a foreign file) and the
    noise level, input dimension, samples and failure probability it was certified with
    (None where unknown)."""

    path: Path
    frame: pd.DataFrame
    description: dict | None
    sigma: float | None
    dimension: int | None
    n: int | None
    alpha: float | None

    @property
    def variants(self) -> tuple[str, ...]:
        """The certificates this file can give: every variant from counts, else the file's own."""
        if self.description is not None and "estimation_counts" in self.frame:
            return VARIANTS
        return (AS_IN_FILE,)

    def certified(self, variant: str) -> pd.DataFrame:
        """The rows under certificate ``variant``, recomputed from the counts where the file
        was written with another one."""
        if variant not in self.variants:
            raise ValueError(f"{self.path} holds no vote counts: it gives only its own certificate")
        if variant == AS_IN_FILE or variant == self.description["variant"]:
            return self.frame
        certs = [certify_counts(parse_counts(s), parse_counts(e), self.sigma, self.alpha, variant, self.dimension)
                 for s, e in zip(self.frame["selection_counts"], self.frame["estimation_counts"])]
        frame = self.frame.copy()
        for column in ("predict", "radius_l2", "pa_lower", "pb_upper", "count_a", "count_b"):
            frame[column] = [getattr(c, column) for c in certs]
        frame["radius"] = [c.radius_linf for c in certs]
        frame["correct"] = (frame["predict"] == frame["label"]).astype(int)
        return frame

    def ceiling(self, variant: str) -> float | None:
        """The largest l-inf radius the run's N and alpha can certify, where they are known."""
        if None in (self.sigma, self.dimension, self.n, self.alpha):
            return None
        return max_certifiable_radius(self.sigma, self.n, self.alpha, self.dimension,
                                      "blum" if variant == AS_IN_FILE else variant)


def load_run(path: Path, noise: tuple[float, int] | None = None, n: int | None = None,
             alpha: float | None = None, radius_norm: str = "linf") -> Run:
    """Read a certification file. Ours carry their description; for a foreign one, ``noise``
    (sigma, d), ``n`` and ``alpha`` say how it was made, and ``radius_norm`` whether its
    ``radius`` column is l-inf (the original's) or l2 (Cohen et al.'s), converted here once.
    A radius beyond the largest that (sigma, d, N, alpha) can certify stops with one line."""
    frame = read_certification(path)
    description = read_description(path)
    if description is not None:
        sigma, dimension, n, alpha = (description["sigma"], description["dimension"], description["n"],
                                      description["alpha"])
    else:
        sigma, dimension = noise if noise is not None else (None, None)
        if radius_norm == "l2":
            if dimension is None:
                raise ValueError(f"{path}: an l2 file needs its dimension: give --noise LABEL=SIGMA:DIM")
            frame["radius_l2"] = frame["radius"]
            frame["radius"] = frame["radius"] / math.sqrt(dimension)
        elif dimension is not None:
            frame["radius_l2"] = frame["radius"] * math.sqrt(dimension)
    run = Run(Path(path), frame, description, sigma, dimension, n, alpha)
    ceiling = run.ceiling(run.variants[0] if description is None else description["variant"])
    if ceiling is not None and len(frame) and frame["radius"].max() > ceiling * ROUNDING:
        raise ValueError(
            f"{path}: l-inf radius {frame['radius'].max():.6g} exceeds {ceiling:.6g}, the largest that N = {n} "
            f"samples at alpha = {alpha} can certify with sigma {sigma} and d = {dimension}; is it an l2 file "
            "read as l-inf? (give --radius-norm LABEL=l2)")
    return run


def every_nth(frame: pd.DataFrame, skip: int) -> pd.DataFrame:
    """The rows of test images whose index is a multiple of ``skip`` (the original's --skip)."""
    return frame[frame["idx"] % skip == 0]


def certified_accuracy(frame: pd.DataFrame, radii, column: str = "radius") -> np.ndarray:
    """Certified accuracy at each radius in ``radii`` (l-inf by default; any radius column)."""
    radius = frame[column].to_numpy()[:, None]
    correct = frame["correct"].to_numpy()[:, None].astype(bool)
    return (correct & (radius >= np.asarray(radii, dtype=float)[None, :])).mean(axis=0)


def summarize(label: str, frame: pd.DataFrame, threshold: float, certificate: str = AS_IN_FILE) -> dict:
    abstentions = int((frame["predict"] == -1).sum())
    return {
        "source": "run", "label": label, "certificate": certificate, "images": len(frame),
        "natural_accuracy": float(frame["correct"].mean()),
        "certified_accuracy": float(certified_accuracy(frame, [threshold])[0]),
        "abstentions": abstentions, "abstention_rate": abstentions / len(frame),
    }


def certified_runs(runs: dict[str, Run], certificates) -> dict[tuple[str, str], pd.DataFrame]:
    """(label, certificate) -> rows, for each run and each of ``certificates`` it can give
    (a foreign file: its own certificate alone)."""
    out = {}
    for label, run in runs.items():
        for certificate in [c for c in certificates if c in run.variants] or [run.variants[0]]:
            out[label, certificate] = run.certified(certificate)
    return out


def benchmark_table(runs: dict[tuple[str, str], pd.DataFrame], threshold: float,
                    published_files: dict[str, tuple[str, pd.DataFrame]] | None = None) -> pd.DataFrame:
    """One row per run and certificate (all its images), then the paper's published rows; a
    published row named in ``published_files`` (method -> (path, rows)) is computed from that
    published certification file instead of typed, and says so in ``computed_from``."""
    ours = [summarize(label, frame, threshold, certificate) for (label, certificate), frame in runs.items()]
    published_files = published_files or {}
    unknown = set(published_files) - {method for method, _, _ in PUBLISHED_ROWS}
    if unknown:
        raise ValueError(f"no published row is named {sorted(unknown)[0]!r}; the rows are: "
                         + "; ".join(method for method, _, _ in PUBLISHED_ROWS))
    paper = []
    for method, certified, natural in PUBLISHED_ROWS:
        row = {"source": "published", "label": method, "certificate": "blum" if "Blum" in method else np.nan,
               "images": np.nan, "natural_accuracy": natural / 100, "certified_accuracy": certified / 100,
               "abstentions": np.nan, "abstention_rate": np.nan, "computed_from": np.nan}
        if method in published_files:
            path, frame = published_files[method]
            row.update(summarize(method, frame, threshold, row["certificate"]), source="published",
                       computed_from=str(path))
        paper.append(row)
    return pd.DataFrame([dict(r, computed_from=np.nan) for r in ours] + paper, columns=TABLE_COLUMNS)


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
    header = ["Source", "Method / run", "Certificate", "Images", "Natural acc.",
              f"Certified acc. (l-inf {threshold * 255:g}/255)", "Abstentions", "Abstention rate"]
    shown = TABLE_COLUMNS[:-1]
    cells = []
    for _, row in table.iterrows():
        if not pd.isna(row["computed_from"]):
            row = row.copy()
            row["label"] = f"{row['label']} [computed from {Path(row['computed_from']).name}]"
        cells.append([_format(row[c], c) for c in shown])
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(r) + " |" for r in cells]
    markdown += ["", CERTIFICATE_NOTE]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(markdown) + "\n")
    latex_header = [h.replace("l-inf ", r"$\ell_\infty$ ").replace("%", r"\%") for h in header]
    latex = [r"\begin{tabular}{lllrrrrr}", r"\toprule", " & ".join(latex_header) + r" \\", r"\midrule"]
    for i, r in enumerate(cells):
        if i > 0 and table["source"].iloc[i] != table["source"].iloc[i - 1]:
            latex.append(r"\midrule")
        latex.append(" & ".join(c.replace("%", r"\%").replace("&", r"\&") for c in r) + r" \\")
    latex += [r"\bottomrule", r"\end{tabular}"]
    with atomic_path(paths[2]) as tmp:
        tmp.write_text("\n".join(latex) + "\n")
    return paths


def prediction_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Accuracy of Cohen et al.'s PREDICT per run: the share of images whose returned class is
    the label (an abstention counts as wrong), and the abstentions."""
    rows = []
    for label, frame in runs.items():
        abstentions = int((frame["predict"] == -1).sum())
        rows.append({"label": label, "images": len(frame), "accuracy": float(frame["correct"].mean()),
                     "abstentions": abstentions, "abstention_rate": abstentions / len(frame)})
    return pd.DataFrame(rows)


def write_prediction_table(table: pd.DataFrame, outdir: Path, stem: str = "predict") -> list[Path]:
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv", outdir / f"{stem}.md"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    lines = ["| run | images | accuracy | abstentions | abstention rate |", "|---|---|---|---|---|"]
    lines += [f"| {r.label} | {r.images} | {100 * r.accuracy:.2f}% | {r.abstentions} | {100 * r.abstention_rate:.2f}% |"
              for r in table.itertuples()]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
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


def radius_grid_table(runs: dict[tuple[str, str], pd.DataFrame], radii, radii_l2=()) -> pd.DataFrame:
    """Certified accuracy of each run and certificate (rows) at each l-inf radius of ``radii``
    and each l2 radius of ``radii_l2`` (columns ``l2 R``; NaN for a run without l2 radii)."""
    columns = {f"{r:.6g}": [certified_accuracy(f, [r])[0] for f in runs.values()] for r in radii}
    columns |= {f"l2 {r:.6g}": [certified_accuracy(f, [r], "radius_l2")[0] if "radius_l2" in f else np.nan
                                for f in runs.values()] for r in radii_l2}
    return pd.DataFrame(columns, index=pd.MultiIndex.from_tuples(list(runs), names=["label", "certificate"]))


def write_radius_grid(table: pd.DataFrame, outdir: Path, stem: str = "certified_at_radii") -> list[Path]:
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv", outdir / f"{stem}.md"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp)
    header = ["run", "certificate"] + [f"{'l2 ' if c.startswith('l2 ') else ''}r = {c.removeprefix('l2 ')}"
                                       for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(list(key) + ["–" if pd.isna(v) else f"{100 * v:.1f}%" for v in row]) + " |"
              for key, row in table.iterrows()]
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


CERTIFICATE_STYLES = ("-", "-.", (0, (1, 1)))  # the first certificate solid, the others broken


def curve_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, column: str, xlabel: str,
                 title: str, paths: list[Path], marks: list[tuple[float, str, str]] = (),
                 reference: dict[str, pd.DataFrame] | None = None):
    """Certified accuracy against a radius column: one curve per (run, certificate), a colour
    per run and a line style per certificate; optional thin dashed curves for ``reference``
    runs (e.g. the original's published files), and vertical ``marks`` (x, label, line
    style); saved to each of ``paths``; returns the figure."""
    sns = _style()
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(label for label, _ in runs))
    certificates = list(dict.fromkeys(certificate for _, certificate in runs))
    fig, ax = plt.subplots(figsize=(5.5, 4.0) if len(certificates) == 1 else (6.5, 4.8))
    palette = sns.color_palette("colorblind", max(len(labels), len(reference or {})))
    for (label, certificate), frame in runs.items():
        name = label if len(certificates) == 1 else f"{label}, {certificate}"
        ax.plot(radii, certified_accuracy(frame, radii, column), label=name, color=palette[labels.index(label)],
                linewidth=2, linestyle=CERTIFICATE_STYLES[certificates.index(certificate) % len(CERTIFICATE_STYLES)])
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
    ax.legend(loc="best", frameon=True, fontsize=None if len(certificates) == 1 else "x-small")
    fig.tight_layout()
    _save(fig, paths)
    plt.close(fig)
    return fig


def vary_dim_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, threshold: float,
                    ceilings: list[float], title: str, paths: list[Path],
                    reference: dict[str, pd.DataFrame] | None = None):
    """The paper's figure: certified accuracy against l-inf radius, one curve per run and
    certificate, with the threshold and the largest certifiable radii (``ceilings``) marked."""
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
