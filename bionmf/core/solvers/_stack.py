"""Scratch arrays on a numba function's stack, which the compiler knows alias nothing.

A loop that reads one array and writes another is vectorized by LLVM only where it can tell the
two apart. Numba passes arrays as plain pointers, so a loop that adds rows of a factor into a
buffer from ``np.empty`` is compiled with run-time overlap checks: in the sparse products
(:mod:`._products`) these checks, made for every UNROLL stored values, took more time than the
arithmetic with few columns (measured: 11 columns, about 130 instructions of checks and address
arithmetic per 8 stored values). A buffer on the stack (LLVM's ``alloca``) is an object of its
own, so the loop is vectorized without them.

The buffers have a size fixed at compile time (``STACK_ROWS`` x ``STACK_COLUMNS``), 8 KiB-16 KiB,
well within a thread's stack; a caller uses them only for products with at most
``STACK_COLUMNS`` columns.
"""

from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: rows of a stack buffer: the products' TILE
STACK_ROWS = 16
#: columns of a stack buffer: up to here the stack buffer was faster than the heap one (11-110
#: columns, 1.03-1.5x on one thread), at 220 it was 5-7 % slower (benchmarks/sparse_stack.py)
STACK_COLUMNS = 128


@intrinsic
def stack_tile(typingctx, like):
    """A pointer to STACK_ROWS x STACK_COLUMNS uninitialized numbers of ``like``'s dtype on the
    calling function's stack (``numba.carray(stack_tile(B), (STACK_ROWS, STACK_COLUMNS))``)."""
    if not isinstance(like, types.Array):
        return None
    dtype = like.dtype

    def codegen(context, builder, signature, args):
        size = context.get_constant(types.intp, STACK_ROWS * STACK_COLUMNS)
        return cgutils.alloca_once(builder, context.get_value_type(dtype), size=size)

    return types.CPointer(dtype)(like), codegen
