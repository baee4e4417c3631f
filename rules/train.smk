# Training, one model per experiment, by the experiment's method (TRADES + Gaussian noise in
# the paper); an experiment with a `checkpoint:` imports a released model instead.


rule train:
    input:
        unpack(training_data),
    output:
        model=model_path("{exp}"),
        metrics=metrics_path("{exp}"),
    log:
        log_path("train", "{exp}"),
    benchmark:
        benchmark_path("train", "{exp}")
    wildcard_constraints:
        exp=one_of(TRAINED),
    conda:
        "../envs/pipeline.yaml"
    threads: JOB_THREADS
    resources:
        gpu=training_processes,
        runtime=48 * 60,
        mem_mb=16000,
    params:
        settings=train_options,
        device=config["device"],
        resume=lambda wildcards: resume_path(wildcards.exp),
        launcher=train_launcher,
    shell:
        script("train.py", launcher="{params.launcher}") + " {params.settings}"
        " --train-data {input.train} --test-data {input.test} --device {params.device} --threads {threads}"
        " --model-out {output.model} --metrics-out {output.metrics} --resume-state {params.resume}"
        " >> {log} 2>&1"


rule import_checkpoint:
    input:
        released_checkpoint_path,
    output:
        model_path("{exp}"),
    log:
        log_path("import_checkpoint", "{exp}"),
    benchmark:
        benchmark_path("import_checkpoint", "{exp}")
    wildcard_constraints:
        exp=one_of(IMPORTED),
    conda:
        "../envs/pipeline.yaml"
    params:
        format=lambda wc: released_checkpoint(wc)["format"],
    shell:
        script("import_checkpoint.py")
        + " --format {params.format} --checkpoint {input} --out {output} > {log} 2>&1"
