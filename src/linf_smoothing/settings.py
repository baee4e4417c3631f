"""One settings object per stage: what a training run, a certification run and the analysis
depend on, each value written once.

A field of a settings dataclass is at once

- a key of the validated configuration (``from_config`` reads it by name from the mapping
  that ``config.train_settings`` / ``certify_settings`` / ``analysis_settings`` build),
- a command-line option of the stage's script (``--field-name``, ``add_arguments`` and
  ``from_arguments``),
- a part of the options string the Snakemake rule passes in ``params:`` (``to_arguments``,
  which leaves out values equal to the field's default), so a changed value reruns exactly
  the jobs that depend on it and a new field at its default reruns none,
- and a part of the identity of what the stage writes (the checkpoint's metadata, the
  training state a killed job resumes from, the certification file's description).

Adding a hyper-parameter therefore means: the schema, a field here, and the code that uses
it. Defaults serve a script run by hand and keep the options short; the workflow passes
every other value. Field types are
``int``, ``float``, ``str``, ``bool``, ``tuple[int, ...]``, ``tuple[float, ...]`` and
``X | None`` of the scalars; ``metadata={"help": ...}`` documents a field on the command line.

Kept free of heavy imports: the workflow builds these at parse time.
"""
from __future__ import annotations

import argparse
import dataclasses
import shlex
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from linf_smoothing.noises import NOISES, Noise, noise_from_description
from linf_smoothing.validators import argument_type, check_lists


def _help(text: str, **kwargs) -> Any:
    return field(metadata={"help": text}, **kwargs)


def _method_help(text: str, default: Any) -> Any:
    """A setting added after the first runs (a training method's own, the noise's): ``as_dict``
    leaves it out while it holds its default, so the identities of older runs stay as they were."""
    return field(metadata={"help": text, "omit_default": True}, default=default)


# Training methods whose loss assumes Gaussian noise, and why: they refuse any other noise.
GAUSSIAN_ONLY_METHODS = {"macer": "its robustness term sigma/2 (Phi^-1(q1) - Phi^-1(q2)) is the Gaussian's radius"}


def noise_conflict(method: str, noise: str) -> str | None:
    """Why training ``method`` cannot use ``noise``, or None where it can."""
    if noise != "gaussian" and method in GAUSSIAN_ONLY_METHODS:
        return (f"method {method} trains with Gaussian noise only ({GAUSSIAN_ONLY_METHODS[method]}), not "
                f"{noise}: train it with noise gaussian, or the {noise} noise with another method")
    return None


@dataclass(frozen=True, kw_only=True)
class NoiseSettings:
    """The smoothing noise, the same in training and in sampling (certify, predict): its level
    and, where not Gaussian, its name and parameters (``linf_smoothing.noises``). A noise's
    parameter ``x`` (a field of its class) is the setting ``noise_x``."""

    sigma: float = _help("noise level: the root mean square per coordinate of the smoothing noise, "
                         "sqrt(E||eta||^2 / d) (the Gaussian's standard deviation)")
    noise: str = _method_help(f"smoothing noise (linf_smoothing.noises): {', '.join(NOISES)}", "gaussian")
    noise_p: float | None = _method_help("shape p >= 1 of the generalized_gaussian noise, density "
                                         "exp(-|x_i / lambda|^p) (default: none, which the other noises take)",
                                         None)

    def smoothing_noise(self, dimension: int) -> Noise:
        """The noise these settings name, for inputs of d = ``dimension``."""
        return noise_from_description(as_dict(self), self.sigma, dimension)


