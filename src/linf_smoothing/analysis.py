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

import logging
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from linf_smoothing.bounds import cohen_radius
from linf_smoothing.certificates import VARIANTS, certify_many, check_sigma, max_certifiable_radius, parse_counts
from linf_smoothing.datasets import CHANNELS
from linf_smoothing.noises import Noise, convert_radius, noise_from_description
from linf_smoothing.results import atomic_path, load_certification

AS_IN_FILE = "as in file"  # the certificate of a file without counts, whatever made it
# Published files print radii with three significant digits (0.953 for a ceiling of 0.9527).
ROUNDING = 1.005
CERTIFICATE_NOTE = (
    "Certificates (linf_smoothing.certificates): blum is the original's (Blum et al. 2020), which the paper's "
    "numbers use; it is not sound in general (its runner-up bound covers the selected class alone, and its two "
    "bounds hold jointly only at 2 alpha). sound_top2 and cohen hold with probability at least 1 - alpha.")
PUBLISHED_NOTE = "Published rows are typed from the paper unless marked as computed from a published file."

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


@dataclass(frozen=True)
class Declared:
    """What a user states of a certification file without a description (the original's,
    Cohen et al.'s): the norm of its ``radius`` column (``linf`` or ``l2``), the noise level
    sigma and input dimension d it was certified with, and, where known, its samples N and
    failure probability alpha."""

    radius_norm: str | None = None
    sigma: float | None = None
    dimension: int | None = None
    n: int | None = None
    alpha: float | None = None


# The most any plausible certification certifies, where a file's N or alpha is not stated:
# N up to 10^9 samples (the configuration's limit), alpha up to 1/2 (the l2 radius is then
# at most about 6.06 sigma).
PLAUSIBLE_N, PLAUSIBLE_ALPHA = 1_000_000_000, 0.5
# A file whose largest radius stays below this share of its ceiling is suspicious (a file of
# hundreds of test images almost always has an image on which all N samples agree).
LOW_CEILING_SHARE = 0.5


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
    stated_noise: Noise | None = None  # a foreign file's noise where it is not the Gaussian

    @property
    def noise(self) -> Noise | None:
        """The smoothing noise the file was certified with: the one its description names (the
        Gaussian where it names none, as every file of the paper's runs), or the one stated for a
        foreign file (the Gaussian where none is); None where sigma or d is unknown."""
        if self.stated_noise is not None:
            return self.stated_noise
        if self.sigma is None or self.dimension is None:
            return None
        return noise_from_description(self.description or {}, self.sigma, self.dimension)

    @property
    def variants(self) -> tuple[str, ...]:
        """The certificates this file can give: from counts, every variant its noise has (a
        noise other than the Gaussian: its top-1 certificate alone); else the file's own."""
        if self.description is not None and "estimation_counts" in self.frame:
            return tuple(v for v in VARIANTS if v in self.noise.variants)
        return (AS_IN_FILE,)

    def certified(self, variant: str) -> pd.DataFrame:
        """The rows under certificate ``variant``, with the radius in every norm: ``radius``
        (l-inf), ``radius_l2`` and ``radius_l1``, each the noise's best (``Noise.radius``),
        recomputed from the counts where the file was written with another variant or lacks
        the norm. A file without counts holds its radii (a Gaussian l2 radius is its l1 radius too)."""
        if variant not in self.variants:
            raise ValueError(f"{self.path} cannot give the {variant} certificate: it gives "
                             f"{', '.join(self.variants)}")
        if variant == AS_IN_FILE:
            if "radius_l1" in self.frame:
                return self.frame
            return self.frame.assign(radius_l1=convert_radius(self.frame["radius_l2"], "l2", "l1", self.dimension))
        certs = certify_many(np.stack([parse_counts(s) for s in self.frame["selection_counts"]]),
                             np.stack([parse_counts(e) for e in self.frame["estimation_counts"]]),
                             self.sigma, self.alpha, variant, self.dimension, self.noise)
        frame = self.frame.assign(radius_l1=certs["radius_l1"])
        if variant == self.description["variant"]:  # the file's own columns, as written and checked
            return frame
        for column in ("predict", "radius_l2", "pa_lower", "pb_upper", "count_a", "count_b"):
            frame[column] = certs[column]
        frame["radius"] = certs["radius_linf"]
        frame["correct"] = (frame["predict"] == frame["label"]).astype(int)
        return frame

    def ceiling(self, variant: str, norm: str = "linf") -> float | None:
        """The largest ``norm`` radius the run's N and alpha can certify, where they are known."""
        if None in (self.sigma, self.dimension, self.n, self.alpha):
            return None
        return max_certifiable_radius(self.sigma, self.n, self.alpha, self.dimension,
                                      "blum" if variant == AS_IN_FILE else variant, self.noise, norm)


