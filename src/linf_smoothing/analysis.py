"""From certification files to the paper's table and the other tables (``figures`` draws the
figures from what this module computes).

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

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from linf_smoothing.bounds import cohen_radius
from linf_smoothing.certificates import VARIANTS, certify_many, check_sigma, max_certifiable_radius, parse_counts
from linf_smoothing.datasets import CHANNELS, PUBLISHED_DATASET
from linf_smoothing.noises import NOISES, PARAMETER_PREFIX, Noise, convert_radius, noise_from_description
from linf_smoothing.results import atomic_path, load_certification
from linf_smoothing.settings import OUTPUT_SETTINGS, AnalysisSettings, TrainSettings
from linf_smoothing.validators import dimension_side, largest_sigma

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
    pixel_max: float | None = None  # the images were in [0, pixel_max]: sigma and radii are divided by it


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
            if description.get(key) != value:
                raise ValueError(f"{path} describes itself with {key} = {description.get(key)}; "
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
    if declared.pixel_max is not None:
        frame["radius"] = frame["radius"] / declared.pixel_max
        declared = dataclasses.replace(declared, sigma=declared.sigma / declared.pixel_max, pixel_max=None)
    if declared.sigma > largest_sigma():
        raise ValueError(f"{path}: sigma {declared.sigma:g} is not a noise level of images in [0, 1] (at most "
                         f"{largest_sigma():g}; rs4a's largest is 3.5), and would make every radius plausible: "
                         "correct --noise, or, if the file's images were in [0, 255], declare --pixel-max LABEL=255")
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


def run_certificates(run: Run, certificates) -> list[str]:
    """Those of ``certificates`` the run can give (a foreign file: its own certificate alone)."""
    return [c for c in certificates if c in run.variants] or [run.variants[0]]


def certified_runs(runs: dict[str, Run], certificates) -> dict[tuple[str, str], pd.DataFrame]:
    """(label, certificate) -> rows, for each run and each of ``certificates`` it can give."""
    return {(label, certificate): run.certified(certificate)
            for label, run in runs.items() for certificate in run_certificates(run, certificates)}


PAPER_THRESHOLD = 2 / 255
NICE_MANTISSAS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def nice_ceiling(value: float) -> float:
    """The smallest m * 10^k >= ``value`` (> 0) with m one of NICE_MANTISSAS: an axis' end."""
    power = 10.0 ** math.floor(math.log10(value))
    return round(next(m for m in NICE_MANTISSAS if m * power >= value * (1 - 1e-12)) * power, 12)


def nice_grid(top: float) -> list[float]:
    """0 and the multiples up to ``top`` (> 0) of the largest step 1, 2 or 5 x 10^k that fits into
    ``top`` at least four times."""
    power = 10.0 ** math.floor(math.log10(top / 4))
    step = max(m * power for m in (1, 2, 5) if m * power <= top / 4 * (1 + 1e-12))
    return [round(k * step, 12) for k in range(int(top / step * (1 + 1e-12)) + 1)]


def largest_radius(runs: dict[str, Run], certificate: str) -> tuple[float, str]:
    """The largest l-inf radius the runs reach under ``certificate`` (each run: the first it can
    give): their largest certifiable radius where every run's N and alpha are known, else the
    largest certified one in the files; and a phrase saying which."""
    ceilings = {label: run.ceiling(run_certificates(run, [certificate])[0]) for label, run in runs.items()}
    if None not in ceilings.values():
        label = max(ceilings, key=ceilings.get)
        return ceilings[label], f"the largest certifiable radius {ceilings[label]:.4g} ({label})"
    radii = {label: float(run.frame["radius"].max()) for label, run in runs.items()}
    label = max(radii, key=radii.get)
    return radii[label], f"the largest certified radius {radii[label]:.4g} ({label})"


