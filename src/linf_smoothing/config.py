"""Validation of the workflow configuration, and the settings of each stage of one experiment.

The JSON schema (``schemas/config.schema.yaml`` in this package) checks types and ranges;
``validate_config`` adds the checks a schema cannot state (unique names, N0 <= N, ...) and
turns the first problem into one line that names the key, so a bad value stops the run
before any job. ``train_settings``, ``certify_settings`` and ``analysis_settings`` turn the
validated configuration into the stages' settings objects (``linf_smoothing.settings``).
"""
from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import jsonschema
import yaml

from linf_smoothing.errors import ConfigError
from linf_smoothing.settings import AnalysisSettings, CertifySettings, PredictSettings, TrainSettings, from_config

SCHEMA = resources.files("linf_smoothing") / "schemas" / "config.schema.yaml"


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def load_schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def validate_config(config: dict[str, Any], schema: dict | None = None) -> dict[str, Any]:
    """Return ``config`` unchanged if valid, else raise ConfigError naming the bad key."""
    schema = load_schema() if schema is None else schema
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        raise ConfigError(f"config key {_key(error.absolute_path)}: {error.message}")

    names = [exp["name"] for exp in config["experiments"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"config key experiments[{i}].name: duplicate experiment name {name!r}")
    certify = config["certify"]
    if certify["n0"] > certify["n"]:
        raise ConfigError(f"config key certify.n0: N0 = {certify['n0']} exceeds certify.n = {certify['n']}")
    trainings = [("training", config["training"])] + [
        (f"experiments[{i}].training", exp["training"])
        for i, exp in enumerate(config["experiments"]) if "training" in exp]
    for key, training in trainings:
        depth = training.get("architecture", {}).get("depth")
        if depth is not None and (depth - 2) % 6:
            raise ConfigError(f"config key {key}.architecture.depth: {depth} is not of the form 6n + 2 "
                              "(110 for ResNet-110)")
    for i, name in enumerate(names):
        if name not in trained_experiments(config):
            continue
        merged = experiment_training(config, name)
        if merged["batch_size"] < merged["processes"]:
            raise ConfigError(f"config key experiments[{i}]: batch_size {merged['batch_size']} is smaller than "
                              f"processes {merged['processes']}; every process needs rows of each batch")
    for i, exp in enumerate(config["experiments"]):
        if exp.get("beta", 0) > 0 and exp.get("attack_steps", 0) == 0:
            raise ConfigError(
                f"config key experiments[{i}].attack_steps: beta > 0 needs at least one attack step "
                "(set beta: 0 for Gaussian augmentation)")
    return config


def trained_experiments(config: dict[str, Any]) -> list[str]:
    """The experiments the workflow trains (the others import a released checkpoint)."""
    return [exp["name"] for exp in config["experiments"] if "checkpoint" not in exp]


def experiment(config: dict[str, Any], name: str) -> dict[str, Any]:
    for exp in config["experiments"]:
        if exp["name"] == name:
            return exp
    raise ConfigError(f"no experiment named {name!r} in config key experiments")


def experiment_training(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The shared ``training`` settings with the experiment's own overrides on top."""
    merged = copy.deepcopy(config["training"])
    merged.update(copy.deepcopy(experiment(config, name).get("training", {})))
    return merged


def train_settings(config: dict[str, Any], name: str) -> TrainSettings:
    """Experiment ``name``'s training settings: its own keys (sigma, method, epsilon, ...) and
    the shared ``training`` keys with its overrides, the architecture's keys among them."""
    training = experiment_training(config, name)
    return from_config(TrainSettings, {**experiment(config, name), **training, **training["architecture"]})


def certify_settings(config: dict[str, Any], name: str) -> CertifySettings:
    """Experiment ``name``'s certification settings: ``certify`` with its own keys on top."""
    return from_config(CertifySettings, {**config["certify"], **experiment(config, name)})


def predict_settings(config: dict[str, Any], name: str) -> PredictSettings:
    """Experiment ``name``'s PREDICT settings: ``certify``'s sampling settings, ``predict``'s own
    keys (n, alpha) on top, and the experiment's (sigma, which images)."""
    return from_config(PredictSettings, {**config["certify"], **config["predict"], **experiment(config, name)})


def analysis_settings(config: dict[str, Any]) -> AnalysisSettings:
    return from_config(AnalysisSettings, config["analysis"])
