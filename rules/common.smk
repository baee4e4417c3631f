# Config validation and the functions that map an experiment to its paths and parameters.
import copy
import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.common.configfile import load_configfile
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import update_config

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from linf_smoothing.checks import (
    checkpoint_metadata,
    checkpoint_mismatch,
    description_mismatch,
    file_digest,
    split_damage,
    split_description_path,
)
from linf_smoothing.config import (
    analysis_settings,
    certify_settings,
    config_source,
    experiment,
    experiment_training,
    predict_settings,
    train_settings,
    trained_experiments,
    validate_config,
)
from linf_smoothing.datasets import CHANNELS, TEST_IMAGES
from linf_smoothing.errors import ConfigError
from linf_smoothing.settings import OUTPUT_SETTINGS, as_dict, to_arguments
from linf_smoothing.shards import selected_images, shard_damage, shard_images


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
    """Merge the profile's overlays beneath the command line's; log and return the
    configuration files in merge order (for naming the file a bad key came from)."""
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
    command_line = [
        str(path)
        for path in workflow.overwrite_configfiles or []
        if os.path.abspath(path) not in map(os.path.abspath, overlays)
    ]
    files = ["config.yaml"] + [f"{shown(path)} (profile)" for path in overlays]
    files += [shown(path) for path in command_line]
    files += [
        f"--config {key}"
        for key in workflow.config_settings.config
        if key != "profile_configfiles"
    ]
    logger.info("Configuration: " + ", ".join(files))
    return [os.path.join(workflow.basedir, "config.yaml")] + overlays + command_line


CONFIGFILES = merge_profile_overlays(config)


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


try:
    validate_config(config)
except ConfigError as error:
    key = getattr(error, "key", None)
    source = None if key is None else config_source(CONFIGFILES, key)
    where = (
        f"set in {source}"
        if source
        else (
            "set by --config on the command line"
            if key is not None
            else "in config.yaml or an overlay"
        )
    )
    raise WorkflowError(f"{error} ({where})") from None

warn_of_dropped_experiments(config)

for i, exp in enumerate(config["experiments"]):
    if "checkpoint" in exp and not os.path.isfile(exp["checkpoint"]["path"]):
        path = exp["checkpoint"]["path"]
        raise WorkflowError(
            f"config key experiments[{i}].checkpoint.path: {path} is not a file "
            f"({'a directory' if os.path.isdir(path) else 'missing'}, relative to {os.getcwd()}): "
            "give the path of the released checkpoint file"
        )

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
    """The resize job's inputs; first, each split already resized at this size that is not
    what the job makes (cut short, another split or size, not what its description says) is
    set aside, so that the job makes it again."""
    for split in ("train", "test"):
        path = resized(split, wildcards.size)
        if os.path.exists(path):
            why = split_damage(path, config["dataset"], split, int(wildcards.size))
            if why is not None:
                set_aside(path, why, [split_description_path(path)])
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
    """The experiment's shard TSVs, in shard order. A shard or gathered file that is not what
    this run would make (damaged, edited, another run's) is set aside first, so that this run
    makes it again."""
    shards = shard_count(wildcards.exp)
    paths = [shard_path(wildcards.exp, shard, shards) for shard in range(shards)]
    gathered, optional = expected_description(wildcards.exp)
    for shard, path in enumerate(paths):
        images = len(shard_indices(wildcards.exp, shard, shards))
        set_aside_if_not_made_by(
            path, images, (dict(gathered, shard=shard, shards=shards), optional)
        )
    set_aside_if_not_made_by(
        certification_path(wildcards.exp),
        len(shard_indices(wildcards.exp, 0, 1)),
        (dict(gathered, shards=shards), optional),
    )
    return paths


def shard_indices(exp, shard, shards):
    """The test images shard `shard` of `shards` of experiment `exp` certifies."""
    spec = experiment(config, exp)
    selected = selected_images(
        TEST_IMAGES[config["dataset"]], spec["skip"], spec.get("max_images")
    )
    return shard_images(selected, shard, shards)


