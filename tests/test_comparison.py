"""The methods comparison: every run grouped by the training method its certification
records and by its image size; its average certified radius checked against an independent
formula on published files; a panel per method, a curve per size."""
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_figures import assert_nothing_overlaps, curves_of, vertical_marks

from conftest import ROOT
from linf_smoothing.analysis import (
    NOT_RECORDED,
    Declared,
    Run,
    certified_accuracy,
    every_nth,
    image_size,
    load_run,
    method_label,
)
from linf_smoothing.comparison import average_certified_radius, methods_table, write_methods_table
from linf_smoothing.figures import methods_figure
from test_analysis import COHEN, FILES, ORIGINAL, PUBLISHED

THRESHOLD = 2 / 255


def synthetic_run(method, size, sigma, seed, training=None, channels=1):
    """A described run of 200 images whose correct, certified radii are drawn at random."""
    rng = np.random.default_rng(seed)
    d = channels * size * size
    correct = rng.random(200) < 0.8
    radius_l2 = np.where(correct, rng.uniform(0, 2 * sigma, 200), 0.0)
    frame = pd.DataFrame({"idx": np.arange(200), "label": 1, "predict": np.where(correct, 1, 2),
                          "radius": radius_l2 / math.sqrt(d), "radius_l2": radius_l2, "correct": correct.astype(int)})
    description = {"training_method": method, "training": training, "image_size": size, "sigma": sigma,
                   "dimension": d}
    return Run(ROOT, frame, description, sigma, d, 1000, 0.001)


def runs_of_three_methods():
    runs = {}
    for size, sigma in ((8, 0.25), (16, 0.5)):
        runs[f"gaussian{size}"] = synthetic_run("gaussian", size, sigma, size, {"method": "gaussian"})
        runs[f"pgd{size}"] = synthetic_run("smoothadv", size, sigma, size + 1, {"method": "smoothadv"})
        runs[f"ddn{size}"] = synthetic_run("smoothadv", size, sigma, size + 2, {"method": "smoothadv", "attack": "ddn"})
    return runs


@pytest.mark.slow
def test_acr_is_the_area_under_the_certified_accuracy_curve():
    """ACR = E[R 1(correct)] = integral over r of P(correct and R >= r): checked on Cohen et
    al.'s published sigma 0.25 file against the area under its own certified-accuracy curve."""
    run = load_run(COHEN / "cohen_full_sigma_0.25", Declared("l2", 0.25, 3072, 100_000, 0.001))
    radii = np.linspace(0.0, 1.0, 200_001)  # its largest radius is 0.953
    area = np.trapezoid(certified_accuracy(run.frame, radii, "radius_l2"), radii)
    assert average_certified_radius(run.frame) == pytest.approx(area, abs=1e-5)
    # Zhai et al. (MACER README, "Training Time") give this model ACR 0.416 on the 500 images of
    # Cohen et al.'s own certification (every 20th); Salman et al.'s re-certification gives:
    assert average_certified_radius(every_nth(run.frame, 20)) == pytest.approx(0.416, abs=0.01)


def test_acr_counts_wrong_and_abstained_images_as_zero():
    frame = pd.DataFrame({"radius_l2": [0.5, 1.0, 0.0, 0.3], "correct": [1, 0, 0, 1]})
    assert average_certified_radius(frame) == pytest.approx(0.8 / 4)


def test_the_method_comes_from_the_checkpoints_settings():
    runs = runs_of_three_methods()
    assert method_label(runs["gaussian8"]) == "Gaussian augmentation"
    assert method_label(runs["ddn8"]) == "SmoothAdv (DDN)"
    assert method_label(runs["pgd8"]) == "SmoothAdv (PGD)"  # the default attack, left out of the checkpoint
    foreign = load_run(ORIGINAL / FILES["size48"], Declared("linf", 0.18, 6912))
    assert method_label(foreign) == NOT_RECORDED and image_size(foreign) == 48


