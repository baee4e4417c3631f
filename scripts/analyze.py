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
Writes to OUTDIR (the figures to --figure-outdir where given), accuracies in percent but in
the CSV files (fractions of 1):
  benchmark.{csv,md,html,tex}        each run and certificate on all its images, then the paper's rows
  certified_at_radii.{csv,md,html}   certified accuracy of each run and certificate at --grid-radii
  methods.{csv,md,html}              each training method, image size and certificate: natural and
                                     certified accuracy, average certified radius (ACR)
  vary_dim.{png,pdf}                 certified accuracy against l-inf radius (images with
                                     idx % FIGURE_SKIP == 0, stated in the figure), the threshold
                                     and each run's largest certifiable radius marked
  certified_l2.{png,pdf}             the same against l2 radius          (first certificate)
  certified_normalized.{png,pdf}     the same against radius*sqrt(d)/sigma
  methods_linf.{png,pdf}             a panel per training method, a curve per image size, against
  methods_normalized.{png,pdf}       l-inf radius and against radius*sqrt(d)/sigma
and, where the runs were smoothed with more than one noise (or with --only naming them):
  noises.{csv,md,html}               each noise and size: natural accuracy, certified accuracy in
                                     l-inf, l2 and l1, ACR in each norm, the median l-inf radius,
                                     ceilings and Kumar et al.'s bound (noise_comparison.py)
  noises_linf.{png,pdf}              a panel per noise, a curve per size, against l-inf radius (log)
  noises_median.{png,pdf}            the median l-inf radius*sqrt(d)/sigma against d, a line per noise
