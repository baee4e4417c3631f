"""Properties of the code's shape that the design relies on: the package's modules import
each other without a cycle, the light modules stay light, and each stage's settings object
is the one place its parameters are named."""
import ast
import dataclasses
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from linf_smoothing.config import load_schema
from linf_smoothing.settings import AnalysisSettings, CertifySettings, TrainSettings

PACKAGE = ROOT / "src" / "linf_smoothing"


def imports_of(path) -> set[str]:
    """The package's modules that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("linf_smoothing"):
            if node.module == "linf_smoothing":
                found.update(f"linf_smoothing.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("linf_smoothing."))
    return {name.split(".")[1] for name in found if name.count(".") >= 1}


def test_the_package_has_no_import_cycle():
    graph = {path.stem: imports_of(path) - {path.stem} for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    for init in PACKAGE.glob("*/__init__.py"):  # a subpackage (noises) is one node: its modules' imports together
        graph[init.parent.name] = set().union(*map(imports_of, init.parent.glob("*.py"))) - {init.parent.name}
    assert graph["distributed"] and "training" not in graph["distributed"]
    visiting, done = [], set()

    def visit(module):
        if module in visiting:
            pytest.fail("import cycle: " + " -> ".join(visiting[visiting.index(module):] + [module]))
        if module in done:
            return
        visiting.append(module)
        for imported in graph.get(module, ()):
            visit(imported)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_catching_user_errors_and_reading_results_needs_no_torch():
    code = ("import sys; import linf_smoothing.cli, linf_smoothing.analysis, linf_smoothing.config; "
            "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")})


def test_planning_a_run_needs_only_the_snakemake_environment():
    """The modules the workflow imports while it plans a run need nothing envs/snakemake.yaml
    lacks: no numpy, pandas or torch (they live in the rules' environment)."""
    code = ("import sys; import linf_smoothing.config, linf_smoothing.settings, linf_smoothing.shards, "
            "linf_smoothing.datasets, linf_smoothing.errors; "
            "heavy = {'numpy', 'pandas', 'torch', 'scipy', 'statsmodels'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")})


def test_the_schema_ships_inside_the_package():
    assert (PACKAGE / "schemas" / "config.schema.yaml").is_file()
    assert load_schema()["title"] == "linf-smoothing workflow configuration"


@pytest.mark.parametrize("cls, section", [(TrainSettings, "training"), (CertifySettings, "certify"),
                                          (AnalysisSettings, "analysis")])
def test_every_setting_is_a_key_of_the_schema(cls, section):
    """A field of a settings object is read from the configuration by name: each must be a key
    of the schema (of its section, of an experiment, or of the architecture)."""
    schema = load_schema()
    experiment = schema["properties"]["experiments"]["items"]["properties"]
    keys = set(schema["properties"][section].get("properties", {})) | set(experiment)
    keys |= set(schema["$defs"]["training"]["properties"]) | set(schema["$defs"]["architecture"]["properties"])
    assert {f.name for f in dataclasses.fields(cls)} <= keys


def test_the_tiny_test_configuration_is_a_valid_overlay(paper_config):
    from conftest import merged
    from linf_smoothing.config import validate_config

    validate_config(merged(paper_config, yaml.safe_load((ROOT / "tests" / "config" / "tiny.yaml").read_text())))
