"""Draw every bionmf plot for the bundled Golub data, as PNG and PDF.

    PYTHONPATH=. python3 docs/figures.py OUTDIR [--runs 30] [--permutations 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import bionmf  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--permutations", type=int, default=3)
    parser.add_argument("--ranks", type=int, nargs=2, default=(2, 5), metavar=("FROM", "TO"))
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)

    adata = bionmf.datasets.golub()
    # the symbol is the first word of the probe description (e.g. "CST3 Cystatin C ...")
    adata.var["symbol"] = [f"{d.split(' ')[0]} ({p})" for p, d in zip(adata.var_names, adata.var["description"])]
    kwargs = {"n_permutations": args.permutations} if args.permutations else {}
    bionmf.tl.nmf(adata, ranks=range(args.ranks[0], args.ranks[1] + 1), n_runs=args.runs, random_state=0,
                  verbose=False, **kwargs)
    bionmf.tl.signatures(adata, method="kim")

    figures = {
        "consensus": lambda: bionmf.pl.consensus(adata, annotate=["ALL_AML", "class3"]),
        "consensus_rank3": lambda: bionmf.pl.consensus(adata, rank=3, annotate=["class3"]),
        "consensus_grid": lambda: bionmf.pl.consensus_grid(adata),
        "rank_metrics": lambda: bionmf.pl.rank_metrics(adata),
        "metagenes": lambda: bionmf.pl.metagenes(adata, annotate=["class3"], gene_symbols="symbol", n_genes=15),
        "signatures": lambda: bionmf.pl.signatures(adata, annotate=["class3"], gene_symbols="symbol"),
        "clusters": lambda: bionmf.pl.clusters(adata),
    }
    for name, draw in figures.items():
        fig = draw()
        for suffix in (".png", ".pdf"):
            fig.savefig(args.outdir / f"golub_{name}{suffix}", bbox_inches="tight", dpi=110)
        plt.close(fig)


if __name__ == "__main__":
    main()