def load_run(path: Path, declared: Declared | None = None, own: bool = True) -> Run:
    """Read a certification file through ``results.load_certification``. Ours carry their
    description, and nothing needs declaring (a value ``declared`` for this file alone, ``own``,
    must agree with it); a foreign one is analysed only with what ``declared`` states: its
    radius norm, sigma and d (required), N and alpha (where known). An l2 radius column is
    converted to l-inf here, once. A radius that the declared sigma, N and alpha cannot give
    stops with one line that names what cannot be true."""
    frame, description = load_certification(path)
    declared = declared or Declared()
    if description is not None:
        stated = {k: v for k, v in vars(declared).items() if own and v is not None and k != "radius_norm"}
        for key, value in stated.items():
            if description[key] != value:
                raise ValueError(f"{path} describes itself with {key} = {description[key]}; "
                                 f"leave out the {value} given for it")
        return Run(Path(path), frame, description, description["sigma"], description["dimension"],
                   description["n"], description["alpha"])
    if declared.radius_norm not in ("linf", "l2"):
        raise ValueError(f"{path} has no description: state the norm of its radius column with "
                         "--radius-norm LABEL=linf or LABEL=l2 (the original's files are l-inf, Cohen et al.'s l2)")
    if declared.sigma is None or declared.dimension is None:
        raise ValueError(f"{path} has no description: state the sigma and the input dimension d it was certified "
                         "with, --noise LABEL=SIGMA:DIM (CIFAR-10 at 32 pixels: d = 3072)")
    check_sigma(declared.sigma)
    if dimension_side(declared.dimension) is None:
        channels = sorted(set(CHANNELS.values()))
        raise ValueError(f"{path}: d = {declared.dimension} is not channels x size x size of an image with "
                         f"{' or '.join(map(str, channels))} channels: give --noise LABEL=SIGMA:DIM with the images' d")
    sigma, dimension = declared.sigma, declared.dimension
    if declared.radius_norm == "l2":
        frame["radius_l2"] = frame["radius"]
        frame["radius"] = frame["radius"] / math.sqrt(dimension)
    else:
        frame["radius_l2"] = frame["radius"] * math.sqrt(dimension)
    _check_ceiling(path, frame, declared)
    return Run(Path(path), frame, None, sigma, dimension, declared.n, declared.alpha)


def _check_ceiling(path: Path, frame: pd.DataFrame, declared: Declared) -> None:
    """Refuse a foreign file whose largest l2 radius exceeds what its sigma, N and alpha (or,
    where N or alpha is not stated, any plausible N and alpha) can certify, naming what cannot
    be true; warn where it stays far below a stated ceiling."""
    sigma, n, alpha = declared.sigma, declared.n, declared.alpha
    largest = float(frame["radius_l2"].max()) / ROUNDING  # printed radii may be rounded up
    ceiling = cohen_radius(sigma, (alpha or PLAUSIBLE_ALPHA) ** (1.0 / (n or PLAUSIBLE_N)))
    stored = frame["radius" if declared.radius_norm == "linf" else "radius_l2"].max()
    column = f"{'l-inf' if declared.radius_norm == 'linf' else 'l2'} radius {stored:.6g}"
    if largest > ceiling:
        limit = f"l2 {ceiling:.6g} (l-inf {ceiling / math.sqrt(declared.dimension):.6g} at d = {declared.dimension})"
        needed = NormalDist().cdf(largest / sigma)  # the pA_lower that radius needs
        if n is not None and alpha is not None:
            what = f"N = {n} samples at alpha = {alpha} certify at most {limit} with sigma {sigma}"
            what += (f"; that radius needs N >= {math.ceil(math.log(alpha) / math.log(needed))} at alpha = {alpha}"
                     f" or alpha >= {needed ** n:.3g} at N = {n}" if needed < 1 else
                     "; no N or alpha can certify that radius at this sigma")
            fix = ("correct --n/--alpha (leave both out where the file's are unknown) or sigma" if needed < 1 else
                   "correct sigma")
        else:
            stated = " and ".join(f"{k} = {v}" for k, v in (("N", n), ("alpha", alpha)) if v is not None)
            what = (f"no certification {'with ' + stated + ' ' if stated else ''}up to N = {PLAUSIBLE_N} "
                    f"at alpha <= {PLAUSIBLE_ALPHA} gets beyond {limit} with sigma {sigma}")
            fix = f"correct sigma (that radius needs sigma >= {largest / (ceiling / sigma):.3g})"
        if declared.radius_norm == "linf":
            fix += " or, if the file's radius is l2, declare --radius-norm LABEL=l2"
        raise ValueError(f"{path}: its {column} is more than it can be: {what}; {fix}")
    if n is not None and alpha is not None and len(frame) >= 100 and largest * ROUNDING < LOW_CEILING_SHARE * ceiling:
        logging.getLogger("analysis").warning(
            "%s: its largest %s is %.0f%% of the l2 %.6g that N = %d at alpha = %g certify with sigma %g, where "
            "some of %d images usually reach it: check the declared norm (an l-inf file declared l2 gives radii "
            "sqrt(d) times too small), sigma, N and alpha", path, column, 100 * largest * ROUNDING / ceiling,
            ceiling, n, alpha, sigma, len(frame))


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


