# TRADES + Gaussian noise training, one model per experiment.


rule train:
    input:
        train=lambda wc: resized("train", experiment(config, wc.exp)["image_size"]),
        test=lambda wc: resized("test", experiment(config, wc.exp)["image_size"]),
    output:
        model=model_path("{exp}"),
        metrics=metrics_path("{exp}"),
    params:
        p=train_params,
        device=config["device"],
        resume=lambda wildcards: resume_path(wildcards.exp),
        launcher=train_launcher,
    threads: JOB_THREADS
    resources:
        gpu=training_processes,
        runtime=48 * 60,
        mem_mb=16000,
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("train", "{exp}"),
    benchmark:
        benchmark_path("train", "{exp}")
    shell:
        script("train.py", launcher="{params.launcher}") + " --train-data {input.train} --test-data {input.test}"
        " --sigma {params.p[sigma]} --epsilon {params.p[epsilon]} --beta {params.p[beta]}"
        " --attack-steps {params.p[attack_steps]} --depth {params.p[depth]} --widths {params.p[widths]}"
        " --epochs {params.p[epochs]} --batch-size {params.p[batch_size]} --lr {params.p[lr]}"
        " --momentum {params.p[momentum]} --weight-decay {params.p[weight_decay]}"
        " --lr-milestones {params.p[lr_milestones]} --lr-gamma {params.p[lr_gamma]}"
        " --crop-padding {params.p[crop_padding]} --seed {params.p[seed]} {params.p[mixed_precision]}"
        " --device {params.device} --threads {threads}"
        " --model-out {output.model} --metrics-out {output.metrics} --resume-state {params.resume}"
        " >> {log} 2>&1"
