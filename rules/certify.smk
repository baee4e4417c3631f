# Randomized-smoothing certification of each model on its chosen test images, in
# `shards` jobs per experiment (certify.shards, or the experiment's own `shards`), gathered
# into one TSV with its description. A failed or deleted shard reruns alone.


rule certify:
    input:
        model=model_path("{exp}"),
        test=lambda wc: resized("test", experiment(config, wc.exp)["image_size"]),
    output:
        tsv=shard_path("{exp}", "{shard}", "{shards}"),
        description=description_path(shard_path("{exp}", "{shard}", "{shards}")),
    log:
        log_path("certify", "{exp}/{shard}-of-{shards}"),
    benchmark:
        benchmark_path("certify", "{exp}/{shard}-of-{shards}")
    conda:
        "../envs/pipeline.yaml"
    threads: JOB_THREADS
    resources:
        gpu=1,
        runtime=48 * 60,
        mem_mb=8000,
    params:
        settings=certify_options,
        device=config["device"],
    shell:
        script("certify.py")
        + " {params.settings} --model {input.model} --test-data {input.test}"
        " --shard {wildcards.shard} --shards {wildcards.shards}"
        " --device {params.device} --threads {threads} --out {output.tsv} > {log} 2>&1"


rule gather_certification:
    input:
        tsvs=certification_shards,
        descriptions=certification_descriptions,
    output:
        tsv=certification_path("{exp}"),
        description=description_path(certification_path("{exp}")),
    log:
        log_path("gather_certification", "{exp}"),
    benchmark:
        benchmark_path("gather_certification", "{exp}")
    conda:
        "../envs/pipeline.yaml"
    params:
        threshold=config["analysis"]["linf_threshold"],
    shell:
        script("gather_certification.py")
        + " {input.tsvs} --threshold {params.threshold}"
        " --out {output.tsv} > {log} 2>&1"