@dataclass(frozen=True)
class TrainSettings(NoiseSettings):
    """Everything that determines a trained model, given its data and starting weights."""

    depth: int = _help("CIFAR ResNet depth, 6n + 2")
    widths: tuple[int, ...] = _help("channels of the three stages")
    epochs: int = _help("epochs")
    batch_size: int = _help("global batch size")
    lr: float = _help("SGD learning rate")
    momentum: float = _help("SGD momentum")
    weight_decay: float = _help("SGD weight decay")
    lr_gamma: float = _help("learning-rate factor at each milestone")
    crop_padding: int = _help("RandomCrop padding in pixels")
    seed: int = _help("seed of the initial weights and of every random draw")
    method: str = _help("training method (methods.METHODS): trades (TRADES + noise), gaussian "
                        "(noise augmentation, Gaussian in Cohen et al.), smoothadv, consistency or macer")
    lr_milestones: tuple[int, ...] = _help("epochs (0-based) from which the learning rate is multiplied by lr_gamma",
                                           default=())
    mixed_precision: bool = _help("bf16 autocast on CUDA", default=False)
    epsilon: float = _help("l2 radius of the attack (methods trades and smoothadv)", default=0.0)
    beta: float = _help("TRADES weight; 0 runs no attack (method trades)", default=0.0)
    attack_steps: int = _help("steps of the inner maximization (methods trades and smoothadv)", default=0)
    # Settings of the other methods (methods.METHODS). Each has a default that leaves every other
    # method's training unchanged, and is left out of ``as_dict`` (the identity of a training, its
    # checkpoint's metadata) while at that default, so adding them changed no existing identity.
    noise_copies: int = _method_help(
        "noise draws per training image, m: smoothadv's num-noise-vec (Salman et al.'s best CIFAR-10 model at "
        "sigma 0.12: 4), consistency's num-noise-vec (the authors' examples: 2), macer's gauss_num (main.py: 16)", 1)
    attack: str = _method_help("smoothadv's attack: pgd (l2 PGD, step 2 epsilon / attack_steps) or ddn "
                               "(Salman et al.'s best CIFAR-10 model: ddn, 4 steps, epsilon 255/256)", "pgd")
    warmup_epochs: int = _method_help(
        "smoothadv: epochs over which the attack's radius grows linearly to epsilon, min(epsilon, (epoch + 1) "
        "epsilon / warmup_epochs); the authors' CIFAR-10 runs use 10, their script's default 1 (no warm-up)", 1)
    ddn_gamma: float = _method_help("smoothadv with attack ddn: DDN's norm factor gamma (the authors' 0.05)", 0.05)
    consistency_lambda: float = _method_help(
        "consistency: weight lambda of the KL term (train_consistency.py's default 10, with m = 2 in the "
        "authors' examples); 0 with noise_copies 1 is Gaussian augmentation", 0.0)
    consistency_eta: float = _method_help("consistency: weight eta of the entropy term (the authors' 0.5)", 0.5)
    macer_lambda: float = _method_help(
        "macer: weight lambda of the robustness loss (main.py's CIFAR-10 default 12, with batch 64, lr 0.01, "
        "weight decay 5e-4, 440 epochs, milestones 200 and 400)", 0.0)
    macer_gamma: float = _method_help("macer: hinge gamma on the radius sigma/2 (Phi^-1(p1) - Phi^-1(p2)) "
                                      "(the authors' 8)", 8.0)
    macer_beta: float = _method_help("macer: inverse temperature beta of the robustness loss's softmax "
                                     "(the authors' 16)", 16.0)
    macer_deferred_epochs: int = _method_help(
        "macer: lambda is 0 in the first this many epochs (0: never, as the authors' main.py; Jeong & Shin's "
        "train_macer.py --deferred defers it to the first learning-rate step)", 0)

    def __post_init__(self):
        conflict = noise_conflict(self.method, self.noise)
        if conflict is not None:
            raise ValueError(conflict)


@dataclass(frozen=True, kw_only=True)
class SamplingSettings(NoiseSettings):
    """How a smoothed classifier is sampled on the chosen test images (certify and predict)."""

    batch_size: int = _help("noisy copies per forward pass")
    skip: int = _help("use the test images whose index is a multiple of skip", default=1)
    max_images: int | None = _help("use at most this many of the selected images (default: all)", default=None)
    seed: int = _help("seed of the per-image noise generators", default=0)
    compile: bool = _help("torch.compile the model (pays on long runs)", default=False)
    mixed_precision: bool = _help("bf16 autocast on CUDA (changes the base classifier slightly)", default=False)


@dataclass(frozen=True, kw_only=True)
class CertifySettings(SamplingSettings):
    """Everything that determines a certification file, given the model and the test images."""

    n0: int = _help("selection samples per image")
    n: int = _help("estimation samples per image")
    alpha: float = _help("failure probability of each certificate")
    variant: str = _help("certificate written in the radius columns (every variant is recomputable from the "
                         "counts): blum, cohen or sound_top2", default="blum")


@dataclass(frozen=True, kw_only=True)
class PredictSettings(SamplingSettings):
    """Everything that determines a prediction file (Cohen et al.'s abstaining PREDICT)."""

    n: int = _help("samples per image")
    alpha: float = _help("probability of returning a class other than the smoothed classifier's")


@dataclass(frozen=True)
class AnalysisSettings:
    """How the tables and figures are drawn from certification files. The workflow passes
    every value from its configuration; run by hand, ``scripts/analyze.py`` chooses what is
    left out (None or empty) from the files (``analysis.settings_from_data``) and says what it chose."""

    certificates: tuple[str, ...] = _help(
        "certificate variants of the tables and figures, the first drawn solid (files with vote counts)",
        default=("blum", "sound_top2"))
    linf_threshold: float | None = _help("l-inf radius of the tables (default: 2/255, the paper's)", default=None)
    radius_max: float | None = _help("x range of the l-inf figures (default: from the data, a little past the "
                                     "largest certifiable radius)", default=None)
    radius_points: int = _help("points of each curve", default=201)
    figure_skip: int = _help("figures use the images with idx %% figure_skip == 0 (default: all images)", default=1)
    figure_title: str | None = _help("title of the figures (default: the dataset and architecture the files record)",
                                     default=None)
    grid_radii: tuple[float, ...] = _help("l-inf radii of the certified-accuracy grid table (default: from the data, "
                                          "evenly spaced up to the largest certifiable radius, and the threshold)",
                                          default=())
    grid_radii_l2: tuple[float, ...] = _help("l2 radii of the grid table, beside the l-inf ones", default=())