def settings_from_data(settings: AnalysisSettings, runs: dict[str, Run],
                       outputs=tuple(OUTPUT_SETTINGS)) -> tuple[AnalysisSettings, list[str]]:
    """``settings`` with what it leaves out and ``outputs`` read chosen from the runs, and a line
    for each value chosen, saying from what: the threshold (the paper's 2/255), the l-inf
    figures' x range (a round number past the largest radius the runs reach and the threshold)
    and the grid table's radii (0 and round multiples up to that radius, and the threshold).
    The paper's files give the paper's x range, 0.01, and its grid."""
    read = {name for output in outputs for name in OUTPUT_SETTINGS[output]}
    chosen, notes = {}, []
    threshold = settings.linf_threshold
    if threshold is None:
        threshold = chosen["linf_threshold"] = PAPER_THRESHOLD
        notes.append(f"linf_threshold {threshold:.6f}: the paper's 2/255 (--linf-threshold sets another)")
    if (settings.radius_max is None and "radius_max" in read) or (not settings.grid_radii and "grid_radii" in read):
        largest, which = largest_radius(runs, settings.certificates[0])
        if settings.radius_max is None and "radius_max" in read:
            chosen["radius_max"] = nice_ceiling(1.05 * max(largest, threshold))
            notes.append(f"radius_max {chosen['radius_max']:g}, from the files: past {which} and the threshold "
                         "(--radius-max sets another)")
        if not settings.grid_radii and "grid_radii" in read:
            chosen["grid_radii"] = tuple(sorted({*nice_grid(largest if largest > 0 else threshold), threshold}))
            notes.append(f"grid_radii {' '.join(f'{r:g}' for r in chosen['grid_radii'])}, from the files: up to "
                         f"{which}, and the threshold (--grid-radii sets others)")
    return dataclasses.replace(settings, **chosen), notes




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
        if published_files:
            others = sorted({d for d in datasets if d is not None and d != PUBLISHED_DATASET})
            raise ValueError(f"the published rows ({', '.join(published_files)}) are the paper's {PUBLISHED_DATASET} "
                             f"table, which a table of {', '.join(others)} runs leaves out: leave out --published")
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


# The rendered tables (markdown, LaTeX, the report's HTML) and the figures give accuracies in
# percent; the CSV files, for programs, keep the fractions that the analysis computes.
PERCENT_NOTE = "Accuracies and rates in percent; the CSV file of this table holds them as fractions of 1."
HTML_STYLE = ("body{font-family:sans-serif;font-size:14px}table{border-collapse:collapse}"
              "th,td{border:1px solid #bbb;padding:3px 8px}td{text-align:right}td:first-child{text-align:left}"
              "th{background:#eee}p{max-width:60em}")


def write_rendered_table(header: list[str], rows: list[list[str]], notes: list[str], stem: Path) -> list[Path]:
    """The table as STEM.md (markdown) and STEM.html (a page of its own, which the workflow's
    report shows), each followed by ``notes``, atomically."""
    import html

    paths = [Path(f"{stem}.md"), Path(f"{stem}.html")]
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(row) + " |" for row in rows]
    with atomic_path(paths[0]) as tmp:
        tmp.write_text("\n".join(markdown + [""] + notes) + "\n")
    page = ['<!DOCTYPE html><html><head><meta charset="utf-8">', f"<style>{HTML_STYLE}</style></head><body>",
            "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    page += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
    page += ["</table>"] + [f"<p>{html.escape(note)}</p>" for note in notes] + ["</body></html>"]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(page) + "\n")
    return paths


