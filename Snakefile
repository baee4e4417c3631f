# Blum, Dick, Manoj, Zhang (2020): TRADES + Gaussian noise, randomized smoothing, l-inf
# certificates at three image sizes. `snakemake all` builds the tables, the figures and a
# provenance record; `snakemake --report report.html` gathers them into one page.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/certify.smk"
include: "rules/predict.smk"
include: "rules/analysis.smk"


rule all:
    default_target: True
    input:
        rules.provenance.input,
        rules.provenance.output,
        # The models and certifications too, so that a deleted model, shard or gathered file
        # is rebuilt (Snakemake does not rebuild a missing intermediate whose consumers exist).
        models(),
        every_shard(),
        certifications(),
