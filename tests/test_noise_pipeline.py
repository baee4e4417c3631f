"""The smoothing noise in the workflow (issue 22): an experiment's ``noise:`` reaches training,
certification, PREDICT, the checker and the analysis; a Gaussian experiment keeps every options
string and identity it had; a configuration the library would refuse is refused at planning."""
from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from matplotlib.colors import to_rgb

from conftest import ROOT, load_yaml, merged
from linf_smoothing import training
from linf_smoothing.analysis import load_run
from linf_smoothing.certificates import certify_counts
from linf_smoothing.config import ConfigError, certify_settings, train_settings, validate_config
from linf_smoothing.data import random_crop_flip, to_float
from linf_smoothing.errors import ResultError
from linf_smoothing.methods import METHODS
from linf_smoothing.models import cifar_resnet
from linf_smoothing.noises import NOISES, Gaussian, Laplace, Uniform, make_noise, noise_from_description
from linf_smoothing.results import CertificationWriter, load_certification, read_description, write_description
from linf_smoothing.settings import as_dict, to_arguments
from linf_smoothing.shards import selected_images
from linf_smoothing.smoothing import Counts
from test_training import settings, tiny_data


@pytest.fixture
def noises_config(demo_config) -> dict:
    return merged(demo_config, load_yaml(ROOT / "profiles" / "noises" / "noises.yaml"))


# ---- configuration ---------------------------------------------------------------------------

def test_the_noises_profile_trains_every_noise_at_the_demos_sizes(noises_config, demo_config):
    validate_config(noises_config)
    experiments = noises_config["experiments"]
    assert {(e.get("noise", "gaussian"), e["image_size"]) for e in experiments} == {
        (noise, size) for noise in NOISES for size in (8, 12, 16)}
    assert len(experiments) == 3 * len(NOISES)
    demo_sigma = {e["image_size"]: e["sigma"] for e in demo_config["experiments"]}
    for exp in experiments:
        assert exp["method"] == "gaussian" and exp["sigma"] == demo_sigma[exp["image_size"]]
        certify = certify_settings(noises_config, exp["name"])
        assert certify.smoothing_noise(64) == train_settings(noises_config, exp["name"]).smoothing_noise(64)
        assert (certify.n0, certify.n, certify.alpha, certify.variant) == (100, 1000, 0.001, "cohen")


def test_a_gaussian_experiment_keeps_its_options_and_identity(demo_config, noises_config):
    """The noise's fields are left out of every options string and identity at the Gaussian
    default, so no finished run reruns; naming the Gaussian changes nothing; another noise adds
    exactly its name and parameters."""
    named = copy.deepcopy(demo_config)
    for exp in named["experiments"]:
        exp["noise"] = "gaussian"
    for name in ("size8", "size12", "size16"):
        for stage in (train_settings, certify_settings):
            plain, explicit = stage(demo_config, name), stage(named, name)
            assert "noise" not in to_arguments(plain) and "noise" not in as_dict(plain)
            assert to_arguments(explicit) == to_arguments(plain) and as_dict(explicit) == as_dict(plain)
    gengauss, gaussian = train_settings(noises_config, "gengauss3_16"), train_settings(noises_config, "gaussian16")
    assert to_arguments(gengauss) == to_arguments(gaussian).replace(
        "--sigma 0.5", "--sigma 0.5 --noise generalized_gaussian --noise-p 3.0")
    assert as_dict(certify_settings(noises_config, "gengauss3_16")).items() >= {
        "noise": "generalized_gaussian", "noise_p": 3.0}.items()


def _experiment(**keys):
    return lambda config: config["experiments"][0].update(keys)


def _macer_with(noise):
    def change(config):
        exp = config["experiments"][0]
        for key in ("epsilon", "beta", "attack_steps"):
            del exp[key]
        exp.update(method="macer", noise=noise, noise_copies=2, macer_lambda=1.0)
    return change


