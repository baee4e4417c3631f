import copy

import pytest

from linf_smoothing.config import (
    ConfigError,
    analysis_settings,
    certify_settings,
    experiment_training,
    train_settings,
    validate_config,
)


def test_paper_config_is_valid_and_is_the_papers(paper_config):
    validate_config(paper_config)
    experiments = {e["name"]: e for e in paper_config["experiments"]}
    assert {n: (e["image_size"], e["sigma"], e["epsilon"], e["beta"], e["attack_steps"])
            for n, e in experiments.items()} == {
        "size32": (32, 0.12, 0.435, 6.0, 10),
        "size48": (48, 0.18, 0.6525, 6.0, 10),
        "size64": (64, 0.24, 0.87, 6.0, 10)}
    # The table needs every test image at size 32; the figure every 20th at each size.
    assert [experiments[n]["skip"] for n in ("size32", "size48", "size64")] == [1, 20, 20]
    assert paper_config["analysis"]["figure_skip"] == 20
    train = paper_config["training"]
    assert train["architecture"] == {"depth": 110, "widths": [16, 32, 64]}
    assert (train["epochs"], train["batch_size"], train["lr"], train["momentum"], train["weight_decay"]) == \
        (55, 256, 0.1, 0.9, 1e-4)
    assert (train["lr_milestones"], train["lr_gamma"], train["crop_padding"], train["seed"]) == ([50], 0.1, 4, 1)
    certify = paper_config["certify"]
    assert (certify["variant"], certify["n0"], certify["n"], certify["alpha"], certify["batch_size"]) == \
        ("blum", 1000, 100_000, 0.001, 10_000)
    assert paper_config["analysis"]["linf_threshold"] == pytest.approx(2 / 255, abs=1e-15)


def test_demo_overlay_is_valid(demo_config):
    validate_config(demo_config)
    assert demo_config["dataset"] == "digits"


def test_baseline_overlay_adds_gaussian_augmentation_beside_the_demo(demo_config):
    from conftest import ROOT, load_yaml, merged

    config = merged(demo_config, load_yaml(ROOT / "profiles" / "baseline" / "baseline.yaml"))
    validate_config(config)
    # The demo's TRADES experiments are the demo's own, so their models are the demo's.
    assert config["experiments"][:3] == demo_config["experiments"]
    for trades, gaussian in zip(config["experiments"][:3], config["experiments"][3:]):
        assert train_settings(config, gaussian["name"]).method == "gaussian"
        assert (gaussian["image_size"], gaussian["sigma"]) == (trades["image_size"], trades["sigma"])


def test_paper_sigma_and_epsilon_scale_with_size(paper_config, demo_config):
    for config, channels in ((paper_config, 3), (demo_config, 1)):
        for exp in config["experiments"]:
            d = channels * exp["image_size"] ** 2
            assert exp["epsilon"] / d ** 0.5 == pytest.approx(2 / 255, rel=2e-3)
        ratios = {exp["sigma"] / exp["image_size"] for exp in config["experiments"]}
        assert max(ratios) == pytest.approx(min(ratios))


def test_experiment_training_overrides(paper_config):
    paper_config["experiments"][0]["training"] = {"epochs": 3}
    paper_config["experiments"][0]["allow_degenerate"] = True  # the shared milestone 50 lies past its 3 epochs
    validate_config(paper_config)
    assert experiment_training(paper_config, "size32")["epochs"] == 3
    assert experiment_training(paper_config, "size48")["epochs"] == 55


def test_gaussian_baseline_is_a_named_method(paper_config):
    paper_config["experiments"].append(
        {"name": "size32_gaussian", "method": "gaussian", "image_size": 32, "sigma": 0.12, "skip": 1})
    validate_config(paper_config)
    settings = train_settings(paper_config, "size32_gaussian")
    assert (settings.method, settings.sigma, settings.beta, settings.attack_steps) == ("gaussian", 0.12, 0.0, 0)
    paper_config["experiments"][-1]["beta"] = 6.0
    with pytest.raises(ConfigError, match="config key experiments\\[3\\]"):
        validate_config(paper_config)


