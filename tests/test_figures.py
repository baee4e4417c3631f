"""Figures a reviewer accepts: every run visible and told apart, the images drawn stated,
the threshold and each run's ceiling unmistakable, legends outside the data, every
certificate named, titles and labels from the data, integer epochs, captions that match."""
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

import linf_smoothing.analysis as analysis
from conftest import ROOT
from linf_smoothing.analysis import (
    AS_IN_FILE,
    CERTIFICATE_NAMES,
    Run,
    benchmark_table,
    figure_title,
    run_legend,
    training_figure,
    vary_dim_figure,
)
from linf_smoothing.results import read_certification
from test_analysis import FILES, ORIGINAL

NOISE = {"size32_full": (0.12, 3072), "size32": (0.12, 3072), "size48": (0.18, 6912), "size64": (0.24, 12288)}
CEILING = 0.0082520  # N = 100,000, alpha = 0.001: the same for all four (sigma grows with sqrt(d))


def assert_legends_outside(fig):
    """Every legend of ``fig`` lies outside every axes (so it covers no data)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the figure is closed: draw it on a canvas of its own, as saved
    canvas.draw()
    renderer = canvas.get_renderer()
    figures = [fig, *fig.subfigs]
    legends = [legend for f in figures for legend in f.legends]
    legends += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent(renderer)), "a legend covers an axes"
        titles = [ax.title for ax in fig.axes] + [f._suptitle for f in figures if f._suptitle is not None]
        for title in titles:
            if title.get_text():
                assert not box.overlaps(title.get_window_extent(renderer)), "a legend covers a title"


def legend_texts(fig) -> list[str]:
    return [text.get_text() for f in [fig, *fig.subfigs] for legend in f.legends for text in legend.get_texts()]


def curves_of(ax, radii):
    return [line for line in ax.lines if len(line.get_xdata()) == len(radii)]


def vertical_marks(ax):
    """(x, colour, line style) of each vertical line."""
    return [(float(line.get_xdata()[0]), to_rgb(line.get_color()), line.get_linestyle())
            for line in ax.lines if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]]


@pytest.fixture(scope="module")
def original_figure(tmp_path_factory):
    """The vary-dim figure of the original's four files, as analyze.py draws it (every 20th image)."""
    runs = {(label, AS_IN_FILE): analysis.every_nth(read_certification(ORIGINAL / name), 20)
            for label, name in FILES.items()}
    radii = np.linspace(0, 0.01, 201)
    fig = vary_dim_figure(runs, radii, 2 / 255, {label: CEILING for label in FILES}, "t",
                          [tmp_path_factory.mktemp("fig") / "vary_dim.png"])
    return fig, radii


def test_every_run_is_visible_and_distinguishable(original_figure):
    """size32_full and size32 coincide almost everywhere: each run has its own colour and
    marker, its markers at other radii than the others', and a legend entry."""
    fig, radii = original_figure
    curves = curves_of(fig.axes[0], radii)
    assert len(curves) == len(FILES)
    looks = {(to_rgb(c.get_color()), c.get_marker()) for c in curves}
    assert len(looks) == len(FILES) and all(marker not in ("None", None, "") for _, marker in looks)
    offsets = [c.get_markevery()[0] for c in curves]
    assert len(set(offsets)) == len(FILES)
    texts = legend_texts(fig)
    assert all(any(t.startswith(f"{label}") for t in texts) for label in FILES)


def test_threshold_and_ceilings_are_marked_apart_from_gridlines(original_figure):
    fig, radii = original_figure
    ax = fig.axes[0]
    curves = curves_of(ax, radii)
    run_colours = {to_rgb(c.get_color()) for c in curves}
    marks = vertical_marks(ax)
    threshold = [m for m in marks if m[0] == pytest.approx(2 / 255)]
    ceilings = [m for m in marks if m[0] == pytest.approx(CEILING)]
    assert len(threshold) == 1 and threshold[0][1] == (0.0, 0.0, 0.0)  # black, in no run's colour
    assert {m[1] for m in ceilings} == run_colours  # one ceiling per run, in its colour
    assert all(m[2] != threshold[0][2] for m in ceilings)
    assert not any(line.get_visible() for line in ax.get_xgridlines())  # no vertical gridline beside 2/255
    texts = legend_texts(fig)
    assert any("2/255" in t for t in texts) and any("largest certifiable radius" in t for t in texts)