PUBLISHED_DATASET = "cifar10"  # the dataset of the paper's published rows


def benchmark_table(runs: dict[tuple[str, str], pd.DataFrame], threshold: float,
                    published_files: dict[str, tuple[str, pd.DataFrame]] | None = None,
                    datasets=()) -> pd.DataFrame:
    """One row per run and certificate (all its images), then the paper's published rows; a
    published row named in ``published_files`` (method -> (path, rows)) is computed from that
    published certification file instead of typed, and says so in ``computed_from``.
    ``datasets`` are the runs' datasets as their descriptions record them (None: unknown):
    the paper's rows, all on CIFAR-10, are kept only if every known one is CIFAR-10."""
    ours = [summarize(label, frame, threshold, certificate) for (label, certificate), frame in runs.items()]
    published_files = published_files or {}
    unknown = set(published_files) - {method for method, _, _ in PUBLISHED_ROWS}
    if unknown:
        raise ValueError(f"no published row is named {sorted(unknown)[0]!r}; the rows are: "
                         + "; ".join(method for method, _, _ in PUBLISHED_ROWS))
    paper = []
    if any(d is not None and d != PUBLISHED_DATASET for d in datasets):
        return pd.DataFrame([dict(r, computed_from=np.nan) for r in ours], columns=TABLE_COLUMNS)
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
    markdown += ["", CERTIFICATE_NOTE + (" " + PUBLISHED_NOTE if (table["source"] == "published").any() else "")]
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


DATASET_NAMES = {"cifar10": "CIFAR-10", "digits": "scikit-learn digits"}
METHOD_NAMES = {"trades": "TRADES + Gaussian noise", "gaussian": "Gaussian augmentation", "smoothadv": "SmoothAdv",
                "consistency": "consistency (Jeong & Shin)", "macer": "MACER"}
CERTIFICATE_NAMES = {
    "blum": "blum (the original's; not sound in general)",
    "sound_top2": "sound_top2 (sound top-2)",
    "cohen": "cohen (Cohen et al.'s; sound)",
    AS_IN_FILE: "as in the file (its own certificate)",
}


def dataset_name(dataset: str | None) -> str | None:
    return None if dataset is None else DATASET_NAMES.get(dataset, dataset)


def method_name(method: str | None) -> str | None:
    return None if method is None else METHOD_NAMES.get(method, method)


def architecture_name(architecture: dict | None) -> str | None:
    """"ResNet-110" for the description's ``architecture`` (depth, widths), None if unknown."""
    if not architecture or "depth" not in architecture:
        return None
    return f"ResNet-{architecture['depth']}"


def run_facts(run: Run) -> dict:
    """What a figure can say of a run: dataset, architecture, training method (None where
    the file does not record it), sigma and d."""
    description = run.description or {}
    return {"dataset": dataset_name(description.get("dataset")),
            "architecture": architecture_name(description.get("architecture")),
            "method": method_name(description.get("training_method")),
            "sigma": run.sigma, "dimension": run.dimension}


