"""Figures a reviewer accepts: every run visible and told apart at any number of runs (no
two runs share a colour and a marker; more than 8 runs take a panel per method), the images
drawn stated, the threshold and each run's ceiling unmistakable and in the axis' unit, no
legend or title over data or text, every certificate and method named (SmoothAdv with its
attack), accuracy in percent, losses of different methods on different axes, the
learning-rate steps marked, titles and labels from the data, captions that match."""
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from methods_layout import EXPERIMENTS, methods_profile_runs, training_history, training_record

import linf_smoothing.figures as figures
from conftest import ROOT
from linf_smoothing.analysis import (
    AS_IN_FILE,
    CERTIFICATE_NAMES,
    Run,
    benchmark_table,
    certified_runs,
    figure_title,
    settings_from_data,
    training_method_label,
)
from linf_smoothing.figures import (
    MARKERS,
    FigureSet,
    Shown,
    panel_groups,
    run_looks,
    shown_run,
    training_figure,
    vary_dim_figure,
)
from linf_smoothing.results import read_certification
from linf_smoothing.settings import AnalysisSettings
from test_analysis import FILES, ORIGINAL

NOISE = {"size32_full": (0.12, 3072), "size32": (0.12, 3072), "size48": (0.18, 6912), "size64": (0.24, 12288)}
CEILING = 0.0082520  # N = 100,000, alpha = 0.001: the same for all four (sigma grows with sqrt(d))


def drawn(fig):
    """Draw ``fig`` on a canvas of its own (it is closed, as saved) and return its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def assert_nothing_overlaps(fig):
    """No legend, figure title (subtitle included) or panel title of ``fig`` overlaps a panel's
    data area or another of them."""
    renderer = drawn(fig)
    owners = [fig, *fig.subfigs]
    legends = [legend for f in owners for legend in f.legends]
    legends += [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    assert legends
    titles = [f._suptitle for f in owners if f._suptitle is not None and f._suptitle.get_text()]
    titles += [ax.title for ax in fig.axes if ax.get_visible() and ax.title.get_text()]
    boxes = [(f"legend {k}", legend.get_window_extent(renderer)) for k, legend in enumerate(legends)]
    boxes += [(f"title {t.get_text()[:30]!r}", t.get_window_extent(renderer)) for t in titles]
    panels = [(f"panel {ax.get_title()!r}", ax.get_window_extent(renderer)) for ax in fig.axes if ax.get_visible()]
    for i, (name, box) in enumerate(boxes):
        for other, panel in panels:
            assert not box.overlaps(panel), f"{name} covers {other}"
        for other, second in boxes[i + 1:]:
            assert not box.overlaps(second), f"{name} overlaps {other}"


def legend_texts(fig) -> list[str]:
    return [text.get_text() for f in [fig, *fig.subfigs] for legend in f.legends for text in legend.get_texts()]


def curves_of(ax, radii):
    return [line for line in ax.lines if len(line.get_xdata()) == len(radii)]


def vertical_marks(ax):
    """(x, colour, line style) of each vertical line."""
    return [(float(line.get_xdata()[0]), to_rgb(line.get_color()), line.get_linestyle())
            for line in ax.lines if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]]


def run_looks_drawn(fig, run_of) -> dict[str, set]:
    """run -> the (colour, marker) pairs its curves take in ``fig``; ``run_of`` names the run of
    a curve from its label (None: not a run's curve)."""
    looks: dict[str, set] = {}
    for ax in fig.axes:
        for line in ax.lines:
            run = run_of(line.get_label())
            if run is not None and line.get_marker() not in ("None", None, ""):
                looks.setdefault(run, set()).add((to_rgb(line.get_color()), line.get_marker()))
    return looks


def assert_runs_told_apart(fig, runs, run_of):
    """Each run has one colour and marker in the whole figure, and no other run has the same."""
    looks = run_looks_drawn(fig, run_of)
    assert set(looks) == set(runs)
    assert all(len(pairs) == 1 for pairs in looks.values()), looks
    assert len({next(iter(pairs)) for pairs in looks.values()}) == len(runs)


def recorded_curve_figures(monkeypatch) -> dict:
    """File stem -> figure, of every figure ``figures.curve_figure`` draws from now on."""
    made = {}
    real = figures.curve_figure

    def record(*args, **kwargs):
        made[Path(args[5][0]).stem] = fig = real(*args, **kwargs)
        return fig

    monkeypatch.setattr(figures, "curve_figure", record)
    return made


@pytest.fixture(scope="module")
def original_figure(tmp_path_factory):
    """The vary-dim figure of the original's four files, as analyze.py draws it (every 20th image)."""
    from linf_smoothing.analysis import every_nth

    runs = {(label, AS_IN_FILE): every_nth(read_certification(ORIGINAL / name), 20) for label, name in FILES.items()}
    radii = np.linspace(0, 0.01, 201)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "_save", lambda fig, paths: None)  # drawn, not written: the tests' time
        fig = vary_dim_figure(runs, radii, 2 / 255, {label: CEILING for label in FILES}, "t",
                              [tmp_path_factory.mktemp("fig") / "vary_dim.png"])
    return fig, radii


