# Config validation and the functions that map an experiment to its paths and parameters.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from linf_smoothing.config import ConfigError, experiment, experiment_training, validate_config
from linf_smoothing.datasets import CHANNELS

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

wildcard_constraints:
    exp="|".join(EXPERIMENTS),
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


def shard_count(exp):
    return experiment(config, exp).get("shards", config["certify"]["shards"])


def shard_path(exp, shard, shards):
    return f"{RESULTS}/certify/shards/{exp}/{shard}-of-{shards}.tsv"


def certification_shards(wildcards):
    """The experiment's shard TSVs, in shard order."""
    shards = shard_count(wildcards.exp)
    return [shard_path(wildcards.exp, shard, shards) for shard in range(shards)]


def benchmark_tables():
    return [f"{RESULTS}/tables/benchmark.{ext}" for ext in ("csv", "md", "tex")]


def vary_dim_figures():
    return [f"{RESULTS}/figures/vary_dim.{ext}" for ext in ("png", "pdf")]


def other_tables_and_figures():
    """Everything `all` builds beside the paper's table and figure."""
    tables = [f"{RESULTS}/tables/certified_at_radii.{ext}" for ext in ("csv", "md")]
    figures = [f"{RESULTS}/figures/{name}.{ext}" for name in ("certified_l2", "certified_normalized",
                                                               "training_curves") for ext in ("png", "pdf")]
    return tables + figures


def dimension(exp):
    return CHANNELS[config["dataset"]] * experiment(config, exp)["image_size"] ** 2


def training_processes(wildcards):
    return experiment_training(config, wildcards.exp)["processes"]


def train_launcher(wildcards):
    """python, or torchrun (as `python -m torch.distributed.run`, the job's own interpreter)
    for data-parallel training on this node."""
    processes = training_processes(wildcards)
    if processes == 1:
        return "python"
    return f"python -m torch.distributed.run --standalone --nproc-per-node {processes}"


def train_params(wildcards):
    """Every setting the training script takes, so a change to any reruns that model."""
    exp = experiment(config, wildcards.exp)
    train = experiment_training(config, wildcards.exp)
    return {
        "sigma": exp["sigma"], "epsilon": exp["epsilon"], "beta": exp["beta"],
        "attack_steps": exp["attack_steps"], "depth": train["architecture"]["depth"],
        "widths": " ".join(map(str, train["architecture"]["widths"])),
        "epochs": train["epochs"], "batch_size": train["batch_size"], "lr": train["lr"],
        "momentum": train["momentum"], "weight_decay": train["weight_decay"],
        "lr_milestones": " ".join(map(str, train["lr_milestones"])), "lr_gamma": train["lr_gamma"],
        "crop_padding": train["crop_padding"], "seed": train["seed"],
        "mixed_precision": "--mixed-precision" if train["mixed_precision"] else "",
    }


def certify_params(wildcards):
    exp = experiment(config, wildcards.exp)
    max_images = exp.get("max_images")
    c = config["certify"]
    return dict(c, sigma=exp["sigma"], skip=exp["skip"], shards=shard_count(wildcards.exp),
                max_images=f"--max-images {max_images}" if max_images else "",
                compile="--compile" if c["compile"] else "",
                mixed_precision="--mixed-precision" if c["mixed_precision"] else "")


def noise_arguments():
    """LABEL=SIGMA:DIMENSION of each experiment, for the l2 and normalized figures and the ceilings."""
    return " ".join(f"{exp}={experiment(config, exp)['sigma']}:{dimension(exp)}" for exp in EXPERIMENTS)


def reference_curves():
    """label -> path of the configured reference certification files, found from the workflow's folder."""
    root = os.path.relpath(workflow.basedir)
    return {c["label"]: os.path.normpath(os.path.join(root, c["path"])) for c in config["analysis"]["reference_curves"]}


def reference_arguments():
    curves = reference_curves()
    if not curves:
        return ""
    return "--reference " + " ".join(shlex.quote(f"{label}={path}") for label, path in curves.items())


def labelled_certifications():
    return " ".join(f"{exp}={certification_path(exp)}" for exp in EXPERIMENTS)
