# Tables, figures and the provenance record, one job each so any can be rebuilt alone. The
# analysis reads sigma, d, N and alpha from each certification's description.


rule benchmark_table:
    input:
        runs=certifications(),
        published=list(published_files().values()),
    output:
        report(
            f"{RESULTS}/tables/benchmark.csv",
            caption="../report/benchmark.rst",
            category="Tables",
        ),
        f"{RESULTS}/tables/benchmark.md",
        f"{RESULTS}/tables/benchmark.tex",
    log:
        log_path("benchmark_table", "benchmark"),
    benchmark:
        benchmark_path("benchmark_table", "benchmark")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=ANALYSIS_OPTIONS,
        published=published_arguments(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py")
        + " {params.runs} {params.settings} {params.published} --only table"
        " --outdir {params.outdir} > {log} 2>&1"


rule radius_grid_table:
    input:
        certifications(),
    output:
        report(
            f"{RESULTS}/tables/certified_at_radii.csv",
            caption="../report/certified_at_radii.rst",
            category="Tables",
        ),
        f"{RESULTS}/tables/certified_at_radii.md",
    log:
        log_path("radius_grid_table", "certified_at_radii"),
    benchmark:
        benchmark_path("radius_grid_table", "certified_at_radii")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=ANALYSIS_OPTIONS,
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only grid"
        " --outdir {params.outdir} > {log} 2>&1"


rule vary_dim_figure:
    input:
        runs=certifications(),
        reference=list(reference_curves().values()),
    output:
        report(
            f"{RESULTS}/figures/vary_dim.png",
            caption="../report/vary_dim.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/vary_dim.pdf",
    log:
        log_path("vary_dim_figure", "vary_dim"),
    benchmark:
        benchmark_path("vary_dim_figure", "vary_dim")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=ANALYSIS_OPTIONS,
        reference=reference_arguments(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py")
        + " {params.runs} {params.settings} {params.reference} --only vary_dim"
        " --outdir {params.outdir} > {log} 2>&1"


rule radius_figures:
    input:
        certifications(),
    output:
        report(
            f"{RESULTS}/figures/certified_l2.png",
            caption="../report/certified_l2.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/certified_l2.pdf",
        report(
            f"{RESULTS}/figures/certified_normalized.png",
            caption="../report/certified_normalized.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/certified_normalized.pdf",
    log:
        log_path("radius_figures", "radius_figures"),
    benchmark:
        benchmark_path("radius_figures", "radius_figures")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=ANALYSIS_OPTIONS,
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only radius_figures"
        " --outdir {params.outdir} > {log} 2>&1"


rule methods_comparison:
    input:
        certifications(),
    output:
        report(
            f"{RESULTS}/tables/methods.csv",
            caption="../report/methods.rst",
            category="Tables",
        ),
        f"{RESULTS}/tables/methods.md",
        report(
            f"{RESULTS}/figures/methods_linf.png",
            caption="../report/methods_figures.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/methods_linf.pdf",
        report(
            f"{RESULTS}/figures/methods_normalized.png",
            caption="../report/methods_figures.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/methods_normalized.pdf",
    log:
        log_path("methods_comparison", "methods"),
    benchmark:
        benchmark_path("methods_comparison", "methods")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=ANALYSIS_OPTIONS,
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        figure_outdir=lambda wildcards, output: os.path.dirname(output[2]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only methods"
        " --outdir {params.outdir} --figure-outdir {params.figure_outdir} > {log} 2>&1"


rule training_curves:
    input:
        metrics=[metrics_path(exp) for exp in TRAINED],
        checkpoints=[model_path(exp) for exp in TRAINED],  # their metadata names each run's method
    output:
        report(
            f"{RESULTS}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Figures",
        ),
        f"{RESULTS}/figures/training_curves.pdf",
    log:
        log_path("training_curves", "training_curves"),
    benchmark:
        benchmark_path("training_curves", "training_curves")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=" ".join(f"{exp}={metrics_path(exp)}" for exp in TRAINED),
        checkpoints=" ".join(f"{exp}={model_path(exp)}" for exp in TRAINED),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("plot_training.py")
        + " {params.runs} --checkpoint {params.checkpoints} --outdir {params.outdir} > {log} 2>&1"


rule provenance:
    input:
        rules.benchmark_table.output,
        rules.radius_grid_table.output,
        rules.vary_dim_figure.output,
        rules.radius_figures.output,
        rules.methods_comparison.output,
        rules.training_curves.output if TRAINED else [],
        rules.prediction_table.output if config["predict"]["enabled"] else [],
    output:
        report(
            f"{RESULTS}/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        log_path("provenance", "provenance"),
    benchmark:
        benchmark_path("provenance", "provenance")
    conda:
        "../envs/pipeline.yaml"
    params:
        config=json.dumps(config, sort_keys=True),
        benchmarks=f"{RESULTS}/benchmarks",
        repository=workflow.basedir,
    shell:
        script("provenance.py")
        + " --config {params.config:q} --benchmarks {params.benchmarks}"
        " --repository {params.repository} --out {output} > {log} 2>&1"