def test_settings_carry_every_configured_value(paper_config):
    """Each stage's settings come from the configuration by name, the experiment's own
    training overrides included, and survive the round trip through the script's options."""
    import argparse

    from linf_smoothing.settings import (
        AnalysisSettings,
        CertifySettings,
        TrainSettings,
        add_arguments,
        from_arguments,
        to_arguments,
    )

    paper_config["experiments"][1]["training"] = {"epochs": 3, "architecture": {"depth": 20, "widths": [8, 8, 8]}}
    paper_config["experiments"][1]["allow_degenerate"] = True  # the shared milestone 50 lies past its 3 epochs
    validate_config(paper_config)
    train = train_settings(paper_config, "size48")
    assert (train.sigma, train.epsilon, train.beta, train.attack_steps, train.epochs, train.depth, train.widths) == \
        (0.18, 0.6525, 6.0, 10, 3, 20, (8, 8, 8))
    assert (train.lr_milestones, train.weight_decay, train.method) == ((50,), 1e-4, "trades")
    certify = certify_settings(paper_config, "size32")
    assert (certify.sigma, certify.n0, certify.n, certify.alpha, certify.skip, certify.compile) == \
        (0.12, 1000, 100_000, 0.001, 1, True)
    analysis = analysis_settings(paper_config)
    assert analysis.certificates == ("blum", "sound_top2") and analysis.grid_radii[-1] == 0.008
    for cls, settings in ((TrainSettings, train), (CertifySettings, certify), (AnalysisSettings, analysis)):
        parser = argparse.ArgumentParser()
        add_arguments(parser, cls)
        import shlex
        assert from_arguments(cls, parser.parse_args(shlex.split(to_arguments(settings)))) == settings


def _set(config, path, value):
    target = config
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()
BAD = [
    # (what is wrong, where, value, the key the message must name)
    ("wrong type", ("certify", "n"), "many", "certify.n"),
    ("unknown key", ("certify", "samples"), 10, "certify"),
    ("sigma <= 0", ("experiments", 1, "sigma"), 0.0, "experiments[1].sigma"),
    ("negative sigma", ("experiments", 0, "sigma"), -0.1, "experiments[0].sigma"),
    ("N0 > N", ("certify", "n0"), 200_000, "certify.n0"),
    ("alpha = 0", ("certify", "alpha"), 0.0, "certify.alpha"),
    ("alpha = 1", ("certify", "alpha"), 1.0, "certify.alpha"),
    ("unknown dataset", ("dataset",), "imagenet", "dataset"),
    ("duplicate names", ("experiments", 2, "name"), "size32", "experiments[2].name"),
    ("empty experiment list", ("experiments",), [], "experiments"),
    ("batch <= 0", ("training", "batch_size"), 0, "training.batch_size"),
    ("certify batch <= 0", ("certify", "batch_size"), -5, "certify.batch_size"),
    ("missing required key", ("certify", "alpha"), _DELETE, "certify"),
    ("missing experiment key", ("experiments", 0, "epsilon"), _DELETE, "experiments[0]"),
    ("missing method", ("experiments", 0, "method"), _DELETE, "experiments[0]"),
    ("unknown method", ("experiments", 0, "method"), "mart", "experiments[0].method"),
    ("unknown certificate", ("analysis", "certificates"), ["blum", "top3"], "analysis.certificates[1]"),
    ("bad depth", ("training", "architecture", "depth"), 100, "training.architecture.depth"),
    ("beta without attack", ("experiments", 0, "attack_steps"), 0, "experiments[0].attack_steps"),
    ("unknown variant", ("certify", "variant"), "salman", "certify.variant"),
    ("unknown device", ("device",), "tpu", "device"),
    ("no shards", ("certify", "shards"), 0, "certify.shards"),
    ("experiment with no shards", ("experiments", 0, "shards"), 0, "experiments[0].shards"),
    ("more processes than batch rows", ("training", "processes"), 512, "experiments[0]"),
    ("no processes", ("training", "processes"), 0, "training.processes"),
    ("NaN sigma", ("experiments", 1, "sigma"), float("nan"), "experiments[1].sigma"),
    ("infinite sigma", ("experiments", 0, "sigma"), float("inf"), "experiments[0].sigma"),
    ("NaN alpha", ("certify", "alpha"), float("nan"), "certify.alpha"),
    ("NaN threshold", ("analysis", "linf_threshold"), float("nan"), "analysis.linf_threshold"),
    ("NaN grid radius", ("analysis", "grid_radii", 2), float("nan"), "analysis.grid_radii[2]"),
    ("float sample count", ("certify", "n"), 100000.0, "certify.n"),
    ("float image size", ("experiments", 0, "image_size"), 32.0, "experiments[0].image_size"),
    ("float epochs", ("training", "epochs"), 55.0, "training.epochs"),
    ("absurd image size", ("experiments", 0, "image_size"), 1_000_000_000, "experiments[0].image_size"),
    ("absurd sample count", ("certify", "n"), 10 ** 12, "certify.n"),
    ("more shards than images", ("experiments", 1, "shards"), 501, "experiments[1].shards"),
    ("absurd shards", ("certify", "shards"), 100_000, "certify.shards"),
]


