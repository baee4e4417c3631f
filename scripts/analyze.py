#!/usr/bin/env python
"""Turn certification files into the paper's table and figures.

    python scripts/analyze.py size32=results/certify/size32.tsv size48=... --outdir results/analysis

Our files describe themselves (FILE.json: sigma, d, N, alpha) and hold the vote counts from
which every certificate variant (--certificates) is recomputed; each is checked against its
description first. The original's and Cohen et al.'s six-column files hold one certificate
and no description: state the norm of the radius column (--radius-norm LABEL=linf, the
original's, or LABEL=l2, Cohen's) and --noise LABEL=SIGMA:DIM, and --n and --alpha where
known (a value for every such file, or LABEL=VALUE each); a radius those values cannot give
stops the analysis with one line. Every LABEL (runs, --reference, --published) is used once.
Writes to OUTDIR (the figures to --figure-outdir where given):
  benchmark.{csv,md,tex}          each run and certificate on all its images, then the paper's rows
  certified_at_radii.{csv,md}     certified accuracy of each run and certificate at --grid-radii
  vary_dim.{png,pdf}              certified accuracy against l-inf radius (images with
                                  idx % FIGURE_SKIP == 0, stated in the figure), 2/255 and
                                  each run's largest certifiable radius marked
  certified_l2.{png,pdf}          the same against l2 radius          (first certificate)
  certified_normalized.{png,pdf}  the same against radius*sqrt(d)/sigma
  methods.{csv,md}                each training method, image size and certificate: natural and
                                  certified accuracy, average certified radius (ACR)
  methods_linf.{png,pdf}          a panel per training method, a curve per image size, against
  methods_normalized.{png,pdf}    l-inf radius and against radius*sqrt(d)/sigma
The figures' title is --figure-title, or else the dataset and architecture the files record.
--only limits the output to one group."""
import argparse
from pathlib import Path

import numpy as np

from linf_smoothing import cli, validators
from linf_smoothing.analysis import (
    Declared,
    Mark,
    benchmark_table,
    certified_runs,
    curve_figure,
    every_nth,
    figure_title,
    load_run,
    radius_grid_table,
    run_legend,
    subset_note,
    vary_dim_figure,
    with_scaled_radii,
    write_radius_grid,
    write_tables,
)
from linf_smoothing.comparison import methods_figure, methods_table, write_methods_table
from linf_smoothing.settings import AnalysisSettings, add_arguments, from_arguments

OUTPUTS = ("table", "grid", "vary_dim", "radius_figures", "methods")
NORMALIZED_LABEL = r"$\ell_\infty$ radius $\times \sqrt{d} / \sigma$ (= $\ell_2$ radius / $\sigma$)"


def noise(text: str) -> tuple[str, tuple[float, int]]:
    label, value = cli.labelled(text)
    sigma, sep, dimension = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LABEL=SIGMA:DIMENSION, got {text!r}")
    try:
        return label, (validators.positive_finite(sigma), validators.dimension(dimension))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None


def norm(text: str) -> str:
    if text not in ("linf", "l2"):
        raise ValueError(text)
    return text


def per_file(kind):
    """argparse type of VALUE (every file without a description) or LABEL=VALUE (one file)."""
    def parse(text: str) -> tuple[str | None, object]:
        label, sep, value = text.rpartition("=")
        try:
            return (label if sep else None), kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__.upper()} or LABEL={kind.__name__.upper()} "
                                             f"({kind.__name__}), got {text!r}") from None
    return parse


