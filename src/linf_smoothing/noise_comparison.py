"""The smoothing noises side by side: does any noise certify l-inf better as the image grows?

Each run is grouped by the noise its certification describes (``analysis.Run.noise``) and by
its image size. The table gives each its natural accuracy; its certified accuracy in l-inf at
the threshold (2/255) and in l2 and l1 at r = threshold * sqrt(d), the radius at which the
Gaussian's three certificates coincide (its l1 and l2 radii are sqrt(d) times its l-inf
radius), so that in each norm a noise above the Gaussian certifies that norm better than the
Gaussian does at the same energy; its average certified radius (ACR, 0 where wrong) in each
norm; the median certified l-inf radius (0 where wrong, as Kumar et al.'s print_medians.py
takes it) in the unit radius * sqrt(d) / sigma, flat in d for a radius like sigma / sqrt(d)
and falling like 1 / sqrt(d) for a radius like sigma / d; and the limits no classifier
passes: the largest radius the run's N and alpha can certify in each norm (every vote for one
class, ``Noise.ceiling``), and Kumar et al.'s (2020) upper bound on the l-inf radius of any
noise with independent coordinates at that probability (``noises.iid_radius_bound``; none for
the noises whose coordinates depend on each other).

Published rows come from Kumar et al.'s stored CIFAR-10 certifications
(github.com/alevine0/smoothingGenGaussian, ``data/certify/cifar10/resnet110/...``, licensed for
a single copy: read from the user's copy, never stored here): their top-class counts give our
certificate of their generalized Gaussian noise in every norm (``load_kumar_results``).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from linf_smoothing.analysis import (
    AS_IN_FILE,
    CERTIFICATE_NOTE,
    PERCENT_NOTE,
    Run,
    certified_accuracy,
    noise_label,
    write_rendered_table,
)
from linf_smoothing.bounds import clopper_pearson
from linf_smoothing.checks import check_columns
from linf_smoothing.comparison import average_certified_radius, image_size
from linf_smoothing.noises import NOISES, Noise, iid_radius_bound, make_noise
from linf_smoothing.results import atomic_path

NORM_COLUMNS = {"l1": "radius_l1", "l2": "radius_l2", "linf": "radius"}
NOISE_COLUMNS = ["source", "noise", "noise_name", "label", "image_size", "dimension", "sigma", "n", "alpha",
                 "certificate", "images", "natural_accuracy", "certified_linf", "certified_l2", "certified_l1",
                 "radius_l1_l2", "acr_l1", "acr_l2", "acr_linf", "median_linf", "median_linf_normalized",
                 "ceiling_l1", "ceiling_l2", "ceiling_linf", "kumar_linf", "computed_from"]


def noise_name(noise: Noise) -> str:
    """The noise's name in tables and figures, with its parameters: "generalized Gaussian (p = 3)"."""
    return noise_label(noise.name, noise.parameters)


def kumar_bound(run: Run) -> float:
    """Kumar et al.'s bound on the l-inf radius at the largest probability the run's N and
    alpha can certify, alpha^(1/N); NaN for a noise whose coordinates are not independent."""
    if not run.noise.iid:
        return math.nan
    return float(iid_radius_bound(run.sigma, run.alpha ** (1.0 / run.n), run.dimension))


def median_linf(frame: pd.DataFrame) -> float:
    """The median certified l-inf radius over all images, 0 where wrong or abstained (as Kumar
    et al.'s print_medians.py takes it)."""
    return float(frame["radius"].where(frame["correct"] == 1, 0.0).median())


def noise_row(label: str, run: Run, frame: pd.DataFrame, certificate: str, threshold: float) -> dict:
    """One run and certificate's row of the noise table (see the module docstring); ``frame``
    holds the rows with their radius in every norm (``Run.certified``)."""
    radius = threshold * math.sqrt(run.dimension)
    return {
        "source": "run", "noise": run.noise.name, "noise_name": noise_name(run.noise), "label": label,
        "image_size": image_size(run), "dimension": run.dimension, "sigma": run.sigma, "n": run.n,
        "alpha": run.alpha, "certificate": certificate, "images": len(frame),
        "natural_accuracy": float(frame["correct"].mean()),
        "certified_linf": float(certified_accuracy(frame, [threshold])[0]),
        "certified_l2": float(certified_accuracy(frame, [radius], "radius_l2")[0]),
        "certified_l1": float(certified_accuracy(frame, [radius], "radius_l1")[0]),
        "radius_l1_l2": radius,
        **{f"acr_{norm}": average_certified_radius(frame, column) for norm, column in NORM_COLUMNS.items()},
        "median_linf": median_linf(frame),
        "median_linf_normalized": median_linf(frame) * math.sqrt(run.dimension) / run.sigma,
        **{f"ceiling_{norm}": run.ceiling(certificate, norm) for norm in NORM_COLUMNS},
        "kumar_linf": kumar_bound(run), "computed_from": math.nan}


