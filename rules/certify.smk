# Randomized-smoothing certification of each model on its chosen test images.


rule certify:
    input:
        model=model_path("{exp}"),
        test=lambda wc: resized("test", experiment(config, wc.exp)["image_size"]),
    output:
        certification_path("{exp}"),
    params:
        p=certify_params,
        device=config["device"],
    threads: workflow.cores
    resources:
        gpu=1,
        runtime=48 * 60,
        mem_mb=8000,
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("certify", "{exp}"),
    benchmark:
        benchmark_path("certify", "{exp}")
    shell:
        script("certify.py") + " --model {input.model} --test-data {input.test}"
        " --sigma {params.p[sigma]} --n0 {params.p[n0]} --n {params.p[n]} --alpha {params.p[alpha]}"
        " --batch-size {params.p[batch_size]} --variant {params.p[variant]} --skip {params.p[skip]}"
        " {params.p[max_images]} --seed {params.p[seed]} {params.p[compile]} {params.p[mixed_precision]}"
        " --device {params.device} --threads {threads}"
        " --out {output} > {log} 2>&1"