def test_the_table_has_a_row_per_run_and_certificate_in_every_unit():
    runs = runs_of_three_methods()
    certified = {(label, "blum"): run.frame for label, run in runs.items()}
    table = methods_table(runs, certified, THRESHOLD)
    assert list(table["method"]) == ["Gaussian augmentation"] * 2 + ["SmoothAdv (PGD)"] * 2 + ["SmoothAdv (DDN)"] * 2
    assert list(table["image_size"]) == [8, 16] * 3
    for row in table.itertuples():
        frame = runs[row.label].frame
        assert row.natural_accuracy == frame["correct"].mean()
        certified = (frame["radius"] >= THRESHOLD) & (frame["correct"] == 1)
        assert row.certified_accuracy == pytest.approx(certified.mean())
        assert row.acr_l2 == pytest.approx(np.mean(frame["radius_l2"] * frame["correct"]))
        assert row.acr_normalized == pytest.approx(row.acr_l2 / row.sigma)
        assert row.acr_linf == pytest.approx(row.acr_l2 / math.sqrt(row.dimension))


def test_the_original_files_reproduce_the_paper_in_the_methods_table():
    runs = {label: load_run(ORIGINAL / FILES[label], Declared("linf", sigma, d)) for label, (sigma, d) in
            {"size32": (0.12, 3072), "size48": (0.18, 6912), "size64": (0.24, 12288)}.items()}
    certified = {(label, "as in file"): run.frame for label, run in runs.items()}
    table = methods_table(runs, certified, THRESHOLD).set_index("label")
    for label in runs:
        images, natural, certified_at_threshold, _ = PUBLISHED[label]
        assert (table.loc[label, "images"], table.loc[label, "natural_accuracy"],
                table.loc[label, "certified_accuracy"]) == pytest.approx((images, natural, certified_at_threshold))
    assert list(table["image_size"]) == [32, 48, 64]


def test_the_markdown_has_a_row_per_method_and_certificate_and_a_column_group_per_size(tmp_path):
    runs = runs_of_three_methods()
    runs["second_ddn8"] = synthetic_run("smoothadv", 8, 0.25, 99, {"method": "smoothadv", "attack": "ddn"})
    certified = {(label, c): run.frame for label, run in runs.items() for c in ("blum", "sound_top2")}
    table = methods_table(runs, certified, THRESHOLD)
    _, markdown, html = write_methods_table(table, tmp_path, THRESHOLD)
    lines = markdown.read_text().splitlines()
    assert lines[0].count("size 8, d 64:") == 3 and lines[0].count("size 16, d 256:") == 3
    rows = [line.split(" | ")[:2] for line in lines[2:] if line.startswith("| ")]
    assert ["| Gaussian augmentation", "blum"] in rows and ["| SmoothAdv (PGD)", "sound_top2"] in rows
    # two SmoothAdv (DDN) runs at size 8: each is named, neither hides the other
    assert ["| SmoothAdv (DDN): ddn8", "blum"] in rows and ["| SmoothAdv (DDN): second_ddn8", "blum"] in rows
    assert len(rows) == 2 * 5
    row = table[(table["label"] == "gaussian16") & (table["certificate"] == "blum")].iloc[0]
    gaussian = next(line for line in lines if line.startswith("| Gaussian augmentation | blum |"))
    assert f"{100 * row.certified_accuracy:.2f}%" in gaussian and f"{row.acr_normalized:.3f}" in gaussian
    # the report's page: the same cells, in percent
    assert f"<td>{100 * row.certified_accuracy:.2f}%</td>" in html.read_text()


@pytest.mark.parametrize("column", ["radius", "radius_over_sigma"])
def test_a_panel_per_method_a_curve_per_size_and_certificate(tmp_path, column):
    runs = runs_of_three_methods()
    certified = {(label, c): run.frame for label, run in runs.items() for c in ("blum", "sound_top2")}
    x_max = 0.1 if column == "radius" else 2.5
    fig = methods_figure(runs, certified, column, "x", x_max, "title", [tmp_path / "m.png"], THRESHOLD,
                         radius_points=101)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["Gaussian augmentation", "SmoothAdv (PGD)", "SmoothAdv (DDN)"]
    radii = np.linspace(0, x_max, 101)
    colours, markers = [], []
    for ax in panels:
        curves = curves_of(ax, radii)
        assert len(curves) == 2 * 2  # sizes x certificates
        colours.append(tuple(dict.fromkeys(c.get_color() for c in curves)))
        markers.append({c.get_marker() for c in curves})
    # each method one run per size: the colour says the size in every panel, the marker the method
    assert len(set(colours)) == 1 and len(colours[0]) == 2
    assert all(len(m) == 1 for m in markers) and len(set.union(*markers)) == 3
    # the threshold in the panel's unit: 2/255, or 2/255 * sqrt(d) / sigma per size (8 / 0.25 = 16 / 0.5 here)
    expected = THRESHOLD if column == "radius" else THRESHOLD * 8 / 0.25
    assert all(x == pytest.approx(expected) and colour == (0, 0, 0) for x, colour, _ in vertical_marks(panels[0]))
    curve = curves_of(panels[0], radii)[0]
    label = "gaussian8"
    scale = 1.0 if column == "radius" else math.sqrt(64) / 0.25
    assert np.allclose(curve.get_ydata(), 100 * certified_accuracy(runs[label].frame, radii / scale))
    assert_nothing_overlaps(fig)
    assert (tmp_path / "m.png").stat().st_size > 0