def figure_title(runs: dict[str, Run]) -> str:
    """The figures' default title, from what the runs record: dataset and architecture where
    all runs agree (joined by " / " where they differ), or a note of what the files omit."""
    facts = [run_facts(run) for run in runs.values()]
    known, missing = [], []
    for key in ("dataset", "architecture"):
        values = list(dict.fromkeys(f[key] for f in facts if f[key] is not None))
        if values:
            known.append(" / ".join(values))
        if any(f[key] is None for f in facts):
            missing.append("dataset" if key == "dataset" else "model")
    if not known:
        return "Certified accuracy (" + " and ".join(missing) + " not recorded in the files)"
    return ", ".join(known) + (f" ({' and '.join(missing)} not recorded for some files)" if missing else "")


def run_legend(label: str, run: Run, shown: int, total: int, ceiling: float | None = None) -> str:
    """A run's legend entry: its label, method, sigma and d where known, the images drawn
    (of how many certified) and its largest certifiable radius."""
    facts = run_facts(run)
    details = [facts["method"]] if facts["method"] else []
    if run.sigma is not None:
        details.append(f"σ {run.sigma:g}, d {run.dimension}")
    details.append(f"{shown} of {total} images" if shown != total else f"{shown} images")
    if ceiling is not None:
        details.append(f"l-inf ceiling {ceiling:.4g}")
    return f"{label}: " + ", ".join(details)


def subset_note(skip: int) -> str:
    """The figures' statement of the images they draw."""
    if skip == 1:
        return "all certified test images"
    return (f"test images whose index is a multiple of {skip} (figure_skip); r = 0 is the table's natural "
            "accuracy only where all of a run's images are drawn")


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)
    return sns


def _save(fig, paths) -> None:
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=200, format=Path(path).suffix.lstrip("."), bbox_inches="tight")


# A colour and a marker per run, a line style per certificate (the first solid), published
# reference curves as wide translucent bands behind; vertical marks: the threshold black and
# solid, each run's largest certifiable radius dash-dotted in the run's colour (runs sharing
# one alternate their colours along it). No vertical gridlines, so no mark can pass for one.
CERTIFICATE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)))
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
THRESHOLD_COLOR = "black"
CEILING_STYLE = (4.0, 1.5, 1.0, 1.5)  # dash-dot


@dataclass
class Mark:
    """A vertical line at ``x``: the table's threshold (``kind`` "threshold") or a run's
    largest certifiable radius ("ceiling"), belonging to ``run`` (None: to all runs)."""

    x: float
    kind: str
    run: str | None = None