def declarations(args) -> dict[str | None, Declared]:
    """LABEL -> what the options state of that file without a description (None: of every file)."""
    stated: dict[str | None, dict] = {}
    for option, pairs in (("radius_norm", args.radius_norm), ("n", args.n), ("alpha", args.alpha),
                          ("pixel_max", args.pixel_max)):
        for label, value in pairs:
            stated.setdefault(label, {})[option] = value
    for label, (sigma, dimension) in args.noise:
        stated.setdefault(label, {}).update(sigma=sigma, dimension=dimension)
    shared = stated.pop(None, {})
    return {None: Declared(**shared)} | {label: Declared(**(shared | own)) for label, own in stated.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path)
    parser.add_argument("--figure-outdir", type=Path, help="write the figures here (default: OUTDIR)")
    parser.add_argument("--only", choices=OUTPUTS, help="write only this group of outputs")
    add_arguments(parser, AnalysisSettings)
    foreign = parser.add_argument_group("files without a description (the original's, Cohen et al.'s)")
    foreign.add_argument("--noise", type=noise, nargs="*", default=[], metavar="LABEL=SIGMA:DIM",
                         help="the run's sigma and input dimension d")
    foreign.add_argument("--n", type=per_file(validators.positive_int), nargs="*", default=[], metavar="[LABEL=]N",
                         help="samples N of the certification (leave out where unknown)")
    foreign.add_argument("--alpha", type=per_file(validators.probability), nargs="*", default=[],
                         metavar="[LABEL=]ALPHA", help="failure probability of the certification (leave out where "
                                                       "unknown)")
    foreign.add_argument("--pixel-max", type=per_file(validators.positive_finite), nargs="*", default=[],
                         metavar="[LABEL=]MAX", help="the file was certified on images in [0, MAX], not [0, 1]: its "
                                                     "sigma and radii are divided by MAX (e.g. 255)")
    foreign.add_argument("--radius-norm", type=per_file(norm), nargs="*", default=[], metavar="[LABEL=]linf|l2",
                         help="the norm of the file's radius column: linf (the original's) or l2 (Cohen's); required")
    parser.add_argument("--reference", type=cli.labelled, nargs="*", default=[], metavar="LABEL=PATH",
                        help="certification files drawn dashed beside ours, e.g. the original's")
    parser.add_argument("--published", type=cli.labelled, nargs="*", default=[], metavar="METHOD=PATH",
                        help="compute the table's published row METHOD from this published certification file "
                             "(declared like the other files without a description) instead of the typed number")
    args = parser.parse_args()
    settings = from_arguments(AnalysisSettings, args)

    labels = [label for label, _ in args.runs + args.reference + args.published]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"the label {repeated[0]!r} is given to more than one file: give each file its own LABEL")
    stated = declarations(args)
    unknown = sorted(set(stated) - set(labels) - {None})
    if unknown:
        raise ValueError(f"--noise, --radius-norm, --n, --alpha or --pixel-max names {unknown[0]!r}, which labels "
                         "no file")
    wanted = set(OUTPUTS) if args.only is None else {args.only}
    for option, given, outputs in (("--published", args.published, {"table"}),
                                   ("--reference", args.reference, {"vary_dim"}),
                                   ("--figure-outdir", args.figure_outdir, {"vary_dim", "radius_figures", "methods"})):
        if given and not wanted & outputs:
            raise ValueError(f"{option} changes only the {' and '.join(sorted(outputs))} output, which --only "
                             f"{args.only} leaves out: leave out {option} or --only")

    def load(label, path):
        return load_run(path, stated.get(label, stated[None]), own=label in stated)

    runs = {label: load(label, path) for label, path in args.runs}
    totals = {label: len(run.frame) for label, run in runs.items()}  # images certified, for the figures
    if not wanted & {"table", "grid", "methods"}:  # the figures need only their subset: recertify no more rows
        for run in runs.values():
            run.frame = every_nth(run.frame, settings.figure_skip)
    certified = certified_runs(runs, settings.certificates)
    written = []
    if "table" in wanted:
        published = {method: (path, load(method, path).frame) for method, path in args.published}
        datasets = [(run.description or {}).get("dataset") for run in runs.values()]
        written += write_tables(benchmark_table(certified, settings.linf_threshold, published, datasets), args.outdir,
                                settings.linf_threshold)
    if "grid" in wanted:
        written += write_radius_grid(radius_grid_table(certified, settings.grid_radii, settings.grid_radii_l2),
                                     args.outdir)

    subsets = {key: every_nth(frame, settings.figure_skip) for key, frame in certified.items()}
    reference = {label: every_nth(load(label, path).frame, settings.figure_skip) for label, path in args.reference}
    ceilings = {key: c for key in certified if (c := runs[key[0]].ceiling(key[1])) is not None}
    # figures: titles and legends from what the files record; the drawn subset stated
    title = settings.figure_title or figure_title(runs)
    subtitle = subset_note(settings.figure_skip)
    first_keys = {}  # each run's first certificate
    for key in subsets:
        first_keys.setdefault(key[0], key)
    run_ceiling = {label: ceilings.get(key) for label, key in first_keys.items()}
    run_labels = {label: run_legend(label, run, len(subsets[first_keys[label]]), totals[label], run_ceiling[label])
                  for label, run in runs.items()}
    figures = args.figure_outdir or args.outdir
    if "vary_dim" in wanted:
        radii = np.linspace(0.0, settings.radius_max, settings.radius_points)
        paths = [figures / "vary_dim.png", figures / "vary_dim.pdf"]
        vary_dim_figure(subsets, radii, settings.linf_threshold,
                        {label: c for label, c in run_ceiling.items() if c is not None}, title, paths, reference,
                        run_labels, subtitle)
        written += paths
    if wanted & {"radius_figures", "methods"}:
        missing = [label for label, run in runs.items() if run.sigma is None]
        if missing:
            raise ValueError(f"--noise LABEL=SIGMA:DIM is needed for {', '.join(missing)} (l2, normalized and "
                             "methods figures)")
        # each run's threshold and ceiling in a figure's unit: l2 = r sqrt(d), normalized = r sqrt(d) / sigma
        units = {"radius_l2": {label: np.sqrt(run.dimension) for label, run in runs.items()},
                 "radius_over_sigma": {label: np.sqrt(run.dimension) / run.sigma for label, run in runs.items()}}

        def axis_end(column: str, frames) -> float:
            """A little past the largest ceiling in ``column``'s unit (or, without N and alpha,
            past the largest radius of ``frames``, (label, certificate) -> rows with ``column``)."""
            return 1.1 * max([c * units[column][label] for label, c in run_ceiling.items() if c is not None] or
                             [frame[column].max() for frame in frames.values()])
    if "radius_figures" in wanted:
        first = {key: subsets[key] for key in first_keys.values()}
        scaled = {key: with_scaled_radii(frame, runs[key[0]].sigma, runs[key[0]].dimension)
                  for key, frame in first.items()}
        t = settings.linf_threshold
        for column, name, xlabel, threshold_label in (
                ("radius_l2", "certified_l2", r"$\ell_2$ radius", f"{t * 255:g}/255 in l2: r·√d, per run"),
                ("radius_over_sigma", "certified_normalized",
                 NORMALIZED_LABEL, f"{t * 255:g}/255 here: r·√d/σ, per run")):
            scale = units[column]
            top = axis_end(column, scaled)
            marks = [Mark(t * scale[label], "threshold", label) for label in runs]
            marks += [Mark(c * scale[label], "ceiling", label) for label, c in run_ceiling.items() if c is not None]
            paths = [figures / f"{name}.png", figures / f"{name}.pdf"]
            curve_figure(scaled, np.linspace(0.0, top, settings.radius_points), column, xlabel, title, paths,
                         marks, run_labels=run_labels, subtitle=subtitle, threshold_label=threshold_label)
            written += paths
    if "methods" in wanted:
        written += write_methods_table(methods_table(runs, certified, settings.linf_threshold), args.outdir,
                                       settings.linf_threshold)
        normalized = {key: with_scaled_radii(frame, runs[key[0]].sigma, runs[key[0]].dimension)
                      for key, frame in subsets.items()}
        for column, name, xlabel, x_max in (
                ("radius", "methods_linf", r"$\ell_\infty$ radius", settings.radius_max),
                ("radius_over_sigma", "methods_normalized", NORMALIZED_LABEL,
                 axis_end("radius_over_sigma", normalized))):
            paths = [figures / f"{name}.png", figures / f"{name}.pdf"]
            methods_figure(runs, subsets, column, xlabel, x_max, title, paths, settings.linf_threshold, subtitle,
                           settings.radius_points)
            written += paths
    print("\n".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)
