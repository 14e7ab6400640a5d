"""What names in an expression file tell: quoting to remove, numbers standing where names should,
and whether a list of names looks like genes or like samples (for the orientation check)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd


def strip_quotes(names: pd.Index) -> pd.Index:
    """Names without the double quotes R's ``write.table`` puts around them (``"S0"`` -> ``S0``).

    Only a pair enclosing the whole name is removed, and a doubled quote inside becomes one, as
    R writes it; other quotes are part of the name.
    """
    text = pd.Series(names.astype(str), dtype=object)
    quoted = (text.str.len() >= 2) & text.str.startswith('"') & text.str.endswith('"')
    if not quoted.any():
        return names
    inner = text.str.slice(1, -1).str.replace('""', '"', regex=False)
    return pd.Index(inner.where(quoted, text).to_list(), dtype=object, name=names.name)


def all_numbers(names: pd.Index) -> tuple[bool, bool]:
    """Whether every name reads as a number, and whether any of them is not a whole number."""
    numbers = pd.to_numeric(pd.Series(names.astype(str)), errors="coerce")
    if len(numbers) == 0 or numbers.isna().any():
        return False, False
    return True, bool((numbers != np.round(numbers)).any())


# Identifiers that only genes (or probes) have, and only samples (or cells) have. Gene symbols and
# free-form sample names overlap (ALL1, CD4), so they count as neither.
_GENE_ID = re.compile(
    r"ENS[A-Z]*[GT]\d{6,}(\.\d+)?"          # Ensembl gene or transcript (any species)
    r"|.+_(s_|x_|a_|i_|f_|r_|g_)?at"         # Affymetrix probe sets (1007_s_at, M12759_at)
    r"|AFFX-.+"                              # Affymetrix controls
    r"|ILMN_\d+"                             # Illumina probes
    r"|[NX][MR]_\d+(\.\d+)?",                # RefSeq transcripts
    re.IGNORECASE,
)
_SAMPLE_ID = re.compile(
    r"[ACGT]{10,}(-\d+)?"                    # single-cell barcodes (AAACATACAACCAC-1)
    r"|GS[MES]\d+"                           # GEO samples and series
    r"|TCGA-.+"                              # TCGA barcodes
    r"|[SEDR]RR\d+",                         # sequencing runs
)
_TRAILING_NUMBER = re.compile(r"[\W_]*\d+$")
_GENERATED = re.compile(r"(gene|sample)_\d+")


def kind_of_names(names: pd.Index) -> str | None:
    """``'genes'``, ``'samples'`` or ``None`` (no telling), from the names alone.

    Genes: half or more are gene or probe identifiers (Ensembl, Affymetrix, Illumina, RefSeq).
    Samples: half or more are sample or cell identifiers (cell barcodes, GEO, TCGA, SRA), or the
    names are numbered (nine in ten end in a number and they share at most a few stems, as
    ``S0, S1, ...``, ``MD_01, ..., Rhab_05``). Names bionmf made up (``gene_1``, ``sample_1``)
    and plain numbers (Entrez ids or values) tell nothing.
    """
    text = pd.Series(names.astype(str)).str.strip()
    n = len(text)
    if n < 4:
        return None
    if text.str.fullmatch(_GENERATED).all() or all_numbers(pd.Index(text))[0]:
        return None
    if text.str.fullmatch(_GENE_ID).mean() >= 0.5:
        return "genes"
    if text.str.fullmatch(_SAMPLE_ID).mean() >= 0.5:
        return "samples"
    numbered = text.str.contains(_TRAILING_NUMBER)
    if numbered.mean() >= 0.9:
        stems = text[numbered].str.replace(_TRAILING_NUMBER, "", regex=True).str.lower()
        if stems.nunique() <= max(5, n // 10):
            return "samples"
    return None


#: fewer genes than this, and fewer genes than samples, make a table's orientation suspect even
#: when the names tell nothing (expression profiles have thousands of genes; a gene panel that
#: small comes with recognizable names, or is read with a warning the user can silence)
FEW_GENES = 100
#: ... and at least this many samples (a toy table of a few values is no evidence either way)
MANY_SAMPLES = 10


def orientation_doubt(obs_names: pd.Index, var_names: pd.Index) -> str | None:
    """Why samples x genes as read look like genes x samples, or ``None``.

    Evidence from the names (see :func:`kind_of_names`) decides when it points one way; when it
    points neither way, a matrix with fewer genes than samples and under :data:`FEW_GENES` genes
    is suspect (with at least :data:`MANY_SAMPLES` samples).
    """
    obs_kind, var_kind = kind_of_names(obs_names), kind_of_names(var_names)
    flipped = (var_kind == "samples" and obs_kind != "samples") or (obs_kind == "genes" and var_kind != "genes")
    right = (obs_kind == "samples" and var_kind != "samples") or (var_kind == "genes" and obs_kind != "genes")
    if flipped and not right:
        if obs_kind == "genes":
            return f"the sample names ({_some(obs_names)}) look like gene identifiers"
        return f"the gene names ({_some(var_names)}) look like sample names"
    if not right and len(var_names) < min(len(obs_names), FEW_GENES) and len(obs_names) >= MANY_SAMPLES:
        return (f"there are fewer genes than samples ({len(var_names)} < {len(obs_names)}), and an expression "
                f"profile has more than {FEW_GENES} genes")
    return None


def _some(names: pd.Index, limit: int = 3) -> str:
    shown = [str(n) for n in names[:limit]]
    return ", ".join(shown) + (", ..." if len(names) > limit else "")