def test_legends_lie_outside_the_axes(original_figure, tmp_path):
    assert_legends_outside(original_figure[0])
    history = pd.DataFrame({"epoch": range(15), "lr": 0.1, "train_loss": np.linspace(2, 1, 15),
                            "train_accuracy_noisy": 0.5, "test_accuracy_noisy": 0.4, "test_accuracy_clean": 0.6,
                            "seconds": 1.0})
    histories = {f"run{i}": history for i in range(6)}  # the baseline's six runs: 18 accuracy curves
    assert_legends_outside(training_figure(histories, "a long title " * 8, [tmp_path / "t.png"]))


def test_training_figure_names_each_runs_method_and_counts_whole_epochs(tmp_path):
    history = pd.DataFrame({"epoch": [0, 1, 2], "lr": 0.1, "train_loss": [2.0, 1.5, 1.0],
                            "train_accuracy_noisy": [0.3, 0.5, 0.6], "test_accuracy_noisy": [0.3, 0.4, 0.5],
                            "test_accuracy_clean": [0.4, 0.6, 0.7], "seconds": 1.0})
    fig = training_figure({"size8": history, "gaussian8": history}, "t", [tmp_path / "t.png"],
                          {"size8": "trades", "gaussian8": "gaussian"})
    loss_ax, acc_ax = fig.axes
    texts = legend_texts(fig)
    assert "size8: TRADES + Gaussian noise" in texts and "gaussian8: Gaussian augmentation" in texts
    assert "TRADES" not in loss_ax.get_ylabel()
    for ax in (loss_ax, acc_ax):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    fig = training_figure({"a": history}, "t", [tmp_path / "u.png"], {"a": "gaussian"})
    assert fig.axes[0].get_ylabel() == "training loss (Gaussian augmentation)"


def test_plot_training_reads_the_method_from_the_checkpoint(tmp_path, monkeypatch):
    import torch

    from linf_smoothing.results import save_checkpoint

    runs = []
    for label, method in (("size8", "trades"), ("gaussian8", "gaussian")):
        folder = tmp_path / label
        folder.mkdir()
        pd.DataFrame({"epoch": [0, 1], "lr": 0.1, "train_loss": [2.0, 1.0], "train_accuracy_noisy": 0.5,
                      "test_accuracy_noisy": 0.4, "test_accuracy_clean": 0.6, "seconds": 1.0}).to_csv(
            folder / "epochs.tsv", sep="\t", index=False)
        save_checkpoint(folder / "model.pt", torch.nn.Linear(1, 1),
                        {"architecture": {"depth": 8, "widths": [16, 32, 64]}, "training": {"method": method}})
        runs.append(f"{label}={folder / 'epochs.tsv'}")
    seen = {}
    real = analysis.training_figure

    def record(histories, title, paths, methods=None):
        seen.update(title=title, methods=methods)
        return real(histories, title, paths, methods)

    monkeypatch.setattr(analysis, "training_figure", record)
    monkeypatch.setattr(sys, "argv", ["plot_training.py", *runs, "--outdir", str(tmp_path)])
    runpy.run_path(str(ROOT / "scripts" / "plot_training.py"), run_name="__main__")
    assert seen["methods"] == {"size8": "trades", "gaussian8": "gaussian"}
    assert "ResNet-8" in seen["title"] and "CIFAR-10" not in seen["title"]
    assert (tmp_path / "training_curves.png").stat().st_size > 0


