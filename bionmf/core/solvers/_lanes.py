"""Fixed-width vectors of floats as numba values, for loops that LLVM's vectorizer cannot write.

LLVM vectorizes innermost loops only. A loop over blocks of genes that keeps each block's rows of
a factor and of its sums in registers while an inner loop runs over the samples (the KL kernels'
W numerators, :mod:`.brunet`) has to be written with the vectors themselves. Here a value of type
:class:`Lanes` is an LLVM vector (``<16 x float>``: one 512-bit register), and each operation is
one LLVM instruction, so the code says exactly which roundings happen in which order:

- ``mul(a, b)`` rounds the product, ``fma(a, b, c)`` rounds ``a * b + c`` once (``llvm.fma``):
  neither is reassociated or contracted by the compiler, whatever the caller's ``fastmath``;
- ``div(x, y)`` is LLVM's ``fdiv fast``, as a ``fastmath`` division in a vectorized loop is: on x86
  a reciprocal estimate with one Newton step in float32 vectors (``vrcp14ps`` in 512-bit,
  ``vrcpps`` in narrower registers), a true division in one lane and in float64.

Three widths, named for the parts of a loop over genes as LLVM's vectorizer makes them in the KL
kernels (``_LANES``): ``wide``, the vector loop's block (float32: 16 numbers on AVX-512, else 8;
float64: 4, the float64 kernels' 256-bit registers), ``short``, the block of its vectorized
epilogue (4 float32 on AVX-512; without AVX-512 there is none: as wide) and ``one`` (one number).
Each width has ``*_lanes(like)`` (its number of lanes for ``like``'s dtype, a compile-time
constant), ``*_load(array, row, column)`` (the lanes from ``array[row, column]`` on),
``*_splat(x)``, ``*_splat_at(array, row, column)`` (``array[row, column]`` in every lane) and
``*_zeros(like)``; ``store(array, row, column, v)`` and the arithmetic take any width. Loads and
stores are unchecked, as numba's array access with bounds checks off.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from bionmf.core.solvers._vector_width import compiles_for_avx512

# lanes of each width for float32 and float64: the parts into which LLVM's loop vectorizer splits
# the dense KL kernels' loops over genes (a vector loop; on AVX-512 a vectorized epilogue of 4;
# the rest one at a time), which decide whose float32 divisions are estimates (see brunet)
_LANES = {True: {"wide": (16, 4), "short": (4, 2), "one": (1, 1)},  # AVX-512, float32 in zmm
          False: {"wide": (8, 4), "short": (8, 4), "one": (1, 1)}}  # AVX2: no epilogue loop


class Lanes(types.Type):
    """``count`` numbers of ``dtype`` in one LLVM vector."""

    def __init__(self, dtype, count: int):
        self.dtype = dtype
        self.count = count
        super().__init__(name=f"Lanes({dtype}, {count})")


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.count))


def _count(width: str, dtype) -> int | None:
    if dtype not in (types.float32, types.float64):
        return None
    return _LANES[compiles_for_avx512()][width][dtype == types.float64]


def _pointer(context, builder, array_type, array, row, column, row_type, column_type):
    ary = context.make_array(array_type)(context, builder, array)
    indices = [context.cast(builder, row, row_type, types.intp),
               context.cast(builder, column, column_type, types.intp)]
    return cgutils.get_item_pointer(context, builder, array_type, ary, indices, wraparound=False)


def _splat(context, builder, vector, x):
    vector_type = context.get_value_type(vector)
    inserted = builder.insert_element(ir.Constant(vector_type, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), vector.count), [0] * vector.count)
    return builder.shuffle_vector(inserted, ir.Constant(vector_type, ir.Undefined), mask)


def _is_matrix(array, rows: bool = True) -> bool:
    """A 2-d array of float32 or float64; with ``rows``, whose rows are contiguous (C order), so
    that lanes can be loaded from and stored to a row."""
    return (isinstance(array, types.Array) and array.ndim == 2 and _count("one", array.dtype) is not None
            and (array.layout == "C" or not rows))


def _make_width(width: str) -> dict:
    @intrinsic
    def lanes(typingctx, like):
        if not isinstance(like, types.Array) or _count(width, like.dtype) is None:
            return None
        count = _count(width, like.dtype)

        def codegen(context, builder, signature, args):
            return context.get_constant(types.intp, count)

        return types.intp(like), codegen

    @intrinsic
    def load(typingctx, array, row, column):
        if not (_is_matrix(array) and isinstance(row, types.Integer) and isinstance(column, types.Integer)):
            return None
        vector = Lanes(array.dtype, _count(width, array.dtype))

        def codegen(context, builder, signature, args):
            pointer = _pointer(context, builder, array, args[0], args[1], args[2], row, column)
            vector_type = context.get_value_type(vector)
            return builder.load(builder.bitcast(pointer, vector_type.as_pointer()),
                                align=array.dtype.bitwidth // 8)

        return vector(array, row, column), codegen

    @intrinsic
    def splat(typingctx, x):
        if _count(width, x) is None:
            return None
        vector = Lanes(x, _count(width, x))

        def codegen(context, builder, signature, args):
            return _splat(context, builder, vector, args[0])

        return vector(x), codegen

    @intrinsic
    def splat_at(typingctx, array, row, column):
        if not (_is_matrix(array, rows=False) and isinstance(row, types.Integer) and isinstance(column, types.Integer)):
            return None
        vector = Lanes(array.dtype, _count(width, array.dtype))

        def codegen(context, builder, signature, args):
            pointer = _pointer(context, builder, array, args[0], args[1], args[2], row, column)
            return _splat(context, builder, vector, builder.load(pointer))

        return vector(array, row, column), codegen

    @intrinsic
    def zeros(typingctx, like):
        if not isinstance(like, types.Array) or _count(width, like.dtype) is None:
            return None
        vector = Lanes(like.dtype, _count(width, like.dtype))

        def codegen(context, builder, signature, args):
            return ir.Constant(context.get_value_type(vector), [0.0] * vector.count)

        return vector(like), codegen

    return {f"{width}_lanes": lanes, f"{width}_load": load, f"{width}_splat": splat,
            f"{width}_zeros": zeros, f"{width}_splat_at": splat_at}


@intrinsic
def store(typingctx, array, row, column, vector):
    """``array[row, column:column + lanes] = vector``."""
    if not (_is_matrix(array) and isinstance(vector, Lanes) and vector.dtype == array.dtype
            and isinstance(row, types.Integer) and isinstance(column, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, array, args[0], args[1], args[2], row, column)
        vector_type = context.get_value_type(vector)
        builder.store(args[3], builder.bitcast(pointer, vector_type.as_pointer()),
                      align=array.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(array, row, column, vector), codegen


def _same_lanes(*operands) -> bool:
    return isinstance(operands[0], Lanes) and all(o == operands[0] for o in operands)


# a flag of its own keeps numba's fastmath rewrite off an instruction (it flags only unflagged
# ones); "nnan" allows neither reassociation nor contraction, and the kernels see no NaN
_NO_FAST = "nnan"


@intrinsic
def mul(typingctx, a, b):
    """a * b, rounded."""
    if not _same_lanes(a, b):
        return None

    def codegen(context, builder, signature, args):
        product = builder.fmul(args[0], args[1])
        product.flags.append(_NO_FAST)
        return product

    return a(a, b), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c, rounded once."""
    if not _same_lanes(a, b, c):
        return None

    def codegen(context, builder, signature, args):
        vector_type = context.get_value_type(a)
        suffix = f"v{a.count}f{a.dtype.bitwidth}"
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_type, [vector_type] * 3), f"llvm.fma.{suffix}")
        return builder.call(function, args)

    return a(a, b, c), codegen


