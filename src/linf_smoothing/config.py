"""Validation of the workflow configuration, and the settings of each stage of one experiment.

The JSON schema (``schemas/config.schema.yaml`` in this package) checks types and ranges;
``validate_config`` adds the checks a schema cannot state (unique names, N0 <= N, ...) and
turns the first problem into one line that names the key, so a bad value stops the run
before any job. ``train_settings``, ``certify_settings`` and ``analysis_settings`` turn the
validated configuration into the stages' settings objects (``linf_smoothing.settings``).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import jsonschema
import yaml

from linf_smoothing.datasets import CHANNELS, PUBLISHED_DATASET, TEST_IMAGES
from linf_smoothing.errors import ConfigError
from linf_smoothing.noises import NOISES, noise_from_description
from linf_smoothing.settings import (
    AnalysisSettings,
    CertifySettings,
    PredictSettings,
    TrainSettings,
    from_config,
    noise_conflict,
)
from linf_smoothing.shards import selected_images
from linf_smoothing.validators import load_schema


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _bad(path, message: str) -> ConfigError:
    """The error of configuration key ``path`` (a tuple of keys and list indices)."""
    error = ConfigError(f"config key {_key(path)}: {message}")
    error.key = tuple(path)
    return error


def config_source(configfiles, path) -> str | None:
    """Which of ``configfiles`` (in the order they are merged, the last winning) sets key
    ``path``; None where none does (a --config value on the command line)."""
    for configfile in reversed(list(configfiles)):
        try:
            value = load_yaml(configfile)
        except (ConfigError, OSError):
            continue
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                break
        else:
            return str(configfile)
    return None


def merged(base: dict, overlay: dict) -> dict:
    """Snakemake's overlay semantics (--configfile): nested mappings merge, everything else,
    lists included, is replaced."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path) -> dict:
    """A configuration file; a syntax error becomes a ConfigError naming the file, line and column."""
    try:
        with open(path) as handle:
            loaded = yaml.safe_load(handle)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: {exc.problem or exc.context} (YAML indents with spaces, not tabs)") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: not a mapping of configuration keys")
    return loaded


def _get(config, path):
    for key in path:
        config = config[key]
    return config


# JSON Schema counts 100000.0 as an integer; a float where a count is meant is a mistake here.
_STRICT_INTEGERS = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_STRICT_INTEGERS)


