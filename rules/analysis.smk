# Tables, figures and the provenance record, one job each so any can be rebuilt alone.


rule benchmark_table:
    input:
        [certification_path(exp) for exp in EXPERIMENTS],
    output:
        report(f"{RESULTS}/tables/benchmark.csv", caption="../report/benchmark.rst", category="Tables"),
        f"{RESULTS}/tables/benchmark.md",
        f"{RESULTS}/tables/benchmark.tex",
    params:
        runs=labelled_certifications(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        threshold=config["analysis"]["linf_threshold"],
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("benchmark_table", "benchmark"),
    benchmark:
        benchmark_path("benchmark_table", "benchmark")
    shell:
        script("analyze.py") + " {params.runs} --only table --outdir {params.outdir}"
        " --threshold {params.threshold} > {log} 2>&1"


rule radius_grid_table:
    input:
        [certification_path(exp) for exp in EXPERIMENTS],
    output:
        report(f"{RESULTS}/tables/certified_at_radii.csv", caption="../report/certified_at_radii.rst",
               category="Tables"),
        f"{RESULTS}/tables/certified_at_radii.md",
    params:
        runs=labelled_certifications(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        radii=" ".join(map(str, config["analysis"]["grid_radii"])),
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("radius_grid_table", "certified_at_radii"),
    benchmark:
        benchmark_path("radius_grid_table", "certified_at_radii")
    shell:
        script("analyze.py") + " {params.runs} --only grid --outdir {params.outdir}"
        " --grid-radii {params.radii} > {log} 2>&1"


rule vary_dim_figure:
    input:
        runs=[certification_path(exp) for exp in EXPERIMENTS],
        reference=list(reference_curves().values()),
    output:
        report(f"{RESULTS}/figures/vary_dim.png", caption="../report/vary_dim.rst", category="Figures"),
        f"{RESULTS}/figures/vary_dim.pdf",
    params:
        runs=labelled_certifications(),
        reference=reference_arguments(),
        noise=noise_arguments(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        threshold=config["analysis"]["linf_threshold"],
        radius_max=config["analysis"]["radius_max"],
        radius_points=config["analysis"]["radius_points"],
        figure_skip=config["analysis"]["figure_skip"],
        n=config["certify"]["n"],
        alpha=config["certify"]["alpha"],
        title=config["analysis"]["figure_title"],
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("vary_dim_figure", "vary_dim"),
    benchmark:
        benchmark_path("vary_dim_figure", "vary_dim")
    shell:
        script("analyze.py") + " {params.runs} --only vary_dim --outdir {params.outdir}"
        " {params.reference} --noise {params.noise} --n {params.n} --alpha {params.alpha}"
        " --threshold {params.threshold} --radius-max {params.radius_max}"
        " --radius-points {params.radius_points} --figure-skip {params.figure_skip}"
        " --title {params.title:q} > {log} 2>&1"


rule radius_figures:
    input:
        [certification_path(exp) for exp in EXPERIMENTS],
    output:
        report(f"{RESULTS}/figures/certified_l2.png", caption="../report/certified_l2.rst", category="Figures"),
        f"{RESULTS}/figures/certified_l2.pdf",
        report(f"{RESULTS}/figures/certified_normalized.png", caption="../report/certified_normalized.rst",
               category="Figures"),
        f"{RESULTS}/figures/certified_normalized.pdf",
    params:
        runs=labelled_certifications(),
        noise=noise_arguments(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        radius_points=config["analysis"]["radius_points"],
        figure_skip=config["analysis"]["figure_skip"],
        n=config["certify"]["n"],
        alpha=config["certify"]["alpha"],
        title=config["analysis"]["figure_title"],
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("radius_figures", "radius_figures"),
    benchmark:
        benchmark_path("radius_figures", "radius_figures")
    shell:
        script("analyze.py") + " {params.runs} --only radius_figures --outdir {params.outdir}"
        " --noise {params.noise} --n {params.n} --alpha {params.alpha}"
        " --radius-points {params.radius_points} --figure-skip {params.figure_skip}"
        " --title {params.title:q} > {log} 2>&1"


rule training_curves:
    input:
        [metrics_path(exp) for exp in EXPERIMENTS],
    output:
        report(f"{RESULTS}/figures/training_curves.png", caption="../report/training_curves.rst",
               category="Figures"),
        f"{RESULTS}/figures/training_curves.pdf",
    params:
        runs=" ".join(f"{exp}={metrics_path(exp)}" for exp in EXPERIMENTS),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("training_curves", "training_curves"),
    benchmark:
        benchmark_path("training_curves", "training_curves")
    shell:
        script("plot_training.py") + " {params.runs} --outdir {params.outdir} > {log} 2>&1"


rule provenance:
    input:
        benchmark_tables(),
        vary_dim_figures(),
        other_tables_and_figures(),
    output:
        report(f"{RESULTS}/provenance.json", caption="../report/provenance.rst", category="Provenance"),
    params:
        config=json.dumps(config, sort_keys=True),
        benchmarks=f"{RESULTS}/benchmarks",
        repository=workflow.basedir,
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("provenance", "provenance"),
    benchmark:
        benchmark_path("provenance", "provenance")
    shell:
        script("provenance.py") + " --config {params.config:q} --benchmarks {params.benchmarks}"
        " --repository {params.repository} --out {output} > {log} 2>&1"