BAD_NOISES = [
    ("unknown noise", _experiment(noise="cauchy"), "experiments[0].noise: 'cauchy' is not one of ['gaussian',"),
    ("a parameter of another noise", _experiment(noise="laplace", noise_p=2.0),
     "experiments[0].noise_p: noise_p is a parameter of noise generalized_gaussian; experiment size8 uses noise "
     "laplace"),
    ("a missing parameter", _experiment(noise="generalized_gaussian"),
     "experiments[0]: experiment size8 uses noise generalized_gaussian, which needs noise_p"),
    ("a parameter out of its range", _experiment(noise="generalized_gaussian", noise_p=0.5),
     "experiments[0].noise_p: 0.5 is less than the minimum of 1"),
    ("a top-2 certificate of another noise", _experiment(noise="laplace"),
     "certify.variant: experiment size8 uses noise laplace, which the blum certificate does not certify (its "
     "certificates: cohen): set certify.variant: cohen"),
    ("no certificate shown of another noise",
     lambda c: (c["experiments"][0].update(noise="uniform"), c["certify"].update(variant="cohen")),
     "analysis.certificates: none of blum, sound_top2 certifies experiment size8's uniform noise: add cohen"),
    ("MACER with another noise", _macer_with("laplace"),
     "experiments[0].noise: method macer trains with Gaussian noise only (its robustness term"),
]


@pytest.mark.parametrize("what, change, message", BAD_NOISES, ids=[b[0] for b in BAD_NOISES])
def test_a_noise_the_library_would_refuse_is_refused_at_planning(demo_config, what, change, message):
    change(demo_config)
    with pytest.raises(ConfigError) as error:
        validate_config(demo_config)
    assert "\n" not in str(error.value)
    assert str(error.value).startswith(f"config key {message}")


def test_macer_takes_the_gaussian_and_refuses_another_noise_by_hand():
    """The planning check's rule, where train.py is run by hand: TrainSettings refuses it."""
    assert settings(method="macer").smoothing_noise(36) == Gaussian(0.25, 36)
    with pytest.raises(ValueError, match="method macer trains with Gaussian noise only"):
        settings(method="macer", noise="uniform")


def test_the_workflow_names_the_file_that_set_the_key(tmp_path):
    """A refusal's key leads to the file that set it, which the workflow names (as for every
    configuration error): the overlay that set the noise, or the one that set the certificates."""
    from linf_smoothing.config import config_source

    demo = ROOT / "profiles" / "demo" / "demo.yaml"
    overlay = tmp_path / "overlay.yaml"
    experiments = load_yaml(demo)["experiments"]
    experiments[0]["noise"] = "laplace"
    overlay.write_text(yaml.safe_dump({"experiments": experiments, "certify": {"variant": "cohen"}}))
    files = [ROOT / "config.yaml", demo, overlay]
    config = merged(merged(load_yaml(files[0]), load_yaml(demo)), load_yaml(overlay))
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert config_source(files, error.value.key) == str(demo)  # analysis.certificates: [blum, sound_top2]
    _macer_with("laplace")(config)
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert error.value.key == ("experiments", 0, "noise") and config_source(files, error.value.key) == str(overlay)


