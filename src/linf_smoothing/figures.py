"""Figures that stay readable at any number of runs.

Every figure is a grid of panels with its legend in a column of its own beside them, so no
legend covers a curve or a title. Runs are split into panels when a figure would hold more
than ``MAX_RUNS_PER_PANEL`` of them (a panel per training method, cut further where one
method has more), and the training curves always take a row per method, since the losses of
different methods are different objectives.

Each run gets a colour and a marker that no other run of the figure shares: where every run
is one training method at one image size, and there are several of each, the colour says the
size and the marker the method, the same in every panel; otherwise each run has its own
pair. A line style says the certificate. Accuracy is in percent, as in the tables.
"""
from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from linf_smoothing.analysis import (
    CERTIFICATE_NAMES,
    NOT_RECORDED,
    Run,
    certified_accuracy,
    every_nth,
    figure_title,
    image_size,
    method_label,
    nice_ceiling,
    subset_note,
    with_scaled_radii,
)
from linf_smoothing.noise_comparison import kumar_bound, median_linf, noise_name
from linf_smoothing.noises import NOISES
from linf_smoothing.results import atomic_path
from linf_smoothing.settings import AnalysisSettings

MAX_RUNS_PER_PANEL = 8
PANEL_COLUMNS = 3
# Vertical marks: the threshold black and solid, each run's largest certifiable radius
# dash-dotted in the run's colour and Kumar et al.'s bound in long dashes (runs sharing one
# alternate their colours along it), the learning-rate steps grey and dotted. No vertical
# gridlines, so no mark can pass for one.
CERTIFICATE_STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
COLOURS = 10  # seaborn's colour-blind palette; more hues only beyond MARKERS x COLOURS runs
THRESHOLD_COLOR = "black"
CEILING_STYLE = (4.0, 1.5, 1.0, 1.5)  # dash-dot
IID_BOUND_STYLE = (7.0, 2.5)  # long dashes: Kumar et al.'s bound on any i.i.d. noise
BAND_GREYS = ("0.35", "0.55", "0.75")  # published curves beside no run: in no run's colour
LR_STEP_STYLE = dict(color="0.45", linewidth=1.2, linestyle=(0, (1, 2)))
# The legend's font is matplotlib's "small" (about 9.6 pt here): about 15 characters an inch.
NORMALIZED_LABEL = r"$\ell_\infty$ radius $\times \sqrt{d} / \sigma$ (= $\ell_2$ radius / $\sigma$)"
# The same unit where some run's noise is not the Gaussian: its l2 and l-inf radii are not
# sqrt(d) apart, and the figure shows the l2 radius (radius_over_sigma).
NORMALIZED_LABEL_ANY_NOISE = r"$\ell_2$ radius / $\sigma$ (Gaussian: $\ell_\infty$ radius $\times \sqrt{d} / \sigma$)"
LEGEND_CHARACTERS_PER_INCH = 15
LEGEND_ENTRY_HEIGHT = 0.19  # inches
TITLE_CHARACTERS_PER_INCH = 10


@dataclass(frozen=True)
class Shown:
    """What a figure says of a run beside its curves: its training method (its panel, and its
    marker where markers say the method), its image size (its colour where colours say the
    size) and the facts of its legend entry, by name (e.g. "noise": "σ 0.25, d 64")."""

    method: str = NOT_RECORDED
    size: int | None = None
    facts: dict[str, str] = field(default_factory=dict)


def shown_run(run: Run, drawn: int, total: int, ceiling: float | None = None) -> Shown:
    """A certification run as a figure shows it: method, size, sigma and d, the images drawn
    (of how many certified) and its largest certifiable radius in the figure's unit."""
    facts = {}
    if run.sigma is not None:
        facts["noise"] = f"σ {run.sigma:g}, d {run.dimension}"
    facts["images"] = f"{drawn} of {total} images" if drawn != total else f"{drawn} images"
    if ceiling is not None:
        facts["ceiling"] = f"ceiling {ceiling:.4g}"
    return Shown(method_label(run), image_size(run), facts)


@dataclass(frozen=True)
class Mark:
    """A vertical line at ``x``: the table's threshold (``kind`` "threshold"), a run's
    largest certifiable radius ("ceiling") or Kumar et al.'s bound on the radius of any noise
    with independent coordinates at the run's N and alpha ("iid_bound"), belonging to ``run``
    (None: to all runs)."""

    x: float
    kind: str
    run: str | None = None


@dataclass(frozen=True)
class Look:
    color: tuple[float, float, float]
    marker: str


def panel_groups(shown: dict[str, Shown], by_method: bool = False) -> dict[str, list[str]]:
    """Panel title -> its runs' labels, in order: one panel ("") while there are at most
    MAX_RUNS_PER_PANEL runs and ``by_method`` is false, else a panel per training method,
    cut into panels of at most MAX_RUNS_PER_PANEL runs where a method has more."""
    if not by_method and len(shown) <= MAX_RUNS_PER_PANEL:
        return {"": list(shown)}
    methods: dict[str, list[str]] = {}
    for label, run in shown.items():
        methods.setdefault(run.method, []).append(label)
    panels = {}
    for method, labels in methods.items():
        parts = math.ceil(len(labels) / MAX_RUNS_PER_PANEL)
        for k in range(parts):
            panels[method + (f" ({k + 1} of {parts})" if parts > 1 else "")] = \
                labels[k * MAX_RUNS_PER_PANEL:(k + 1) * MAX_RUNS_PER_PANEL]
    return panels