@pytest.mark.slow
def test_analyze_writes_the_methods_outputs_in_their_folders(tmp_path):
    """analyze.py on the original's files (no method recorded: one panel): the tables in OUTDIR,
    every figure in --figure-outdir."""
    arguments = [f"{label}={ORIGINAL / FILES[label]}" for label in ("size32", "size48", "size64")]
    command = [sys.executable, str(ROOT / "scripts" / "analyze.py"), *arguments, "--radius-norm", "linf",
               "--noise", "size32=0.12:3072", "size48=0.18:6912", "size64=0.24:12288", "--n", "100000",
               "--alpha", "0.001", "--outdir", str(tmp_path / "tables"),
               "--figure-outdir", str(tmp_path / "figures")]
    subprocess.run(command, check=True, capture_output=True, text=True)
    assert {"methods.csv", "methods.md", "methods.html"} <= {p.name for p in (tmp_path / "tables").iterdir()}
    assert not list((tmp_path / "tables").glob("*.p[nd][gf]"))
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == sorted(
        f"{name}.{ext}" for name in ("vary_dim", "certified_l2", "certified_normalized", "methods_linf",
                                     "methods_normalized") for ext in ("png", "pdf"))
    table = pd.read_csv(tmp_path / "tables" / "methods.csv")
    assert list(table["certified_accuracy"]) == pytest.approx([PUBLISHED[f"size{s}"][2] for s in (32, 48, 64)])


def test_thresholds_that_differ_by_size_are_marked_in_the_runs_colours(tmp_path):
    """sigma fixed while d grows: 2/255 lies at another normalized radius for each size, a
    black line each with a triangle above in its run's colour."""
    from matplotlib.colors import to_rgb

    runs = {"g8": synthetic_run("gaussian", 8, 0.25, 1), "g16": synthetic_run("gaussian", 16, 0.25, 2)}
    certified = {(label, "blum"): run.frame for label, run in runs.items()}
    fig = methods_figure(runs, certified, "radius_over_sigma", "x", 3.0, "t", [tmp_path / "m.png"], THRESHOLD,
                         radius_points=101)
    ax = fig.axes[0]
    marks = vertical_marks(ax)
    assert sorted(round(x / THRESHOLD) for x, _, _ in marks) == [32, 64]  # sqrt(d) / sigma: 8 / 0.25 and 16 / 0.25
    assert {colour for _, colour, _ in marks} == {(0.0, 0.0, 0.0)}
    triangles = {round(float(line.get_xdata()[0]) / THRESHOLD): to_rgb(line.get_color())
                 for line in ax.lines if len(line.get_xdata()) == 1 and line.get_marker() == "v"}
    curves = {line.get_label().split(",")[0]: to_rgb(line.get_color())
              for line in curves_of(ax, np.linspace(0, 3, 101))}
    assert triangles == {32: curves["g8"], 64: curves["g16"]} and curves["g8"] != curves["g16"]


def test_one_method_alone_keeps_its_legend_off_the_title(tmp_path):
    """The demo's case: one panel, whose title the legend beside it must not cover."""
    runs = {label: run for label, run in runs_of_three_methods().items() if label.startswith("gaussian")}
    certified = {(label, "blum"): run.frame for label, run in runs.items()}
    fig = methods_figure(runs, certified, "radius", "x", 0.1, "scikit-learn digits, ResNet-8",
                         [tmp_path / "m.png"], THRESHOLD, "all certified test images", radius_points=101)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 1
    assert_nothing_overlaps(fig)