@intrinsic
def div(typingctx, x, y):
    """x / y as a fastmath loop divides (see the module docstring)."""
    if not _same_lanes(x, y):
        return None

    def codegen(context, builder, signature, args):
        quotient = builder.fdiv(args[0], args[1])
        quotient.flags.append("fast")
        return quotient

    return x(x, y), codegen


@intrinsic
def coarse_div(typingctx, x, y):
    """x / y as LLVM divides 4 float32 lanes in a fastmath loop on x86 (``vrcpps``, an estimate of
    12 bits, then one Newton step: t = x r, x / y ~ t - r (t y - x), each fused), lane by lane:
    the numbers of the ``short`` width's ``div``, at any width (x86 only). float64: a true
    division, as LLVM's."""
    if not _same_lanes(x, y):
        return None

    def codegen(context, builder, signature, args):
        if x.dtype == types.float64:
            return builder.fdiv(args[0], args[1])
        module = builder.module
        vector_type = context.get_value_type(x)
        four = ir.VectorType(ir.FloatType(), 4)
        rcp = cgutils.get_or_insert_function(module, ir.FunctionType(four, [four]), "llvm.x86.sse.rcp.ps")
        fused = cgutils.get_or_insert_function(
            module, ir.FunctionType(vector_type, [vector_type] * 3), f"llvm.fma.v{x.count}f32")
        numerator, divisor = args
        # the estimate four lanes at a time (vrcpps has no wider form)
        lanes = []
        for first in range(0, x.count, 4):
            part = [ir.Constant(ir.IntType(32), min(first + i, x.count - 1)) for i in range(4)]
            chunk = builder.shuffle_vector(divisor, ir.Constant(vector_type, ir.Undefined), ir.Constant(
                ir.VectorType(ir.IntType(32), 4), [c.constant for c in part]))
            lanes.append(builder.call(rcp, [chunk]))
        reciprocal = ir.Constant(vector_type, ir.Undefined)
        for i in range(x.count):
            value = builder.extract_element(lanes[i // 4], ir.Constant(ir.IntType(32), i % 4))
            reciprocal = builder.insert_element(reciprocal, value, ir.Constant(ir.IntType(32), i))
        t = builder.fmul(numerator, reciprocal)
        t.flags.append(_NO_FAST)
        minus_x = builder.fneg(numerator)
        residual = builder.call(fused, [t, divisor, minus_x])
        minus_r = builder.fneg(reciprocal)
        return builder.call(fused, [minus_r, residual, t])

    return x(x, y), codegen


@intrinsic
def choose(typingctx, condition, a, b):
    """``a`` where ``condition`` (one boolean), else ``b``; both are computed."""
    if not (isinstance(condition, types.Boolean) and _same_lanes(a, b)):
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(condition, a, b), codegen


WIDTHS = ("wide", "short", "one")
_made = {name: f for width in WIDTHS for name, f in _make_width(width).items()}
globals().update(_made)

#: every intrinsic by name, for generated source's namespace
INTRINSICS = dict(_made, store=store, mul=mul, fma=fma, div=div, coarse_div=coarse_div, choose=choose)
