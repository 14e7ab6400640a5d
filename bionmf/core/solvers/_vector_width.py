"""512-bit vectors for chosen numba functions only, where the CPU has AVX-512.

On CPUs with AVX-512, LLVM's tuning for most of them prefers 256-bit vectors (the ``prefer-256-bit``
tuning feature), and numba can lift that only for a whole process (``NUMBA_CPU_FEATURES``), which
would change the code of every other numba function in it, the user's included. LLVM also reads
the vector width per function, from the function attributes ``"prefer-vector-width"`` and
``"min-legal-vector-width"``: a function that carries them at 512 gets its own X86 subtarget, with
zmm registers and 512-bit loops from the loop vectorizer. :func:`prefer_512_bit_vectors`, called
first thing in a numba function, puts them on the function being compiled, nowhere else, when it
computes in float32 (see the function). Used by the dense KL kernels (``brunet``), whose docstring
has the measurements.

The attributes go on only where the CPU that numba compiles for has AVX-512 (``avx512f`` in
``NUMBA_CPU_FEATURES`` if set, else in the host's features, as numba decides it); elsewhere the call
compiles to nothing and the function keeps the vectors it has today. Numba's on-disk cache keys
its entries by the CPU name and features, so a cache written with 512-bit code is not loaded on a
CPU without AVX-512.
"""

from __future__ import annotations

import llvmlite.binding as llvm
import numba
from numba.core import types
from numba.extending import intrinsic

#: bytes in a cache line, and in a 512-bit vector: the boundary the kernels' dense arrays (the
#: driver's factors, the KL kernels' rows) start on, so that a vector load reads one line
CACHE_LINE = 64

# LLVM string attributes: the vector width the loop vectorizer and the instruction selection aim
# at, and the width the function needs legal (without it the subtarget keeps zmm registers off)
_WIDE_ATTRIBUTES = ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"')


def compiles_for_avx512() -> bool:
    """Whether numba's CPU target, as configured now, has AVX-512 Foundation."""
    features = numba.config.CPU_FEATURES
    if features is None:
        features = llvm.get_host_cpu_features().flatten()
    # the last mention wins, as in LLVM's feature strings
    flags = [f.strip() for f in features.split(",") if f.strip()[1:] == "avx512f"]
    return bool(flags) and flags[-1].startswith("+")


@intrinsic
def prefer_512_bit_vectors(typingctx, array):
    """Compile the calling numba function with 512-bit vectors where the CPU has AVX-512 and
    ``array`` holds float32 (the precision the function computes in). In float64 the KL kernels
    measured 6-8 % slower at ranks 2-6 with 512-bit vectors (their divisions are true divisions
    there, no faster per number in zmm registers), so float64 code keeps 256 bits."""
    wide = isinstance(array, types.Array) and array.dtype == types.float32

    def codegen(context, builder, signature, args):
        if wide and compiles_for_avx512():
            # llvmlite's FunctionAttributes accepts only a fixed list of keyword attributes; its
            # items are written into the IR verbatim, so LLVM's string attributes go in through
            # the underlying set
            for attribute in _WIDE_ATTRIBUTES:
                set.add(builder.function.attributes, attribute)
        return context.get_dummy_value()

    return types.none(array), codegen