def test_every_run_is_visible_and_distinguishable(original_figure):
    """size32_full and size32 coincide almost everywhere: each run has its own colour and
    marker, its markers at other radii than the others', and a legend entry."""
    fig, radii = original_figure
    curves = curves_of(fig.axes[0], radii)
    assert len(curves) == len(FILES)
    assert_runs_told_apart(fig, FILES, lambda label: label.split(",")[0] if label.endswith(AS_IN_FILE) else None)
    offsets = [c.get_markevery()[0] for c in curves]
    assert len(set(offsets)) == len(FILES)
    texts = legend_texts(fig)
    assert all(any(t.startswith(f"{label}") for t in texts) for label in FILES)
    assert fig.axes[0].get_ylim() == (0, 100) and "%" in fig.axes[0].get_ylabel()
    assert_nothing_overlaps(fig)


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


@pytest.mark.parametrize("runs", [1, 10, 11, 36, 101, 250])
def test_no_two_runs_share_a_colour_and_a_marker_at_any_number(runs):
    """The palette has 10 colours and MARKERS 10 markers: run i and run i + 10 must still differ."""
    shown = {f"run{i}": Shown() for i in range(runs)}
    looks = run_looks(shown)
    assert len({(look.color, look.marker) for look in looks.values()}) == runs
    if runs <= len(MARKERS):  # few runs: colour and marker each tell every run apart
        assert len({look.color for look in looks.values()}) == len({look.marker for look in looks.values()}) == runs


def test_colour_says_the_size_and_marker_the_method_where_each_pair_is_one_run():
    shown = {f"{m}{s}": Shown(m, s) for m in ("trades", "gaussian") for s in (8, 12, 16)}
    looks = run_looks(shown)
    assert looks["trades8"].color == looks["gaussian8"].color != looks["trades12"].color
    assert looks["trades8"].marker == looks["trades16"].marker != looks["gaussian8"].marker
    shown["again8"] = Shown("trades", 8)  # two TRADES runs at size 8: a pair of its own for each run
    assert len({(look.color, look.marker) for look in run_looks(shown).values()}) == 7


def test_more_than_eight_runs_take_a_panel_per_method_and_at_most_eight_each():
    few = {f"r{i}": Shown("m" if i % 2 else "n", 8) for i in range(8)}
    assert panel_groups(few) == {"": list(few)}
    many = {f"r{i}": Shown("TRADES" if i < 12 else "MACER", 8 + i) for i in range(15)}
    panels = panel_groups(many)
    assert [len(members) for members in panels.values()] == [8, 4, 3]
    assert list(panels) == ["TRADES (1 of 2)", "TRADES (2 of 2)", "MACER"]
    assert panel_groups(few, by_method=True) == {"n": ["r0", "r2", "r4", "r6"], "m": ["r1", "r3", "r5", "r7"]}


@pytest.fixture(scope="module")
def methods_layout():
    """The methods profile's 18 runs (synthetic votes) as analyze.py prepares them."""
    runs = methods_profile_runs()
    settings, _ = settings_from_data(AnalysisSettings(), runs)
    return runs, certified_runs(runs, settings.certificates), settings