# ---- training ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_training_step_draws_the_experiments_noise(monkeypatch):
    """The loop's eta is a draw of the experiment's noise from the training generator, right
    after the crop and flip (the Gaussian's draw order, so its models stay bit for bit)."""
    images, labels = tiny_data(8)
    trained = settings(method="gaussian", beta=0.0, attack_steps=0, noise="uniform")
    seen = {}

    def loss(model, x, y, eta, drawn, settings, generator, attack_model, epoch=0):
        seen["eta"] = eta
        return model(x + eta).sum() * 0

    monkeypatch.setattr(METHODS["gaussian"], "loss", loss)
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    training.train_step(model, torch.optim.SGD(model.parameters(), lr=0.1), torch.from_numpy(images),
                        torch.from_numpy(labels), trained, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    x = random_crop_flip(to_float(torch.from_numpy(images)), trained.crop_padding, generator)
    assert torch.equal(seen["eta"], Uniform(0.25, 36).sample(x.shape, generator=generator))


@pytest.mark.parametrize("method, keys", [("consistency", {"consistency_lambda": 1.0}), ("smoothadv", {})])
def test_the_extra_noise_copies_are_the_experiments_noise(method, keys):
    x = torch.rand(5, 1, 6, 6)
    chosen = settings(method=method, noise="laplace", noise_copies=3, **keys)
    drawn = METHODS[method].draw(x, chosen, torch.Generator().manual_seed(1))
    expected = Laplace(0.25, 36).sample((5, 2, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    assert torch.equal(drawn, expected)


@pytest.mark.slow
def test_the_epochs_noisy_accuracies_draw_the_experiments_noise(monkeypatch):
    drawn_from = []
    real = training.accuracy

    def accuracy(model, images, labels, noise, *args, **kwargs):
        drawn_from.append(noise)
        return real(model, images, labels, noise, *args, **kwargs)

    monkeypatch.setattr(training, "accuracy", accuracy)
    images, labels = tiny_data(16)
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    training.train(model, images, labels, images, labels,
                   settings(method="gaussian", beta=0.0, attack_steps=0, epochs=1, noise="expinf"), torch.device("cpu"))
    assert drawn_from == [make_noise("expinf", 0.25, 36), make_noise("expinf", 0.25, 36), None]  # train, test, clean


# ---- certification files -----------------------------------------------------------------------

def description(noise: dict | None = None, variant="cohen") -> dict:
    """What certify.py writes beside a certification (the fields the checks read)."""
    return {"sigma": 0.5, "dimension": 64, "n0": 20, "n": 200, "alpha": 0.01, "variant": variant, "seed": 0,
            "skip": 1, "max_images": None, "test_images": 12, "num_classes": 4, "dataset": "digits",
            "image_size": 8, **(noise or {})}


def certify_rows(path, described: dict, seed=0):
    """A certification file as certify.py writes it: random counts, each row's certificate
    computed from them under the described noise."""
    rng = np.random.default_rng(seed)
    noise = noise_from_description(described, described["sigma"], described["dimension"])
    with CertificationWriter(path, described) as writer:
        for idx in selected_images(described["test_images"], described["skip"]):
            p = rng.dirichlet([30.0, 1.0, 1.0, 0.5])
            counts = Counts(rng.multinomial(described["n0"], p), rng.multinomial(described["n"], p))
            cert = certify_counts(counts.selection, counts.estimation, described["sigma"], described["alpha"],
                                  described["variant"], described["dimension"], noise)
            writer.write(idx, int(rng.integers(0, 2)), cert, 0.1, counts)
    return path


@pytest.mark.parametrize("noise", [{"noise": "laplace"}, {"noise": "generalized_gaussian", "noise_p": 3.0}])
def test_the_checker_recomputes_every_radius_with_the_described_noise(tmp_path, noise):
    path = certify_rows(tmp_path / "run.tsv", description(noise))
    frame, described = load_certification(path)
    assert (frame["radius"] > 0).any()
    # the same rows described as another noise (digest rewritten): the radii are not that noise's
    described["noise"] = "uniform"
    described.pop("noise_p", None)
    write_description(path, described)
    with pytest.raises(ResultError, match=r"row 1 \(image 0\): radius .* is not the .* that the counts give with "
                                          r"the description's noise uniform, sigma 0.5"):
        load_certification(path)


def test_a_gaussian_description_names_no_noise(tmp_path):
    path = certify_rows(tmp_path / "run.tsv", description(variant="blum"))
    assert "noise" not in read_description(path)
    load_certification(path)


def test_the_analysis_gives_every_norms_radius_from_the_counts(tmp_path):
    """A non-Gaussian file gives its top-1 certificate alone, with the noise's radius in each
    norm; a Gaussian file every variant, with l1 = l2 = sqrt(d) l-inf; the ceilings are the
    noise's in each norm."""
    laplace = load_run(certify_rows(tmp_path / "laplace.tsv", description({"noise": "laplace"})))
    assert laplace.variants == ("cohen",)
    frame = laplace.certified("cohen")
    noise, certified = Laplace(0.5, 64), frame["predict"] != -1
    assert certified.sum() >= 6
    for norm, column in (("l1", "radius_l1"), ("l2", "radius_l2"), ("linf", "radius")):
        expected = np.where(certified, noise.radius(frame["pa_lower"].to_numpy(), norm), 0.0)
        np.testing.assert_allclose(frame[column], expected, rtol=1e-12)
        assert laplace.ceiling("cohen", norm) == noise.ceiling(200, 0.01, norm)
    with pytest.raises(ValueError, match="cannot give the blum certificate: it gives cohen"):
        laplace.certified("blum")

    gaussian = load_run(certify_rows(tmp_path / "gaussian.tsv", description(variant="blum")))
    assert gaussian.variants == ("blum", "cohen", "sound_top2")
    for variant in gaussian.variants:
        frame = gaussian.certified(variant)
        np.testing.assert_array_equal(frame["radius_l1"], frame["radius_l2"])
        np.testing.assert_allclose(frame["radius"], frame["radius_l2"] / 8, rtol=1e-15)
    pd.testing.assert_frame_equal(gaussian.certified("blum").drop(columns="radius_l1"), gaussian.frame)


# ---- the scripts -------------------------------------------------------------------------------

@pytest.mark.slow
def test_certify_and_predict_sample_the_experiments_noise(tmp_path):
    """certify.py and predict.py with --noise: the description names the noise, every radius is
    the noise's, a top-2 certificate is refused before any sampling."""
    from test_scripts import trained_model

    trained_model(tmp_path)
    common = ["--model", str(tmp_path / "m.pt"), "--test-data", str(tmp_path / "test.npz"), "--sigma", "0.25",
              "--noise", "uniform", "--n", "200", "--alpha", "0.01", "--batch-size", "64", "--device", "cpu",
              "--max-images", "4"]
    certify = [sys.executable, str(ROOT / "scripts" / "certify.py"), *common, "--n0", "20"]
    refused = subprocess.run(certify + ["--variant", "blum", "--out", str(tmp_path / "b.tsv")], capture_output=True,
                             text=True)
    assert refused.returncode == 1 and not (tmp_path / "b.tsv").exists()
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: the blum certificate is a top-2 form proven for Gaussian noise only: certify the uniform noise "
        "with the cohen certificate")
    result = subprocess.run(certify + ["--variant", "cohen", "--out", str(tmp_path / "u.tsv")], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert "sampling the noise {'noise': 'uniform'} with a model trained with the noise {'noise': 'gaussian'}" in \
        result.stderr
    frame, described = load_certification(tmp_path / "u.tsv", shard=True)  # as certify.py writes it
    assert described["noise"] == "uniform" and "noise_p" not in described
    np.testing.assert_allclose(frame["radius"], np.where(frame["predict"] != -1, Uniform(0.25, 36).radius(
        frame["pa_lower"].to_numpy(), "linf"), 0.0), rtol=1e-12)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "predict.py"), *common, "--out", str(tmp_path / "p.tsv")],
                   check=True, capture_output=True)
    assert json.loads((tmp_path / "p.tsv.json").read_text())["noise"] == "uniform"


