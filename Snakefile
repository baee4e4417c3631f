# Blum, Dick, Manoj, Zhang (2020): TRADES + Gaussian noise, randomized smoothing, l-inf
import os

# certificates at three image sizes. `snakemake all` builds the table and the figure.
configfile: os.path.join(workflow.basedir, "config.yaml")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/certify.smk"
include: "rules/analysis.smk"


rule all:
    input:
        benchmark_tables(),
        vary_dim_figures(),
    default_target: True
