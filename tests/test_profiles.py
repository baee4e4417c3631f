"""The profiles: each names its overlays where a command-line --configfile cannot drop them,
and each writes its own results folder."""
from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, load_yaml, merged

PROFILES = ROOT / "profiles"
WITH_OVERLAYS = ["demo", "baseline", "released", "methods", "comparison"]


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
                       "released": "results/released", "methods": "results/methods",
                       "comparison": "results/comparison"}


def test_the_comparison_profile_has_every_method_at_the_papers_sizes_and_sigmas(paper_config):
    """profiles/comparison: every method at sizes 32, 48 and 64 with the paper's sigma for the size,
    the paper's TRADES experiments unchanged, valid under the schema."""
    from linf_smoothing.config import train_settings, validate_config

    config = merged(paper_config, load_yaml(PROFILES / "comparison" / "comparison.yaml"))
    validate_config(config)
    paper_sigma = {exp["image_size"]: exp["sigma"] for exp in paper_config["experiments"]}
    sizes = {}
    for exp in config["experiments"]:
        settings = train_settings(config, exp["name"])
        assert settings.sigma == paper_sigma[exp["image_size"]], exp["name"]
        assert (settings.depth, settings.widths) == (110, (16, 32, 64))
        key = settings.method + (f"-{settings.attack}" if settings.method == "smoothadv" else "")
        sizes.setdefault(key, set()).add(exp["image_size"])
    assert sizes == {name: {32, 48, 64} for name in
                     ["trades", "gaussian", "smoothadv-pgd", "smoothadv-ddn", "consistency", "macer"]}
    assert config["experiments"][:3] == paper_config["experiments"]