--kumar adds published rows to the noise table, computed from Kumar et al.'s (2020) stored
certifications of their generalized Gaussian models (github.com/alevine0/smoothingGenGaussian,
data/certify/cifar10/...; licensed for a single copy: give your copy's path), e.g.
    --kumar p3_sigma0.25_32px=PATH/to/noise_0.25_p_3_scale_32:3:0.25:3072
(N and alpha: theirs, 100,000 and 0.001, unless --n LABEL=N, --alpha LABEL=ALPHA say otherwise).
A figure of more than 8 runs takes a panel per training method. The figures' title is
--figure-title, or else the dataset and architecture the files record. What is left out of
--linf-threshold, --radius-max and --grid-radii is chosen from the files, one line each on
stderr. --only limits the output to one group (the workflow runs one job per group)."""
import argparse
import logging
from pathlib import Path

from linf_smoothing import cli, validators
from linf_smoothing.analysis import (
    Declared,
    benchmark_table,
    certified_runs,
    every_nth,
    load_run,
    radius_grid_table,
    settings_from_data,
    write_radius_grid,
    write_tables,
)
from linf_smoothing.comparison import methods_table, write_methods_table
from linf_smoothing.figures import FigureSet
from linf_smoothing.noise_comparison import load_kumar_results, noise_name, noise_table, write_noise_table
from linf_smoothing.settings import OUTPUT_SETTINGS, AnalysisSettings, add_arguments, from_arguments

TABLES = {"table", "grid", "methods_table", "noises_table"}  # the outputs on all images; the others are figures
NOISE_OUTPUTS = ("noises_table", "noises_figures")  # by default only where the runs have several noises
log = logging.getLogger("analyze")


def noise(text: str) -> tuple[str, tuple[float, int]]:
    label, value = cli.labelled(text)
    sigma, sep, dimension = value.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected LABEL=SIGMA:DIMENSION, got {text!r}")
    try:
        return label, (validators.positive_finite(sigma), validators.dimension(dimension))
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc}") from None


# Kumar et al.'s code/certify.py defaults: --N 100000, --alpha 0.001.
KUMAR_N, KUMAR_ALPHA = 100_000, 0.001


def kumar_file(text: str) -> tuple[str, tuple[Path, float, float, int]]:
    """LABEL=PATH:P:SIGMA:DIM, a certification file of Kumar et al. and its noise's shape p,
    sigma and input dimension d."""
    label, value = cli.labelled(text)
    parts = value.rsplit(":", 3)
    if len(parts) != 4:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH:P:SIGMA:DIMENSION, got {text!r}")
    path, p, sigma, dimension = parts
    try:
        return label, (Path(path), validators.checked(float, {"minimum": 1})(p), validators.positive_finite(sigma),
                       validators.dimension(dimension))
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


def parse_arguments() -> argparse.Namespace:
    parser = cli.argument_parser(__doc__)
    parser.add_argument("runs", nargs="+", type=cli.labelled, metavar="LABEL=PATH")
    parser.add_argument("--outdir", required=True, type=Path, help="folder of the tables (and of the figures)")
    parser.add_argument("--figure-outdir", type=Path, help="write the figures here (default: OUTDIR)")
    parser.add_argument("--only", choices=tuple(OUTPUT_SETTINGS),
                        help="write only this group of outputs (default: all)")
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
                        help="certification files drawn as bands beside ours, e.g. the original's")
    parser.add_argument("--kumar", type=kumar_file, nargs="*", default=[], metavar="LABEL=PATH:P:SIGMA:DIM",
                        help="a published row of the noise table from Kumar et al.'s certification file of their "
                             "generalized Gaussian noise of shape P at SIGMA (root mean square) in dimension DIM")
    parser.add_argument("--published", type=cli.labelled, nargs="*", default=[], metavar="METHOD=PATH",
                        help="compute the table's published row METHOD from this published certification file "
                             "(declared like the other files without a description) instead of the typed number")
    return parser.parse_args()


def declarations(args) -> dict[str | None, Declared]:
    """LABEL -> what the options state of that file without a description (None: of every file),
    after checking that every label names one file."""
    labels = [label for label, _ in args.runs + args.reference + args.published + args.kumar]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"the label {repeated[0]!r} is given to more than one file: give each file its own LABEL")
    stated: dict[str | None, dict] = {}
    for option, pairs in (("radius_norm", args.radius_norm), ("n", args.n), ("alpha", args.alpha),
                          ("pixel_max", args.pixel_max)):
        for label, value in pairs:
            stated.setdefault(label, {})[option] = value
    for label, (sigma, dimension) in args.noise:
        stated.setdefault(label, {}).update(sigma=sigma, dimension=dimension)
    unknown = sorted(set(stated) - set(labels) - {None})
    if unknown:
        raise ValueError(f"--noise, --radius-norm, --n, --alpha or --pixel-max names {unknown[0]!r}, which labels "
                         "no file")
    shared = stated.pop(None, {})
    return {None: Declared(**shared)} | {label: Declared(**(shared | own)) for label, own in stated.items()}


def main() -> None:
    args = parse_arguments()
    options = from_arguments(AnalysisSettings, args)
    stated = declarations(args)
    wanted = tuple(OUTPUT_SETTINGS) if args.only is None else (args.only,)
    for option, given, outputs in (("--published", args.published, {"table"}),
                                   ("--kumar", args.kumar, {"noises_table"}),
                                   ("--reference", args.reference, {"vary_dim"}),
                                   ("--figure-outdir", args.figure_outdir,
                                    {"vary_dim", "radius_figures", "methods_figures", "noises_figures"})):
        if given and not set(wanted) & outputs:
            raise ValueError(f"{option} changes only the {' and '.join(sorted(outputs))} output, which --only "
                             f"{args.only} leaves out: leave out {option} or --only")

    def load(label, path):
        return load_run(path, stated.get(label, stated[None]), own=label in stated)

    runs = {label: load(label, path) for label, path in args.runs}
    noises = {noise_name(run.noise) for run in runs.values() if run.noise is not None}
    if args.only is None and not args.kumar and len(noises) < 2:
        wanted = tuple(output for output in wanted if output not in NOISE_OUTPUTS)
    settings, chosen = settings_from_data(options, runs, wanted)
    for line in chosen:
        log.info("not given: %s", line)
    totals = {label: len(run.frame) for label, run in runs.items()}  # images certified, for the figures
    if not TABLES & set(wanted):  # the figures need only their subset: recertify no more
        for run in runs.values():
            run.frame = every_nth(run.frame, settings.figure_skip)
    certified = certified_runs(runs, settings.certificates)
    if set(wanted) - TABLES:
        figures = FigureSet(runs, certified, totals, settings, args.figure_outdir or args.outdir)
    written = []
    if "table" in wanted:
        published = {method: (path, load(method, path).frame) for method, path in args.published}
        datasets = [(run.description or {}).get("dataset") for run in runs.values()]
        written += write_tables(benchmark_table(certified, settings.linf_threshold, published, datasets), args.outdir,
                                settings.linf_threshold)
    if "grid" in wanted:
        written += write_radius_grid(radius_grid_table(certified, settings.grid_radii, settings.grid_radii_l2),
                                     args.outdir)
    if "methods_table" in wanted:
        written += write_methods_table(methods_table(runs, certified, settings.linf_threshold), args.outdir,
                                       settings.linf_threshold)
    if "vary_dim" in wanted:
        written += figures.vary_dim({label: every_nth(load(label, path).frame, settings.figure_skip)
                                     for label, path in args.reference})
    if "radius_figures" in wanted:
        written += figures.radius_figures()
    if "methods_figures" in wanted:
        written += figures.methods_figures()
    if "noises_table" in wanted:
        published = {}
        for label, (path, p, sigma, dimension) in args.kumar:
            declared = stated.get(label, stated[None])
            published[label] = load_kumar_results(path, p, sigma, dimension, declared.n or KUMAR_N,
                                                  declared.alpha or KUMAR_ALPHA)
        written += write_noise_table(noise_table(runs, certified, settings.linf_threshold, published), args.outdir,
                                     settings.linf_threshold)
    if "noises_figures" in wanted:
        written += figures.noises_figures()
    print("\n".join(map(str, written)))


if __name__ == "__main__":
    cli.run(main)
