# Cohen et al.'s abstaining PREDICT on each experiment's images and its accuracy table;
# built by `all` when predict.enabled is set (off in the paper's configuration).


rule predict:
    input:
        model=model_path("{exp}"),
        test=lambda wc: resized("test", experiment(config, wc.exp)["image_size"]),
    output:
        tsv=prediction_path("{exp}"),
        description=description_path(prediction_path("{exp}")),
    log:
        log_path("predict", "{exp}"),
    benchmark:
        benchmark_path("predict", "{exp}")
    conda:
        "../envs/pipeline.yaml"
    threads: JOB_THREADS
    resources:
        gpu=1,
        runtime=48 * 60,
        mem_mb=8000,
    params:
        settings=predict_options,
        device=config["device"],
    shell:
        script("predict.py")
        + " {params.settings} --model {input.model} --test-data {input.test}"
        " --device {params.device} --threads {threads} --out {output.tsv} > {log} 2>&1"


rule prediction_table:
    input:
        checked_predictions,
    output:
        f"{RESULTS}/tables/predict.csv",
        f"{RESULTS}/tables/predict.md",
        report(
            f"{RESULTS}/tables/predict.html",
            caption="../report/predict.rst",
            category=TABLES,
        ),
    log:
        log_path("prediction_table", "predict"),
    benchmark:
        benchmark_path("prediction_table", "predict")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=" ".join(f"{exp}={prediction_path(exp)}" for exp in EXPERIMENTS),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("prediction_table.py")
        + " {params.runs} --outdir {params.outdir} > {log} 2>&1"