def analyze_figures(monkeypatch, argv) -> dict:
    """Run scripts/analyze.py in this process; the figures it draws, by file stem."""
    figures = {}
    real = analysis.curve_figure

    def record(*args, **kwargs):
        fig = real(*args, **kwargs)
        figures[Path(args[5][0]).stem] = fig
        return fig

    monkeypatch.setattr(analysis, "curve_figure", record)
    monkeypatch.setattr(sys, "argv", ["analyze.py", *argv])
    runpy.run_path(str(ROOT / "scripts" / "analyze.py"), run_name="__main__")
    return figures


@pytest.mark.parametrize("only", ["vary_dim", "radius_figures"])
def test_analyze_figures_state_the_subset_certificates_threshold_and_ceilings(tmp_path, monkeypatch, only):
    labels = ("size32_full", "size48")
    argv = [f"{label}={ORIGINAL / FILES[label]}" for label in labels]
    argv += ["--outdir", str(tmp_path), "--only", only, "--n", "100000", "--alpha", "0.001", "--radius-norm", "linf",
             "--noise", *[f"{label}={sigma}:{d}" for label, (sigma, d) in NOISE.items() if label in labels]]
    figures = analyze_figures(monkeypatch, argv)
    assert set(figures) == ({"vary_dim"} if only == "vary_dim" else {"certified_l2", "certified_normalized"})
    for name, fig in figures.items():
        ax = fig.axes[0]
        assert "multiple of 20" in ax.get_title()  # the subset, so r = 0 need not be the table's
        texts = legend_texts(fig)
        assert any(t.startswith("size32_full:") and "500 of 10000 images" in t for t in texts)
        assert CERTIFICATE_NAMES[AS_IN_FILE] in texts  # the certificate shown is named
        assert_legends_outside(fig)
        marks = vertical_marks(ax)
        for label in labels:
            sigma, d = NOISE[label]
            scale = {"vary_dim": 1.0, "certified_l2": np.sqrt(d), "certified_normalized": np.sqrt(d) / sigma}[name]
            assert any(x == pytest.approx(2 / 255 * scale) and colour == (0.0, 0.0, 0.0) for x, colour, _ in marks)
            assert any(x == pytest.approx(CEILING * scale, rel=1e-4) and colour != (0.0, 0.0, 0.0)
                       for x, colour, _ in marks)


def _run(description):
    frame = read_certification(ORIGINAL / FILES["size32"])
    return Run(path=Path("x"), frame=frame, description=description, sigma=0.25, dimension=64, n=1000, alpha=0.001)


def test_titles_and_labels_come_from_the_data():
    digits = {"dataset": "digits", "architecture": {"depth": 8, "widths": [16, 32, 64]}, "training_method": "gaussian"}
    assert figure_title({"a": _run(digits)}) == "scikit-learn digits, ResNet-8"
    assert "Gaussian augmentation" in run_legend("a", _run(digits), 360, 360)
    cifar = {"dataset": "cifar10", "architecture": {"depth": 110}}
    assert figure_title({"a": _run(cifar)}) == "CIFAR-10, ResNet-110"
    assert figure_title({"a": _run(None)}) == "Certified accuracy (dataset and model not recorded in the files)"
    assert "CIFAR-10" not in figure_title({"a": _run({"dataset": "digits"})})


def test_published_rows_only_for_their_dataset():
    runs = {("a", AS_IN_FILE): read_certification(ORIGINAL / FILES["size32"])}
    assert list(benchmark_table(runs, 2 / 255, datasets=["digits"])["source"]) == ["run"]
    assert list(benchmark_table(runs, 2 / 255, datasets=["cifar10", None])["source"]).count("published") == 7
    assert list(benchmark_table(runs, 2 / 255)["source"]).count("published") == 7  # unknown: kept


def test_figure_captions_name_no_experiment_the_figure_may_not_show():
    """A report made with another profile than the figures' run would name other runs: the
    figure captions describe the legend instead of listing the configuration's experiments."""
    for name in ("vary_dim", "certified_l2", "certified_normalized", "training_curves"):
        caption = (ROOT / "report" / f"{name}.rst").read_text()
        assert 'config["experiments"]' not in caption and "legend" in caption
