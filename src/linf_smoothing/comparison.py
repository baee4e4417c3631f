"""The training methods side by side: does certified l-inf accuracy fall with the image size
for every method, or only for the paper's?

Each run is grouped by the training method its certification records (the checkpoint's
``training`` settings, copied into the description by ``certify.py``) and by its image size.
The table gives each method, size and certificate its natural accuracy, its certified l-inf
accuracy at the threshold and its average certified radius (ACR: the mean over all images of
the l2 radius where the smoothed prediction is correct and certified, 0 elsewhere, as Zhai et
al. 2020 define it), in l2 and in the normalized unit l2 radius / sigma = l-inf radius *
sqrt(d) / sigma, the unit in which the paper expects every size's curve to coincide.
``figures.methods_figure`` draws a panel per method, a curve per size.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from linf_smoothing.analysis import (
    CERTIFICATE_NOTE,
    PERCENT_NOTE,
    Run,
    certified_accuracy,
    image_size,
    method_label,
    with_scaled_radii,
    write_rendered_table,
)
from linf_smoothing.results import atomic_path

METHODS_COLUMNS = ["method", "image_size", "dimension", "sigma", "certificate", "label", "images",
                   "natural_accuracy", "certified_accuracy", "acr_l2", "acr_normalized", "acr_linf"]


def average_certified_radius(frame: pd.DataFrame, column: str = "radius_l2") -> float:
    """Mean over all images of the certified radius where the prediction is correct, else 0
    (an abstention's radius is 0 and its ``correct`` 0)."""
    return float((frame[column] * frame["correct"]).mean())


def methods_table(runs: dict[str, Run], certified: dict[tuple[str, str], pd.DataFrame],
                  threshold: float) -> pd.DataFrame:
    """One row per run and certificate: its method, size, d and sigma, its natural and certified
    l-inf accuracy at ``threshold`` on all its images, and its ACR in l2, l2 / sigma and l-inf.
    Rows are ordered by method (first appearance), size and certificate."""
    rows = []
    for (label, certificate), frame in certified.items():
        run = runs[label]
        scaled = with_scaled_radii(frame, run.sigma, run.dimension)
        acr = average_certified_radius(scaled)
        rows.append({
            "method": method_label(run), "image_size": image_size(run),
            "dimension": run.dimension, "sigma": run.sigma, "certificate": certificate, "label": label,
            "images": len(frame), "natural_accuracy": float(frame["correct"].mean()),
            "certified_accuracy": float(certified_accuracy(frame, [threshold])[0]),
            "acr_l2": acr, "acr_normalized": acr / run.sigma, "acr_linf": acr / math.sqrt(run.dimension)})
    table = pd.DataFrame(rows, columns=METHODS_COLUMNS)
    first_seen = {column: {value: i for i, value in enumerate(dict.fromkeys(table[column]))}
                  for column in ("method", "certificate")}
    order = table.assign(method_order=table["method"].map(first_seen["method"]),
                         certificate_order=table["certificate"].map(first_seen["certificate"]))
    order = order.sort_values(["method_order", "image_size", "certificate_order"], kind="stable")
    return table.loc[order.index].reset_index(drop=True)


def _row_names(table: pd.DataFrame) -> list[str]:
    """A method's row name, or "method: label" where one method has two runs of one size."""
    shared = table.duplicated(["method", "image_size", "certificate"], keep=False)
    return [f"{m}: {label}" if s else m for m, label, s in zip(table["method"], table["label"], shared)]


def write_methods_table(table: pd.DataFrame, outdir: Path, threshold: float, stem: str = "methods") -> list[Path]:
    """methods.csv (one row per run and certificate, full precision, accuracies as fractions) and
    methods.md and methods.html (a row per method and certificate, a column group per image
    size: natural accuracy, certified l-inf accuracy at ``threshold``, in percent, and ACR in l2 / sigma)."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    table = table.assign(row=_row_names(table))
    sizes = list(dict.fromkeys(table["image_size"].sort_values()))
    size_names = {s: f"size {s}, d {table.loc[table['image_size'] == s, 'dimension'].iloc[0]}" for s in sizes}
    header = ["method", "certificate"] + [f"{size_names[s]}: {what}" for s in sizes
                                          for what in ("natural", f"certified {threshold * 255:g}/255", "ACR/σ")]
    rows = []
    for (row, certificate), group in table.groupby(["row", "certificate"], sort=False):
        cells = [row, certificate]
        for size in sizes:
            found = group[group["image_size"] == size]
            if found.empty:
                cells += ["–"] * 3
            else:
                r = found.iloc[0]
                cells += [f"{100 * r.natural_accuracy:.2f}%", f"{100 * r.certified_accuracy:.2f}%",
                          f"{r.acr_normalized:.3f}"]
        rows.append(cells)
    notes = [f"Natural and certified l-inf accuracy at {threshold * 255:g}/255 = {threshold:.5f} on every "
             "certified test image; ACR/σ is the average certified l2 radius (0 where wrong or abstained) over σ, "
             "which for Gaussian smoothing is the l-inf radius × √d/σ: equal across sizes where the paper's "
             "dimension argument holds exactly (other noises: the noise table gives each norm's radius). "
             "methods.csv also holds the ACR in l2 and l-inf, σ and each run's label. " + CERTIFICATE_NOTE,
             PERCENT_NOTE]
    return paths + write_rendered_table(header, rows, notes, outdir / stem)
