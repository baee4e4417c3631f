# Tables, figures and the provenance record, one job each so any can be rebuilt alone. The
# analysis reads sigma, d, N and alpha from each certification's description. Each job is
# passed only the settings its output reads (settings.OUTPUT_SETTINGS), so that a figure's
# title or x range reruns no table. The report shows the tables' HTML pages (in percent; the
# CSV files hold fractions) under categories (rules/common.smk) that list the paper's first.

# The plotting code, an input of every figure job: a change to it redraws the figures (and only
# them) at the next run of `all` or of `figures` (Snakemake compares its checksum, so a change
# of content counts, a bare touch does not). Relative, as script()'s paths; normalised, as
# Snakemake warns of a leading "./" where the run's folder is the checkout.
PLOTTING_CODE = os.path.normpath(
    os.path.join(
        os.path.relpath(workflow.basedir), "src", "linf_smoothing", "figures.py"
    )
)


# The noise table and its figures, where the experiments are smoothed with more than one noise
# (a noise and its parameters: two shapes of one family are two noises).
NOISES_COMPARED = (
    len(
        {
            (exp.get("noise", "gaussian"), exp.get("noise_p"))
            for exp in config["experiments"]
        }
    )
    > 1
)


rule benchmark_table:
    input:
        runs=certifications(),
        published=list(published_files().values()),
    output:
        f"{RESULTS}/tables/benchmark.csv",
        f"{RESULTS}/tables/benchmark.md",
        report(
            f"{RESULTS}/tables/benchmark.html",
            caption="../report/benchmark.rst",
            category=TABLES,
        ),
        f"{RESULTS}/tables/benchmark.tex",
    log:
        log_path("benchmark_table", "benchmark"),
    benchmark:
        benchmark_path("benchmark_table", "benchmark")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("table"),
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
        f"{RESULTS}/tables/certified_at_radii.csv",
        f"{RESULTS}/tables/certified_at_radii.md",
        report(
            f"{RESULTS}/tables/certified_at_radii.html",
            caption="../report/certified_at_radii.rst",
            category=TABLES,
        ),
    log:
        log_path("radius_grid_table", "certified_at_radii"),
    benchmark:
        benchmark_path("radius_grid_table", "certified_at_radii")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("grid"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only grid"
        " --outdir {params.outdir} > {log} 2>&1"


rule methods_table:
    input:
        certifications(),
    output:
        f"{RESULTS}/tables/methods.csv",
        f"{RESULTS}/tables/methods.md",
        report(
            f"{RESULTS}/tables/methods.html",
            caption="../report/methods.rst",
            category=TABLES,
        ),
    log:
        log_path("methods_table", "methods"),
    benchmark:
        benchmark_path("methods_table", "methods")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("methods_table"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only methods_table"
        " --outdir {params.outdir} > {log} 2>&1"


rule vary_dim_figure:
    input:
        runs=certifications(),
        reference=list(reference_curves().values()),
        code=PLOTTING_CODE,
    output:
        report(
            f"{RESULTS}/figures/vary_dim.png",
            caption="../report/vary_dim.rst",
            category=PAPERS_FIGURE,
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
        settings=analysis_options("vary_dim"),
        reference=reference_arguments(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py")
        + " {params.runs} {params.settings} {params.reference} --only vary_dim"
        " --outdir {params.outdir} > {log} 2>&1"


rule radius_figures:
    input:
        runs=certifications(),
        code=PLOTTING_CODE,
    output:
        report(
            f"{RESULTS}/figures/certified_l2.png",
            caption="../report/certified_l2.rst",
            category=FIGURES,
        ),
        f"{RESULTS}/figures/certified_l2.pdf",
        report(
            f"{RESULTS}/figures/certified_normalized.png",
            caption="../report/certified_normalized.rst",
            category=FIGURES,
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
        settings=analysis_options("radius_figures"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only radius_figures"
        " --outdir {params.outdir} > {log} 2>&1"


rule methods_figures:
    input:
        runs=certifications(),
        code=PLOTTING_CODE,
    output:
        report(
            f"{RESULTS}/figures/methods_linf.png",
            caption="../report/methods_figures.rst",
            category=FIGURES,
        ),
        f"{RESULTS}/figures/methods_linf.pdf",
        report(
            f"{RESULTS}/figures/methods_normalized.png",
            caption="../report/methods_figures.rst",
            category=FIGURES,
        ),
        f"{RESULTS}/figures/methods_normalized.pdf",
    log:
        log_path("methods_figures", "methods_figures"),
    benchmark:
        benchmark_path("methods_figures", "methods_figures")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("methods_figures"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py")
        + " {params.runs} {params.settings} --only methods_figures"
        " --outdir {params.outdir} > {log} 2>&1"


rule noises_table:
    input:
        certifications(),
    output:
        f"{RESULTS}/tables/noises.csv",
        f"{RESULTS}/tables/noises.md",
        report(
            f"{RESULTS}/tables/noises.html",
            caption="../report/noises.rst",
            category=TABLES,
        ),
    log:
        log_path("noises_table", "noises"),
    benchmark:
        benchmark_path("noises_table", "noises")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("noises_table"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only noises_table"
        " --outdir {params.outdir} > {log} 2>&1"


rule noises_figures:
    input:
        runs=certifications(),
        code=PLOTTING_CODE,
    output:
        report(
            f"{RESULTS}/figures/noises_linf.png",
            caption="../report/noises_linf.rst",
            category=FIGURES,
        ),
        f"{RESULTS}/figures/noises_linf.pdf",
        report(
            f"{RESULTS}/figures/noises_median.png",
            caption="../report/noises_median.rst",
            category=FIGURES,
        ),
        f"{RESULTS}/figures/noises_median.pdf",
    log:
        log_path("noises_figures", "noises_figures"),
    benchmark:
        benchmark_path("noises_figures", "noises_figures")
    conda:
        "../envs/pipeline.yaml"
    params:
        runs=labelled_certifications(),
        settings=analysis_options("noises_figures"),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
    shell:
        script("analyze.py") + " {params.runs} {params.settings} --only noises_figures"
        " --outdir {params.outdir} > {log} 2>&1"


rule training_curves:
    input:
        metrics=[metrics_path(exp) for exp in TRAINED],
        checkpoints=[model_path(exp) for exp in TRAINED],  # their metadata names each run's method
        code=PLOTTING_CODE,
    output:
        report(
            f"{RESULTS}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category=FIGURES,
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


# `snakemake figures` (re)draws every figure that is missing or out of date (its certifications,
# settings or the plotting code changed), and nothing else; with `--forcerun vary_dim_figure
# radius_figures methods_figures training_curves noises_figures` it redraws them all regardless.
localrules:
    figures,


rule figures:
    input:
        rules.vary_dim_figure.output,
        rules.radius_figures.output,
        rules.methods_figures.output,
        rules.training_curves.output if TRAINED else [],
        rules.noises_figures.output if NOISES_COMPARED else [],


rule provenance:
    input:
        rules.benchmark_table.output,
        rules.radius_grid_table.output,
        rules.methods_table.output,
        rules.noises_table.output if NOISES_COMPARED else [],
        rules.figures.input,
        rules.prediction_table.output if config["predict"]["enabled"] else [],
    output:
        report(
            f"{RESULTS}/provenance.json",
            caption="../report/provenance.rst",
            category=PROVENANCE,
        ),
    log:
        log_path("provenance", "provenance"),
    benchmark:
        benchmark_path("provenance", "provenance")
    conda:
        "../envs/pipeline.yaml"
    params:
        # the configuration as the run read it; no absolute path, so that moving the folder
        # reruns nothing (provenance.py finds the repository from its own place)
        config=json.dumps(config, sort_keys=True),
        benchmarks=f"{RESULTS}/benchmarks",
    shell:
        script("provenance.py")
        + " --config {params.config:q} --benchmarks {params.benchmarks}"
        " --out {output} > {log} 2>&1"