@pytest.mark.parametrize("what, path, value, key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(paper_config, what, path, value, key):
    bad = copy.deepcopy(paper_config)
    _set(bad, path, value)
    with pytest.raises(ConfigError) as error:
        validate_config(bad)
    message = str(error.value)
    assert "\n" not in message
    assert f"config key {key}" in message


def test_shards_may_equal_the_images(paper_config):
    paper_config["experiments"][1]["shards"] = 500  # size48 certifies every 20th of 10,000 images
    validate_config(paper_config)


def test_a_yaml_error_names_the_file_and_line(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("certify:\n  n0: 100\n\tn: 5\n")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_config.py"), str(overlay)],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {overlay}, line 3, column 1: ")
    overlay.write_text("certify:\n  n: 100000.0\n")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_config.py"), str(overlay)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "config key certify.n: 100000.0 is not of type 'integer'" in result.stderr
    demo = ROOT / "profiles" / "demo" / "demo.yaml"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "check_config.py"), str(demo)], check=True,
                   capture_output=True)


@pytest.mark.parametrize("change, message", [
    (lambda e: e.update(method="gaussian"),
     "config key experiments[0].epsilon: epsilon is a setting of methods trades and smoothadv; experiment size32 "
     "uses method gaussian"),
    (lambda e: e.update(consistency_lambda=10.0),
     "config key experiments[0].consistency_lambda: consistency_lambda is a setting of method consistency; "
     "experiment size32 uses method trades"),
    (lambda e: e.pop("beta"), "config key experiments[0]: experiment size32 uses method trades, which needs beta"),
    (lambda e: e.update(checkpoint={"path": "m.pt", "format": "original"}),
     "config key experiments[0].method: experiment size32 imports a checkpoint and is not trained: leave out "
     "method (or the checkpoint)"),
])
def test_a_method_setting_in_the_wrong_place_reads_as_one_sentence(paper_config, change, message):
    change(paper_config["experiments"][0])
    with pytest.raises(ConfigError) as error:
        validate_config(paper_config)
    assert str(error.value) == message


def test_a_config_error_names_the_file_that_set_the_key(tmp_path, paper_config):
    """The last file of Snakemake's merge order that sets the bad key is named."""
    import yaml

    from conftest import ROOT
    from linf_smoothing.config import config_source, merged

    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(yaml.safe_dump({"certify": {"alpha": 1.5}}))
    second.write_text(yaml.safe_dump({"certify": {"n": 10}}))
    files = [ROOT / "config.yaml", first, second]
    bad = merged(merged(paper_config, {"certify": {"alpha": 1.5}}), {"certify": {"n": 10}})
    with pytest.raises(ConfigError) as error:
        validate_config(bad)
    assert config_source(files, error.value.key) == str(first)
    assert config_source(files, ("certify", "n")) == str(second)
    assert config_source(files, ("experiments", 0, "sigma")) == str(ROOT / "config.yaml")
    assert config_source(files[1:], ("experiments", 0, "sigma")) is None  # set by --config


def test_a_new_setting_at_its_default_changes_no_rule_options(paper_config):
    """docs/development.md's "Extending" example: a TrainSettings field `nesterov` whose default (False)
    keeps today's behaviour leaves every train rule's options string, which Snakemake compares
    to rerun a job, as it was; a configured True changes exactly that experiment's."""
    import dataclasses

    from linf_smoothing.settings import TrainSettings, _help, to_arguments

    @dataclasses.dataclass(frozen=True)
    class WithNesterov(TrainSettings):
        nesterov: bool = _help("Nesterov momentum", default=False)

    for name in ("size32", "size48", "size64"):
        today = train_settings(paper_config, name)
        extended = WithNesterov(**dataclasses.asdict(today))
        assert to_arguments(extended) == to_arguments(today)
        assert to_arguments(dataclasses.replace(extended, nesterov=True)) == to_arguments(today) + " --nesterov"
