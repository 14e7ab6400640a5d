"""The ``bionmf`` command: the rank survey, its signatures and the projection of new data, for
people who do not write Python or Snakefiles. Every subcommand runs the library functions the workflow runs and writes the same files.

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


def _whole_number(least: int, words: str):
    """An argparse type: a whole number >= ``least`` (``words`` says so in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r}: must be {words}")
        return value
    return parse


_positive_int = _whole_number(1, "at least 1")
_non_negative_int = _whole_number(0, "0 or more")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be positive")
    return value


def _add_input_options(parser: argparse.ArgumentParser, *, annotation: str) -> None:
    """The options that say how to read an expression file (``--annotation``: what it is used for)."""
    parser.add_argument("--annotation", type=Path, default=None, help=annotation)
    parser.add_argument("--format", dest="format", choices=("gct", "table", "h5ad", "10x_h5", "10x_mtx"),
                        default=None, help="input format when the file name does not tell")
    parser.add_argument("--samples-in-rows", action="store_true",
                        help="tables only: samples are rows (default: genes are rows)")


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
    s.add_argument("--preset", choices=("bulk", "counts", "singlecell"), default="bulk",
                   help="bionmf.pp.normalize preset: bulk (values as they are, checked; default), counts "
                        "(RNA-seq: CPM, log1p), singlecell (cNMF's input: overdispersed genes, counts at unit variance)")
    s.add_argument("--top-genes", type=_positive_int, default=None,
                   help="genes to fit: the N most variable (the preset's default when not given)")
    _add_input_options(s, annotation="TSV/CSV of sample annotation, first column the sample names (tracks and clusters.tsv)")
    s.add_argument("--permutations", type=_non_negative_int, default=0,
                   help="also survey N gene-wise permutations of the data (null model; default 0)")
    s.add_argument("--density-threshold", type=_positive_float, default=0.5,
                   help="component consensus: outlier threshold on the spectra's local density (default 0.5)")
    s.add_argument("--max-iter", type=_positive_int, default=2000, help="iterations per run at most (default 2000)")
    s.add_argument("--stop", choices=("connectivity", "objective", "gradient"), default=None,
                   help="stopping rule (default: the algorithm's)")
    s.add_argument("--n-stable", type=_positive_int, default=None,
                   help="connectivity rule: a run stops once its sample grouping has stayed the same for more "
                        "than N checks (default 40, Brunet's and the R package NMF's; 20 is faster but can "
                        "change the rank chosen)")
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

    p = sub.add_parser(
        "project", help="score new samples or cells with a survey's metagenes/programs (bionmf.tl.project)",
        description="Read new expression data and a reference (a programs file written by the workflow or by "
                    "bionmf.io.write_programs, or a survey's bionmf.h5ad), give every new observation its usage of "
                    "each reference metagene/program with the loadings fixed (the reference's normalization "
                    "replayed, genes matched by name), and write into --out: projection.h5ad, "
                    "projection_usages.tsv and plots/projection_clusters.png.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="new expression data: GCT, TSV/CSV/TXT (.gz), h5ad, 10x .h5 or matrix folder")
    p.add_argument("--reference", "-r", type=Path, required=True,
                   help="programs file (.h5, e.g. results/<name>/programs.h5) or a survey's bionmf.h5ad")
    p.add_argument("--out", "-o", type=Path, required=True, help="output directory (created)")
    p.add_argument("--rank", type=_positive_int, default=None,
                   help="surveyed rank to use (bionmf.h5ad reference; default: the chosen one)")
    _add_input_options(p, annotation="TSV/CSV of sample annotation, first column the sample names (columns of the usage table)")
    p.add_argument("--max-missing", type=_positive_float, default=None,
                   help="refuse when any program would lose more than this share of its loading weight to genes "
                        "missing from the input (default 0.5)")
    p.add_argument("--no-plots", action="store_true", help="skip the plots/ directory")
    p.add_argument("--key", default="nmf", help="key of the reference survey; results go under <key>_projection "
                   "(default nmf)")
    p.add_argument("--quiet", "-q", action="store_true", help="log warnings and errors only")
    return parser


def _configure_logging(quiet: bool) -> None:
    from ._logging import logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("bionmf: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


def _staging(out: Path) -> Path:
    """A fresh directory beside ``out`` to write into; moved into ``out`` once everything is written,
    so that a failure leaves no partial results."""
    parent = out.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"--out {out}: the directory {parent} does not exist")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; give a directory")
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))