def test_every_noise_parameter_is_a_setting_a_schema_key_and_named():
    """docs/noises.md's recipe for a noise with a parameter x: the setting noise_x of
    NoiseSettings (shared by every stage) and the schema's experiment key noise_x; and its name
    in the tables and figures."""
    from linf_smoothing.analysis import NOISE_NAMES
    from linf_smoothing.config import load_schema
    from linf_smoothing.settings import CertifySettings, NoiseSettings, PredictSettings, TrainSettings

    keys = {key for cls in NOISES.values() for key in cls.parameter_keys()}
    assert {f.name for f in dataclasses.fields(NoiseSettings)} == {"sigma", "noise", *keys}
    for cls in (TrainSettings, CertifySettings, PredictSettings):
        assert issubclass(cls, NoiseSettings)
    experiment = load_schema()["properties"]["experiments"]["items"]["properties"]
    assert keys | {"noise"} <= set(experiment) and experiment["noise"]["enum"] == list(NOISES)
    assert set(NOISE_NAMES) == set(NOISES)


# ---- the noise table and Kumar et al.'s published counts ---------------------------------------

def test_the_noise_table_gives_each_run_its_accuracies_radii_and_limits(tmp_path):
    from linf_smoothing.analysis import certified_runs
    from linf_smoothing.noise_comparison import noise_table, write_noise_table

    runs = {name: load_run(certify_rows(tmp_path / f"{name}.tsv", description({"noise": name}), seed=i))
            for i, name in enumerate(["expinf", "laplace"])}
    table = noise_table(runs, certified_runs(runs, ["cohen"]), 2 / 255)
    assert list(table["label"]) == ["laplace", "expinf"]  # the registry's order
    for row in table.itertuples():
        frame = runs[row.label].certified("cohen")
        radius = 2 / 255 * 8
        assert row.certified_linf == ((frame["radius"] >= 2 / 255) & (frame["correct"] == 1)).mean()
        assert row.certified_l1 == ((frame["radius_l1"] >= radius) & (frame["correct"] == 1)).mean()
        assert row.acr_l2 == pytest.approx((frame["radius_l2"] * frame["correct"]).mean(), rel=1e-12)
        assert row.median_linf_normalized == pytest.approx(
            np.median(frame["radius"] * frame["correct"]) * 8 / 0.5, rel=1e-12)
        noise = make_noise(row.noise, 0.5, 64)
        for norm in ("l1", "l2", "linf"):
            assert getattr(row, f"ceiling_{norm}") == noise.ceiling(200, 0.01, norm)
    # Kumar et al.'s Theorem 1 at the largest pA the run can certify, 0.01^(1/200): i.i.d. noises only
    top = 0.01 ** (1 / 200)
    assert table.loc[0, "kumar_linf"] == pytest.approx(0.5 / (np.sqrt(2 * (1 - top)) * 8), rel=1e-12)
    assert np.isnan(table.loc[1, "kumar_linf"])
    csv, md, html = write_noise_table(table, tmp_path / "out", 2 / 255)
    pd.testing.assert_frame_equal(pd.read_csv(csv), table, check_dtype=False)
    lines = md.read_text().splitlines()
    assert lines[2].startswith("| Laplace | laplace | 8, 64 | 0.5 | ") and lines[3].startswith("| exp(-‖x‖∞/λ) |")
    assert lines[3].endswith(" | – |")  # no Kumar bound for dependent coordinates
    assert html.name == "noises.html" and "<td>exp(-‖x‖∞/λ)</td>" in html.read_text()


