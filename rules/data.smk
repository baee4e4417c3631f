# CIFAR-10 download (checksum-verified) and the once-per-size resize of both splits.


rule download_cifar10:
    output:
        expand(
            "{data}/cifar10/cifar-10-batches-py/{name}",
            data=DATA,
            name=[f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"],
        ),
    log:
        log_path("download_cifar10", "cifar10"),
    benchmark:
        benchmark_path("download_cifar10", "cifar10")
    conda:
        "../envs/pipeline.yaml"
    params:
        root=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
    shell:
        script("download_cifar10.py") + " --root {params.root} > {log} 2>&1"


rule resize:
    input:
        resize_inputs,
    output:
        train=resized("train", "{size}"),
        test=resized("test", "{size}"),
    log:
        log_path("resize", f"{config['dataset']}_size{{size}}"),
    benchmark:
        benchmark_path("resize", f"{config['dataset']}_size{{size}}")
    conda:
        "../envs/pipeline.yaml"
    params:
        dataset=config["dataset"],
        data_dir=DATA,
    shell:
        script("resize.py")
        + " --dataset {params.dataset} --data-dir {params.data_dir} --size {wildcards.size}"
        " --train-out {output.train} --test-out {output.test} > {log} 2>&1"
