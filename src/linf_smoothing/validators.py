"""Every command-line value checked before any work, against the range the configuration's
schema gives the same key, with one line that names the argument, its value and that range.

A setting's option (``settings.add_arguments``) takes the type ``argument_type`` builds from
the schema's entry of the same key (``certify.alpha``: a number in (0, 1)), so a value the
workflow would refuse in ``config.yaml`` is refused on the command line too, in words
(``argument --alpha: 1.5 is not in (0, 1)``). The other options take the named validators
below, each built from a schema entry where one exists. Kept free of heavy imports: the
workflow reads the schema at parse time.
"""
from __future__ import annotations

import argparse
import functools
import math
from importlib import resources
from typing import Any, Callable

import yaml

from linf_smoothing.datasets import CHANNELS
from linf_smoothing.noises import NOISES

SCHEMA = resources.files("linf_smoothing") / "schemas" / "config.schema.yaml"
# The largest value numpy's counts (int64) hold.
INT64_MAX = 2**63 - 1


def load_schema() -> dict:
    """The configuration's JSON schema (a fresh copy), with the noises of the registry as the
    choices of an experiment's ``noise``."""
    schema = yaml.safe_load(SCHEMA.read_text())
    schema["properties"]["experiments"]["items"]["properties"]["noise"]["enum"] = list(NOISES)
    return schema


@functools.cache
def _schema() -> dict:
    return load_schema()


def _resolved(fragment: dict) -> dict:
    """A schema entry with its local ``$ref`` and ``allOf`` parts merged into one mapping."""
    out = {}
    if "$ref" in fragment:
        out.update(_resolved(_schema()["$defs"][fragment["$ref"].rsplit("/", 1)[1]]))
    for part in fragment.get("allOf", ()):
        out.update(_resolved(part))
    out.update({k: v for k, v in fragment.items() if k not in ("$ref", "allOf")})
    return out


# Where each settings object's keys live in the schema (``config.train_settings`` etc. read
# them from these sections, the first holding the key winning).
_SECTIONS = {
    "TrainSettings": ("experiment", "training", "architecture"),
    "CertifySettings": ("certify", "experiment"),
    "PredictSettings": ("predict", "certify", "experiment"),
    "AnalysisSettings": ("analysis",),
}


def _section(name: str) -> dict:
    schema = _schema()
    if name == "experiment":
        return _resolved(schema["properties"]["experiments"]["items"])["properties"]
    if name in schema["$defs"]:
        return _resolved(schema["$defs"][name]).get("properties", {})
    return _resolved(schema["properties"][name]).get("properties", {})


def key_schema(section: str, key: str) -> dict:
    """The schema's entry of ``key`` in ``section`` (a top-level section such as ``certify``,
    ``experiment`` for an experiment's keys, or a ``$defs`` name such as ``foreign_file``)."""
    return _resolved(_section(section)[key])


def _number(value) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def valid_range(fragment: dict) -> str:
    """The values a schema entry allows, in words: ``(0, 1)``, ``[1, 1000000000]``, ``above 0``."""
    if "enum" in fragment:
        return "one of " + ", ".join(map(str, fragment["enum"]))
    low = fragment.get("exclusiveMinimum", fragment.get("minimum"))
    high = fragment.get("exclusiveMaximum", fragment.get("maximum"))
    what = "an integer" if fragment.get("type") == "integer" else "a finite number"
    if low is None and high is None:
        return what
    if high is None:
        return f"{what} {'above' if 'exclusiveMinimum' in fragment else 'of at least'} {_number(low)}"
    if low is None:
        return f"{what} {'below' if 'exclusiveMaximum' in fragment else 'of at most'} {_number(high)}"
    return (f"{what} in {'(' if 'exclusiveMinimum' in fragment else '['}{_number(low)}, "
            f"{_number(high)}{')' if 'exclusiveMaximum' in fragment else ']'}")


def why_invalid(value: Any, fragment: dict) -> str | None:
    """Why ``value`` is not one the schema entry allows (None where it is): not finite, out of
    range, not one of the choices."""
    if "enum" in fragment:
        return None if value in fragment["enum"] else f"{value!r} is not {valid_range(fragment)}"
    if fragment.get("type") in ("number", "integer"):
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a finite number"
        low_ok = (value > fragment["exclusiveMinimum"] if "exclusiveMinimum" in fragment else
                  value >= fragment.get("minimum", -math.inf))
        high_ok = (value < fragment["exclusiveMaximum"] if "exclusiveMaximum" in fragment else
                   value <= fragment.get("maximum", math.inf))
        if not (low_ok and high_ok):
            why = "" if high_ok or "x-refusal" not in fragment else f" ({fragment['x-refusal']})"
            return f"{_number(value)} is not {valid_range(fragment)}{why}"
    return None


