"""The ``bionmf`` command: the rank survey and its signatures for people who do not write Python or
Snakefiles. Every subcommand runs the library functions the workflow runs and writes the same files.

Exit codes: 0 success; 1 the data or an option were refused (the message names the input and
the fix); 2 the command line is wrong (unknown option, malformed value); 3 an input file is
missing or unreadable, or the output directory cannot be written; 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FILES, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

_EPILOG = """exit codes:
  0    success
  1    the data or an option were refused (the message names the input and the fix)
  2    the command line is wrong (unknown option, malformed value)
  3    an input file is missing or unreadable, or the output directory cannot be written
  130  interrupted (Ctrl-C); nothing is left in the output directory
"""


def parse_ranks(text: str) -> list[int]:
    """Ranks from ``"2-8"``, ``"2,3,5"``, ``"2-4,7"`` or ``"3"``: sorted, unique, each >= 2."""
    ranks: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if m is None:
            raise argparse.ArgumentTypeError(f"{text!r}: give ranks as 2-8, 2,3,5 or 2-4,7")
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
        if high < low:
            raise argparse.ArgumentTypeError(f"{text!r}: range {part} runs backwards; write {high}-{low}")
        ranks.update(range(low, high + 1))
    if min(ranks) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: every rank must be at least 2")
    return sorted(ranks)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``bionmf`` command line (every option documented in ``--help``)."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="bionmf",
        description="Consensus NMF for gene-expression data (Brunet et al. 2004; Kotliar et al. 2019). "
                    "The same library functions and the same output files as the Snakemake workflow.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bionmf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser(
        "survey", help="rank survey of an expression file: metrics, chosen rank, clusters, signatures, plots",
        description="Read an expression file, normalize it, run the consensus NMF rank survey and write "
                    "the workflow's results into --out: rank_metrics.tsv, rank_choice.json, bionmf.h5ad, "
                    "clusters.tsv, rank_<k>/consensus.tsv (sample consensus), signatures/, plots/, and "
                    "GenePattern NMFConsensus's membership.gct and consensus.k.<k>.gct.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("input", type=Path, help="expression file: GCT, TSV/CSV/TXT (.gz), h5ad, 10x .h5 or matrix folder")
    s.add_argument("--out", "-o", type=Path, required=True, help="output directory (created; files in it are replaced)")
    s.add_argument("--ranks", type=parse_ranks, default=[2, 3, 4, 5, 6],
                   help="ranks to survey: 2-8, 2,3,5 or 2-4,7 (default 2-6)")
    s.add_argument("--runs", type=_positive_int, default=50, help="runs per rank (default 50)")
    s.add_argument("--algorithm", choices=("brunet", "lee", "hals"), default=None,
                   help="NMF solver: brunet (KL), lee (Frobenius MU), hals; default: brunet for the sample "
                        "consensus, hals for the component consensus")
    s.add_argument("--consensus", choices=("auto", "samples", "components"), default="auto",
                   help="samples (Brunet's consensus matrix), components (cNMF), auto (samples up to 2000 "
                        "samples; default)")
    s.add_argument("--rank-rule", default=None,
                   help="rule choosing the rank (default: max_dispersion, or stability_error for the "
                        "component consensus); see bionmf.core.rank_selection")
    s.add_argument("--seed", type=_non_negative_int, default=0, help="random_state: run r of rank k is seeded "
                   "by (seed, k, r) alone (default 0)")
    s.add_argument("--preset", choices=("bulk", "counts", "singlecell", "none"), default="bulk",
                   help="bionmf.pp.normalize preset (default bulk); none: use the values as they are")
    s.add_argument("--top-genes", type=_positive_int, default=None,
                   help="genes to fit: the N most variable (the preset's default when not given)")
    s.add_argument("--annotation", type=Path, default=None,
                   help="TSV/CSV of sample annotation, first column the sample names (tracks and clusters.tsv)")
    s.add_argument("--format", dest="format", choices=("gct", "table", "h5ad", "10x_h5", "10x_mtx"), default=None,
                   help="input format when the file name does not tell")
    s.add_argument("--samples-in-rows", action="store_true",
                   help="tables only: samples are rows (default: genes are rows)")
    s.add_argument("--permutations", type=_non_negative_int, default=0,
                   help="also survey N gene-wise permutations of the data (null model; default 0)")
    s.add_argument("--density-threshold", type=_positive_float, default=0.5,
                   help="component consensus: outlier threshold on the spectra's local density (default 0.5)")
    s.add_argument("--max-iter", type=_positive_int, default=2000, help="iterations per run at most (default 2000)")
    s.add_argument("--stop", choices=("connectivity", "objective", "gradient"), default=None,
                   help="stopping rule (default: the algorithm's)")
    s.add_argument("--n-stable", type=_positive_int, default=20,
                   help="connectivity rule: checks without change before a run stops (default 20; Brunet: 40)")
    s.add_argument("--tol", type=_positive_float, default=None, help="objective/gradient rule tolerance")
    s.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="arithmetic (default float32)")
    s.add_argument("--signatures", choices=("kim", "loading", "contribution"), default="kim",
                   help="signature-gene method (default kim)")
    s.add_argument("--no-plots", action="store_true", help="skip the plots/ directory")
    s.add_argument("--jobs", "-j", type=_positive_int, default=None, help="threads (default: all cores)")
    s.add_argument("--key", default="nmf", help="key_added of the fields in bionmf.h5ad (default nmf)")
    s.add_argument("--quiet", "-q", action="store_true", help="log warnings and errors only")

    g = sub.add_parser(
        "signatures", help="signature genes of a finished survey (bionmf.h5ad) at a rank",
        description="Read a bionmf.h5ad written by 'bionmf survey' (or the workflow) and write the signature "
                    "genes of every metagene: signatures/rank_<k>_scores.tsv and signatures/rank_<k>.gmt.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("h5ad", type=Path, help="bionmf.h5ad of a survey")
    g.add_argument("--out", "-o", type=Path, required=True, help="output directory (created)")
    g.add_argument("--rank", type=_positive_int, default=None, help="rank (default: the chosen one)")
    g.add_argument("--method", choices=("kim", "loading", "contribution"), default="kim",
                   help="kim (Kim & Park 2007; default), loading (top --n-top per metagene), contribution")
    g.add_argument("--n-top", type=_positive_int, default=None, help="genes per metagene (loading method)")
    g.add_argument("--key", default="nmf", help="key_added of the survey (default nmf)")
    g.add_argument("--quiet", "-q", action="store_true", help="log warnings and errors only")
    return parser