@pytest.mark.parametrize("name", ["vary_dim", "certified_l2", "certified_normalized", "methods_linf",
                                  "methods_normalized"])
def test_the_methods_profiles_figures_tell_every_run_apart_and_cover_nothing(methods_layout, name, monkeypatch,
                                                                              tmp_path):
    """18 runs, 6 methods (SmoothAdv's PGD and DDN apart) at 3 sizes: a panel per method,
    one colour and marker per run in the whole figure, no legend or title over a panel or
    another title."""
    runs, certified, settings = methods_layout
    made = recorded_curve_figures(monkeypatch)
    monkeypatch.setattr(figures, "_save", lambda fig, paths: None)
    figure_set = FigureSet(runs, certified, {label: len(run.frame) for label, run in runs.items()}, settings,
                           tmp_path)
    {"vary_dim": lambda: figure_set.vary_dim({}), "certified_l2": figure_set.radius_figures,
     "certified_normalized": figure_set.radius_figures, "methods_linf": figure_set.methods_figures,
     "methods_normalized": figure_set.methods_figures}[name]()
    fig = made[name]
    panels = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    assert panels == ["TRADES + Gaussian noise", "Gaussian augmentation", "SmoothAdv (PGD)", "SmoothAdv (DDN)",
                      "consistency (Jeong & Shin)", "MACER"]
    assert_runs_told_apart(fig, runs, lambda label: label.split(", ")[0] if ", " in label else None)
    assert_nothing_overlaps(fig)


def test_the_methods_profiles_training_curves_a_row_per_method(monkeypatch, tmp_path):
    """Each method's loss on its own axes, every run told apart, the lr step marked."""
    monkeypatch.setattr(figures, "_save", lambda fig, paths: None)
    histories = {exp["name"]: training_history(exp, seed) for seed, exp in enumerate(EXPERIMENTS)}
    shown = {exp["name"]: Shown(training_method_label(training_record(exp)), exp["image_size"])
             for exp in EXPERIMENTS}
    fig = training_figure(histories, "Training", [tmp_path / "t.png"], shown)
    losses = [ax for ax in fig.axes if ax.get_title().endswith(": loss")]
    assert [ax.get_title() for ax in losses][2:4] == ["SmoothAdv (PGD): loss", "SmoothAdv (DDN): loss"]
    for ax in losses:  # three runs of one method each
        assert {line.get_label() for line in ax.lines if len(line.get_xdata()) > 2} == {
            label for label, s in shown.items() if ax.get_title() == f"{s.method}: loss"}
    assert_runs_told_apart(fig, histories, lambda label: label.split(":")[0] if label in histories or ":" in label
                           else None)
    milestone = 12  # profiles/demo: lr 0.1, x 0.1 from epoch 12 (0-based): after 12 epochs
    assert all([x for x, _, _ in vertical_marks(ax)] == [milestone] for ax in fig.axes)  # one line a panel
    assert any("learning-rate step: 0.1 → 0.01" in t for t in legend_texts(fig))
    assert_nothing_overlaps(fig)


def test_training_figure_names_each_runs_method_and_counts_whole_epochs(tmp_path):
    history = pd.DataFrame({"epoch": [0, 1, 2], "lr": 0.1, "train_loss": [2.0, 1.5, 1.0],
                            "train_accuracy_noisy": [0.3, 0.5, 0.6], "test_accuracy_noisy": [0.3, 0.4, 0.5],
                            "test_accuracy_clean": [0.4, 0.6, 0.7], "seconds": 1.0})
    shown = {"size8": Shown("TRADES + Gaussian noise", 8), "gaussian8": Shown("Gaussian augmentation", 8)}
    fig = training_figure({"size8": history, "gaussian8": history}, "t", [tmp_path / "t.png"], shown)
    texts = legend_texts(fig)
    assert "size8: TRADES + Gaussian noise" in texts and "gaussian8: Gaussian augmentation" in texts
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["TRADES + Gaussian noise: loss", "TRADES + Gaussian noise: accuracy",
                      "Gaussian augmentation: loss", "Gaussian augmentation: accuracy"]
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    assert fig.axes[1].get_ylim() == (0, 100) and list(fig.axes[1].lines[0].get_ydata()) == [30, 50, 60]
    assert not any(vertical_marks(ax) for ax in fig.axes)  # no lr step: none marked
    assert_nothing_overlaps(fig)


