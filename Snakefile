# bionmf: consensus NMF rank survey, from expression files to chosen rank, signatures, plots and
# report. Run `snakemake --cores 8` (bundled Golub data) or `snakemake --cores 8 --configfile
# my.yaml`; the README's "The workflow" describes the config keys and the outputs.

import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("8.0")

# The config checks below import this checkout's bionmf even before `pip install -e .`; the jobs
# import the installed one (`pip install -e .`, or envs/bionmf.yaml with --sdm conda).
# current_basedir, not basedir: when a user's Snakefile uses this one as a module, basedir is
# the user's workflow directory and current_basedir this file's.
BIONMF_DIR = Path(workflow.current_basedir)
sys.path.insert(0, str(BIONMF_DIR))
import bionmf.workflow  # noqa: E402  (after the path set-up above)

# A --configfile replaces the bundled defaults instead of being merged into them, so that a
# user's `datasets` does not also run Golub; keys it leaves out take the schema's defaults.
if not workflow.overwrite_configfiles:

    configfile: BIONMF_DIR / "config" / "config.yaml"


# One line per problem, naming the key, before any job; then Snakemake's validation, which also
# fills in the schema's defaults.
SCHEMA = BIONMF_DIR / "config" / "schema" / "config.schema.yaml"
bionmf.workflow.validate_config(config, SCHEMA)
validate(config, SCHEMA)


include: "rules/common.smk"
include: "rules/prepare.smk"
include: "rules/factorize.smk"
include: "rules/consensus.smk"
include: "rules/crossval.smk"
include: "rules/select.smk"
include: "rules/signatures.smk"
include: "rules/plots.smk"
include: "rules/project.smk"
include: "rules/outputs.smk"


report: "report/workflow.rst"


rule all:
    input:
        final_outputs(),
    default_target: True