def _publish(staging: Path, out: Path) -> None:
    """Move everything written under ``staging`` into ``out`` (replacing files of the same name)."""
    out.mkdir(exist_ok=True)
    for path in sorted(staging.rglob("*")):
        target = out / path.relative_to(staging)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            path.replace(target)
    shutil.rmtree(staging)


def run_survey(args: argparse.Namespace, out: Path) -> None:
    """``bionmf survey``: the survey of one data set and every file the workflow writes for it."""
    import anndata as ad  # noqa: F401  (imported late: --help stays fast)

    from . import workflow as wf
    from ._logging import logger
    from ._threads import resolve_n_jobs
    from .core import SurveyOptions
    from .io import write_gmt
    from .tl import Survey

    if not args.input.exists():
        raise FileNotFoundError(f"input {args.input} does not exist")
    if args.annotation is not None and not args.annotation.exists():
        raise FileNotFoundError(f"--annotation {args.annotation} does not exist")
    spec = {"path": str(args.input), "format": args.format, "preset": args.preset,
            "annotation": None if args.annotation is None else str(args.annotation),
            "read": {"transpose": False} if args.samples_in_rows else {},
            "normalize": {} if args.top_genes is None else {"n_top_genes": args.top_genes}}
    adata = wf.prepare_dataset(spec)
    options = SurveyOptions(ranks=args.ranks, n_runs=args.runs, consensus=args.consensus, rank_rule=args.rank_rule,
                            density_threshold=args.density_threshold, n_permutations=args.permutations,
                            random_state=args.seed)
    solver = {"max_iter": args.max_iter, "dtype": args.dtype,
              **({} if args.n_stable is None else {"n_stable": args.n_stable}),
              **({} if args.stop is None else {"stop": args.stop}), **({} if args.tol is None else {"tol": args.tol})}
    survey = Survey(adata, options=options, solver=solver, algorithm=args.algorithm, verbose=False)
    logger.info("%d samples x %d genes fitted, ranks %s, %d runs each, %s, %s consensus", survey.matrix().shape[0],
                survey.matrix().shape[1], list(survey.ranks), args.runs, survey.solver.algorithm, survey.kind.name)
    result = survey.run(n_jobs=resolve_n_jobs(args.jobs), verbose=not args.quiet)
    survey.write(adata, result.runs, result.summaries, choice=result.choice, null=result.null, key_added=args.key)
    table, summaries = result.table, result.summaries

    # the files of the workflow's rules, by the same functions (see rules/*.smk)
    wf.write_tsv(table, out / "rank_metrics.tsv")
    wf.write_json(result.choice, out / "rank_choice.json")
    adata.write_h5ad(out / "bionmf.h5ad")
    wf.write_tsv(wf.cluster_table(adata, key=args.key), out / "clusters.tsv")
    if survey.kind.has_consensus_matrix:
        for summary in summaries:
            (out / f"rank_{summary.rank}").mkdir()
            wf.write_tsv(wf.consensus_frame(summary, adata.obs_names), out / f"rank_{summary.rank}" / "consensus.tsv")
    (out / "signatures").mkdir()
    signature_options = {"method": args.signatures}
    for k in survey.ranks:
        sig_table, gene_sets, descriptions = wf.signature_sets(adata, rank=k, options=signature_options, key=args.key)
        sig_table.to_csv(out / "signatures" / f"rank_{k}_scores.tsv", sep="\t", index=False)
        write_gmt(gene_sets, out / "signatures" / f"rank_{k}.gmt", descriptions=descriptions)
    wf.write_genepattern_files(adata, out, key=args.key)
    (out / "program_genes").mkdir()
    wf.write_program_genes(adata, {name: out / "program_genes" / f"{name}.tsv" for name in wf.PROGRAM_GENE_TABLES},
                           key=args.key)
    plots = None if args.no_plots else out / "plots"
    if plots is not None:
        plots.mkdir()
        wf.plot_survey(adata, {name: plots / f"{name}.png" for name in wf.SURVEY_PLOTS}, signatures=signature_options,
                       key=args.key)
        if survey.kind.has_consensus_matrix:
            for k in survey.ranks:
                wf.plot_consensus(adata, plots / f"consensus_rank_{k}.png", rank=k, key=args.key)
            wf.plot_consensus_grid(adata, plots / "consensus_grid.png", key=args.key)
    wf.write_convergence(adata, out / "convergence.tsv", None if plots is None else plots / "convergence.png",
                         key=args.key)


