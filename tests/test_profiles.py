"""The profiles: each names its overlays where a command-line --configfile cannot drop them,
and each writes its own results folder."""
from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, load_yaml, merged

PROFILES = ROOT / "profiles"
WITH_OVERLAYS = ["demo", "baseline", "released", "methods"]


def profile_overlays(name: str) -> tuple[list[str], list[str]]:
    """A profile's `configfiles:` and the files its `config: [profile_configfiles=...]` names."""
    profile = load_yaml(PROFILES / name / "config.yaml")
    marker = [entry for entry in profile.get("config", []) if entry.startswith("profile_configfiles=")]
    assert len(marker) == 1, f"profiles/{name} names its overlays once in `config:`"
    named = yaml.safe_load(marker[0].split("=", 1)[1])
    return profile["configfiles"], [named] if isinstance(named, str) else named


@pytest.mark.parametrize("name", WITH_OVERLAYS)
def test_a_profile_names_its_overlays_for_the_snakefile_too(name):
    configfiles, named = profile_overlays(name)
    assert named == configfiles
    assert all((ROOT / path).is_file() for path in named)


def test_every_profile_writes_its_own_results_folder(paper_config):
    folders = {"paper": paper_config["results_dir"]}
    for name in WITH_OVERLAYS:
        config = paper_config
        for path in profile_overlays(name)[0]:
            config = merged(config, load_yaml(ROOT / path))
        folders[name] = config["results_dir"]
    assert folders == {"paper": "results", "demo": "results/demo", "baseline": "results/baseline",
                       "released": "results/released", "methods": "results/methods"}