def kumar_file(path, counts, labels, sigma=0.25, dimension=192, p=3, n=100_000, alpha=0.001):
    """A certification file in Kumar et al.'s format, written as their code/certify.py writes it
    (github.com/alevine0/smoothingGenGaussian cc8c1ba: the header of certify.py:44-47, the row
    format of :76-77, the bounds of code/core.py:79-83 with statsmodels' interval)."""
    import math

    from statsmodels.stats.proportion import proportion_confint

    lines = ["idx\tlabel\tpredict\tcount\tany_iid_distribution_bound\tgeneralized_gaussian_bound_over_c\tcorrect\t"
             "time"]
    for i, (count, label) in enumerate(zip(counts, labels)):
        p_a = proportion_confint(count, n, alpha=2 * alpha, method="beta")[0]
        if p_a < 0.5:
            prediction, radius_gen, radius_over_c = -1, 0.0, 0.0
        else:
            prediction = 3
            radius_gen = sigma / (math.sqrt(2 * (1. - p_a)) * pow(dimension, .5 - (1. / p)))
            radius_over_c = sigma * 2 * math.sqrt(math.log(1. / (1. - p_a))) / (pow(dimension, .5 - (1. / p)))
        lines.append("{}\t{}\t{}\t{}\t{:.5}\t{:.5}\t{}\t{}".format(
            20 * i, label, prediction, count, radius_gen, radius_over_c, int(prediction == label), "0:00:16.14"))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_kumar_et_als_counts_give_our_certificate_of_their_noise(tmp_path):
    from linf_smoothing.bounds import clopper_pearson
    from linf_smoothing.noise_comparison import load_kumar_results

    counts = [26789, 69166, 99752, 100_000, 96658]
    path = kumar_file(tmp_path / "sigma_0.25_p_3_scale_8", counts, [3, 3, 3, 7, 3])
    run = load_kumar_results(path, 3.0, 0.25, 192, 100_000, 0.001)
    frame = run.certified(run.variants[0])
    noise = make_noise("generalized_gaussian", 0.25, 192, p=3.0)
    pa_lower = clopper_pearson(np.array(counts), 100_000, 0.001)[0]
    assert list(frame["predict"]) == [-1, 3, 3, 3, 3] and list(frame["correct"]) == [0, 1, 1, 0, 1]
    for norm, column in (("l1", "radius_l1"), ("l2", "radius_l2"), ("linf", "radius")):
        np.testing.assert_allclose(frame[column], [0.0, *noise.radius(pa_lower[1:], norm)], rtol=1e-12)
    assert run.ceiling(run.variants[0], "linf") == noise.ceiling(100_000, 0.001, "linf")
    # what the user states is checked against the file's own printed bound
    for wrong in [dict(n=50_000), dict(n=200_000), dict(alpha=0.01), dict(sigma=0.5), dict(dimension=768), dict(p=4.0)]:
        stated = dict(p=3.0, sigma=0.25, dimension=192, n=100_000, alpha=0.001) | wrong
        with pytest.raises(ValueError, match=r"row 2 \(image 20\): count 69166 .* state the file's "
                                             r"N, alpha, sigma, d and p") as error:
            load_kumar_results(path, **stated)
        assert "\n" not in str(error.value)
    (tmp_path / "other").write_text("idx\tlabel\tpredict\tradius\tcorrect\ttime\n0\t3\t3\t0.5\t1\t1.0\n")
    with pytest.raises(ValueError, match=r"is not a certification file of Kumar et al. .* \['count', "):
        load_kumar_results(tmp_path / "other", 3.0, 0.25, 192, 100_000, 0.001)