def read_json(path):
    """A JSON file's content, or None where it is missing or not JSON."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def expected_description(exp, settings=None):
    """What the description of experiment `exp`'s certification (or, given its `settings`, its
    prediction file) says when this run makes it: its settings, data, and the digest of its
    model where the model exists; and, where the description records them (files of earlier
    versions may not), the test data's digest and the training its model records."""
    size = experiment(config, exp)["image_size"]
    settings = certify_settings(config, exp) if settings is None else settings
    expected = as_dict(settings) | {
        "dataset": config["dataset"],
        "image_size": size,
        "dimension": CHANNELS[config["dataset"]] * size * size,
        "test_images": TEST_IMAGES[config["dataset"]],
    }
    optional = {}
    if os.path.isfile(model_path(exp)):
        expected["model_sha256"] = file_digest(model_path(exp))
        training = (checkpoint_metadata(model_path(exp)) or {}).get("training")
        optional |= {
            "training": training,
            "training_method": (training or {}).get("method"),
        }
    test_data = read_json(split_description_path(resized("test", size)))
    if test_data is not None:
        optional["test_data_sha256"] = test_data.get("sha256")
    return expected, optional


def why_not_made_by(path, rows, expected):
    """Why the finished certification or prediction file `path` is not what this run would
    make (`expected`: what its description must and may say), or None."""
    damage = shard_damage(path, rows)
    if damage is not None:
        return damage
    description = read_json(description_path(path))
    if description is None:
        return "its description is missing or not JSON"
    mismatch = description_mismatch(description, *expected)
    if mismatch is not None:
        return mismatch
    digest = description.get("rows_sha256")
    if digest is not None and digest != file_digest(path):
        return "its rows are not the ones its description was written for"
    return None


def set_aside(path, why, companions=()):
    """A finished file that is not what this run makes (`why`): a run moves it and its
    `companions` to `.damaged`, so that Snakemake, which would take it as done, makes it
    again; a dry run moves nothing and plans the job that makes it (and every job after it),
    so that it lists every job a run would do. A job's own Snakemake process (SLURM) leaves
    this to the main one."""
    if not workflow.is_main_process:
        return
    if workflow.dryrun:
        workflow.dag.forcefiles.add(path)
        logger.warning(
            f"{path}: {why}; a run (not a dry run) sets it aside and makes it again"
        )
        return
    for damaged in (path, *companions):
        if os.path.exists(damaged):
            os.replace(damaged, f"{damaged}.damaged")
    logger.warning(f"{path}: {why}; set aside as {path}.damaged and made again")


def set_aside_if_not_made_by(path, rows, expected):
    """Set aside a finished certification or prediction file that is damaged, holds other than
    `rows` rows, or is not what `expected` describes (and its description)."""
    if not os.path.exists(path):
        return
    why = why_not_made_by(path, rows, expected)
    if why is not None:
        set_aside(path, why, [description_path(path)])


def model_not_made_by(exp):
    """Why experiment `exp`'s finished model is not the one its train (or import) job makes
    (another method, sigma, setting, image size or data; another released file), or None; read
    without torch (`checks.checkpoint_metadata`)."""
    spec = experiment(config, exp)
    facts = dict(
        image_size=spec["image_size"],
        channels=CHANNELS[config["dataset"]],
        dataset=config["dataset"],
    )
    if "checkpoint" in spec:
        source = spec["checkpoint"]
        imported = {
            "format": source["format"],
            "source_sha256": file_digest(source["path"]),
        }
        return checkpoint_mismatch(
            checkpoint_metadata(model_path(exp)), imported=imported, **facts
        )
    data = {
        split: (
            read_json(split_description_path(resized(split, spec["image_size"]))) or {}
        ).get("sha256")
        for split in ("train", "test")
    }
    return checkpoint_mismatch(
        checkpoint_metadata(model_path(exp)),
        training=as_dict(train_settings(config, exp)),
        data_sha256=data,
        **facts,
    )


def checked_model(exp, companions=()):
    """Set aside experiment `exp`'s model (and `companions`) where it is not the one its job
    makes; planned before Snakemake decides which jobs run."""
    if os.path.exists(model_path(exp)):
        why = model_not_made_by(exp)
        if why is not None:
            set_aside(model_path(exp), why, companions)