def _palette(n: int) -> list:
    import seaborn as sns

    return sns.color_palette("colorblind", COLOURS) if n <= COLOURS else sns.color_palette("husl", n)


def by_size_and_method(shown: dict[str, Shown]) -> bool:
    """Whether colours can say the image size and markers the method: several of each, and no
    two runs of one method at one size."""
    sizes = {run.size for run in shown.values()}
    methods = {run.method for run in shown.values()}
    pairs = {(run.method, run.size) for run in shown.values()}
    return (None not in sizes and 1 < len(sizes) <= COLOURS and 1 < len(methods) <= len(MARKERS)
            and len(pairs) == len(shown))


def run_looks(shown: dict[str, Shown]) -> dict[str, Look]:
    """A colour and a marker per run, no pair shared: colour by size and marker by method where
    ``by_size_and_method``, else a pair of its own for each run (colour and marker both
    distinct up to ten runs; beyond, the pairs go round the markers with a shifted colour,
    and past ten times ten runs take more hues)."""
    if by_size_and_method(shown):
        sizes = sorted({run.size for run in shown.values()})
        methods = list(dict.fromkeys(run.method for run in shown.values()))
        palette = _palette(len(sizes))
        return {label: Look(tuple(palette[sizes.index(run.size)]), MARKERS[methods.index(run.method)])
                for label, run in shown.items()}
    colours = max(COLOURS, math.ceil(len(shown) / len(MARKERS)))
    palette = _palette(colours)
    # run i = colours * a + b (a < markers) takes colour b and marker (a + b) mod markers: no pair repeats
    return {label: Look(tuple(palette[i % colours]), MARKERS[(i // colours + i % colours) % len(MARKERS)])
            for i, label in enumerate(shown)}


# A fact "text number" (e.g. "ceiling 0.0412").
NUMERIC_FACT = re.compile(r"(\D*?) ?([-+]?\d[\d.]*(?:e[-+]?\d+)?)")


def _merged_values(values: list[str]) -> str:
    """One fact of several runs: its values joined by "or", or, for more than two values of one
    "text number" form, the text and the numbers' range, which keeps the legend narrow."""
    values = list(dict.fromkeys(values))
    matches = [NUMERIC_FACT.fullmatch(value) for value in values]
    if len(values) > 2 and all(matches) and len({m.group(1) for m in matches}) == 1:
        numbers = sorted(float(m.group(2)) for m in matches)
        return f"{matches[0].group(1)} {numbers[0]:.4g}–{numbers[-1]:.4g}".lstrip()
    return " or ".join(values)


def _merged(facts: list[dict[str, str]]) -> str:
    """The facts of several runs as one text: each fact's values, joined by "or" where they
    differ (a range where more than two numbers differ)."""
    names = list(dict.fromkeys(name for f in facts for name in f))
    return ", ".join(_merged_values([f[name] for f in facts if name in f]) for name in names)


def _look_handles(shown: dict[str, Shown], looks: dict[str, Look], grouping: str = "training method") -> list:
    """The legend's entries for the runs: one per size and per method where colours say the size
    and markers the method (``grouping``: what ``Shown.method`` names), else one per run (its
    label, method and facts)."""
    from matplotlib.lines import Line2D

    if by_size_and_method(shown):
        handles = [_legend_header("image size (colour)")]
        for size in sorted({run.size for run in shown.values()}):
            at = [label for label, run in shown.items() if run.size == size]
            handles.append(Line2D([], [], color=looks[at[0]].color, linewidth=2.5,
                                  label=f"{size}×{size}: " + _merged([shown[label].facts for label in at])))
        handles.append(_legend_header(f"{grouping} (marker)"))
        for method in dict.fromkeys(run.method for run in shown.values()):
            label = next(label for label, run in shown.items() if run.method == method)
            handles.append(Line2D([], [], color="0.3", linestyle="none", marker=looks[label].marker, markersize=6,
                                  label=method))
        return handles
    handles = [_legend_header("runs (colour and marker)")]
    for label, run in shown.items():
        details = ([run.method] if run.method != NOT_RECORDED else []) + list(run.facts.values())
        handles.append(Line2D([], [], color=looks[label].color, linewidth=2, marker=looks[label].marker,
                              markersize=5, label=f"{label}: " + ", ".join(details) if details else label))
    return handles


def _style() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    sns.set_theme(context="paper", style="whitegrid", font_scale=1.2)


def _save(fig, paths) -> None:
    for path in paths:
        with atomic_path(Path(path)) as tmp:
            fig.savefig(tmp, dpi=200, format=Path(path).suffix.lstrip("."), bbox_inches="tight")


def _legend_header(text: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="none", label=text)


def _certificate_handles(certificates) -> list:
    """The legend's certificates: a header, then each certificate's line style, named."""
    from matplotlib.lines import Line2D

    return [_legend_header("certificates (line style)")] + [
        Line2D([], [], color="0.15", linewidth=2, linestyle=CERTIFICATE_STYLES[k % len(CERTIFICATE_STYLES)],
               label=CERTIFICATE_NAMES.get(certificate, certificate)) for k, certificate in enumerate(certificates)]


def _legend_width(handles) -> float:
    """Inches the legend of ``handles`` needs: its longest entry, its handles and its padding."""
    return max(len(h.get_label()) for h in handles) / LEGEND_CHARACTERS_PER_INCH + 1.0


def _panel_grid(panels: dict[str, list[str]], handles: list, panel_size: tuple[float, float], columns: int,
                title: str, subtitle: str = "", sharey: bool | str = True):
    """A figure of panels (``columns`` wide, a row per ``columns`` panels) titled ``title`` and
    ``subtitle``, wrapped to the panels' width, with the legend of ``handles`` beside them in a
    column of its own; returns the figure and the grid of axes (unused ones hidden)."""
    import matplotlib.pyplot as plt

    rows = math.ceil(len(panels) / columns)
    width, height = panel_size[0] * columns, panel_size[1] * rows
    # a legend taller than the panels takes more columns
    legend_columns = max(1, math.ceil(len(handles) * LEGEND_ENTRY_HEIGHT / height))
    key_width = _legend_width(handles) * legend_columns
    fig = plt.figure(figsize=(width + key_width, height + 0.6 + 0.2 * bool(subtitle)), layout="constrained")
    # the panels and their title in one subfigure, the legend in another beside it, so that the
    # title centres over the panels and no legend reaches a title or a panel
    left, key = fig.subfigures(1, 2, width_ratios=[width, key_width])
    axes = left.subplots(rows, columns, sharex=True, sharey=sharey, squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    # the lowest panel of each column shows its x tick labels (where the one below is unused)
    for column in range(columns):
        used = [axes[row, column] for row in range(rows) if row * columns + column < len(panels)]
        if used:
            used[-1].xaxis.set_tick_params(labelbottom=True)
    chars = int(width * TITLE_CHARACTERS_PER_INCH)
    left.suptitle(textwrap.fill(title, chars) + (f"\n{textwrap.fill(subtitle, chars)}" if subtitle else ""),
                  fontsize="medium")
    legend = key.legend(handles=handles, loc="upper left", frameon=True, fontsize="small", ncols=legend_columns)
    for text, handle in zip(legend.get_texts(), handles):
        if handle.get_linestyle() == "None" and handle.get_marker() in ("None", None, ""):
            text.set_fontweight("bold")
    return fig, axes


def _bottom_axes(axes, count: int) -> list:
    """The lowest used panel of each column (where the x label goes)."""
    rows, columns = axes.shape
    return [axes[max(r for r in range(rows) if r * columns + c < count), c] for c in range(min(columns, count))]


# The marks drawn per run in the run's colour: their line style and their legend entry.
RUN_MARKS = {"ceiling": (CEILING_STYLE, "largest certifiable radius, {certificate}"),
             "iid_bound": (IID_BOUND_STYLE, "Kumar et al.'s bound, any i.i.d. noise")}


# Marks closer than this fraction of the axis' width look like one line.
COINCIDING = 0.005


def _coinciding(marks: list[Mark], radii: np.ndarray, xscale: str) -> list[list[Mark]]:
    """``marks`` in groups of one kind whose lines would be drawn over each other (within
    COINCIDING of the axis' width, in its scale), each group in the order given."""
    position = np.log10 if xscale == "log" else (lambda x: x)
    width = position(radii[-1]) - position(radii[0])
    groups: list[list[Mark]] = []
    for mark in marks:
        group = next((g for g in groups if g[0].kind == mark.kind
                      and abs(position(mark.x) - position(g[0].x)) <= COINCIDING * width), None)
        if group is None:
            groups.append([mark])
        else:
            group.append(mark)
    return groups


def curve_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, column: str, xlabel: str,
                 title: str, paths: list[Path], marks: list[Mark] = (),
                 reference: dict[str, pd.DataFrame] | None = None, shown: dict[str, Shown] | None = None,
                 subtitle: str = "", threshold_label: str = "table's threshold", by_method: bool = False,
                 grouping: str = "training method", xscale: str = "linear"):
    """Certified accuracy (%) against a radius column: one curve per (run, certificate), each
    run's colour and marker its own in the figure (``run_looks``), a line style per
    certificate; optional ``reference`` curves (e.g. the original's published files) as wide
    translucent bands, in the colour of the run whose label ends theirs; vertical ``marks``;
    ``shown`` says each run's method (or the ``grouping`` its ``method`` names), size and
    legend facts. More than MAX_RUNS_PER_PANEL runs, or ``by_method``, take a panel per
    method. ``xscale`` "log" draws the radius on a log axis (``radii`` then start above 0).
    Saved to each of ``paths``; returns the figure."""
    _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory, offset_copy

    labels = list(dict.fromkeys(label for label, _ in runs))
    shown = {label: (shown or {}).get(label, Shown()) for label in labels}
    certificates = list(dict.fromkeys(certificate for _, certificate in runs))
    looks = run_looks(shown)
    panels = panel_groups(shown, by_method)
    reference = reference or {}
    # a band beside the run whose label ends its own, in its colour; else in every panel, grey
    band_owner = {name: next((label for label in labels if name.split()[-1] == label), None) for name in reference}
    band_colour = {name: looks[owner].color if owner else BAND_GREYS[j % len(BAND_GREYS)]
                   for j, (name, owner) in enumerate(band_owner.items())}

    handles = _look_handles(shown, looks, grouping) + _certificate_handles(certificates)
    if reference:
        handles += [_legend_header("published files (bands)")] + [
            Line2D([], [], color=band_colour[name], linewidth=7, alpha=0.3, label=f"published: {name}")
            for name in reference]
    in_range = [m for m in marks if radii[0] <= m.x <= radii[-1]]
    thresholds = [m for m in in_range if m.kind == "threshold"]
    if in_range:
        handles.append(_legend_header("vertical lines"))
    if thresholds:
        per_run = any(m.run is not None for m in thresholds)
        handles.append(Line2D([], [], color=THRESHOLD_COLOR, linewidth=1.3, marker="v" if per_run else None,
                              markerfacecolor="0.5", markeredgecolor="0.5",
                              label=threshold_label + (" (▼ in the run's colour)" if per_run else "")))
    for kind, (style, what) in RUN_MARKS.items():
        if any(m.kind == kind for m in in_range):
            handles.append(Line2D([], [], color="0.4", linewidth=1.8, linestyle=(0, style),
                                  label=what.format(certificate=certificates[0]) + " (run's colour)"))
        hidden = [m.run for m in marks if m.kind == kind and m not in in_range]
        if hidden:
            handles.append(_legend_header(f"({kind.replace('_', ' ')} beyond the axis: {', '.join(map(str, hidden))})"))

    single = len(panels) == 1
    columns = min(PANEL_COLUMNS, len(panels))
    panel_size = (8.5, 5.2) if single else (4.4, 3.5)
    fig, axes = _panel_grid(panels, handles, panel_size, columns, title, subtitle)
    every = max(1, len(radii) // 8)
    for ax, (panel, members) in zip(axes.flat, panels.items()):
        for (label, certificate), frame in runs.items():
            if label not in members:
                continue
            k = members.index(label)
            ax.plot(radii, 100 * certified_accuracy(frame, radii, column), color=looks[label].color,
                    linewidth=max(1.4, 2.8 - 0.4 * k), zorder=3 + 0.1 * k,
                    linestyle=CERTIFICATE_STYLES[certificates.index(certificate) % len(CERTIFICATE_STYLES)],
                    marker=looks[label].marker, markersize=5,
                    markevery=(every * k // len(members) + every // 2, every), label=f"{label}, {certificate}")
        for name, frame in reference.items():
            if band_owner[name] in members or band_owner[name] is None:
                ax.plot(radii, 100 * certified_accuracy(frame, radii, column), color=band_colour[name], linewidth=7,
                        alpha=0.3, solid_capstyle="butt", zorder=1, label=f"published: {name}")
        mine = [m for m in in_range if m.run is None or m.run in members]
        # marks of one kind that coincide on the plot alternate their runs' colours
        for group in _coinciding([m for m in mine if m.kind in RUN_MARKS], radii, xscale):
            style = RUN_MARKS[group[0].kind][0]
            period = sum(style) * len(group)
            for k, mark in enumerate(group):
                dashes = [*style[:-1], period - sum(style[:-1])]
                ax.axvline(mark.x, color=looks[mark.run].color if mark.run in looks else "0.4", linewidth=1.8,
                           zorder=2, linestyle=(sum(style) * k, dashes), label=f"{mark.kind} {mark.run}")
        stacked: dict[float, int] = {}
        top = blended_transform_factory(ax.transData, ax.transAxes)
        for mark in mine:
            if mark.kind != "threshold":
                continue
            ax.axvline(mark.x, color=THRESHOLD_COLOR, linewidth=1.3, zorder=2, label=f"threshold {mark.run or ''}")
            if mark.run is not None:  # a per-run threshold: a triangle in the run's colour above it (stacked)
                k = stacked[round(mark.x, 10)] = stacked.get(round(mark.x, 10), -1) + 1
                ax.plot([mark.x], [1.0], marker="v", markersize=7, color=looks[mark.run].color, clip_on=False,
                        zorder=4, label=f"threshold marker {mark.run}",
                        transform=offset_copy(top, fig=fig, y=4 + 8 * k, units="points"))
        # a long panel title (a method and its noise) wrapped to the panel's width
        ax.set_title(textwrap.fill(panel, int(panel_size[0] * TITLE_CHARACTERS_PER_INCH)), fontsize="medium",
                     pad=6 + 8 * (max(stacked.values()) + 1 if stacked else 0))
        ax.set_xscale(xscale)
        ax.set_xlim(radii[0], radii[-1])
        ax.set_ylim(0, 100)
        ax.grid(False, axis="x")
    for ax in axes[:, 0]:
        ax.set_ylabel("certified accuracy (%)")
    for ax in _bottom_axes(axes, len(panels)):
        ax.set_xlabel(xlabel)
    _save(fig, paths)
    plt.close(fig)
    return fig


def vary_dim_figure(runs: dict[tuple[str, str], pd.DataFrame], radii: np.ndarray, threshold: float,
                    ceilings: dict[str, float], title: str, paths: list[Path],
                    reference: dict[str, pd.DataFrame] | None = None, shown: dict[str, Shown] | None = None,
                    subtitle: str = ""):
    """The paper's figure: certified accuracy against l-inf radius, one curve per run and
    certificate, the threshold and each run's largest certifiable radius (``ceilings``: run
    label -> radius) marked."""
    marks = [Mark(threshold, "threshold")] + [Mark(c, "ceiling", label) for label, c in ceilings.items()]
    return curve_figure(runs, radii, "radius", r"$\ell_\infty$ radius", title, paths, marks, reference, shown,
                        subtitle, threshold_label=f"{threshold * 255:g}/255 = {threshold:.5f} (table)")


TRAINING_PANEL = (5.0, 2.9)  # inches
ACCURACY_STYLES = {"train_accuracy_noisy": ("-", "train, noisy"), "test_accuracy_noisy": ("--", "test, noisy"),
                   "test_accuracy_clean": (":", "test, clean")}


def lr_steps(history: pd.DataFrame) -> list[tuple[int, float, float]]:
    """(epochs finished, lr before, lr after) at each change of the ``lr`` column of a metrics table."""
    lr = history["lr"].to_numpy()
    epochs = history["epoch"].to_numpy()
    return [(int(epochs[i]), float(lr[i - 1]), float(lr[i])) for i in range(1, len(lr)) if lr[i] != lr[i - 1]]


def training_figure(histories: dict[str, pd.DataFrame], title: str, paths: list[Path],
                    shown: dict[str, Shown] | None = None):
    """Per-epoch training curves, a row per training method (``shown``: each run's method, size
    and legend facts), since each method's loss is its own objective: the loss, and the
    accuracy (%) on noisy training and test images and on clean test images. Each run's colour
    and marker its own in the figure, a line style per accuracy, the learning-rate steps (from
    the ``lr`` column) dotted, integer epochs."""
    _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    shown = {label: (shown or {}).get(label, Shown()) for label in histories}
    looks = run_looks(shown)
    rows = panel_groups(shown, by_method=True)
    steps = {label: lr_steps(history) for label, history in histories.items()}
    handles = _look_handles(shown, looks)
    handles.append(_legend_header("accuracy (line style)"))
    handles += [Line2D([], [], color="0.15", linestyle=style, label=what) for style, what in ACCURACY_STYLES.values()]
    if any(steps.values()):
        changes = sorted({(before, after) for s in steps.values() for _, before, after in s})
        handles += [_legend_header("vertical lines"),
                    Line2D([], [], **LR_STEP_STYLE, label="learning-rate step: " +
                           ", ".join(f"{before:g} → {after:g}" for before, after in changes))]
    # two panels a row: the loss and the accuracy of one method's runs
    panels = {f"{name}{': ' if name else ''}{what}": members for name, members in rows.items()
              for what in ("loss", "accuracy")}
    fig, axes = _panel_grid(panels, handles, TRAINING_PANEL, 2, title, sharey=False)
    for (loss_ax, acc_ax), (row, members) in zip(axes, rows.items()):
        for k, label in enumerate(members):
            history = histories[label]
            epochs = history["epoch"] + 1
            # markers on staggered epochs, so that coinciding runs stay apart
            look = dict(color=looks[label].color, marker=looks[label].marker, markersize=4,
                        markevery=(k % 3, 3))
            loss_ax.plot(epochs, history["train_loss"], label=label, linewidth=2, **look)
            for column, (style, what) in ACCURACY_STYLES.items():
                acc_ax.plot(epochs, 100 * history[column], linestyle=style, label=f"{label}: {what}", **look)
        # the lr of epoch e (0-based) changed: e epochs were finished with the old one
        for x in sorted({e for label in members for e, _, _ in steps[label]}):
            for ax in (loss_ax, acc_ax):
                ax.axvline(x, zorder=1, label=f"lr step {x}", **LR_STEP_STYLE)
        width = int(TRAINING_PANEL[0] * TITLE_CHARACTERS_PER_INCH)  # a method and its noise can be longer
        loss_ax.set_title(textwrap.fill(f"{row}: loss" if row else "loss", width), fontsize="medium")
        acc_ax.set_title(textwrap.fill(f"{row}: accuracy" if row else "accuracy", width), fontsize="medium")
        loss_ax.set_ylabel("training loss")
        acc_ax.set_ylabel("accuracy (%)")
        acc_ax.set_ylim(0, 100)
        for ax in (loss_ax, acc_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(False, axis="x")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    _save(fig, paths)
    plt.close(fig)
    return fig


def methods_figure(runs: dict[str, Run], certified: dict[tuple[str, str], pd.DataFrame], column: str, xlabel: str,
                   x_max: float, title: str, paths: list[Path], threshold: float, subtitle: str = "",
                   radius_points: int = 201, shown: dict[str, Shown] | None = None):
    """One panel per training method, certified accuracy against the radius ``column``
    (``radius``: l-inf; ``radius_over_sigma``: normalized), a curve per run and certificate
    (``figures.curve_figure``: colour by image size and marker by method where each method has
    one run per size), and the l-inf ``threshold`` in the panel's unit: one line in l-inf, a
    line per run (its triangle in its colour) in the normalized unit. Saved to each of ``paths``."""
    scaled = {key: with_scaled_radii(frame, runs[key[0]].sigma, runs[key[0]].dimension)
              for key, frame in certified.items()}
    if column == "radius":
        marks, what = [Mark(threshold, "threshold")], f"{threshold * 255:g}/255 (the table's threshold)"
    else:
        labels = dict.fromkeys(label for label, _ in certified)
        marks = [Mark(threshold * math.sqrt(runs[label].dimension) / runs[label].sigma, "threshold", label)
                 for label in labels]
        what = f"{threshold * 255:g}/255 here: r·√d/σ, per run"
    shown = shown or {label: Shown(method_label(run), image_size(run)) for label, run in runs.items()}
    return curve_figure(scaled, np.linspace(0.0, x_max, radius_points), column, xlabel, title, paths, marks,
                        shown=shown, subtitle=subtitle, threshold_label=what, by_method=True)


def log_axis_ends(values) -> tuple[float, float]:
    """A log axis' ends around the positive ``values``: the power of ten at or below the
    smallest, and a round number a quarter past the largest (so that a mark there stays off the
    axis' edge)."""
    values = [v for v in values if v > 0 and math.isfinite(v)]
    return 10.0 ** math.floor(math.log10(min(values))), nice_ceiling(1.25 * max(values))


# Guides of the median figure: the two ways an l-inf radius can shrink with d, in the unit
# radius * sqrt(d) / sigma: flat (sigma / sqrt(d): Gaussian, Laplace, the l2 ball) and slope -1/2
# (sigma / d: the cube and exp(-||x||_inf / lambda)).
SLOPE_GUIDES = {0.0: "slope 0: radius ∝ σ/√d", -0.5: "slope −½: radius ∝ σ/d"}
GUIDE_STYLE = dict(color="0.6", linewidth=1.0, linestyle=(0, (2, 2)))


def median_figure(points: pd.DataFrame, title: str, paths: list[Path], subtitle: str = ""):
    """The median certified l-inf radius (0 where wrong) in units of sqrt(d) / sigma against d,
    log-log, a line per noise (``points``: a row per run, columns ``noise_name``, ``dimension``,
    ``image_size``, ``median``, ``ceiling`` and ``iid_bound``, the last three in that unit, NaN
    where none): each noise's median (its colour and marker) and its ceiling (dash-dot, its
    colour), Kumar et al.'s bound on any i.i.d. noise (black, long dashes) and grey guides of
    slope 0 and -1/2 below the data. A median of 0 cannot be drawn on a log axis: its legend
    entry names the sizes where it is 0. Saved to each of ``paths``; returns the figure."""
    _style()
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    noises = list(dict.fromkeys(points["noise_name"]))
    looks = run_looks({name: Shown(name) for name in noises})
    dimensions = sorted(set(points["dimension"]))
    handles = [_legend_header("median certified radius (colour and marker)")]
    for name in noises:
        zero = points[(points["noise_name"] == name) & (points["median"] <= 0)]
        handles.append(Line2D([], [], color=looks[name].color, marker=looks[name].marker, linewidth=2,
                              label=name + (f" (median 0 at d = {', '.join(map(str, zero['dimension']))})"
                                            if len(zero) else "")))
    handles += [_legend_header("limits"),
                Line2D([], [], color="0.4", linewidth=1.4, linestyle=(0, CEILING_STYLE),
                       label="largest certifiable radius (noise's colour)")]
    bounds = points.dropna(subset=["iid_bound"])
    if len(bounds):
        handles.append(Line2D([], [], color=THRESHOLD_COLOR, linewidth=1.4, linestyle=(0, IID_BOUND_STYLE),
                              label="Kumar et al.'s bound, any i.i.d. noise"))
    handles += [_legend_header("guides (grey)")] + [Line2D([], [], **GUIDE_STYLE, label=text)
                                                    for text in SLOPE_GUIDES.values()]
    fig, axes = _panel_grid({"": noises}, handles, (7.0, 5.0), 1, title, subtitle)
    ax = axes[0, 0]
    for name in noises:
        mine = points[points["noise_name"] == name].sort_values("dimension")
        drawn = mine[mine["median"] > 0]
        ax.plot(drawn["dimension"], drawn["median"], color=looks[name].color, marker=looks[name].marker,
                markersize=7, linewidth=2, zorder=3, label=f"median {name}")
        ax.plot(mine["dimension"], mine["ceiling"], color=looks[name].color, linewidth=1.4, zorder=2,
                linestyle=(0, CEILING_STYLE), label=f"ceiling {name}")
    # The bound depends on sigma / sqrt(d), N and alpha, not on the noise: one line where the
    # noises' bounds agree at each d (the same N and alpha), else a line per noise.
    bounds = bounds.sort_values("dimension")
    agree = (bounds.groupby("dimension")["iid_bound"].agg(lambda b: b.round(10).nunique()) == 1).all()
    series = ([bounds.drop_duplicates("dimension")] if agree else
              [b for _, b in bounds.groupby("noise_name", sort=False)])
    for values in series:
        ax.plot(values["dimension"], values["iid_bound"], color=THRESHOLD_COLOR, linewidth=1.4, zorder=2,
                linestyle=(0, IID_BOUND_STYLE), label="Kumar et al.'s bound")
    shown = pd.concat([points.loc[points["median"] > 0, "median"], points["ceiling"], points["iid_bound"]])
    low, high = log_axis_ends(shown)
    # the guides start a little below the lowest median at the smallest d, so they cross no data
    start = points.loc[points["median"] > 0, "median"].min() / 1.6
    ends = np.array([dimensions[0], dimensions[-1]], dtype=float)
    for slope, text in SLOPE_GUIDES.items():
        ax.plot(ends, start * (ends / ends[0]) ** slope, zorder=1, label=text, **GUIDE_STYLE)
    low = min(low, 10.0 ** math.floor(math.log10(start * (ends[1] / ends[0]) ** -0.5)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(ends[0] / 1.15, ends[1] * 1.15)
    ax.set_ylim(low, high)
    sizes = dict(zip(points["dimension"], points["image_size"]))
    ax.xaxis.set_major_locator(FixedLocator(dimensions))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{d}\n({sizes[d]}×{sizes[d]})" for d in dimensions])
    ax.set_xlabel("input dimension d (image size)")
    ax.set_ylabel(r"median certified $\ell_\infty$ radius $\times \sqrt{d} / \sigma$")
    _save(fig, paths)
    plt.close(fig)
    return fig


class FigureSet:
    """The figures of ``runs`` (``certified``: their rows under each certificate; ``totals``: the
    images each certified), drawn on every ``settings.figure_skip``-th image into ``folder``,
    titled from the settings or the files, each run's threshold and ceiling in the figure's unit."""

    def __init__(self, runs: dict[str, Run], certified: dict[tuple[str, str], pd.DataFrame], totals: dict[str, int],
                 settings: AnalysisSettings, folder: Path):
        self.runs, self.settings, self.folder, self.totals = runs, settings, folder, totals
        self.subsets = {key: with_scaled_radii(every_nth(frame, settings.figure_skip), runs[key[0]].sigma,
                                               runs[key[0]].dimension) for key, frame in certified.items()}
        self.first = {}  # each run's first certificate
        for label, certificate in self.subsets:
            self.first.setdefault(label, certificate)
        self.ceilings = {label: self.runs[label].ceiling(certificate) for label, certificate in self.first.items()}
        self.title = settings.figure_title or figure_title(runs)
        self.subtitle = subset_note(settings.figure_skip)
        # each run's l-inf radius in each figure's unit: l2 = r sqrt(d), normalized = r sqrt(d) / sigma
        gaussian = all(run.noise is None or run.noise.name == "gaussian" for run in runs.values())
        self.normalized_label = NORMALIZED_LABEL if gaussian else NORMALIZED_LABEL_ANY_NOISE
        self.units = {"radius": {label: 1.0 for label in runs},
                      "radius_l2": {label: np.sqrt(run.dimension) for label, run in runs.items()},
                      "radius_over_sigma": {label: np.sqrt(run.dimension) / run.sigma for label, run in runs.items()}}

    def ceiling(self, label: str, column: str) -> float | None:
        """The run's largest certifiable radius in ``column``'s norm and unit (None without N and
        alpha): the l2 figures take the noise's own l2 ceiling, which is the l-inf one times
        sqrt(d) for the Gaussian alone."""
        if self.ceilings[label] is None or column == "radius":
            return self.ceilings[label]
        run = self.runs[label]
        l2 = run.ceiling(self.first[label], "l2")
        return l2 if column == "radius_l2" else l2 / run.sigma

    def shown(self, column: str, ceilings: bool = True) -> dict:
        """Each run as the figure in ``column``'s unit shows it (its ceiling in that unit)."""
        return {label: shown_run(run, len(self.subsets[label, self.first[label]]), self.totals[label],
                                 self.ceiling(label, column) if ceilings else None)
                for label, run in self.runs.items()}

    def axis_end(self, column: str) -> float:
        """A round number a little past every run's threshold and ceiling (without N and alpha,
        its largest radius) in ``column``'s unit."""
        ends = []
        for label, c in self.ceilings.items():
            largest = max(float(self.subsets[key][column].max()) for key in self.subsets if key[0] == label)
            ends.append(max(self.settings.linf_threshold * self.units[column][label],
                            self.ceiling(label, column) if c is not None else largest))
        return nice_ceiling(1.05 * max(ends))

    def paths(self, name: str) -> list[Path]:
        return [self.folder / f"{name}.png", self.folder / f"{name}.pdf"]

    def vary_dim(self, reference: dict[str, pd.DataFrame]) -> list[Path]:
        settings = self.settings
        radii = np.linspace(0.0, settings.radius_max, settings.radius_points)
        vary_dim_figure(self.subsets, radii, settings.linf_threshold,
                        {label: c for label, c in self.ceilings.items() if c is not None}, self.title,
                        self.paths("vary_dim"), reference, self.shown("radius"), self.subtitle)
        return self.paths("vary_dim")

    def radius_figures(self) -> list[Path]:
        """Against the l2 and the normalized radius, each run's first certificate."""
        t = self.settings.linf_threshold
        first = {(label, certificate): self.subsets[label, certificate] for label, certificate in self.first.items()}
        written = []
        for column, name, xlabel, threshold_label in (
                ("radius_l2", "certified_l2", r"$\ell_2$ radius", f"{t * 255:g}/255 in l2: r·√d, per run"),
                ("radius_over_sigma", "certified_normalized", self.normalized_label,
                 f"{t * 255:g}/255 here: r·√d/σ, per run")):
            scale = self.units[column]
            marks = [Mark(t * scale[label], "threshold", label) for label in self.runs]
            marks += [Mark(self.ceiling(label, column), "ceiling", label) for label, c in self.ceilings.items()
                      if c is not None]
            curve_figure(first, np.linspace(0.0, self.axis_end(column), self.settings.radius_points), column, xlabel,
                         self.title, self.paths(name), marks, shown=self.shown(column), subtitle=self.subtitle,
                         threshold_label=threshold_label)
            written += self.paths(name)
        return written

    def noises_figures(self) -> list[Path]:
        """The noises side by side, each run's first certificate: certified accuracy against
        the l-inf radius on a log axis (so that radii like sigma / d and sigma / sqrt(d) are both
        read, a panel per noise, a curve per size, each run's ceiling and Kumar et al.'s bound
        where its noise is i.i.d.), and the median l-inf radius * sqrt(d) / sigma against d."""
        t = self.settings.linf_threshold
        # the noises in the registry's order (the table's), each by size
        order = sorted(self.first, key=lambda label: (list(NOISES).index(self.runs[label].noise.name),
                                                      noise_name(self.runs[label].noise), image_size(self.runs[label])))
        first = {(label, self.first[label]): self.subsets[label, self.first[label]] for label in order}
        bounds = {label: kumar_bound(run) for label, run in self.runs.items()}
        marks = [Mark(t, "threshold")]
        marks += [Mark(c, "ceiling", label) for label, c in self.ceilings.items() if c is not None]
        marks += [Mark(b, "iid_bound", label) for label, b in bounds.items() if math.isfinite(b)]
        every = self.shown("radius", ceilings=False)
        shown = {label: dataclasses.replace(every[label], method=noise_name(self.runs[label].noise)) for label in order}
        # from a decade below the smallest ceiling (or the threshold), where every curve is near
        # its natural accuracy, to past every ceiling and bound
        low, high = log_axis_ends([min(m.x for m in marks if m.kind in ("threshold", "ceiling")) / 10]
                                  + [m.x for m in marks])
        radii = np.geomspace(low, high, self.settings.radius_points)
        curve_figure(first, radii, "radius", r"$\ell_\infty$ radius (log scale)", self.title,
                     self.paths("noises_linf"), marks, shown=shown, subtitle=self.subtitle,
                     threshold_label=f"{t * 255:g}/255 = {t:.5f} (table)", by_method=True, grouping="noise",
                     xscale="log")
        points = pd.DataFrame([{"noise_name": noise_name(self.runs[label].noise), "dimension": run.dimension,
                                "image_size": image_size(run),
                                "median": median_linf(frame) * self.units["radius_over_sigma"][label],
                                "ceiling": (self.ceilings[label] * self.units["radius_over_sigma"][label]
                                            if self.ceilings[label] is not None else math.nan),
                                "iid_bound": bounds[label] * self.units["radius_over_sigma"][label]}
                               for (label, _), frame in first.items() for run in [self.runs[label]]])
        median_figure(points, self.title, self.paths("noises_median"), self.subtitle)
        return self.paths("noises_linf") + self.paths("noises_median")

    def methods_figures(self) -> list[Path]:
        """A panel per training method, against the l-inf and the normalized radius, every certificate."""
        written = []
        for column, name, xlabel, x_max in (
                ("radius", "methods_linf", r"$\ell_\infty$ radius", self.settings.radius_max),
                ("radius_over_sigma", "methods_normalized", self.normalized_label,
                 self.axis_end("radius_over_sigma"))):
            methods_figure(self.runs, self.subsets, column, xlabel, x_max, self.title, self.paths(name),
                           self.settings.linf_threshold, self.subtitle, self.settings.radius_points,
                           self.shown(column, ceilings=False))
            written += self.paths(name)
        return written
