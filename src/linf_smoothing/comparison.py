"""The training methods side by side: does certified l-inf accuracy fall with the image size
for every method, or only for the paper's?

Each run is grouped by the training method its certification records (the checkpoint's
``training`` settings, copied into the description by ``certify.py``) and by its image size.
The table gives each method, size and certificate its natural accuracy, its certified l-inf
accuracy at the threshold and its average certified radius (ACR: the mean over all images of
the l2 radius where the smoothed prediction is correct and certified, 0 elsewhere, as Zhai et
al. 2020 define it), in l2 and in the normalized unit l2 radius / sigma = l-inf radius *
sqrt(d) / sigma, the unit in which the paper expects every size's curve to coincide. The
figures draw one panel per method, a curve per size.
"""
from __future__ import annotations

import dataclasses
import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from linf_smoothing.analysis import (
    CERTIFICATE_NOTE,
    CERTIFICATE_STYLES,
    RUN_MARKERS,
    THRESHOLD_COLOR,
    Run,
    _certificate_handles,
    _headed_legend,
    _legend_header,
    _save,
    _style,
    certified_accuracy,
    dimension_side,
    method_name,
    with_scaled_radii,
)
from linf_smoothing.results import atomic_path
from linf_smoothing.settings import TrainSettings

NOT_RECORDED = "method not recorded"
METHODS_COLUMNS = ["method", "image_size", "dimension", "sigma", "certificate", "label", "images",
                   "natural_accuracy", "certified_accuracy", "acr_l2", "acr_normalized", "acr_linf"]


def _default(name: str):
    return next(f.default for f in dataclasses.fields(TrainSettings) if f.name == name)


def method_label(run: Run) -> str:
    """The training method a run's certification records: its name, and for SmoothAdv its
    attack (a checkpoint's settings leave out a method's setting at its default)."""
    description = run.description or {}
    method = description.get("training_method")
    if method is None:
        return NOT_RECORDED
    if method == "smoothadv":
        attack = (description.get("training") or {}).get("attack", _default("attack"))
        return f"{method_name(method)} ({attack.upper()})"
    return method_name(method)