def _not_finite(value, path=()):
    """The path of the first NaN or infinity in ``value`` (a range check never catches them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _not_finite(child, path + (key,))
        if found is not None:
            return found
    return None


def validate_config(config: dict[str, Any], schema: dict | None = None) -> dict[str, Any]:
    """Return ``config`` unchanged if valid, else raise ConfigError naming the bad key."""
    schema = load_schema() if schema is None else schema
    bad = _not_finite(config)
    if bad is not None:
        raise _bad(bad, f"{_get(config, bad)} is not a finite number")
    _check_method_settings(config, schema)
    error = jsonschema.exceptions.best_match(_Validator(schema).iter_errors(config))
    if error is not None:
        raise _bad(error.absolute_path, error.message + _yaml_text_hint(error))

    names = [exp["name"] for exp in config["experiments"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise _bad(("experiments", i, "name"), f"duplicate experiment name {name!r}")
    certify = config["certify"]
    if certify["n0"] > certify["n"]:
        raise _bad(("certify", "n0"), f"N0 = {certify['n0']} exceeds certify.n = {certify['n']}")
    trainings = [(("training",), config["training"])] + [
        (("experiments", i, "training"), exp["training"])
        for i, exp in enumerate(config["experiments"]) if "training" in exp]
    for key, training in trainings:
        depth = training.get("architecture", {}).get("depth")
        if depth is not None and (depth - 2) % 6:
            raise _bad(key + ("architecture", "depth"), f"{depth} is not of the form 6n + 2 (110 for ResNet-110)")
    for i, name in enumerate(names):
        if name not in trained_experiments(config):
            continue
        merged = experiment_training(config, name)
        if merged["batch_size"] < merged["processes"]:
            raise _bad(("experiments", i), f"batch_size {merged['batch_size']} is smaller than processes "
                                           f"{merged['processes']}; every process needs rows of each batch")
    for i, exp in enumerate(config["experiments"]):
        images = len(selected_images(TEST_IMAGES[config["dataset"]], exp["skip"], exp.get("max_images")))
        shards = exp.get("shards", certify["shards"])
        if shards > images:
            key = ("experiments", i, "shards") if "shards" in exp else ("certify", "shards")
            raise _bad(key, f"{shards} shards for the {images} test images experiment {exp['name']} certifies; "
                            f"give at most {images}")
    for i, exp in enumerate(config["experiments"]):
        if exp.get("beta", 0) > 0 and exp.get("attack_steps", 0) == 0:
            raise _bad(("experiments", i, "attack_steps"),
                       "beta > 0 needs at least one attack step (set beta: 0 for Gaussian augmentation)")
    if config["analysis"]["published_files"] and config["dataset"] != PUBLISHED_DATASET:
        raise _bad(("analysis", "published_files"), f"the published rows are the paper's {PUBLISHED_DATASET} table, "
                                                    f"which a table of {config['dataset']} runs leaves out: set "
                                                    "analysis.published_files: []")
    for i, exp in enumerate(config["experiments"]):
        if exp["name"] in trained_experiments(config) and not exp.get("allow_degenerate", False):
            _check_meaningful_together(config, i)
    _check_noises(config)
    return config


def _check_noises(config: dict[str, Any]) -> None:
    """Each experiment's noise with exactly its own parameters, in their range (the library
    builds it), trained by a method that takes it, and certified and shown with a certificate
    it has (the top-2 forms are Gaussian)."""
    certify, shown = config["certify"], config["analysis"]["certificates"]
    for i, exp in enumerate(config["experiments"]):
        name, noise = exp["name"], exp.get("noise", "gaussian")
        keys = NOISES[noise].parameter_keys()
        for key in exp:
            owners = [n for n, cls in NOISES.items() if key in cls.parameter_keys()]
            if owners and key not in keys:
                raise _bad(("experiments", i, key), f"{key} is a parameter of noise {' and '.join(owners)}; "
                                                    f"experiment {name} uses noise {noise}")
        missing = [key for key in keys if key not in exp]
        if missing:
            raise _bad(("experiments", i), f"experiment {name} uses noise {noise}, which needs {', '.join(missing)}")
        try:
            noise_from_description(exp, exp["sigma"], CHANNELS[config["dataset"]] * exp["image_size"] ** 2)
        except ValueError as exc:
            raise _bad(("experiments", i, keys[0] if len(keys) == 1 else "noise"), str(exc)) from None
        conflict = None if "checkpoint" in exp else noise_conflict(exp["method"], noise)
        if conflict is not None:
            raise _bad(("experiments", i, "noise"), conflict)
        variants = NOISES[noise].variants
        if certify["variant"] not in variants:
            raise _bad(("certify", "variant"), f"experiment {name} uses noise {noise}, which the {certify['variant']} "
                                               f"certificate does not certify (its certificates: "
                                               f"{', '.join(variants)}): set certify.variant: {variants[0]}")
        if not set(shown) & set(variants):
            raise _bad(("analysis", "certificates"), f"none of {', '.join(shown)} certifies experiment {name}'s "
                                                     f"{noise} noise: add {' or '.join(variants)}")


def _yaml_text_hint(error) -> str:
    """For a number YAML read as text (``1.0e9``, ``1e-5``: YAML 1.1 wants a dot and a signed
    exponent), how to write it."""
    if error.validator != "type" or not isinstance(error.instance, str):
        return ""
    try:
        value = float(error.instance)
    except ValueError:
        return ""
    if error.validator_value == "integer" and value.is_integer():
        return f" (YAML reads {error.instance!r} as text: write {int(value)})"
    mantissa, _, exponent = repr(value).partition("e")
    written = mantissa + ("" if "." in mantissa else ".0") + (f"e{'' if exponent[0] in '+-' else '+'}{exponent}"
                                                               if exponent else "")
    return f" (YAML reads {error.instance!r} as text: write {written})"


def _check_meaningful_together(config: dict[str, Any], i: int) -> None:
    """Refuse settings of experiment ``i`` that are valid one by one but meaningless together,
    each with the sentence that says why; ``allow_degenerate: true`` in the experiment says
    they are meant (e.g. MACER deferred to the end as a Gaussian-augmentation control)."""
    exp = config["experiments"][i]
    name, method = exp["name"], exp["method"]
    training = experiment_training(config, name)
    epochs = training["epochs"]
    mean_it = f"; set allow_degenerate: true in experiment {name} if you mean it"
    in_experiment = "lr_milestones" in exp.get("training", {})
    milestones = ("experiments", i, "training", "lr_milestones") if in_experiment else ("training", "lr_milestones")
    late = [m for m in training["lr_milestones"] if m >= epochs]
    if late:
        raise _bad(milestones, f"milestone {late[0]} is at or past the last epoch of experiment {name} (epochs "
                               f"{epochs}, numbered from 0): its learning rate never changes there{mean_it}")
    if exp.get("warmup_epochs", 1) > epochs:
        raise _bad(("experiments", i, "warmup_epochs"),
                   f"a warm-up of {exp['warmup_epochs']} epochs is longer than the {epochs} epochs of training: the "
                   f"attack's radius never reaches epsilon{mean_it}")
    if exp.get("macer_deferred_epochs", 0) >= epochs:
        raise _bad(("experiments", i, "macer_deferred_epochs"),
                   f"{exp['macer_deferred_epochs']} deferred epochs of {epochs}: lambda never switches on, and the "
                   f"model is Gaussian augmentation's under the name MACER{mean_it}")
    if "ddn_gamma" in exp and exp.get("attack") != "ddn":
        raise _bad(("experiments", i, "ddn_gamma"),
                   f"ddn_gamma is a setting of attack ddn and experiment {name} uses attack {exp.get('attack')}: "
                   f"leave it out{mean_it}")
    if method == "trades" and exp["beta"] == 0 and exp["attack_steps"] > 0:
        raise _bad(("experiments", i, "attack_steps"),
                   f"{exp['attack_steps']} attack steps with beta 0: the attack's result is weighted 0 and its steps "
                   f"are wasted; set attack_steps: 0{mean_it}")
    if exp.get("noise_copies") == 1 and method in ("consistency", "macer"):
        why = ("its KL term between the copies' mean prediction and each copy's is then identically 0"
               if method == "consistency" else
               "its radius term then reads the smoothed classifier's probabilities off a single noisy "
               "prediction (the authors use 16 copies)")
        raise _bad(("experiments", i, "noise_copies"), f"one noise copy for method {method}: {why}{mean_it}")


def _check_method_settings(config: dict[str, Any], schema: dict) -> None:
    """An experiment holds the settings of its own training method and no other's, in words
    (the schema's ``x-method-settings``: method -> its required and optional keys)."""
    experiments = config.get("experiments")
    if not isinstance(experiments, list):
        return
    methods = schema["properties"]["experiments"]["items"]["x-method-settings"]
    owners: dict[str, list[str]] = {}
    for method, keys in methods.items():
        for key in keys["required"] + keys["optional"]:
            owners.setdefault(key, []).append(method)
    for i, exp in enumerate(experiments):
        if not isinstance(exp, dict):
            continue
        name, method = exp.get("name", f"experiments[{i}]"), exp.get("method")
        if "checkpoint" in exp:
            for key in ["method", "training", *owners]:
                if key in exp:
                    raise _bad(("experiments", i, key), f"experiment {name} imports a checkpoint and is not "
                                                        f"trained: leave out {key} (or the checkpoint)")
            continue
        if method not in methods:
            continue  # the schema names the methods
        for key in exp:
            if key in owners and method not in owners[key]:
                which = " and ".join(owners[key])
                raise _bad(("experiments", i, key), f"{key} is a setting of method{'s' * (len(owners[key]) > 1)} "
                                                    f"{which}; experiment {name} uses method {method}")
        missing = [key for key in methods[method]["required"] if key not in exp]
        if missing:
            raise _bad(("experiments", i), f"experiment {name} uses method {method}, which needs "
                                           f"{', '.join(missing)}")


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