# The settings (of AnalysisSettings) each output of ``scripts/analyze.py`` (``--only``) reads:
# each workflow rule is passed only its output's, so that a figure's title or x range reruns no table.
OUTPUT_SETTINGS = {
    "table": ("certificates", "linf_threshold"),
    "grid": ("certificates", "linf_threshold", "grid_radii", "grid_radii_l2"),
    "methods_table": ("certificates", "linf_threshold"),
    "vary_dim": ("certificates", "linf_threshold", "radius_max", "radius_points", "figure_skip", "figure_title"),
    "radius_figures": ("certificates", "linf_threshold", "radius_points", "figure_skip", "figure_title"),
    "methods_figures": ("certificates", "linf_threshold", "radius_max", "radius_points", "figure_skip",
                        "figure_title"),
    "noises_table": ("certificates", "linf_threshold"),
    "noises_figures": ("certificates", "linf_threshold", "radius_points", "figure_skip", "figure_title"),
}

def _fields(cls) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def _scalar(hint) -> type:
    """The element type of a field: int for ``tuple[int, ...]`` and ``int | None``."""
    args = [a for a in typing.get_args(hint) if a is not type(None) and a is not Ellipsis]
    return args[0] if args else hint


def from_config(cls, values: Mapping[str, Any]):
    """Build ``cls`` from a mapping that holds each field by name (lists become tuples)."""
    kwargs = {}
    for f, hint in _fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        kwargs[f.name] = tuple(value) if typing.get_origin(hint) is tuple else value
    return cls(**kwargs)


def add_arguments(parser: argparse.ArgumentParser, cls, taken_from: Mapping[str, str] | None = None) -> None:
    """One ``--field-name`` option per field, required unless the field has a default or
    ``taken_from`` names where the script finds a value not given (field name -> that place,
    which --help shows as the default; the option's value is then None)."""
    group = parser.add_argument_group(f"{cls.__name__} (one option per setting)")
    taken_from = taken_from or {}
    for f, hint in _fields(cls):
        option = "--" + f.name.replace("_", "-")
        has_default = f.default is not dataclasses.MISSING
        text = f.metadata.get("help") + (f" (default: {taken_from[f.name]})" if f.name in taken_from else "")
        kwargs = {"help": text, "dest": f.name, "required": not has_default and f.name not in taken_from,
                  "default": f.default if has_default else None}
        if hint is bool:
            group.add_argument(option, action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(hint) is tuple:
            group.add_argument(option, type=argument_type(cls, f.name, _scalar(hint)), nargs="*", **kwargs)
        else:
            group.add_argument(option, type=argument_type(cls, f.name, _scalar(hint)), **kwargs)


def from_arguments(cls, args: argparse.Namespace):
    """The settings that ``add_arguments``' options were given (lists checked as a whole; an
    option not given keeps its default, which may be empty: chosen later, from the data)."""
    values = {f.name: getattr(args, f.name) for f, _ in _fields(cls)}
    check_lists(cls, {f.name: values[f.name] for f, _ in _fields(cls) if values[f.name] is not f.default})
    return from_config(cls, values)


def to_arguments(settings, only=None) -> str:
    """The options that ``add_arguments`` reads back into ``settings`` (those of the fields named
    in ``only``, where given), shell-quoted; a value equal to its field's default is left out
    (the script takes the default anyway), so adding a field whose default keeps the old
    behaviour changes no rule's options and reruns nothing."""
    words = []
    for f, hint in _fields(type(settings)):
        if only is not None and f.name not in only:
            continue
        value = getattr(settings, f.name)
        option = "--" + f.name.replace("_", "-")
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if hint is bool:
            words.append(option if value else "--no-" + f.name.replace("_", "-"))
        elif value is None:
            continue
        elif isinstance(value, tuple):
            words += [option, *map(str, value)]
        else:
            words += [option, str(value)]
    return shlex.join(words)


def as_dict(settings) -> dict[str, Any]:
    """Plain values (tuples as lists), for JSON and checkpoints; a method's own setting only where it
    differs from its default (so a new method's settings leave older identities unchanged)."""
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(settings).items()}
    for f in dataclasses.fields(settings):
        if f.metadata.get("omit_default") and getattr(settings, f.name) == f.default:
            del out[f.name]
    return out