def write_tables(table: pd.DataFrame, outdir: Path, threshold: float, stem: str = "benchmark") -> list[Path]:
    """benchmark.csv (fractions, full precision), benchmark.md, benchmark.html and benchmark.tex
    (booktabs; percent), atomically."""
    outdir = Path(outdir)
    header = ["Source", "Method / run", "Certificate", "Images", "Natural acc.",
              f"Certified acc. (l-inf {threshold * 255:g}/255)", "Abstentions", "Abstention rate"]
    shown = TABLE_COLUMNS[:-1]
    cells = []
    for _, row in table.iterrows():
        if not pd.isna(row["computed_from"]):
            row = row.copy()
            row["label"] = f"{row['label']} [computed from {Path(row['computed_from']).name}]"
        cells.append([_format(row[c], c) for c in shown])
    paths = [outdir / f"{stem}.csv"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    notes = [CERTIFICATE_NOTE + (" " + PUBLISHED_NOTE if (table["source"] == "published").any() else ""),
             PERCENT_NOTE]
    paths += write_rendered_table(header, cells, notes, outdir / stem)
    latex_header = [h.replace("l-inf ", r"$\ell_\infty$ ").replace("%", r"\%") for h in header]
    latex = [r"\begin{tabular}{lllrrrrr}", r"\toprule", " & ".join(latex_header) + r" \\", r"\midrule"]
    for i, r in enumerate(cells):
        if i > 0 and table["source"].iloc[i] != table["source"].iloc[i - 1]:
            latex.append(r"\midrule")
        latex.append(" & ".join(c.replace("%", r"\%").replace("&", r"\&") for c in r) + r" \\")
    latex += [r"\bottomrule", r"\end{tabular}"]
    paths.append(outdir / f"{stem}.tex")
    with atomic_path(paths[-1]) as tmp:
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
    """predict.csv (fractions), predict.md and predict.html (percent)."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    rows = [[r.label, str(r.images), f"{100 * r.accuracy:.2f}%", str(r.abstentions), f"{100 * r.abstention_rate:.2f}%"]
            for r in table.itertuples()]
    return paths + write_rendered_table(["run", "images", "accuracy", "abstentions", "abstention rate"], rows,
                                        [PERCENT_NOTE], outdir / stem)


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
    """certified_at_radii.csv (fractions), .md and .html (percent)."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp)
    header = ["run", "certificate"] + [f"{'l2 ' if c.startswith('l2 ') else ''}r = {c.removeprefix('l2 ')}"
                                       for c in table.columns]
    rows = [list(key) + ["–" if pd.isna(v) else f"{100 * v:.1f}%" for v in row] for key, row in table.iterrows()]
    return paths + write_rendered_table(header, rows, [f"Certified accuracy at each radius. {PERCENT_NOTE}"],
                                        outdir / stem)


DATASET_NAMES = {"cifar10": "CIFAR-10", "digits": "scikit-learn digits"}
METHOD_NAMES = {"trades": "TRADES + Gaussian noise", "gaussian": "Gaussian augmentation", "smoothadv": "SmoothAdv",
                "consistency": "consistency (Jeong & Shin)", "macer": "MACER"}
NOT_RECORDED = "method not recorded"
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


NOISE_NAMES = {name: noise.title for name, noise in NOISES.items()}  # each noise names itself


def noise_label(name: str, parameters: dict) -> str:
    """A noise's name in tables and figures, with its ``parameters`` (name -> value):
    "generalized Gaussian (p = 3)"."""
    shown = ", ".join(f"{key} = {value:g}" for key, value in parameters.items())
    return NOISE_NAMES.get(name, name) + (f" ({shown})" if shown else "")


def training_method_label(training: dict | None) -> str:
    """The training method a checkpoint's ``training`` settings record, named: SmoothAdv with
    its attack (a checkpoint leaves out a method's setting at its default), and the noise where
    it is not the Gaussian ("Laplace augmentation", "TRADES + Laplace noise", "SmoothAdv (PGD),
    Laplace noise"); NOT_RECORDED where none is recorded."""
    method = (training or {}).get("method")
    if method is None:
        return NOT_RECORDED
    label = method_name(method)
    if method == "smoothadv":
        attack = training.get("attack", next(f.default for f in dataclasses.fields(TrainSettings)
                                             if f.name == "attack"))
        label = f"{label} ({attack.upper()})"
    noise = training.get("noise", "gaussian")
    if noise != "gaussian":
        keys = NOISES[noise].parameter_keys() if noise in NOISES else []
        named = noise_label(noise, {key.removeprefix(PARAMETER_PREFIX): training[key] for key in keys})
        # "Laplace augmentation", "TRADES + Laplace noise": the name's Gaussian is the noise's place
        label = label.replace("Gaussian", named) if "Gaussian" in label else f"{label}, {named} noise"
    return label


def method_label(run: Run) -> str:
    """The training method a run's certification records (its checkpoint's settings, which
    ``certify.py`` copies into the description), named as ``training_method_label`` does."""
    description = run.description or {}
    return training_method_label(description.get("training") or
                                 ({"method": description["training_method"]}
                                  if description.get("training_method") else None))


def image_size(run: Run) -> int:
    """The run's image size: as its description records it, else from d (a foreign file's,
    which ``load_run`` checked is channels x size x size)."""
    size = (run.description or {}).get("image_size")
    return int(size) if size is not None else dimension_side(run.dimension)


def architecture_name(architecture: dict | None) -> str | None:
    """"ResNet-110" for the description's ``architecture`` (depth, widths), None if unknown."""
    if not architecture or "depth" not in architecture:
        return None
    return f"ResNet-{architecture['depth']}"


def figure_title(runs: dict[str, Run]) -> str:
    """The figures' default title, from what the runs record: dataset and architecture where
    all runs agree (joined by " / " where they differ), or a note of what the files omit."""
    descriptions = [run.description or {} for run in runs.values()]
    known, missing = [], []
    for key, name, missing_name in (("dataset", dataset_name, "dataset"), ("architecture", architecture_name, "model")):
        values = [name(description.get(key)) for description in descriptions]
        if any(v is not None for v in values):
            known.append(" / ".join(dict.fromkeys(v for v in values if v is not None)))
        if None in values:
            missing.append(missing_name)
    if not known:
        return "Certified accuracy (" + " and ".join(missing) + " not recorded in the files)"
    return ", ".join(known) + (f" ({' and '.join(missing)} not recorded for some files)" if missing else "")


def subset_note(skip: int) -> str:
    """The figures' statement of the images they draw."""
    if skip == 1:
        return "all certified test images"
    return (f"test images whose index is a multiple of {skip} (figure_skip); r = 0 is the table's natural "
            "accuracy only where all of a run's images are drawn")


