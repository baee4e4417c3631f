# The benchmark table and the vary-dim figure, as separate jobs so either can be rebuilt alone.


rule benchmark_table:
    input:
        [certification_path(exp) for exp in EXPERIMENTS],
    output:
        benchmark_tables(),
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


rule vary_dim_figure:
    input:
        [certification_path(exp) for exp in EXPERIMENTS],
    output:
        report(vary_dim_figures()[0], caption="../report/vary_dim.rst", category="Figures"),
        vary_dim_figures()[1],
    params:
        runs=labelled_certifications(),
        outdir=lambda wildcards, output: os.path.dirname(output[0]),
        threshold=config["analysis"]["linf_threshold"],
        radius_max=config["analysis"]["radius_max"],
        radius_points=config["analysis"]["radius_points"],
        figure_skip=config["analysis"]["figure_skip"],
        title=config["analysis"]["figure_title"],
        ceilings=" ".join(map(str, largest_certifiable_radii())),
    conda:
        "../envs/pipeline.yaml"
    log:
        log_path("vary_dim_figure", "vary_dim"),
    benchmark:
        benchmark_path("vary_dim_figure", "vary_dim")
    shell:
        script("analyze.py") + " {params.runs} --only figure --outdir {params.outdir}"
        " --threshold {params.threshold} --radius-max {params.radius_max}"
        " --radius-points {params.radius_points} --figure-skip {params.figure_skip}"
        " --ceiling {params.ceilings} --title {params.title:q} > {log} 2>&1"