def _parse(text: str, kind: type):
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return kind(text)


def checked(kind: type, fragment: dict | None = None) -> Callable[[str], Any]:
    """An argparse type: ``text`` parsed as ``kind`` (int, float, str), then refused, with its
    value and the valid range, unless finite and allowed by the schema entry ``fragment``."""
    fragment = fragment or {}

    typed = {"type": {int: "integer", float: "number"}.get(kind), **fragment}

    def parse(text: str):
        value = _parse(text, kind)
        why = why_invalid(value, typed)
        if why is not None:
            raise argparse.ArgumentTypeError(why)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def argument_type(settings_class: type, name: str, kind: type) -> Callable[[str], Any]:
    """The argparse type of the option of settings field ``name`` (element type ``kind``): the
    schema's entry of the same key, its array items for a list."""
    for section in _SECTIONS.get(settings_class.__name__, ()):
        properties = _section(section)
        if name in properties:
            fragment = _resolved(properties[name])
            return checked(kind, _resolved(fragment["items"]) if fragment.get("type") == "array" else fragment)
    return checked(kind)


def positive_int(text: str) -> int:
    """An integer of at least 1 and at most the schema's limit of every count (10^9)."""
    return checked(int, _resolved(_schema()["$defs"]["positive_int"]))(text)


def non_negative_int(text: str) -> int:
    return checked(int, {"type": "integer", "minimum": 0, "maximum": INT64_MAX})(text)


def shards(text: str) -> int:
    """A number of certification shards, as ``certify.shards`` allows."""
    return checked(int, key_schema("certify", "shards"))(text)


def probability(text: str) -> float:
    """A failure probability: a number in (0, 1), NaN refused."""
    return checked(float, key_schema("certify", "alpha"))(text)


def positive_finite(text: str) -> float:
    """A radius or threshold: a finite number above 0."""
    return checked(float, {"type": "number", "exclusiveMinimum": 0})(text)


def noise_level(text: str) -> float:
    """A noise level sigma of images in [0, 1]: above 0 and at most the schema's maximum."""
    return checked(float, key_schema("experiment", "sigma"))(text)


def image_size(text: str) -> int:
    return checked(int, key_schema("experiment", "image_size"))(text)


def largest_sigma() -> float:
    """The largest noise level of images in [0, 1] the schema allows (rs4a's largest is 3.5)."""
    return key_schema("experiment", "sigma")["maximum"]


def dimension_side(dimension: int) -> int | None:
    """The image size of an input of ``dimension`` = channels x size x size for a dataset's
    channels (None where there is none)."""
    if dimension < 1:
        return None
    for channels in sorted(set(CHANNELS.values())):
        side = round(math.sqrt(dimension / channels))
        if dimension == channels * side ** 2:
            return side
    return None


def dimension(text: str) -> int:
    """An input dimension d = channels x size x size of an image of a known dataset's channels."""
    value = checked(int, key_schema("foreign_file", "dimension"))(text)
    if dimension_side(value) is None:
        channels = " or ".join(map(str, sorted(set(CHANNELS.values()))))
        raise argparse.ArgumentTypeError(f"{value} is not channels x size x size of an image with {channels} "
                                         "channels (CIFAR-10 at 32 pixels: 3072)")
    return value


def check_lists(settings_class: type, values: dict[str, Any]) -> None:
    """Refuse, in one line naming the option, a list value the schema's entry of its key does
    not allow as a whole: fewer items than its ``minItems``, or an item twice where ``uniqueItems``
    (each item is checked on its own by ``argument_type``)."""
    for name, value in values.items():
        if not isinstance(value, (list, tuple)):
            continue
        for section in _SECTIONS.get(settings_class.__name__, ()):
            properties = _section(section)
            if name in properties:
                fragment = _resolved(properties[name])
                option = "--" + name.replace("_", "-")
                if len(value) < fragment.get("minItems", 0):
                    raise ValueError(f"{option} needs at least {fragment['minItems']} value(s)")
                if fragment.get("uniqueItems") and len(set(value)) < len(value):
                    raise ValueError(f"{option} names {next(v for v in value if list(value).count(v) > 1)} twice: "
                                     "give each value once")
                break
