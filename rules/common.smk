# Config validation and the functions that map an experiment to its paths and parameters.
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from linf_smoothing.config import (
    analysis_settings,
    certify_settings,
    experiment,
    experiment_training,
    predict_settings,
    train_settings,
    trained_experiments,
    validate_config,
)
from linf_smoothing.datasets import TEST_IMAGES
from linf_smoothing.errors import ConfigError
from linf_smoothing.settings import to_arguments
from linf_smoothing.shards import selected_images, shard_damage, shard_images

try:
    validate_config(config)
except ConfigError as error:
    raise WorkflowError(f"{error} (in config.yaml or an overlay)") from None

# CPU threads of a train or certify job (its cpus-per-task on SLURM). The data sit on the GPU,
# so a few threads suffice there; Snakemake lowers it to --cores on a smaller machine, and
# `--set-threads train=N certify=N` changes it.
JOB_THREADS = 8

RESULTS = config["results_dir"]
DATA = config["data_dir"]
EXPERIMENTS = [exp["name"] for exp in config["experiments"]]
TRAINED = trained_experiments(config)
IMPORTED = [exp for exp in EXPERIMENTS if exp not in TRAINED]


def one_of(names):
    """A wildcard constraint matching exactly these names (none when the list is empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    exp=one_of(EXPERIMENTS),
    size=r"\d+",
    shard=r"\d+",
    shards=r"\d+",


def script(name, launcher="python"):
    """Shell prefix that runs scripts/NAME with this checkout's package importable, whichever
    environment (uv, conda) runs the job. Relative paths keep the command, and so Snakemake's
    code-change trigger, the same wherever the checkout lives."""
    root = os.path.relpath(workflow.basedir)
    return f"PYTHONPATH={root}/src${{{{PYTHONPATH:+:$PYTHONPATH}}}} {launcher} {root}/scripts/{name}"


def resize_inputs(wildcards):
    return rules.download_cifar10.output if config["dataset"] == "cifar10" else []


def log_path(rule_name, stem):
    return f"{RESULTS}/logs/{rule_name}/{stem}.log"


def benchmark_path(rule_name, stem):
    return f"{RESULTS}/benchmarks/{rule_name}/{stem}.tsv"


def resized(split, size):
    return f"{RESULTS}/data/{config['dataset']}/size{size}/{split}.npz"


def model_path(exp):
    return f"{RESULTS}/models/{exp}/model.pt"


def resume_path(exp):
    """Training state after the last finished epoch; not a declared output, so Snakemake keeps
    it when a job is killed, and the rerun resumes from it."""
    return f"{RESULTS}/models/{exp}/resume.pt"


def metrics_path(exp):
    return f"{RESULTS}/models/{exp}/epochs.tsv"


def certification_path(exp):
    return f"{RESULTS}/certify/{exp}.tsv"


def description_path(tsv):
    """The JSON description written beside a certification TSV (results.description_path)."""
    return f"{tsv}.json"


def shard_count(exp):
    return experiment(config, exp).get("shards", config["certify"]["shards"])


def shard_path(exp, shard, shards):
    return f"{RESULTS}/certify/shards/{exp}/{shard}-of-{shards}.tsv"


def certification_shards(wildcards):
    """The experiment's shard TSVs, in shard order; a damaged one is set aside first, so that
    this run certifies it again."""
    shards = shard_count(wildcards.exp)
    paths = [shard_path(wildcards.exp, shard, shards) for shard in range(shards)]
    for shard, path in enumerate(paths):
        set_aside_if_damaged(path, len(shard_indices(wildcards.exp, shard, shards)))
    return paths


def shard_indices(exp, shard, shards):
    """The test images shard `shard` of `shards` of experiment `exp` certifies."""
    spec = experiment(config, exp)
    selected = selected_images(
        TEST_IMAGES[config["dataset"]], spec["skip"], spec.get("max_images")
    )
    return shard_images(selected, shard, shards)


def set_aside_if_damaged(path, rows):
    """Move a finished shard that is cut short or holds other than `rows` rows (and its
    description) to `.damaged`; Snakemake would otherwise take it as done."""
    if not os.path.exists(path):
        return
    damage = shard_damage(path, rows)
    if damage is None:
        return
    if workflow.dryrun:
        logger.warning(
            f"{path}: {damage}; a run (not a dry run) sets it aside and certifies it again"
        )
        return
    for damaged in (path, description_path(path)):
        if os.path.exists(damaged):
            os.replace(damaged, f"{damaged}.damaged")
    logger.warning(f"{path}: {damage}; set aside as {path}.damaged and certified again")


def every_shard():
    """Every experiment's shard TSVs and descriptions: targets of `all`, so that a deleted shard
    is rebuilt (Snakemake does not rerun a missing intermediate whose consumers are current).
    """
    shards = [
        shard_path(exp, i, shard_count(exp))
        for exp in EXPERIMENTS
        for i in range(shard_count(exp))
    ]
    return shards + [description_path(tsv) for tsv in shards]


def certification_descriptions(wildcards):
    return [description_path(tsv) for tsv in certification_shards(wildcards)]


def train_options(wildcards):
    """The training script's settings options (settings.TrainSettings), so a change to any reruns that model."""
    return to_arguments(train_settings(config, wildcards.exp))


def released_checkpoint(wildcards):
    """The configured released checkpoint of an imported experiment."""
    return experiment(config, wildcards.exp)["checkpoint"]


def certify_options(wildcards):
    """The certification script's settings options (settings.CertifySettings)."""
    return to_arguments(certify_settings(config, wildcards.exp))


# The analysis scripts' settings options (settings.AnalysisSettings).
ANALYSIS_OPTIONS = to_arguments(analysis_settings(config))


def predict_options(wildcards):
    """The prediction script's settings options (settings.PredictSettings)."""
    return to_arguments(predict_settings(config, wildcards.exp))


def prediction_path(exp):
    return f"{RESULTS}/predict/{exp}.tsv"


def certifications():
    """Every experiment's certification TSV and its description."""
    tsvs = [certification_path(exp) for exp in EXPERIMENTS]
    return tsvs + [description_path(tsv) for tsv in tsvs]


def labelled_certifications():
    """LABEL=PATH of each experiment's certification, the analysis script's arguments."""
    return " ".join(f"{exp}={certification_path(exp)}" for exp in EXPERIMENTS)


def training_processes(wildcards):
    return experiment_training(config, wildcards.exp)["processes"]


def train_launcher(wildcards):
    """python, or torchrun (as `python -m torch.distributed.run`, the job's own interpreter)
    for data-parallel training on this node."""
    processes = training_processes(wildcards)
    if processes == 1:
        return "python"
    return f"python -m torch.distributed.run --standalone --nproc-per-node {processes}"


def reference_curves():
    """label -> path of the configured reference certification files, found from the workflow's folder."""
    root = os.path.relpath(workflow.basedir)
    return {
        c["label"]: os.path.normpath(os.path.join(root, c["path"]))
        for c in config["analysis"]["reference_curves"]
    }


def published_files():
    """method -> path of the published files the table's published rows are computed from."""
    root = os.path.relpath(workflow.basedir)
    return {
        f["method"]: os.path.normpath(os.path.join(root, f["path"]))
        for f in config["analysis"]["published_files"]
    }


def published_arguments():
    files = published_files()
    if not files:
        return ""
    return "--published " + " ".join(
        shlex.quote(f"{method}={path}") for method, path in files.items()
    )


def reference_arguments():
    curves = reference_curves()
    if not curves:
        return ""
    return "--reference " + " ".join(
        shlex.quote(f"{label}={path}") for label, path in curves.items()
    )