def image_size(run: Run) -> int:
    """The run's image size: as its description records it, else from d (a foreign file's,
    which ``load_run`` checked is channels x size x size)."""
    size = (run.description or {}).get("image_size")
    return int(size) if size is not None else dimension_side(run.dimension)


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
    """methods.csv (one row per run and certificate, full precision) and methods.md (a row per
    method and certificate, a column group per image size: natural accuracy, certified l-inf
    accuracy at ``threshold``, ACR in l2 / sigma)."""
    outdir = Path(outdir)
    paths = [outdir / f"{stem}.csv", outdir / f"{stem}.md"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    table = table.assign(row=_row_names(table))
    sizes = list(dict.fromkeys(table["image_size"].sort_values()))
    size_names = {s: f"size {s}, d {table.loc[table['image_size'] == s, 'dimension'].iloc[0]}" for s in sizes}
    header = ["method", "certificate"] + [f"{size_names[s]}: {what}" for s in sizes
                                          for what in ("natural", f"certified {threshold * 255:g}/255", "ACR/σ")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
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
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"Natural and certified l-inf accuracy at {threshold * 255:g}/255 = {threshold:.5f} on every "
              "certified test image; ACR/σ is the average certified l2 radius (0 where wrong or abstained) over σ, "
              "which is the l-inf radius × √d/σ: equal across sizes where the paper's dimension argument holds "
              "exactly. methods.csv also holds the ACR in l2 and l-inf, σ and each run's label. " + CERTIFICATE_NOTE]
    with atomic_path(paths[1]) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return paths


def methods_figure(runs: dict[str, Run], certified: dict[tuple[str, str], pd.DataFrame], column: str, xlabel: str,
                   x_max: float, title: str, paths: list[Path], threshold: float, subtitle: str = "",
                   radius_points: int = 201):
    """One panel per training method, certified accuracy against the radius ``column``
    (``radius``: l-inf; ``radius_over_sigma``: normalized), a colour and marker per image size
    shared by all panels, a line style per certificate, and each size's ``threshold`` (an
    l-inf radius) drawn in that size's unit and colour. Saved to each of ``paths``."""
    sns = _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    methods = list(dict.fromkeys(method_label(runs[label]) for label, _ in certified))
    sizes = sorted({image_size(runs[label]) for label, _ in certified})
    certificates = list(dict.fromkeys(certificate for _, certificate in certified))
    palette = sns.color_palette("colorblind", len(sizes))
    color = dict(zip(sizes, palette))
    marker = {s: RUN_MARKERS[i % len(RUN_MARKERS)] for i, s in enumerate(sizes)}
    columns = min(3, len(methods))
    rows = math.ceil(len(methods) / columns)
    # the panels and their title in one subfigure, the legend in another beside it, so that
    # the title centres over the panels and the legend never reaches it
    fig = plt.figure(figsize=(4.4 * columns + 4.2, 3.5 * rows + 0.9), layout="constrained")
    panels, key = fig.subfigures(1, 2, width_ratios=[4.4 * columns, 4.2])
    axes = panels.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    radii = np.linspace(0.0, x_max, radius_points)
    every = max(1, radius_points // 8)
    for (label, certificate), frame in certified.items():
        run = runs[label]
        size = image_size(run)
        ax = axes.flat[methods.index(method_label(run))]
        scaled = with_scaled_radii(frame, run.sigma, run.dimension)
        k = sizes.index(size)
        ax.plot(radii, certified_accuracy(scaled, radii, column), color=color[size], linewidth=2,
                linestyle=CERTIFICATE_STYLES[certificates.index(certificate) % len(CERTIFICATE_STYLES)],
                marker=marker[size], markersize=4, markevery=(every * k // len(sizes) + every // 2, every))
    for method, ax in zip(methods, axes.flat):
        shown = {image_size(runs[label]): runs[label]
                 for label, _ in certified if method_label(runs[label]) == method}
        # the threshold in this unit, per size; one black line where the sizes share it
        at = {size: threshold * (1.0 if column == "radius" else math.sqrt(run.dimension) / run.sigma)
              for size, run in shown.items()}
        shared = len({round(x, 9) for x in at.values()}) == 1
        for size, x in at.items():
            ax.axvline(x, color=THRESHOLD_COLOR if shared else color[size], linewidth=1.2, zorder=1)
        ax.set_title(method, fontsize="medium")
        ax.grid(False, axis="x")
        ax.set_xlim(0, x_max)
        ax.set_ylim(0, 1)
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("certified accuracy")
    for ax in axes[-1, :]:
        ax.set_xlabel(xlabel)
    width = 45 * columns  # characters of the title's lines
    panels.suptitle(textwrap.fill(title, width) + (f"\n{textwrap.fill(subtitle, width)}" if subtitle else ""),
                    fontsize="medium")
    handles = [_legend_header("image size (colour and marker)")]
    for s in sizes:
        at_size = [runs[label] for label in dict.fromkeys(label for label, _ in certified)
                   if image_size(runs[label]) == s]
        sigmas = sorted({run.sigma for run in at_size})
        noise = f"σ {sigmas[0]:g}" if len(sigmas) == 1 else "σ " + " or ".join(f"{x:g}" for x in sigmas)
        handles.append(Line2D([], [], color=color[s], linewidth=2, marker=marker[s], markersize=4,
                              label=f"{s}×{s}, d {at_size[0].dimension}, {noise}"))
    handles += _certificate_handles(certificates)
    handles.append(_legend_header("vertical lines"))
    what = (f"{threshold * 255:g}/255 (the table's threshold)" if column == "radius" else
            f"{threshold * 255:g}/255 here: r·√d/σ (size's colour; black if shared)")
    handles.append(Line2D([], [], color=THRESHOLD_COLOR, linewidth=1.2, label=what))
    _headed_legend(key, handles, loc="upper left")
    _save(fig, paths)
    plt.close(fig)
    return fig