def test_plot_training_reads_the_method_from_the_checkpoint(tmp_path, monkeypatch):
    import torch

    from linf_smoothing.results import save_checkpoint

    runs = []
    for label, training in (("size8", {"method": "trades", "sigma": 0.25}),
                            ("ddn8", {"method": "smoothadv", "attack": "ddn", "sigma": 0.25})):
        folder = tmp_path / label
        folder.mkdir()
        pd.DataFrame({"epoch": [0, 1], "lr": [0.1, 0.01], "train_loss": [2.0, 1.0], "train_accuracy_noisy": 0.5,
                      "test_accuracy_noisy": 0.4, "test_accuracy_clean": 0.6, "seconds": 1.0}).to_csv(
            folder / "epochs.tsv", sep="\t", index=False)
        save_checkpoint(folder / "model.pt", torch.nn.Linear(1, 1),
                        {"architecture": {"depth": 8, "widths": [16, 32, 64]}, "image_size": 8, "training": training})
        runs.append(f"{label}={folder / 'epochs.tsv'}")
    seen = {}
    real = figures.training_figure

    def record(histories, title, paths, shown=None):
        seen.update(title=title, shown=shown)
        return real(histories, title, paths, shown)

    monkeypatch.setattr(figures, "training_figure", record)
    monkeypatch.setattr(sys, "argv", ["plot_training.py", *runs, "--outdir", str(tmp_path)])
    runpy.run_path(str(ROOT / "scripts" / "plot_training.py"), run_name="__main__")
    assert seen["shown"] == {"size8": Shown("TRADES + Gaussian noise", 8, {"noise": "σ 0.25"}),
                             "ddn8": Shown("SmoothAdv (DDN)", 8, {"noise": "σ 0.25"})}
    assert "ResNet-8" in seen["title"] and "CIFAR-10" not in seen["title"]
    assert (tmp_path / "training_curves.png").stat().st_size > 0


def analyze_figures(monkeypatch, argv) -> dict:
    """Run scripts/analyze.py in this process; the figures it draws, by file stem."""
    made = recorded_curve_figures(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["analyze.py", *argv])
    runpy.run_path(str(ROOT / "scripts" / "analyze.py"), run_name="__main__")
    return made


@pytest.mark.parametrize("only", ["vary_dim", "radius_figures"])
def test_analyze_figures_state_the_subset_certificates_threshold_and_ceilings(tmp_path, monkeypatch, only):
    labels = ("size32_full", "size48")
    argv = [f"{label}={ORIGINAL / FILES[label]}" for label in labels]
    argv += ["--outdir", str(tmp_path), "--only", only, "--n", "100000", "--alpha", "0.001", "--radius-norm", "linf",
             "--figure-skip", "20", "--radius-points", "101",
             "--noise", *[f"{label}={sigma}:{d}" for label, (sigma, d) in NOISE.items() if label in labels]]
    made = analyze_figures(monkeypatch, argv)
    assert set(made) == ({"vary_dim"} if only == "vary_dim" else {"certified_l2", "certified_normalized"})
    for name, fig in made.items():
        ax = fig.axes[0]
        assert "multiple of 20" in fig.subfigs[0]._suptitle.get_text()  # the subset: r = 0 need not be the table's
        texts = legend_texts(fig)
        assert CERTIFICATE_NAMES[AS_IN_FILE] in texts  # the certificate shown is named
        assert_nothing_overlaps(fig)
        marks = vertical_marks(ax)
        for label in labels:
            sigma, d = NOISE[label]
            scale = {"vary_dim": 1.0, "certified_l2": np.sqrt(d), "certified_normalized": np.sqrt(d) / sigma}[name]
            assert any(x == pytest.approx(2 / 255 * scale) and colour == (0.0, 0.0, 0.0) for x, colour, _ in marks)
            assert any(x == pytest.approx(CEILING * scale, rel=1e-4) and colour != (0.0, 0.0, 0.0)
                       for x, colour, _ in marks)
            # the legend's ceiling in the axis' own unit
            entry = next(t for t in texts if t.startswith(f"{label}:"))
            assert f"ceiling {CEILING * scale:.4g}" in entry, entry
        assert any(t.startswith("size32_full:") and "500 of 10000 images" in t for t in texts)