def noise_table(runs: dict[str, Run], certified: dict[tuple[str, str], pd.DataFrame], threshold: float,
                published: dict[str, Run] | None = None) -> pd.DataFrame:
    """A row per run and certificate, then a row per ``published`` file (label -> its run,
    ``load_kumar_results``); ordered by noise (the registry's order), size and certificate."""
    rows = [noise_row(label, runs[label], frame, certificate, threshold)
            for (label, certificate), frame in certified.items()]
    for label, run in (published or {}).items():
        rows.append(noise_row(label, run, run.frame, AS_IN_FILE, threshold) | {
            "source": "published", "computed_from": str(run.path)})
    table = pd.DataFrame(rows, columns=NOISE_COLUMNS)
    order = table.assign(noise_order=table["noise"].map({name: i for i, name in enumerate(NOISES)}),
                         published=table["source"] == "published")
    order = order.sort_values(["published", "noise_order", "noise_name", "image_size", "certificate"], kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _number(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.4g}"


def write_noise_table(table: pd.DataFrame, outdir: Path, threshold: float, stem: str = "noises") -> list[Path]:
    """noises.csv (every column, full precision, accuracies as fractions), noises.md and
    noises.html (a row per run: accuracies in percent, ACRs, the median l-inf radius and the
    l-inf limits in the unit radius * sqrt(d) / sigma)."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    t = f"{threshold * 255:g}/255"
    header = ["noise", "run", "size, d", "σ", "natural", f"ℓ∞ {t}", f"ℓ2 {t}·√d", f"ℓ1 {t}·√d", "ACR ℓ1",
              "ACR ℓ2", "ACR ℓ∞", "median ℓ∞ ×√d/σ", "ceiling ℓ∞ ×√d/σ", "Kumar ℓ∞ ×√d/σ"]
    rows = []
    for row in table.itertuples():
        unit = math.sqrt(row.dimension) / row.sigma
        run = row.label if row.source == "run" else f"{row.label} [computed from {Path(row.computed_from).name}]"
        rows.append([row.noise_name, run, f"{row.image_size}, {row.dimension}", f"{row.sigma:g}",
                     _percent(row.natural_accuracy), _percent(row.certified_linf), _percent(row.certified_l2),
                     _percent(row.certified_l1), _number(row.acr_l1), _number(row.acr_l2), _number(row.acr_linf),
                     _number(row.median_linf_normalized), _number(row.ceiling_linf * unit),
                     _number(row.kumar_linf * unit)])
    certificates = sorted(set(table["certificate"]) - {AS_IN_FILE})
    note = (f"Accuracy on every certified test image: natural; certified in l-inf at {t} = {threshold:.5f}, "
            f"and in l2 and l1 at {t}·√d, where the Gaussian's three certificates coincide ({stem}.csv: "
            "radius_l1_l2). ACR: average certified radius in each norm (0 where wrong or abstained). The l-inf "
            "radii in units of √d/σ: a radius like σ/√d is flat across sizes, one like σ/d falls like 1/√d. "
            "Ceiling: the largest l-inf radius the run's N and α can certify (every vote for one class); Kumar: "
            "Kumar et al.'s (2020, Theorem 1) bound on the l-inf radius of any noise with independent "
            f"coordinates at that probability (– for noises whose coordinates depend on each other). {stem}.csv "
            "also holds the ceilings in l1 and l2, N, α and the certificate of each row."
            + (f" Certificate: {', '.join(certificates)}. " + CERTIFICATE_NOTE if certificates else ""))
    if (table["source"] == "published").any():
        note += (" Published rows: Kumar et al.'s counts of their generalized Gaussian models (N = 100,000 "
                 "samples, α = 0.001, as stated for each file), certified here with this project's "
                 "certificates of that noise.")
    return paths + write_rendered_table(header, rows, [note, PERCENT_NOTE], outdir / stem)


KUMAR_COLUMNS = ["idx", "label", "predict", "count", "any_iid_distribution_bound", "correct"]
# Kumar et al.'s files print the bound with 5 significant digits ("{:.5}").
KUMAR_PRINTED = 1e-4


def load_kumar_results(path: Path, p: float, sigma: float, dimension: int, n: int, alpha: float) -> Run:
    """A certification file of Kumar et al. (2020) (columns ``idx label predict count
    any_iid_distribution_bound generalized_gaussian_bound_over_c [exact_radius] correct time``,
    their code/certify.py) of a model smoothed with their generalized Gaussian noise of shape
    ``p`` at level ``sigma`` (the root mean square per coordinate, as here: their
    gen_gauss_utils.randgn_like draws unit variance, times sigma) in dimension d, certified
    with ``n`` samples at ``alpha`` (their defaults: 100,000 and 0.001), as a ``Run`` whose rows
    hold our certificate of that noise in every norm: pA_lower the one-sided Clopper-Pearson
    bound of ``count`` (their code's), abstaining where it is below 1/2 (their -1).

    What the user states is checked against the file: each certified row's printed
    ``any_iid_distribution_bound``, sigma / (sqrt(2 (1 - pA_lower)) d^(1/2 - 1/p)) (their
    code/core.py), must be what its count gives with the stated values (to its 5 printed
    digits); else one line names the row and what disagrees."""
    from linf_smoothing.results import _read_tsv

    frame = _read_tsv(path, "certification file of Kumar et al.")
    missing = [column for column in KUMAR_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{path} is not a certification file of Kumar et al. (smoothingGenGaussian's "
                         f"code/certify.py): columns {missing} are missing")
    noise = make_noise("generalized_gaussian", sigma, dimension, p=p)
    counts = pd.to_numeric(frame["count"], errors="coerce").to_numpy()
    impossible = ~((counts >= 0) & (counts <= n) & (counts == np.round(counts)))
    if impossible.any():
        row = int(np.argmax(impossible))
        raise ValueError(f"{path}, row {row + 1} (image {frame['idx'].iloc[row]}): count {frame['count'].iloc[row]} "
                         f"is not a count of N = {n} samples: state the file's N, alpha, sigma, d and p")
    pa_lower = clopper_pearson(counts.astype(np.int64), n, alpha)[0]
    predicted = frame["predict"].to_numpy() != -1
    disagree = predicted != (pa_lower >= 0.5)
    # theirs for any l_p with p = the shape; Kumar's l-inf bound is d^(1/p) times smaller
    printed = frame["any_iid_distribution_bound"].to_numpy(dtype=float)
    ours = np.where(predicted, iid_radius_bound(sigma, np.where(predicted, pa_lower, 0.5), dimension)
                    * dimension ** (1 / p), 0.0)
    disagree |= ~np.isclose(printed, ours, rtol=KUMAR_PRINTED, atol=0)
    if disagree.any():
        row = int(np.argmax(disagree))
        raise ValueError(f"{path}, row {row + 1} (image {frame['idx'].iloc[row]}): count {frame['count'].iloc[row]} "
                         f"gives pA_lower {pa_lower[row]:.6g} and the bound {ours[row]:.5g} with the stated N = {n}, "
                         f"alpha = {alpha}, sigma = {sigma}, d = {dimension}, p = {p:g}, where the file prints "
                         f"prediction {frame['predict'].iloc[row]} and bound {printed[row]:.5g}: state the "
                         "file's N, alpha, sigma, d and p")
    radii = noise.radii(pa_lower)
    for norm, column in NORM_COLUMNS.items():
        frame[column] = np.where(predicted, radii[norm], 0.0)
    frame["pa_lower"] = pa_lower
    check_columns(path, frame)
    frame["correct"] = frame["correct"].astype(int)
    return Run(Path(path), frame, None, sigma, dimension, n, alpha, stated_noise=noise)
