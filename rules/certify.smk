# Randomized-smoothing certification of each model on its chosen test images, in
# `shards` jobs per experiment (certify.shards, or the experiment's own `shards`), gathered
# into one TSV. A failed or deleted shard reruns alone.


rule certify:
    input:
        model=model_path("{exp}"),
        test=lambda wc: resized("test", experiment(config, wc.exp)["image_size"]),
    output:
        shard_path("{exp}", "{shard}", "{shards}"),
    params:
        p=certify_params,
        device=config["device"],
    threads: JOB_THREADS
    resources:
        gpu=1,
        runtime=48 * 60,
        mem_mb=8000,
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("certify", "{exp}/{shard}-of-{shards}"),
    benchmark:
        benchmark_path("certify", "{exp}/{shard}-of-{shards}")
    shell:
        script("certify.py") + " --model {input.model} --test-data {input.test}"
        " --sigma {params.p[sigma]} --n0 {params.p[n0]} --n {params.p[n]} --alpha {params.p[alpha]}"
        " --batch-size {params.p[batch_size]} --variant {params.p[variant]} --skip {params.p[skip]}"
        " {params.p[max_images]} --shard {wildcards.shard} --shards {wildcards.shards}"
        " --seed {params.p[seed]} {params.p[compile]} {params.p[mixed_precision]}"
        " --device {params.device} --threads {threads}"
        " --out {output} > {log} 2>&1"


rule gather_certification:
    input:
        certification_shards,
    output:
        certification_path("{exp}"),
    params:
        threshold=config["analysis"]["linf_threshold"],
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("gather_certification", "{exp}"),
    benchmark:
        benchmark_path("gather_certification", "{exp}")
    shell:
        script("gather_certification.py") + " {input} --threshold {params.threshold} --out {output} > {log} 2>&1"
