"""Reading expression data into AnnData (obs = samples or cells, var = genes) and writing it out.

:func:`read` chooses the reader by file type: GCT 1.2/1.3 (:func:`read_gct`), TSV/CSV tables
(:func:`read_table`), h5ad (:func:`read_h5ad`) and 10x Cell Ranger output (:func:`read_10x`).
Writers: :func:`write_gct`, :func:`write_table`, :func:`write_gmt` (gene sets, read back by
:func:`read_gmt`), and GenePattern NMFConsensus's cluster files (:func:`write_genepattern`).
:func:`read_shape` reads a file's shape from its headers (:func:`read_stored` the values a
sparse file stores). A survey's metagenes/programs, for projecting new data onto them
(:func:`bionmf.tl.project`): :func:`write_programs`, :func:`read_programs`.
"""

from ._gct import read_gct, write_gct
from ._genepattern import write_consensus_k_gct, write_genepattern, write_membership_gct
from ._gmt import read_gmt, write_gmt
from ._programs import Programs, programs_from_survey, read_programs, write_programs
from ._read import annotate, detect_format, read, read_h5ad
from ._shape import read_exact_shape, read_shape, read_stored
from ._table import read_names, read_table, write_table
from ._tenx import read_10x

__all__ = [
    "Programs",
    "annotate",
    "detect_format",
    "read",
    "read_10x",
    "read_gct",
    "read_gmt",
    "read_h5ad",
    "programs_from_survey",
    "read_names",
    "read_exact_shape",
    "read_programs",
    "read_shape",
    "read_stored",
    "read_table",
    "write_consensus_k_gct",
    "write_gct",
    "write_genepattern",
    "write_gmt",
    "write_programs",
    "write_membership_gct",
    "write_table",
]