def _legend_header(text: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", label=text)


def _certificate_handles(certificates) -> list:
    """The legend's certificates: a header, then each certificate's line style, named."""
    from matplotlib.lines import Line2D

    return [_legend_header("certificates (line style)")] + [
        Line2D([], [], color="0.15", linewidth=2, linestyle=CERTIFICATE_STYLES[k % len(CERTIFICATE_STYLES)],
               label=CERTIFICATE_NAMES.get(certificate, certificate)) for k, certificate in enumerate(certificates)]


def _headed_legend(owner, handles: list, **kwargs):
    """``owner.legend`` of ``handles`` (a figure or subfigure), its headers (``_legend_header``) bold."""
    legend = owner.legend(handles=handles, frameon=True, fontsize="small", **kwargs)
    for text, handle in zip(legend.get_texts(), handles):
        if handle.get_linestyle() == "None" and handle.get_marker() in ("None", None, ""):
            text.set_fontweight("bold")
    return legend


def dimension_side(dimension: int) -> int | None:
    """The image size of an input of ``dimension`` = channels x size x size for a dataset's
    channels (None if there is none)."""
    for channels in sorted(set(CHANNELS.values())):
        side = round(math.sqrt(dimension / channels))
        if dimension == channels * side ** 2:
            return side
    return None


def curve_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, column: str, xlabel: str,
                 title: str, paths: list[Path], marks: list[Mark] = (),
                 reference: dict[str, pd.DataFrame] | None = None, run_labels: dict[str, str] | None = None,
                 subtitle: str = "", threshold_label: str = "table's threshold"):
    """Certified accuracy against a radius column: one curve per (run, certificate), a colour
    and a marker per run, a line style per certificate (each named in the legend); optional
    ``reference`` curves (e.g. the original's published files) as wide translucent bands;
    vertical ``marks``; ``run_labels`` the legend text of each run; the legend outside the
    axes. Saved to each of ``paths``; returns the figure."""
    sns = _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory, offset_copy

    labels = list(dict.fromkeys(label for label, _ in runs))
    certificates = list(dict.fromkeys(certificate for _, certificate in runs))
    run_labels = run_labels or {}
    fig, ax = plt.subplots(figsize=(13, 5.2), layout="constrained")
    palette = sns.color_palette("colorblind", max(len(labels), 1) + len(reference or {}))
    color = {label: palette[i] for i, label in enumerate(labels)}
    every = max(1, len(radii) // 8)
    for (label, certificate), frame in runs.items():
        i = labels.index(label)
        ax.plot(radii, certified_accuracy(frame, radii, column), color=color[label],
                linewidth=max(1.4, 2.8 - 0.4 * i), zorder=3 + 0.1 * i,
                linestyle=CERTIFICATE_STYLES[certificates.index(certificate) % len(CERTIFICATE_STYLES)],
                marker=RUN_MARKERS[i % len(RUN_MARKERS)], markersize=5,
                markevery=(every * i // max(len(labels), 1) + every // 2, every),
                label=f"{label}, {certificate}")
    reference_handles = []
    for j, (label, frame) in enumerate((reference or {}).items()):
        # the band takes the colour of the run it stands beside (its label ends with the run's)
        match = [run for run in labels if label.split()[-1] == run]
        band = color[match[0]] if match else palette[len(labels) + j]
        ax.plot(radii, certified_accuracy(frame, radii, column), color=band, linewidth=7, alpha=0.3,
                solid_capstyle="butt", zorder=1, label=f"published: {label}")
        reference_handles.append(Line2D([], [], color=band, linewidth=7, alpha=0.3, label=f"published: {label}"))

    # marks: coinciding ceilings (to the plotted precision) alternate their runs' colours
    ceilings: dict[float, list[str | None]] = {}
    for mark in marks:
        if mark.kind == "ceiling" and radii[0] <= mark.x <= radii[-1]:
            ceilings.setdefault(round(mark.x, 10), []).append(mark.run)
    for x, owners in ceilings.items():
        period = sum(CEILING_STYLE) * len(owners)
        for k, owner in enumerate(owners):
            dashes = [CEILING_STYLE[0], CEILING_STYLE[1], CEILING_STYLE[2], period - sum(CEILING_STYLE[:3])]
            ax.axvline(x, color=color.get(owner, "0.4"), linewidth=1.8, zorder=2,
                       linestyle=(sum(CEILING_STYLE) * k, dashes), label=f"ceiling {owner}")
    thresholds = [m for m in marks if m.kind == "threshold" and radii[0] <= m.x <= radii[-1]]
    stacked: dict[float, int] = {}
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for mark in thresholds:
        ax.axvline(mark.x, color=THRESHOLD_COLOR, linewidth=1.3, zorder=2, label=f"threshold {mark.run or ''}")
        if mark.run is not None:  # a per-run threshold: a triangle in the run's colour above it (stacked)
            k = stacked[round(mark.x, 10)] = stacked.get(round(mark.x, 10), -1) + 1
            ax.plot([mark.x], [1.0], marker="v", markersize=7, color=color.get(mark.run, "0.4"), clip_on=False,
                    zorder=4, label=f"threshold marker {mark.run}",
                    transform=offset_copy(top, fig=fig, y=4 + 8 * k, units="points"))

    ax.set_xlim(radii[0], radii[-1])
    ax.set_ylim(0, 1)
    ax.grid(False, axis="x")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("certified accuracy")
    ax.set_title(textwrap.fill(title, 90) + (f"\n{textwrap.fill(subtitle, 90)}" if subtitle else ""), fontsize="medium",
                 pad=6 + 8 * (max(stacked.values()) + 1 if stacked else 0))  # above the threshold triangles

    handles = [_legend_header("runs (colour and marker)")]
    for i, label in enumerate(labels):
        handles.append(Line2D([], [], color=color[label], linewidth=2, marker=RUN_MARKERS[i % len(RUN_MARKERS)],
                              markersize=5, label=run_labels.get(label, label)))
    handles += _certificate_handles(certificates)
    if reference_handles:
        handles += [_legend_header("published files (bands)"), *reference_handles]
    if thresholds or ceilings:
        handles.append(_legend_header("vertical lines"))
    if thresholds:
        per_run = any(m.run is not None for m in thresholds)
        handles.append(Line2D([], [], color=THRESHOLD_COLOR, linewidth=1.3,
                              marker="v" if per_run else None, markerfacecolor="0.5", markeredgecolor="0.5",
                              label=threshold_label + (" (▼ in the run's colour)" if per_run else "")))
    if ceilings:
        handles.append(Line2D([], [], color="0.4", linewidth=1.8, linestyle=(0, CEILING_STYLE),
                              label=f"largest certifiable radius, {certificates[0]} (run's colour)"))
    hidden = [m for m in marks if m.kind == "ceiling" and not radii[0] <= m.x <= radii[-1]]
    if hidden:
        handles.append(_legend_header(f"(ceiling beyond the axis: {', '.join(str(m.run) for m in hidden)})"))
    _headed_legend(fig, handles, loc="outside right upper")
    _save(fig, paths)
    plt.close(fig)
    return fig


def vary_dim_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, threshold: float,
                    ceilings: dict[str, float], title: str, paths: list[Path],
                    reference: dict[str, pd.DataFrame] | None = None, run_labels: dict[str, str] | None = None,
                    subtitle: str = ""):
    """The paper's figure: certified accuracy against l-inf radius, one curve per run and
    certificate, the threshold and each run's largest certifiable radius (``ceilings``: run
    label -> radius) marked."""
    marks = [Mark(threshold, "threshold")] + [Mark(c, "ceiling", label) for label, c in ceilings.items()]
    return curve_figure(runs, radii, "radius", r"$\ell_\infty$ radius", title, paths, marks, reference,
                        run_labels, subtitle, threshold_label=f"{threshold * 255:g}/255 = {threshold:.5f} (table)")


def training_figure(histories: dict[str, pd.DataFrame], title: str, paths: list[Path],
                    methods: dict[str, str | None] | None = None):
    """Per-epoch training curves of each experiment: the loss, and the accuracies on noisy
    training and test images and on clean test images; ``methods`` names each run's training
    method (None: not recorded). A colour per run, a line style per accuracy, the legend
    outside the axes, integer epochs."""
    sns = _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    methods = methods or {}
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    palette = sns.color_palette("colorblind", len(histories))
    styles = {"train_accuracy_noisy": ("-", "train, noisy"), "test_accuracy_noisy": ("--", "test, noisy"),
              "test_accuracy_clean": (":", "test, clean")}
    for i, (color, (label, history)) in enumerate(zip(palette, histories.items())):
        epochs = history["epoch"] + 1
        # a marker per run, on staggered epochs, so that coinciding runs stay apart
        look = dict(color=color, marker=RUN_MARKERS[i % len(RUN_MARKERS)], markersize=4,
                    markevery=(i % 3, 3))
        loss_ax.plot(epochs, history["train_loss"], label=label, linewidth=2, **look)
        for column, (style, what) in styles.items():
            acc_ax.plot(epochs, history[column], linestyle=style, label=f"{label}: {what}", **look)
    known = set(methods.get(label) for label in histories)
    if len(known) == 1 and None not in known:
        loss_name = f"training loss ({method_name(known.pop())})"
    else:
        loss_name = "training loss (each run's method)"
    loss_ax.set(xlabel="epoch", ylabel=loss_name, title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [_legend_header("runs (colour and marker)")]
    for i, (color, label) in enumerate(zip(palette, histories)):
        method = method_name(methods.get(label)) or "method not recorded"
        handles.append(Line2D([], [], color=color, linewidth=2, marker=RUN_MARKERS[i % len(RUN_MARKERS)],
                              markersize=4, label=f"{label}: {method}"))
    handles.append(_legend_header("accuracy (line style)"))
    handles += [Line2D([], [], color="0.15", linestyle=style, label=what) for style, what in styles.values()]
    _headed_legend(fig, handles, loc="outside right center")
    fig.suptitle(title)
    _save(fig, paths)
    plt.close(fig)
    return fig