def test_analyze_on_a_40_image_file_draws_all_40_and_chooses_its_range_from_the_data(tmp_path, monkeypatch, caplog):
    """A user's 40 images: all of them drawn (the paper's figure_skip 20 would draw 2), the
    curve at r = 0 the table's natural accuracy, an x range from the file's largest radius
    that shows the threshold, each choice said on one line, and no legend over the subtitle."""
    frame = read_certification(ORIGINAL / FILES["size32"]).head(40)
    radius = frame["radius"] * 1.6  # a run of another sigma: radii to 0.0132, past the paper's 0.01
    path = tmp_path / "mine.tsv"
    frame.assign(radius=radius).to_csv(path, sep="\t", index=False)
    with caplog.at_level("INFO"):
        made = analyze_figures(monkeypatch, [f"mine={path}", "--radius-norm", "linf", "--noise", "mine=0.2:3072",
                                             "--outdir", str(tmp_path), "--radius-points", "101"])
    fig = made["vary_dim"]
    texts = legend_texts(fig)
    assert any(t.startswith("mine:") and "40 images" in t and "of" not in t for t in texts)
    assert "all certified test images" in fig.subfigs[0]._suptitle.get_text()
    natural = pd.read_csv(tmp_path / "benchmark.csv").set_index("label").loc["mine", "natural_accuracy"]
    curve = curves_of(fig.axes[0], np.linspace(0, 1, 101))[0]
    assert curve.get_ydata()[0] == pytest.approx(100 * natural)
    assert fig.axes[0].get_xlim() == (0.0, 0.015)  # a round number past 1.05 x 0.0132; 2/255 inside
    assert "radius_max 0.015, from the files: past the largest certified radius 0.0132 (mine)" in caplog.text
    assert "linf_threshold 0.007843" in caplog.text and "grid_radii 0 0.002" in caplog.text
    assert_nothing_overlaps(fig)


def test_the_papers_files_give_the_papers_range_and_grid():
    """Chosen from the data, the original's files give the paper's figure range (0 to 0.01,
    PAPER.md) and config.yaml's grid of radii."""
    import yaml

    from linf_smoothing.analysis import Declared, load_run

    runs = {label: load_run(ORIGINAL / FILES[label], Declared("linf", *NOISE[label], 100_000, 0.001))
            for label in ("size32", "size48", "size64")}
    settings, notes = settings_from_data(AnalysisSettings(), runs)
    paper = yaml.safe_load((ROOT / "config.yaml").read_text())["analysis"]
    assert settings.radius_max == paper["radius_max"] == 0.01
    assert list(settings.grid_radii) == pytest.approx(paper["grid_radii"])
    assert settings.linf_threshold == paper["linf_threshold"] and len(notes) == 3
    given = AnalysisSettings(linf_threshold=0.01, radius_max=0.5, grid_radii=(0.1,))
    assert settings_from_data(given, runs) == (given, [])  # nothing chosen where the user gave it


def _run(description):
    frame = read_certification(ORIGINAL / FILES["size32"])
    return Run(path=Path("x"), frame=frame, description=description, sigma=0.25, dimension=64, n=1000, alpha=0.001)


def test_titles_and_labels_come_from_the_data():
    digits = {"dataset": "digits", "architecture": {"depth": 8, "widths": [16, 32, 64]}, "training_method": "gaussian",
              "training": {"method": "gaussian"}}
    assert figure_title({"a": _run(digits)}) == "scikit-learn digits, ResNet-8"
    assert shown_run(_run(digits), 360, 360).method == "Gaussian augmentation"
    ddn = dict(digits, training_method="smoothadv", training={"method": "smoothadv", "attack": "ddn"})
    assert shown_run(_run(ddn), 360, 360).method == "SmoothAdv (DDN)"
    assert shown_run(_run(dict(ddn, training={"method": "smoothadv"})), 360, 360).method == "SmoothAdv (PGD)"
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
