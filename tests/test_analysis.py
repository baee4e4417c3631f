"""The analysis gives the paper's numbers from the paper's own certification files."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from linf_smoothing.analysis import (
    AS_IN_FILE,
    Declared,
    benchmark_table,
    certified_accuracy,
    every_nth,
    load_run,
    summarize,
    with_scaled_radii,
)
from linf_smoothing.figures import curve_figure, training_figure, vary_dim_figure
from linf_smoothing.results import read_certification

ORIGINAL = ROOT / "reference" / "original"
FILES = {
    "size32_full": "output_noise12_size32_l2trades0435_beta6_full",
    "size32": "output_noise12_size32_l2trades0435_beta6",
    "size48": "output_noise18_size48_l2trades06525_beta6",
    "size64": "output_noise24_size64_l2trades087_beta6",
}
PUBLISHED = {  # docs/paper.md: images, natural, certified at 2/255, abstentions
    "size32_full": (10000, 0.7884, 0.6255, 30),
    "size32": (500, 0.780, 0.622, 1),
    "size48": (500, 0.770, 0.586, 0),
    "size64": (500, 0.756, 0.596, 0),
}


@pytest.mark.parametrize("label", FILES)
def test_reproduces_the_published_numbers(label):
    row = summarize(label, read_certification(ORIGINAL / FILES[label]), 2 / 255)
    assert (row["images"], row["natural_accuracy"], row["certified_accuracy"], row["abstentions"]) == \
        pytest.approx(PUBLISHED[label], abs=1e-9)


def test_certified_accuracy_is_natural_at_zero_and_zero_past_the_ceiling():
    frame = read_certification(ORIGINAL / FILES["size32_full"])
    curve = certified_accuracy(frame, [0.0, 2 / 255, 0.00826, 0.01])
    assert curve[0] == pytest.approx(0.7884) and curve[1] == pytest.approx(0.6255)
    assert curve[2] == curve[3] == 0.0
    assert np.all(np.diff(certified_accuracy(frame, np.linspace(0, 0.01, 101))) <= 0)


def test_a_radius_equal_to_the_threshold_is_certified():
    frame = pd.DataFrame({"idx": [0, 1, 2], "label": [1, 2, 3], "predict": [1, 2, -1],
                          "radius": [2 / 255, 2 / 255 - 1e-12, 0.0], "correct": [1, 1, 0]})
    assert certified_accuracy(frame, [2 / 255]).tolist() == [1 / 3]
    assert summarize("x", frame, 2 / 255)["abstentions"] == 1


def test_every_nth_selects_the_figure_subset():
    frame = read_certification(ORIGINAL / FILES["size32_full"])
    subset = every_nth(frame, 20)
    assert len(subset) == 500 and (subset["idx"] % 20 == 0).all()


def test_table_has_runs_then_published_rows():
    table = benchmark_table({("a", AS_IN_FILE): read_certification(ORIGINAL / FILES["size32"])}, 2 / 255)
    assert list(table["source"]) == ["run"] + ["published"] * 7
    assert table.iloc[0]["certificate"] == AS_IN_FILE and table.iloc[1]["certificate"] == "blum"
    assert table.iloc[1]["certified_accuracy"] == pytest.approx(0.626)
    assert table.iloc[1]["natural_accuracy"] == pytest.approx(0.787)


def test_vary_dim_figure_draws_one_curve_per_run_and_the_marks(tmp_path):
    runs = {(label, AS_IN_FILE): read_certification(ORIGINAL / FILES[label])
            for label in ("size32", "size48", "size64")}
    radii = np.linspace(0, 0.01, 201)
    paths = [tmp_path / "f.png", tmp_path / "f.pdf"]
    fig = vary_dim_figure(runs, radii, 2 / 255, {"size32": 0.008252}, "CIFAR-10, ResNet110", paths)
    ax = fig.axes[0]
    curves = [line for line in ax.lines if len(line.get_xdata()) == len(radii)]
    assert [line.get_label() for line in curves] == [f"{label}, {AS_IN_FILE}" for label, _ in runs]
    marks = sorted(float(line.get_xdata()[0]) for line in ax.lines if line not in curves)
    assert marks == pytest.approx([2 / 255, 0.008252])
    assert ax.get_xlim() == (0.0, 0.01) and ax.get_ylim() == (0.0, 100.0)
    assert fig.subfigs[0]._suptitle.get_text() == "CIFAR-10, ResNet110"
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:4] == b"%PDF"
    np.testing.assert_allclose(curves[0].get_ydata(), 100 * certified_accuracy(runs["size32", AS_IN_FILE], radii))


@pytest.mark.slow
def test_analyze_script_on_the_originals_files(tmp_path):
    runs = [f"{label}={ORIGINAL / name}" for label, name in FILES.items()]
    noise = ["size32_full=0.12:3072", "size32=0.12:3072", "size48=0.18:6912", "size64=0.24:12288"]
    subprocess.run([sys.executable, str(ROOT / "scripts" / "analyze.py"), *runs, "--outdir", str(tmp_path),
                    "--noise", *noise, "--n", "100000", "--alpha", "0.001", "--radius-norm", "linf"], check=True,
                   capture_output=True)
    table = pd.read_csv(tmp_path / "benchmark.csv")
    assert {"label", "images", "natural_accuracy", "certified_accuracy", "abstentions"} <= set(table.columns)
    ours = table[table["source"] == "run"].set_index("label")
    for label, (images, natural, certified, abstentions) in PUBLISHED.items():
        assert (ours.loc[label, "images"], ours.loc[label, "abstentions"]) == (images, abstentions)
        assert ours.loc[label, "natural_accuracy"] == pytest.approx(natural)
        assert ours.loc[label, "certified_accuracy"] == pytest.approx(certified)
    grid = pd.read_csv(tmp_path / "certified_at_radii.csv", index_col="label")
    assert grid.loc["size32_full", f"{2 / 255:.6g}"] == pytest.approx(0.6255)
    for name in ("benchmark.md", "benchmark.tex", "vary_dim.png", "vary_dim.pdf", "certified_l2.png",
                 "certified_normalized.pdf", "certified_at_radii.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert "\\toprule" in (tmp_path / "benchmark.tex").read_text()


def test_normalized_radii_collapse_the_three_sizes():
    """The paper's claim on its own files: in units of sqrt(d)/sigma the three curves nearly
    coincide, and each ends at the same ceiling, inv_Phi(alpha^(1/N)) = 3.81."""
    noise = {"size32": (0.12, 3072), "size48": (0.18, 6912), "size64": (0.24, 12288)}
    curves = []
    for label, (sigma, d) in noise.items():
        frame = with_scaled_radii(read_certification(ORIGINAL / FILES[label]), sigma, d)
        assert frame["radius_over_sigma"].max() == pytest.approx(3.81, abs=0.01)
        curves.append(certified_accuracy(frame, np.linspace(0, 3.7, 38), "radius_over_sigma"))
    assert np.max(np.abs(np.array(curves) - np.mean(curves, axis=0))) < 0.05


def test_curve_and_training_figures_have_their_curves(tmp_path):
    runs = {(label, certificate): with_scaled_radii(read_certification(ORIGINAL / FILES[label]), s, d)
            for label, (s, d) in {"size32": (0.12, 3072), "size48": (0.18, 6912)}.items()
            for certificate in ("blum", "sound_top2")}
    fig = curve_figure(runs, np.linspace(0, 1, 50), "radius_l2", "l2 radius", "t", [tmp_path / "c.png"],
                       reference={"original": runs["size32", "blum"]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["size32, blum", "size32, sound_top2", "size48, blum",
                                                       "size48, sound_top2", "published: original"]
    styles = [line.get_linestyle() for line in ax.lines]
    assert styles[0] == styles[2] == "-" and styles[1] == styles[3] != "-"
    assert ax.lines[0].get_color() == ax.lines[1].get_color() != ax.lines[2].get_color()
    assert ax.lines[4].get_linewidth() > 2 * ax.lines[0].get_linewidth() and ax.lines[4].get_alpha() < 0.5
    assert ax.get_xlabel() == "l2 radius"
    history = pd.DataFrame({"epoch": [0, 1, 2], "lr": 0.1, "train_loss": [2.0, 1.5, 1.0],
                            "train_accuracy_noisy": [0.3, 0.5, 0.6], "test_accuracy_noisy": [0.3, 0.4, 0.5],
                            "test_accuracy_clean": [0.4, 0.6, 0.7], "seconds": 1.0})
    fig = training_figure({"a": history, "b": history}, "training", [tmp_path / "t.png", tmp_path / "t.pdf"])
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == 2 and len(acc_ax.lines) == 6
    assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylim() == (0.0, 100.0)
    assert (tmp_path / "t.png").stat().st_size > 0 and (tmp_path / "t.pdf").stat().st_size > 0


COHEN = ROOT / "reference" / "cohen"
COHEN_NUMBERS = {  # reference/cohen/README.md, computed there from the files
    0.12: dict(natural=0.8317, abstentions=324, l2=(0.5977, 0.0, 0.0), linf=0.3399),
    0.25: dict(natural=0.7665, abstentions=795, l2=(0.6116, 0.4225, 0.2506), linf=0.4783),
}


@pytest.mark.parametrize("sigma", COHEN_NUMBERS)
def test_cohens_l2_files_give_their_published_numbers(sigma):
    run = load_run(COHEN / f"cohen_full_sigma_{sigma}", Declared("l2", sigma, 3072, 100_000, 0.001))
    expected = COHEN_NUMBERS[sigma]
    row = summarize("cohen", run.frame, 2 / 255)
    assert (row["images"], row["abstentions"]) == (10_000, expected["abstentions"])
    assert row["natural_accuracy"] == pytest.approx(expected["natural"], abs=1e-9)
    assert row["certified_accuracy"] == pytest.approx(expected["linf"], abs=1e-9)
    np.testing.assert_allclose(certified_accuracy(run.frame, [0.25, 0.5, 0.75], "radius_l2"), expected["l2"], atol=1e-9)


def test_an_l2_file_read_as_linf_stops_with_one_line():
    messages = []
    for n, alpha in ((100_000, 0.001), (None, None)):
        with pytest.raises(ValueError) as error:
            load_run(COHEN / "cohen_full_sigma_0.12", Declared("linf", 0.12, 3072, n, alpha))
        message = str(error.value)
        assert "\n" not in message and "cohen_full_sigma_0.12: its l-inf radius 0.457 is more than it can be" in message
        assert "if the file's radius is l2, declare --radius-norm LABEL=l2" in message
        messages.append(message)
    assert "certify at most l2 0.457375 (l-inf 0.00825205 at d = 3072)" in messages[0]
    assert "at alpha <= 0.5 gets beyond l2 0.726848 (l-inf 0.0131139 at d = 3072)" in messages[1]


def cohen_like(tmp_path, largest_l2: float) -> Path:
    """A 500-image file in Cohen et al.'s format (l2 radius, time in seconds) whose largest
    radius is ``largest_l2``, like locuslab/smoothing's data/certify/cifar10/resnet110/
    noise_0.25/test/sigma_0.25 (0.978 at sigma 0.25; not copied here: that repository carries
    no licence)."""
    radii = np.linspace(0.0, largest_l2, 500)
    rows = [f"{20 * i}\t3\t{3 if r > 0 else -1}\t{r:.3g}\t{int(r > 0)}\t15.4" for i, r in enumerate(radii)]
    path = tmp_path / "sigma_0.25"
    path.write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n" + "\n".join(rows) + "\n")
    return path


def test_a_radius_beyond_the_stated_n_and_alpha_names_them_not_the_norm(tmp_path):
    """Cohen et al.'s own 500-image sigma = 0.25 file tops out at l2 0.978, beyond the 0.953 that
    N = 100,000 at alpha = 0.001 can certify: the stated N or alpha cannot be true."""
    path = cohen_like(tmp_path, 0.978)
    with pytest.raises(ValueError) as error:
        load_run(path, Declared("l2", 0.25, 3072, 100_000, 0.001))
    message = str(error.value)
    assert "\n" not in message and "sigma_0.25: its l2 radius 0.978 is more than it can be" in message
    assert "N = 100000 samples at alpha = 0.001 certify at most l2 0.952864" in message
    assert re.search(r"needs N >= 1392\d\d at alpha = 0.001 or alpha >= 0.0070\d at N = 100000", message)
    assert "--radius-norm" not in message and "leave both out where the file's are unknown" in message
    # Leaving out N and alpha (unknown), the file is analysed: no plausible run rules it out.
    run = load_run(path, Declared("l2", 0.25, 3072))
    assert run.frame["radius_l2"].max() == pytest.approx(0.978) and run.ceiling(AS_IN_FILE) is None
    # Far beyond any plausible N and alpha: sigma is wrong.
    with pytest.raises(ValueError, match=r"no certification up to N = 1000000000 at alpha <= 0.5 .* sigma >= 0.16"):
        load_run(path, Declared("l2", 0.12, 3072))


def test_a_foreign_file_is_analysed_only_with_what_the_user_states(tmp_path):
    path = COHEN / "cohen_full_sigma_0.12"
    with pytest.raises(ValueError, match="has no description: state the norm of its radius column"):
        load_run(path)
    with pytest.raises(ValueError, match=r"state the sigma and the input dimension d .* --noise LABEL=SIGMA:DIM"):
        load_run(path, Declared("l2"))
    with pytest.raises(ValueError, match=r"d = 6000 is not channels x size x size of an image with 1 or 3 channels"):
        load_run(path, Declared("l2", 0.12, 6000))


def test_an_linf_file_declared_l2_is_warned_of(caplog):
    """Its radii are sqrt(d) times too small: far below the ceiling every CIFAR-10 file reaches."""
    path = ORIGINAL / FILES["size32"]
    with caplog.at_level("WARNING"):
        load_run(path, Declared("l2", 0.12, 3072, 100_000, 0.001))
    assert "its largest l2 radius 0.00825 is 2% of the l2 0.457375" in caplog.text
    caplog.clear()
    load_run(path, Declared("linf", 0.12, 3072, 100_000, 0.001))
    assert caplog.text == ""


@pytest.mark.slow
def test_analyze_script_on_cohens_files(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "analyze.py"), f"cohen012={COHEN / 'cohen_full_sigma_0.12'}",
               f"cohen025={COHEN / 'cohen_full_sigma_0.25'}", "--outdir", str(tmp_path), "--only", "table",
               "--noise", "cohen012=0.12:3072", "cohen025=0.25:3072", "--n", "100000", "--alpha", "0.001"]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "state the norm of its radius column" in result.stderr
    subprocess.run(command + ["--radius-norm", "cohen012=l2", "cohen025=l2"], check=True, capture_output=True)
    result = subprocess.run(command + ["--radius-norm", "linf"], capture_output=True, text=True)
    assert result.returncode == 1 and "declare --radius-norm LABEL=l2" in result.stderr.splitlines()[-1]
    table = pd.read_csv(tmp_path / "benchmark.csv").set_index("label")
    assert table.loc["cohen012", "certified_accuracy"] == pytest.approx(0.3399)
    assert table.loc["cohen025", "certified_accuracy"] == pytest.approx(0.4783)


def test_a_published_row_can_be_computed_from_its_published_file(tmp_path):
    from linf_smoothing.analysis import write_tables

    method = "TRADES + Random Smoothing (Blum et al. 2020)"
    path = ORIGINAL / FILES["size32_full"]
    table = benchmark_table({}, 2 / 255, {method: (path, read_certification(path))})
    row = table.set_index("label").loc[method]
    assert (row["certified_accuracy"], row["natural_accuracy"], row["images"]) == pytest.approx((0.6255, 0.7884, 10000))
    assert row["computed_from"] == str(path)
    typed = table.set_index("label").loc["Salman et al. (2019)"]
    assert typed["certified_accuracy"] == pytest.approx(0.608) and pd.isna(typed["computed_from"])
    write_tables(table, tmp_path, 2 / 255)
    markdown = (tmp_path / "benchmark.md").read_text()
    assert f"{method} [computed from {path.name}]" in markdown and "not sound in general" in markdown
    with pytest.raises(ValueError, match="no published row is named 'Blum'"):
        benchmark_table({}, 2 / 255, {"Blum": (path, read_certification(path))})


def test_salmans_published_file_gives_the_papers_row(tmp_path):
    """reference/salman: SmoothAdv (DDN, 4 steps, m = 4, eps 255/256) at sigma 0.12, an l2 file:
    the paper's "Salman et al. (2019)" row, 60.76% / 82.10%, as the paper configuration
    computes it. Read as l-inf (the issue's fault: 81.96% with rc 0) it stops."""
    path = ROOT / "reference" / "salman" / "smoothadv_ddn4_m4_eps255_sigma_0.12"
    method = "Salman et al. (2019)"
    run = load_run(path, Declared("l2", 0.12, 3072, 100_000, 0.001))
    row = benchmark_table({}, 2 / 255, {method: (path, run.frame)}).set_index("label").loc[method]
    assert (row["certified_accuracy"], row["natural_accuracy"], row["images"], row["abstentions"]) == \
        pytest.approx((0.6076, 0.8210, 10000, 127))
    with pytest.raises(ValueError, match="if the file's radius is l2, declare --radius-norm LABEL=l2"):
        load_run(path, Declared("linf", 0.12, 3072))


def test_the_grid_table_gives_cohens_l2_numbers(tmp_path):
    """The l2 columns of the grid reproduce the l2 numbers of reference/cohen's README."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "analyze.py"), f"cohen025={COHEN / 'cohen_full_sigma_0.25'}",
                    "--outdir", str(tmp_path), "--only", "grid", "--noise", "cohen025=0.25:3072", "--n", "100000",
                    "--alpha", "0.001", "--radius-norm", "cohen025=l2", "--grid-radii", "0", str(2 / 255),
                    "--grid-radii-l2", "0.25", "0.5", "0.75"], check=True, capture_output=True)
    grid = pd.read_csv(tmp_path / "certified_at_radii.csv", index_col=["label", "certificate"])
    row = grid.loc[("cohen025", "as in file")]
    assert row[["l2 0.25", "l2 0.5", "l2 0.75"]].tolist() == pytest.approx([0.6116, 0.4225, 0.2506])
    assert row[f"{2 / 255:.6g}"] == pytest.approx(0.4783)
    assert "l2 r = 0.25" in (tmp_path / "certified_at_radii.md").read_text()


@pytest.mark.slow
def test_a_label_given_twice_or_a_declaration_for_no_file_is_one_line(tmp_path):
    script = [sys.executable, str(ROOT / "scripts" / "analyze.py"), "--outdir", str(tmp_path), "--only", "table"]
    a, b = ORIGINAL / FILES["size32"], ORIGINAL / FILES["size48"]
    for extra, message in (
            ([f"x={a}", f"x={b}", "--radius-norm", "linf", "--noise", "x=0.12:3072"],
             "the label 'x' is given to more than one file"),
            ([f"x={a}", "--published", f"x={b}", "--radius-norm", "linf", "--noise", "x=0.12:3072"],
             "the label 'x' is given to more than one file"),
            ([f"x={a}", "--radius-norm", "linf", "--noise", "x=0.12:3072", "y=0.18:6912"],
             "--noise, --radius-norm, --n, --alpha or --pixel-max names 'y', which labels no file")):
        result = subprocess.run(script + extra, capture_output=True, text=True)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not (tmp_path / "benchmark.csv").exists()