def run_signatures(args: argparse.Namespace, out: Path) -> None:
    """``bionmf signatures``: signature genes of a finished survey at one rank."""
    import anndata as ad

    from . import workflow as wf
    from ._survey_record import survey_rank
    from .io import write_gmt

    if not args.h5ad.exists():
        raise FileNotFoundError(f"input {args.h5ad} does not exist")
    adata = ad.read_h5ad(args.h5ad)
    _, rank = survey_rank(adata, args.key, args.rank)
    options = {"method": args.method, **({} if args.n_top is None else {"n_top": args.n_top})}
    table, gene_sets, descriptions = wf.signature_sets(adata, rank=rank, options=options, key=args.key)
    (out / "signatures").mkdir()
    table.to_csv(out / "signatures" / f"rank_{rank}_scores.tsv", sep="\t", index=False)
    write_gmt(gene_sets, out / "signatures" / f"rank_{rank}.gmt", descriptions=descriptions)


def run_project(args: argparse.Namespace, out: Path) -> None:
    """``bionmf project``: new data scored with a reference's metagenes/programs, as the workflow's
    ``project`` and ``projection_plot`` rules do."""
    import anndata as ad

    from . import workflow as wf
    from .pl import clusters
    from .tl import project

    for name, path in (("input", args.input), ("--reference", args.reference), ("--annotation", args.annotation)):
        if path is not None and not path.exists():
            raise FileNotFoundError(f"{name} {path} does not exist")
    spec = {"path": str(args.input), "format": args.format,
            "annotation": None if args.annotation is None else str(args.annotation),
            "read": {"transpose": False} if args.samples_in_rows else {}}
    adata = wf.read_dataset(spec)
    reference = ad.read_h5ad(args.reference) if args.reference.suffix == ".h5ad" else args.reference
    options = {} if args.max_missing is None else {"max_missing": args.max_missing}
    key_added = f"{args.key}_projection"
    project(adata, reference, key=args.key, rank=args.rank, key_added=key_added, **options)
    adata.write_h5ad(out / "projection.h5ad")
    wf.write_tsv(wf.usage_table(adata, key=args.key), out / "projection_usages.tsv")
    if not args.no_plots:
        (out / "plots").mkdir()
        clusters(adata, key=key_added, save=out / "plots" / "projection_clusters.png", show=False)


_COMMANDS = {"survey": run_survey, "signatures": run_signatures, "project": run_project}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bionmf`` command; returns its exit code (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 (and the usage) on a malformed command line
    _configure_logging(args.quiet)
    staging = None
    try:
        staging = _staging(args.out)
        _COMMANDS[args.command](args, staging)
        _publish(staging, args.out)
        staging = None
    except KeyboardInterrupt:
        print("bionmf: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError) as error:
        print(f"bionmf: error: {error}", file=sys.stderr)
        return EXIT_FILES
    except (ValueError, TypeError) as error:
        print(f"bionmf: error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
