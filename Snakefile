# Blum, Dick, Manoj, Zhang (2020): TRADES + Gaussian noise, randomized smoothing, l-inf
# certificates at three image sizes. `snakemake all` builds the tables, the figures and a
# provenance record; `snakemake --report report.html` gathers them into one page.
import copy
import json
import os

from snakemake.common.configfile import load_configfile
from snakemake.logging import logger
from snakemake.utils import min_version, update_config

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


# A profile names its overlays twice: `configfiles:` and `config: [profile_configfiles=...]`.
# A --configfile on the command line replaces the profile's `configfiles:` (Snakemake's rule
# for an option given twice) but not its `config:`, so the overlays named there are merged
# here beneath the command line's: config.yaml, the profile's overlays (paths relative to this
# folder), the command line's --configfile files in order, then its --config values.
def shown(path):
    """A configuration file's path as the log shows it: relative to this folder if inside."""
    relative = os.path.relpath(os.path.abspath(path), workflow.basedir)
    return os.path.abspath(path) if relative.startswith("..") else relative


def merge_profile_overlays(config):
    overlays = config.pop("profile_configfiles", None) or []
    overlays = [overlays] if isinstance(overlays, str) else list(overlays)
    overlays = [os.path.join(workflow.basedir, path) for path in overlays]
    if overlays:
        merged = load_configfile(os.path.join(workflow.basedir, "config.yaml"))
        for overlay in overlays:
            update_config(merged, load_configfile(overlay))
        command_line = copy.deepcopy(workflow.config_settings.overwrite_config)
        update_config(merged, command_line)
        merged.pop("profile_configfiles", None)
        config.clear()
        config.update(merged)
    files = ["config.yaml"] + [f"{shown(path)} (profile)" for path in overlays]
    for path in workflow.overwrite_configfiles:
        if os.path.abspath(path) not in map(os.path.abspath, overlays):
            files.append(shown(path))
    for key in workflow.config_settings.config:
        if key != "profile_configfiles":
            files.append(f"--config {key}")
    logger.info("Configuration: " + ", ".join(files))


merge_profile_overlays(config)


def warn_of_dropped_experiments(config):
    """A run in a results folder whose last run had more experiments redraws the tables and
    figures without them: say so, before any job."""
    record = os.path.join(str(config.get("results_dir")), "provenance.json")
    try:
        with open(record) as handle:
            before = [exp["name"] for exp in json.load(handle)["config"]["experiments"]]
        now = {exp["name"] for exp in config["experiments"]}
    except (OSError, ValueError, KeyError, TypeError):
        return
    dropped = [name for name in before if name not in now]
    if dropped:
        logger.warning(
            f"{record} lists experiments this configuration lacks ({', '.join(dropped)}): "
            "this run redraws its tables and figures without them (their models and "
            "certifications stay). Give this configuration its own results_dir to keep both."
        )


warn_of_dropped_experiments(config)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/certify.smk"
include: "rules/predict.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        rules.provenance.input,
        rules.provenance.output,
        # The models and certifications too, so that a deleted model, shard or gathered file
        # is rebuilt (Snakemake does not rebuild a missing intermediate whose consumers exist).
        models(),
        every_shard(),
        certifications(),