@pytest.mark.slow
def test_analyze_writes_the_noise_table_where_the_files_have_several_noises_with_kumars_rows(tmp_path):
    """Guards: analyze.py's default leaves the noise outputs out for one noise (the demo's
    outputs stay as they were) and writes them for two; --kumar adds a published row from Kumar
    et al.'s file, their N and alpha unless stated; a wrong statement ends in one line."""
    from conftest import run_script

    analyze = ROOT / "scripts" / "analyze.py"
    laplace = certify_rows(tmp_path / "laplace.tsv", description({"noise": "laplace"}))
    gaussian = certify_rows(tmp_path / "gaussian.tsv", description(), seed=1)
    kumar = kumar_file(tmp_path / "noise_0.25_p_3", [26789, 69166, 99752], [3, 3, 7])
    options = ["--certificates", "cohen", "--only"]
    one = run_script(analyze, f"laplace={laplace}", "--certificates", "cohen", "--outdir", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    assert (tmp_path / "one" / "benchmark.csv").exists() and not (tmp_path / "one" / "noises.csv").exists()
    two = run_script(analyze, f"laplace={laplace}", f"gaussian={gaussian}", *options, "noises_table",
                     "--kumar", f"theirs={kumar}:3:0.25:192", "--outdir", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    table = pd.read_csv(tmp_path / "two" / "noises.csv")
    assert list(table["label"]) == ["gaussian", "laplace", "theirs"]
    assert list(table["source"]) == ["run", "run", "published"] and table["n"].iloc[2] == 100_000
    assert table["noise"].iloc[2] == "generalized_gaussian" and table["computed_from"].iloc[2] == str(kumar)
    wrong = run_script(analyze, f"laplace={laplace}", *options, "noises_table", "--kumar",
                       f"theirs={kumar}:3:0.25:192", "--n", "theirs=50000", "--outdir", str(tmp_path / "wrong"))
    assert wrong.returncode == 1
    assert "state the file's N, alpha, sigma, d and p" in wrong.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "wrong" / "noises.csv").exists()


def test_a_runs_training_method_names_its_noise_where_not_the_gaussian():
    """Tables and figures group runs by this label (the methods table's rows, the panels and the
    training curves' rows): runs of one method under two noises are two groups."""
    from linf_smoothing.analysis import training_method_label

    assert training_method_label({"method": "gaussian", "noise_copies": 2}) == "Gaussian augmentation"
    assert (training_method_label({"method": "gaussian", "noise": "generalized_gaussian", "noise_p": 3.0})
            == "generalized Gaussian (p = 3) augmentation")
    assert training_method_label({"method": "trades", "noise": "laplace"}) == "TRADES + Laplace noise"
    assert (training_method_label({"method": "smoothadv", "noise": "laplace", "noise_copies": 4})
            == "SmoothAdv (PGD), Laplace noise")


# ---- the noise figures -------------------------------------------------------------------------

def noise_runs(tmp_path) -> dict:
    """Gaussian, cube and l2-ball runs at sizes 8 and 16 (sigma proportional to the size), given
    in another order than the registry's."""
    runs = {}
    for i, (noise, size) in enumerate((n, s) for n in ("uniform_ball", "uniform", "gaussian") for s in (16, 8)):
        described = description(None if noise == "gaussian" else {"noise": noise}) | {
            "image_size": size, "dimension": size * size, "sigma": size / 32}
        runs[f"{noise}{size}"] = load_run(certify_rows(tmp_path / f"{noise}{size}.tsv", described, seed=i))
    return runs


@pytest.mark.slow
def test_the_noise_figures_show_each_noise_its_limits_and_the_median_against_d(tmp_path, monkeypatch):
    """Guards: a panel per noise in the registry's order, a curve per size in the size's colour,
    on a log radius axis; each run's ceiling and (i.i.d. noises alone) Kumar et al.'s bound at
    their closed forms in the run's colour, the threshold black; no legend or title over data;
    the median figure's points are the table's, and Kumar's bound is flat in its unit."""
    from test_figures import assert_nothing_overlaps, vertical_marks

    from linf_smoothing import figures
    from linf_smoothing.analysis import certified_runs
    from linf_smoothing.figures import FigureSet
    from linf_smoothing.noise_comparison import noise_table
    from linf_smoothing.settings import AnalysisSettings

    drawn = {}
    for name in ("curve_figure", "median_figure"):
        def record(*args, _draw=getattr(figures, name), _name=name, **kwargs):
            drawn[_name] = _draw(*args, **kwargs)
            return drawn[_name]
        monkeypatch.setattr(figures, name, record)
    monkeypatch.setattr(figures, "_save", lambda fig, paths: None)
    runs = noise_runs(tmp_path)
    certified = certified_runs(runs, ["cohen"])
    settings = AnalysisSettings(certificates=("cohen",), linf_threshold=2 / 255)
    FigureSet(runs, certified, {label: 12 for label in runs}, settings, tmp_path).noises_figures()

    fig = drawn["curve_figure"]
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Gaussian", "uniform (cube)", "uniform (ℓ2 ball)"]
    top = 0.01 ** (1 / 200)  # the largest pA that N = 200 and alpha = 0.01 certify
    colours = {}
    for ax, noise in zip(panels, ("gaussian", "uniform", "uniform_ball")):
        assert ax.get_xscale() == "log"
        curves = {line.get_label().split(",")[0]: line for line in ax.lines if line.get_label().endswith(", cohen")}
        assert set(curves) == {f"{noise}8", f"{noise}16"}
        marks = vertical_marks(ax)
        assert [m for m in marks if m[1] == (0.0, 0.0, 0.0)] == [(2 / 255, (0.0, 0.0, 0.0), "-")]
        for label, curve in curves.items():
            colour = colours.setdefault(label[-2:], curve.get_color())  # the size's colour in every panel
            assert curve.get_color() == colour
            run = runs[label]
            ceiling = run.noise.ceiling(200, 0.01, "linf")
            kumar = run.sigma / (np.sqrt(2 * (1 - top)) * np.sqrt(run.dimension))
            at = {x for x, c, _ in marks if c == to_rgb(colour)}
            assert any(x == pytest.approx(ceiling, rel=1e-9) for x in at)
            assert any(x == pytest.approx(kumar, rel=1e-9) for x in at) == run.noise.iid
    assert_nothing_overlaps(fig)

    median = drawn["median_figure"]
    ax = median.axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    table = noise_table(runs, certified, 2 / 255)
    for name, rows in table.groupby("noise_name"):
        line = next(line for line in ax.lines if line.get_label() == f"median {name}")
        shown = rows[rows["median_linf_normalized"] > 0].sort_values("dimension")
        assert list(line.get_xdata()) == list(shown["dimension"])
        np.testing.assert_allclose(line.get_ydata(), shown["median_linf_normalized"], rtol=1e-12)
    bound = [line for line in ax.lines if line.get_label() == "Kumar et al.'s bound"]
    assert len(bound) == 1  # one line: the bound in this unit depends on N and alpha alone
    np.testing.assert_allclose(bound[0].get_ydata(), 1 / np.sqrt(2 * (1 - top)), rtol=1e-9)
    assert_nothing_overlaps(median)


def test_a_sizes_legend_entry_gives_the_range_of_its_runs_ceilings():
    """Colour by size, marker by method: a size's entry merges its runs' facts, and six noises'
    ceilings joined by "or" made the legend wider than the panels."""
    from linf_smoothing.figures import _merged

    facts = [{"noise": "σ 0.25, d 64", "ceiling": f"ceiling {c}"} for c in (0.07698, 0.009146, 0.05465)]
    assert _merged(facts) == "σ 0.25, d 64, ceiling 0.009146–0.07698"
    assert _merged(facts[:2]) == "σ 0.25, d 64, ceiling 0.07698 or ceiling 0.009146"


def test_the_l2_figures_mark_each_runs_own_l2_ceiling(tmp_path, monkeypatch):
    """Guard: FigureSet.ceiling. The l2 and normalized figures mark each run's ceiling in their
    norm: the noise's own l2 ceiling (the cube's is its l-inf ceiling, not sqrt(d) times it, by
    the norm inequality), which is the l-inf one times sqrt(d) for the Gaussian alone."""
    from test_figures import vertical_marks

    from linf_smoothing import figures
    from linf_smoothing.analysis import certified_runs
    from linf_smoothing.figures import FigureSet
    from linf_smoothing.settings import AnalysisSettings

    drawn = []
    monkeypatch.setattr(figures, "curve_figure", lambda *a, _draw=figures.curve_figure, **k: drawn.append(
        _draw(*a, **k)) or drawn[-1])
    monkeypatch.setattr(figures, "_save", lambda fig, paths: None)
    runs = noise_runs(tmp_path)
    certified = certified_runs(runs, ["cohen"])
    settings = AnalysisSettings(certificates=("cohen",), linf_threshold=2 / 255)
    FigureSet(runs, certified, {label: 12 for label in runs}, settings, tmp_path).radius_figures()
    l2, normalized = drawn
    for fig, per_sigma in ((l2, False), (normalized, True)):
        marks = {round(x, 9) for ax in fig.axes for x, _, style in vertical_marks(ax)}
        for label, run in runs.items():
            ceiling = run.noise.ceiling(200, 0.01, "l2") / (run.sigma if per_sigma else 1)
            assert round(ceiling, 9) in marks, (label, ceiling)
        cube = runs["uniform16"]
        assert round(cube.noise.ceiling(200, 0.01, "linf") * np.sqrt(cube.dimension), 9) not in marks
