"""envs/*.yaml pin exactly what uv.lock resolves, so conda and uv users run the same code."""
import re
import tomllib

import pytest

from conftest import ROOT, load_yaml

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def locked_versions() -> dict[str, set[str]]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    versions: dict[str, set[str]] = {}
    for package in lock["package"]:
        if "version" in package:  # the project itself has a dynamic version
            versions.setdefault(package["name"].lower(), set()).add(package["version"])
    return versions


def pins(env_file) -> dict[str, str]:
    pip = next(d["pip"] for d in load_yaml(env_file)["dependencies"] if isinstance(d, dict))
    out = {}
    for line in pip:
        name, sep, version = re.match(r"^([A-Za-z0-9_.-]+)(==)?(.*)$", line).groups()
        assert sep, f"{env_file.name}: {line} is not pinned with =="
        out[name.lower()] = version
    return out


def test_there_are_environments():
    assert [f.name for f in ENV_FILES] == ["pipeline.yaml", "snakemake.yaml"]


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda f: f.name)
def test_env_pins_match_the_lockfile(env_file):
    locked = locked_versions()
    for name, version in pins(env_file).items():
        assert name in locked, f"{env_file.name}: {name} is not in uv.lock"
        assert version in locked[name], f"{env_file.name}: {name}=={version}, uv.lock has {sorted(locked[name])}"
    python = next(d for d in load_yaml(env_file)["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == "python=3.11"


WORKFLOW_ENGINE = {"snakemake", "snakemake-executor-plugin-slurm"}


def test_pipeline_env_has_every_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    runtime = {re.match(r"[A-Za-z0-9_.-]+", d).group().lower() for d in project} - WORKFLOW_ENGINE
    assert runtime <= set(pins(ROOT / "envs" / "pipeline.yaml"))
    assert WORKFLOW_ENGINE <= set(pins(ROOT / "envs" / "snakemake.yaml"))
    assert pins(ROOT / "envs" / "pipeline.yaml")["torch"] == "2.13.0"
    assert pins(ROOT / "envs" / "pipeline.yaml")["torchvision"] == "0.28.0"