def training_data(wildcards):
    """The train job's inputs (the resized splits); first, its finished model is checked."""
    checked_model(wildcards.exp, [metrics_path(wildcards.exp)])
    size = experiment(config, wildcards.exp)["image_size"]
    return {"train": resized("train", size), "test": resized("test", size)}


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
    shards = shard_count(wildcards.exp)
    return [
        description_path(shard_path(wildcards.exp, shard, shards))
        for shard in range(shards)
    ]


def train_options(wildcards):
    """The training script's settings options (settings.TrainSettings), so a change to any reruns that model."""
    return to_arguments(train_settings(config, wildcards.exp))


def released_checkpoint(wildcards):
    """The configured released checkpoint of an imported experiment."""
    return experiment(config, wildcards.exp)["checkpoint"]


def released_checkpoint_path(wildcards):
    """The import job's input; first, its finished model is checked."""
    checked_model(wildcards.exp)
    return released_checkpoint(wildcards)["path"]


def certify_options(wildcards):
    """The certification script's settings options (settings.CertifySettings)."""
    return to_arguments(certify_settings(config, wildcards.exp))


def analysis_options(output):
    """analyze.py's settings options for `output` (an --only group), from the configuration."""
    return to_arguments(analysis_settings(config), OUTPUT_SETTINGS[output])


# The report's categories, which it lists in alphabetical order: the paper's figure first,
# then the tables (the paper's, benchmark, first by name), the other figures, the provenance.
PAPERS_FIGURE = "1. The paper's figure"
TABLES = "2. Tables"
FIGURES = "3. Figures"
PROVENANCE = "4. Provenance"


def predict_options(wildcards):
    """The prediction script's settings options (settings.PredictSettings)."""
    return to_arguments(predict_settings(config, wildcards.exp))


def prediction_path(exp):
    return f"{RESULTS}/predict/{exp}.tsv"


def checked_predictions(wildcards):
    """Every experiment's prediction file, each first set aside where it is not what this run
    makes (damaged, edited, another model's or settings')."""
    paths = []
    for exp in EXPERIMENTS:
        settings = predict_settings(config, exp)
        rows = len(
            selected_images(
                TEST_IMAGES[config["dataset"]], settings.skip, settings.max_images
            )
        )
        set_aside_if_not_made_by(
            prediction_path(exp), rows, expected_description(exp, settings)
        )
        paths.append(prediction_path(exp))
    return paths


def models():
    """Every experiment's model, and the per-epoch metrics of each trained one: targets of
    `all`, so that a deleted model is rebuilt."""
    return [model_path(exp) for exp in EXPERIMENTS] + [
        metrics_path(exp) for exp in TRAINED
    ]


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


def foreign_files(key):
    """label -> entry of the configured foreign certification files under analysis.`key`
    (reference_curves: by label; published_files: by method), paths found from the
    workflow's folder."""
    root = os.path.relpath(workflow.basedir)
    return {
        entry.get("label", entry.get("method")): dict(
            entry, path=os.path.normpath(os.path.join(root, entry["path"]))
        )
        for entry in config["analysis"][key]
    }


def reference_curves():
    """label -> path of the configured reference certification files."""
    return {label: e["path"] for label, e in foreign_files("reference_curves").items()}


def published_files():
    """method -> path of the published files the table's published rows are computed from."""
    return {label: e["path"] for label, e in foreign_files("published_files").items()}


def foreign_arguments(key, option):
    """analyze.py's options for the foreign files under analysis.`key`: `option` LABEL=PATH,
    then what is declared of each (--radius-norm, --noise, --n, --alpha)."""
    files = foreign_files(key)
    if not files:
        return ""
    declared = {
        "--radius-norm": [f"{label}={e['radius_norm']}" for label, e in files.items()],
        "--noise": [
            f"{label}={e['sigma']}:{e['dimension']}" for label, e in files.items()
        ],
        "--n": [f"{label}={e['n']}" for label, e in files.items() if "n" in e],
        "--alpha": [
            f"{label}={e['alpha']}" for label, e in files.items() if "alpha" in e
        ],
    }
    words = [option] + [f"{label}={e['path']}" for label, e in files.items()]
    for flag, values in declared.items():
        words += [flag] + values if values else []
    return shlex.join(words)


def published_arguments():
    return foreign_arguments("published_files", "--published")


def reference_arguments():
    return foreign_arguments("reference_curves", "--reference")
