"""Kullback-Leibler multiplicative updates (Lee & Seung 2001) as Brunet et al. (2004) run them.

With V = X^T (genes x samples) ~ W H and the generalized KL divergence, one iteration is

    H <- max(H * (W^T (V / WH)) / (W^T 1), eps)
    W <- max(W * ((V / WH) H^T) / (1 H^T), eps)

H first, then W with the new H. Runs stop by Brunet's connectivity rule exactly as the R package
NMF (``nmf.stop.connectivity``) and Brunet's MATLAB code (GenePattern's NMFConsensus) stop them:
a check every 10 iterations, the first one only setting the baseline, and a stop once the
connectivity has stayed the same for more than 40 checks in a row (see :func:`kl_until_stable`).
Random starts are R's ``seed = "random"``: W and H uniform on (0, max V).

Where the arithmetic still differs from R's, and why that is harmless (measured with
``benchmarks/r_parity.py`` on Golub, ranks 2-6, 30 runs; figures in ``benchmarks/README.md``):

- Precision: float32 by default (R: double). From the same starts, float64 gave the same
  cophenetic, dispersion and mean iterations as float32 at every rank (seed 0: equal to 4
  decimals), so no conclusion moves; ``dtype="float64"`` computes in double.
- The floor: ``eps`` is double precision's epsilon (2.2e-16, a normal float32 number) as in R, but
  applied after every update, where R and Brunet's code apply it every 10th iteration and let
  entries fall below it in between. An entry that small adds at most
  2.2e-16 times a factor entry to WH, against data of 10 and more; a floor a billion times higher
  (float32's epsilon, 1.2e-7, bionmf's before) moved no rank's cophenetic by more than 0.003,
  a tenth of what the seeds move at rank 5.
- Random numbers: numpy's generator seeded from (random_state, rank, run) instead of R's; the same
  distribution, other draws, so single seeds differ as two R seeds do.
- Order of the sums: vectorized (``fastmath``) sums over the genes, in the working precision (a
  float32 dot product vectorizes twice as wide as one widened to float64: 12-24 % less time per
  iteration on Golub). Rounding differences of this size move runs no more than the precision does.

The kernels take X in AnnData orientation (samples x genes, C order or CSR) and W transposed
(``Wt``, k x genes), so every inner loop runs over the genes of one sample: long, contiguous and
vectorized. No genes x samples temporary is made; on a sparse X the quotient vanishes where X is
zero and only stored entries are visited. Each run is advanced by one thread on its own, which
makes a run's result independent of the batch it was computed in and of the number of threads.

Dense X, ranks 1-12 (``_UNROLLED_MAX_K``): kernels of their own per rank, generated from source
text (:func:`_unrolled_source`) and compiled on first use. With the rank fixed at compile time a
sample's k sums (W H and the H numerators) stay in registers, and one pass over the genes does a
sample's whole H update: W H, the quotient X / (W H) (never stored) and the numerators. The W
update's numerators go the other way round, blocks of genes outside and samples inside (see "W
numerators by gene blocks" below), where the CPU has AVX-512 and at ranks above 8 everywhere.
Elsewhere (rank 1; ranks 2-8 without AVX-512) their pass takes four samples at a time, so each
metagene's row of numerators is read and written once per four samples (the reference for the
blocks' numbers, at every rank with ``_W_BLOCKS`` off; above ``_FUSED_W_MAX_K`` metagenes LLVM
stops vectorizing a loop that writes so many arrays, so the quotients go through a small buffer).
What is left is about the arithmetic itself: per matrix entry and iteration, 4k multiply-adds
and two divisions (which LLVM computes, in float32 vectors, as a reciprocal estimate with a Newton
step). CPU ms per iteration and run on Golub, one thread, before (the loops over a run-time rank,
``_dense_steps_one``, which still serve sparse X and ranks above 12) and after, measured side by
side with ``PYTHONPATH=. python benchmarks/kl_kernel.py --threads 1 --ranks 2 4 6 10 --repeat 7
--baseline eeec15c`` (a shared machine, so CPU time)::

    k           2              4              6              10
    float32     0.110 -> 0.062 0.195 -> 0.103 0.298 -> 0.147 0.465 -> 0.246
    float64     0.310 -> 0.215 0.500 -> 0.242 0.675 -> 0.267 1.010 -> 0.440

512-bit vectors, float32 only: on CPUs with AVX-512 LLVM's tuning prefers 256-bit vectors, and
numba can lift that only for a whole process (``NUMBA_CPU_FEATURES``), which would also change the
user's other numba code. The unrolled kernels instead call
:func:`~bionmf.core.solvers._vector_width.prefer_512_bit_vectors`, which gives the function being
compiled LLVM's per-function attributes ``"prefer-vector-width"="512"`` and
``"min-legal-vector-width"="512"``, and only when numba compiles for a CPU with ``avx512f`` and the
kernel computes in float32; elsewhere the code is the same as without it (float64: bitwise). Other
numba functions, compiled before or after, keep 256 bits; numba's on-disk cache keeps the kernels
(its entries are keyed by the CPU's features). CPU ms per iteration and run on Golub, one thread,
256-bit -> 512-bit, side by side (``PYTHONPATH=. python benchmarks/kl_kernel.py --threads 1
--ranks 2 4 6 8 10 --baseline 256-bit --repeat 9``, a shared machine)::

    k           2              4              6              8              10
    float32     0.055 -> 0.047 0.089 -> 0.075 0.135 -> 0.121 0.173 -> 0.148 0.217 -> 0.189

(float64: bitwise equal, same time.) That benchmark's minimum over fresh arrays favoured
64-byte-aligned factors; with W at the 16-byte offset of ordinary numpy allocations the gain
stayed at k = 2 (19 %) and went at k = 6 (the two ranks measured so). The kernels now copy their
rows onto cache lines themselves (see "Rows on cache lines" below).
A survey of Golub (ranks 2-6, 10 runs, ``--baseline 256-bit --survey 2 6 10 --repeat 5``) took
4-13 % less CPU time in three comparisons (``--repeat`` 3, 5, 5; minimum CPU s 3.91 -> 3.75,
3.67 -> 3.21, 3.80 -> 3.37), with the same cophenetic, dispersion and mean iterations to 6
decimals. In float64 (true
divisions, no faster per number in 512-bit registers) 512 bits measured 6-8 % slower at k = 2-6,
hence float32 only.

Tried and not kept: two samples per H pass (shares the loads of W; no gain), W numerators of two
samples per pass instead of four (2-16 % slower at k >= 6). Before the unrolled kernels: fusing
the H-update pass and the W-numerator pass of the run-time-rank loops gave the same time; a
bit-trick reciprocal with Newton steps was twice as slow as the division (which already is an
estimate, see above). ``error_model="numpy"`` lets the divisions vectorize (the default Python
error model branches on division by zero).

Rows on cache lines. A 512-bit load or store reads or writes one whole 64-byte cache line only
from an address on a line boundary, else two lines. A row of 5000 float32 genes is 20 000 bytes,
so even in arrays that start on a line (the survey's driver allocates X and the factors so) every
other row of X, of W and of the scratch started 32 bytes off one. The unrolled kernels copy X
once per call (``_dense_until_stable_k``, ``_dense_steps_runs_k``), and each run's W at the start
of every stretch of steps between two checks (back at its end), into rows padded to whole lines and starting
on one (:func:`_cache_line_rows`); the loops still run over the ``m`` genes, with the same vector
loops and remainders, so the numbers are the same bit for bit: checked against the kernels
before (commit 690803a) on ranks 1-12, float32 and float64, ``kl_steps`` and ``kl_until_stable``,
on Golub and on 9 x 333, 6 x 7, 5 x 4992 and 3 x 17 matrices. Rows of fewer genes than a line holds
stay unpadded: padded, ranks 9-12 with under 16 float32 genes came out 1 ulp apart (LLVM's
run-time checks then pick another path). Ranks 9-12, whose W numerators then went through the
quotient buffer, also computed the quotients two samples per pass over the genes and added the
numerators eight metagenes per pass (four and four before: four samples' 4k coefficients did not fit the 32
vector registers and were reloaded from the stack at every step); same numbers, about 5 % less
time at k = 10. CPU ms per iteration and run on Golub, one thread, before -> after, side by side,
X and the factors allocated as the driver allocates them (``PYTHONPATH=. taskset -c 1 python
benchmarks/kl_kernel.py --threads 1 --ranks 2 4 6 8 10 --dtypes float32 --repeat 7 --baseline
690803a``, a shared machine, five runs; bitwise equal every time)::

    k           2              4              6              8              10
    float32     0.055 -> 0.051 0.102 -> 0.086 0.134 -> 0.112 0.177 -> 0.163 0.233 -> 0.219
    (5 runs)    1.01-1.07x     1.01-1.19x     1.04-1.20x     1.02-1.08x     1.02-1.07x

(one run, and the range of the speed-ups over the five). So a few per cent, not the 1.5x that
issue 11 asks of these kernels. A survey of Golub (ranks 2-6, 10 runs, one thread,
``NUMBA_NUM_THREADS=1 PYTHONPATH=. taskset -c 1 python benchmarks/kl_kernel.py --baseline
690803a --survey 2 6 10 --repeat 3``): minimum CPU s 3.74 -> 3.39 and 3.78 -> 3.47 in two
comparisons, the same cophenetic, dispersion and mean iterations (to 10 decimals in separate
processes). Compiling a rank's kernels takes 0.35-0.7 CPU s more (k = 2, 4, 6, 10: 2.1 -> 2.5,
1.7 -> 2.1, 1.9 -> 2.7, 3.2 -> 3.8 s, fresh compiles side by side); the copies are element
loops, as numba's slice assignments cost a second or two of compiling per rank, and
:func:`_cache_line_rows` is compiled once, not inlined.

float64 (256-bit): bitwise equal, the same time within 4 %. From arrays whose every row starts off
a line (numpy's own allocations: 16 or 32 bytes off), 4992 genes, the copies saved 16 % at k = 2,
23 % at k = 6 and 17 % at k = 10.

Where the rest of the time goes (float32, 512-bit, one thread; variants of the generated source
timed side by side). The multiply-adds and the division's four operations (reciprocal estimate,
one Newton step, the product with x) would take 8.5 cycles per 16 genes and sample in the H pass
at k = 6 and 12.5 at k = 10, at two per cycle (the FMA loop of this CPU runs 5.9 G 512-bit
multiply-adds/s, so about 3 GHz); the H pass takes 12-13 and 20, the W pass took 15 and 26-29
before the gene blocks below. Not the
caches: on 400-1000 genes, with every row in L1, the H pass takes as long per gene (and W
numerators in blocks of 512-2048 genes, keeping W and its numerators in L1, took the same time).
Not the division alone: x / (W H) replaced by x * (W H) saves 2 of those cycles. What the times
fit is 0.5 cycle per operation plus about 0.7 per 512-bit load, as if loads and arithmetic hardly
overlapped: a loop of k multiply-adds and k + 1 loads from L1 runs at about one multiply-add per
cycle at 512 bits (1.6 at 256 bits, per 256-bit operation), and at k = 6 the H pass has 7 loads
and the W pass 11 per sample and 16 genes (7 of them reloads of four samples' 24 coefficients,
spilled from the 32 vector registers). So what is left without changing the numbers is loads, and
the register file bounds that: every metagene's row of W read once for two samples in the H pass
needs 5k + 5 registers. Tried this round and not kept: two samples per H pass (2-7 % less time at
k = 3, 6, 8 but other numbers at k = 2, 4, 5, where LLVM vectorizes the pair loop otherwise, and
4 % more at k = 10, spilling); the W numerators of eight samples per pass (3-7 % slower, and the
sums of four samples' terms change association, so other numbers); the quotient buffer at
k <= 8 (2-26 % slower, and the fused loop contracts to other roundings); the H pass's quotients
into a buffer, summed in a second loop (30-40 % slower, other numbers); the gene blocks above;
the W numerators' rows placed at eight offsets within 4 KiB of W's (loads and stores 4 KiB apart
can stall each other): the same time within 2 %.

W numerators by gene blocks (:func:`_put_w_numerator_blocks`). Looping samples outer, the W pass
reread W for every four samples, read and wrote each numerator row, and spilled the four
samples' 4k coefficients. Now a block of 16 genes keeps its k rows of W and k numerators in
registers while a loop over all samples runs inside, each sample reading its 16 values of X and
its k coefficients; each numerator is written once, with no stores in the sample loop. LLVM
vectorizes innermost loops only, so the block loop is written with :mod:`._lanes` vectors (an
LLVM ``<16 x float>`` as a numba value; product, fused multiply-add and division one instruction
each). The numbers stay the same bit for bit: every gene gets the same chain of operations as in
the sample-outer loops, whose sums LLVM had contracted into fused multiply-adds (W H: w0 h0
rounded, then a multiply-add per metagene in order; a numerator: a multiply-add per sample, in
each group of four samples 1, 0, 2, 3 at ranks up to 8 and 0-3 above), and the genes fall into
the parts of LLVM's vectorized loops: blocks of 16 (reciprocal estimate ``vrcp14ps``), then of
4 (``vrcpps``, coarser), the last ``m % 4`` with true divisions; the genes after the last block
of 16 go one at a time, with ``vrcpps``'s estimate where that loop had it (a loop of 4-lane
vectors of their own cost 0.2-0.6 s of compiling per rank). At ranks 9-12 the samples go
one at a time and the numerators read each coefficient again, from a transposed copy of H: held
in registers from W H to there, 9 or more coefficients made LLVM spill W and the numerators (1.0x
at k = 12 instead of 1.24x). Checked bitwise against commit 4b3fdfd (``kl_steps``, 7 iterations,
float32 and float64, ranks 2-12, random matrices of 19 shapes from 5 x 1 to 38 x 5000;
``tests/test_kl_kernels.py`` keeps three cases): equal except float32 ranks 9-12 on 4-15 genes,
where the old loops' path depended on LLVM's run-time overlap checks (see the padding above),
within rounding there. Without AVX-512 (code for Haswell, timed on this CPU) the blocks spill at
ranks 2-8 (16 vector registers: 3-9 % slower at k = 6-8), which keep the sample-outer loops
there; ranks 9-12 take 8-lane blocks and the same time as before. CPU ms per iteration and run on
Golub, one thread, before -> after side by side (``PYTHONPATH=. taskset -c 1 python
benchmarks/kl_kernel.py --threads 1 --ranks 2 3 4 5 6 7 8 9 10 11 12 --dtypes float32 --repeat 5
--baseline 4b3fdfd``; bitwise equal)::

    k         2     3     4     5     6     7     8     9     10    11    12
    before    0.049 0.068 0.082 0.092 0.116 0.135 0.154 0.185 0.182 0.206 0.230
    after     0.047 0.063 0.078 0.084 0.107 0.125 0.133 0.145 0.150 0.173 0.183
              1.04x 1.08x 1.05x 1.10x 1.08x 1.08x 1.15x 1.27x 1.22x 1.20x 1.26x

In other runs (the busy machine moves these by several per cent) k = 6 took 1.12-1.19x, k = 8
1.22-1.29x, k = 10 and 12 1.24-1.25x. float64: bitwise equal, 1.01x, 1.07x and 1.08x at k = 2, 6
and 10. Surveys of Golub, one thread, ``tl.nmf`` CPU s, minimum (``NUMBA_NUM_THREADS=1
PYTHONPATH=. taskset -c 1 python benchmarks/kl_kernel.py --baseline 4b3fdfd --survey LOW HIGH
RUNS --repeat R``): ranks 2-6 x 10 runs (``2 6 10``, R = 3) 3.55 -> 3.18 s (1.12x; another run
3.65 -> 3.26), ranks 2-10 x 50 runs (``2 10 50``, R = 2) 52.4 -> 42.5 s (1.23x; the first
version, ranks 9-12 in groups of four, 55.9 -> 46.0), with the same cophenetic, dispersion and
mean iterations at every rank. Compiling a rank's float32 kernels (fresh, side by side in one
process, CPU s, before -> after, two runs): k = 2: 1.50-1.56 -> 1.48-1.55, 3: 1.75 -> 1.75, 4:
1.82-2.06 -> 1.96-2.15, 5: 2.58 -> 2.33, 6: 2.88-2.96 -> 2.63-2.65, 8: 3.65-3.73 -> 2.89-3.23, 10:
3.80-4.10 -> 2.70-3.03, 12: 4.31 -> 2.90. Tried and not kept: W's update itself in the block
loop (W written from the registers, no numerators stored, no ``_scale_w`` pass; same numbers):
0.93-1.01x; two blocks of 16 genes per pass at k = 2-6 (a coefficient read once for 32 genes;
same numbers): 1-3 % less time, not worth its compiling.

The entry points that a survey uses are compiled on first use only, dense and sparse apart, per
rank on dense data, with no parallel (``prange``) kernel: the runs are spread over Python threads,
the kernels releasing the GIL. Each rank's connectivity loop takes 1.5-3 s to compile (more
metagenes, more code), which numba caches on disk for later processes (see
``benchmarks/README.md`` for a fresh install's first survey). The loop holds the steps' source
itself: it called a compiled steps function before, whose code numba linked into the caller,
where LLVM optimized it a second time. With the steps in one function, the same numbers bit for
bit, a fresh install's first Golub survey (ranks 2-6, 10 runs) took 13.1 s in ``tl.nmf`` instead
of 16.4; with the survey's later ranks also compiled in other processes meanwhile
(:mod:`._compile_ahead`), 8.7 s (``PYTHONPATH=. python benchmarks/first_call.py --checkouts .
BEFORE MIDDLE --repeat 2``, 2 cores, medians of two; a process on the filled cache: 2.1-2.3 s).
"""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

# absolute: benchmarks/kl_kernel.py loads copies of this file as modules of their own
from bionmf.core.solvers._lanes import INTRINSICS
from bionmf.core.solvers._vector_width import (
    CACHE_LINE,
    compiles_for_avx512,
    prefer_512_bit_vectors,
)

_JIT = dict(fastmath=True, error_model="numpy", cache=True)


@nb.njit(**_JIT)
def _dense_steps_one(X, Wt, H, n_steps, eps):
    n, m = X.shape
    k = Wt.shape[0]
    dt = Wt.dtype
    q = np.empty(m, dtype=dt)
    numer_w = np.empty((k, m), dtype=dt)
    col_sum = np.empty(k, dtype=dt)
    row_sum = np.empty(k, dtype=dt)
    # metagenes go through the inner loops two at a time, so each pass over the genes does twice
    # the arithmetic per load of q; every sum keeps its order, so the numbers do not change
    k2 = k - k % 2
    zero = col_sum[:0].sum()  # 0 in the working precision
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(0, k2, 2):
                s0 = zero
                s1 = zero
                for i in range(m):
                    s0 += Wt[a, i] * q[i]
                    s1 += Wt[a + 1, i] * q[i]
                h = H[a, j] * s0 / col_sum[a]
                H[a, j] = h if h > eps else eps
                h = H[a + 1, j] * s1 / col_sum[a + 1]
                H[a + 1, j] = h if h > eps else eps
            for a in range(k2, k):
                s = zero
                for i in range(m):
                    s += Wt[a, i] * q[i]
                h = H[a, j] * s / col_sum[a]
                H[a, j] = h if h > eps else eps
        for a in range(k):
            row_sum[a] = H[a].sum()
        numer_w[:, :] = 0.0
        for j in range(n):
            _dense_quotient(X[j], Wt, H, j, q)
            for a in range(0, k2, 2):
                h0 = H[a, j]
                h1 = H[a + 1, j]
                for i in range(m):
                    numer_w[a, i] += h0 * q[i]
                    numer_w[a + 1, i] += h1 * q[i]
            for a in range(k2, k):
                h = H[a, j]
                for i in range(m):
                    numer_w[a, i] += h * q[i]
        _scale_w(Wt, numer_w, row_sum, eps, m)


@nb.njit(inline="always", **_JIT)
def _scale_w(Wt, numer_w, row_sum, eps, m):
    """The W half of Brunet's update from its accumulated numerators: W <- W * numer / sum_j H,
    on the first ``m`` columns (the genes; the unrolled kernels' rows are padded)."""
    k = Wt.shape[0]
    for a in range(k):
        inv = 1.0 / row_sum[a]
        for i in range(m):
            w = Wt[a, i] * numer_w[a, i] * inv
            Wt[a, i] = w if w > eps else eps


@nb.njit(inline="always", **_JIT)
def _dense_quotient(x, Wt, H, j, q):
    """q = x / (W H)[:, j] for sample j.

    (W H)[i, j] is summed over the metagenes in order, two per pass over the genes, and the last
    pass divides, so q is written once or twice instead of k + 1 times.
    """
    k, m = Wt.shape
    h0 = H[0, j]
    if k == 1:
        for i in range(m):
            q[i] = x[i] / (Wt[0, i] * h0)
        return
    h1 = H[1, j]
    if k == 2:
        for i in range(m):
            q[i] = x[i] / (Wt[0, i] * h0 + Wt[1, i] * h1)
        return
    for i in range(m):
        q[i] = Wt[0, i] * h0 + Wt[1, i] * h1
    a = 2
    while a + 2 < k:
        h0 = H[a, j]
        h1 = H[a + 1, j]
        for i in range(m):
            q[i] = q[i] + Wt[a, i] * h0 + Wt[a + 1, i] * h1
        a += 2
    if a + 2 == k:
        h0 = H[a, j]
        h1 = H[a + 1, j]
        for i in range(m):
            q[i] = x[i] / (q[i] + Wt[a, i] * h0 + Wt[a + 1, i] * h1)
    else:
        h0 = H[a, j]
        for i in range(m):
            q[i] = x[i] / (q[i] + Wt[a, i] * h0)


# Kernels unrolled over the metagenes, one per rank, generated from the source below. With the
# rank known when compiling, the per-sample sums (the H numerators, W H) live in registers and each
# pass over the genes does all of a sample's work at once: X / (W H) is computed where it is used
# and never stored, and the W numerators of two samples are added in one read-modify-write. About
# half the CPU time per iteration of the loops over a run-time rank (``_dense_steps_one``), which
# serve ranks above ``_UNROLLED_MAX_K`` (rare for sample consensus; each unrolled rank is compiled
# on its first use, once).
_UNROLLED_MAX_K = 12
# above this many metagenes LLVM no longer vectorizes the fused W-numerator loop (too many arrays
# written in one loop for its run-time alias checks): the quotients of a block of samples then go
# through a buffer first, ``_QUOTIENT_SAMPLES`` samples per pass over the genes, and the numerators
# are updated ``_NUMER_ROWS`` metagenes per pass. Two samples per quotient pass keep their 2k
# coefficients in registers (four samples' 4k were reloaded from the stack at every step of the
# loop); both measured 5 % less time per iteration at k = 10 than four and four, same numbers
_FUSED_W_MAX_K = 8
_QUOTIENT_SAMPLES = 2
_NUMER_ROWS = 8
# samples whose W numerators are added in one pass over the genes (sample-outer loops)
_W_SAMPLES = 4
# the W numerators by gene blocks (see _w_blocks); False: the sample-outer loops everywhere, the
# reference the blocks' numbers are checked against. Rank 1's loops LLVM vectorizes otherwise
# (its sums interleaved four ways), so it keeps them
_W_BLOCKS = True
_W_BLOCKS_MIN_K = 2
# 512-bit vectors for these kernels alone where the CPU has AVX-512 (see the module docstring);
# False compiles them as the rest of numba's code, for comparisons
_WIDE_VECTORS = True


def _unrolled_source(k: int) -> str:
    """Source of the rank-``k`` kernels ``_dense_until_stable_k{k}`` (as
    :func:`_dense_until_stable`) and ``_dense_steps_runs_k{k}`` (steps of several runs). Both hold
    the steps of one run (:func:`_put_steps_body`): ``n_steps`` iterations on ``X`` copied onto
    cache lines, ``m`` genes; the run's ``W_run`` is copied into ``Wt`` and back; ``Wt``,
    ``numer`` (k rows) and the W numerators' scratch come from :func:`_put_scratch`. The H
    numerators are sums over the genes in one vectorized loop per sample, in the working precision;
    the W numerators add the samples in blocks of ``_W_SAMPLES``, in order, then the rest one by
    one, so a run's numbers depend on nothing but its data, start and the kernel."""
    L = []
    put = L.append
    # every entry point carries the steps' loops in its own source: a call to a compiled steps
    # function linked its code into the caller, where LLVM optimized it a second time (about a
    # second of compiling per rank and entry point)
    body = []
    _put_steps_body(body.append, k)

    def indented(indent: int) -> None:
        for line in body:
            put(" " * indent + line if line else line)

    put(f"def _dense_until_stable_k{k}(X_in, W_all, H_all, labels, runs, max_iter, check_interval, n_stable,")
    put("                            eps, n_iter, converged):")
    put(_wide("W_all"))
    put(f"    old_of = np.empty({k}, dtype=labels.dtype)")
    put(f"    new_of = np.empty({k}, dtype=labels.dtype)")
    _put_scratch(put, k)
    put("    for r in runs:")
    put("        W_run = W_all[r]")
    put("        H = H_all[r]")
    put("        done = 0")
    put("        stable = 0")
    put("        while done < max_iter:")
    put("            n_steps = min(check_interval, max_iter - done)")
    indented(8)
    put("            done += n_steps")
    put("            stable, stop = _stable_rule(labels[r], old_of, new_of, H, stable, n_stable)")
    put("            if stop:")
    put("                converged[r] = True")
    put("                break")
    put("        n_iter[r] = done")
    put("")
    put("")
    put(f"def _dense_steps_runs_k{k}(X_in, W_all, H_all, runs, n_steps, eps):")
    put(_wide("W_all"))
    _put_scratch(put, k)
    put("    for r in runs:")
    put("        W_run = W_all[r]")
    put("        H = H_all[r]")
    indented(4)
    return "\n".join(L) + "\n"


def _wide(array: str) -> str:
    # in every entry point: the steps' loops compile in the function that holds them
    return f"    prefer_512_bit_vectors({array})" if _WIDE_VECTORS else "    pass"


def _put_steps_body(put, k: int) -> None:
    """Source of ``n_steps`` iterations of one run, one level in (see :func:`_unrolled_source` for
    the names it reads)."""
    r = range(k)
    wh = lambda s: " + ".join(f"w{a} * h{a}_{s}" for a in r)
    put("    n = X.shape[0]")
    put("    zero = Wt[0, :0].sum()  # 0 in the working precision")
    put(f"    row_sum = np.empty({k}, dtype=Wt.dtype)")
    # element loops, not slice assignments: those cost numba seconds of compiling per rank
    put("    for i in range(m):")
    for a in r:
        put(f"        Wt[{a}, i] = W_run[{a}, i]")
    put("    for _ in range(n_steps):")
    for a in r:
        put(f"        c{a} = Wt[{a}, :m].sum()")
    put("        for j in range(n):")
    put("            x = X[j]")
    for a in r:
        put(f"            h{a}_0 = H[{a}, j]")
        put(f"            s{a} = zero")
    put("            for i in range(m):")
    for a in r:
        put(f"                w{a} = Wt[{a}, i]")
    put(f"                q0 = x[i] / ({wh(0)})")
    for a in r:
        put(f"                s{a} += w{a} * q0")
    for a in r:
        put(f"            h = h{a}_0 * s{a} / c{a}")
        put(f"            H[{a}, j] = h if h > eps else eps")
    for a in r:
        put(f"        row_sum[{a}] = H[{a}].sum()")
    if _w_blocks(k):
        _put_w_numerator_blocks(put, k)
    else:
        put("        numer[:, :] = 0.0")
        put(f"        for j in range(0, n - {_W_SAMPLES - 1}, {_W_SAMPLES}):")
        _put_w_numerators(put, k, _W_SAMPLES, "j")
        put(f"        for j in range(n - n % {_W_SAMPLES}, n):  # the last samples, one at a time")
        _put_w_numerators(put, k, 1, "j")
    put("        _scale_w(Wt, numer, row_sum, eps, m)")
    put("    for i in range(m):")
    for a in r:
        put(f"        W_run[{a}, i] = Wt[{a}, i]")


def _put_scratch(put, k: int) -> None:
    """Source making, from the entry point's ``X_in``, the arrays the steps read with 64-byte
    aligned rows: X's copy ``X``, W's working copy ``Wt`` and the scratch ``numer`` (see
    :func:`_cache_line_rows`; all made like ``X_in``, so that it compiles once per dtype), and
    above ``_FUSED_W_MAX_K`` metagenes the W numerators' scratch, ``Ht`` or ``q``."""
    put("    n, m = X_in.shape")
    put("    X = _cache_line_rows(n, m, X_in)")
    put("    for j in range(n):")
    put("        for i in range(m):")
    put("            X[j, i] = X_in[j, i]")
    # row counts as int64, not literals: numba compiles a function anew for every literal value
    put(f"    Wt = _cache_line_rows(np.int64({k}), m, X_in)")
    put(f"    numer = _cache_line_rows(np.int64({k}), m, X_in)")
    if k > _FUSED_W_MAX_K:
        if _w_blocks(k):  # the coefficients side by side, per sample (see _put_w_numerator_blocks)
            put(f"    Ht = np.empty((n, {k}), dtype=X_in.dtype)")
        else:  # the quotients' buffer (see _put_w_numerators)
            put(f"    q = _cache_line_rows(np.int64({_W_SAMPLES}), m, X_in)")


def _w_blocks(k: int) -> bool:
    """Whether the rank-``k`` kernels add the W numerators gene block outer
    (:func:`_put_w_numerator_blocks`). Without AVX-512 (16 vector registers, not 32) the blocks of
    ranks up to ``_FUSED_W_MAX_K`` spill and took 3-9 % more time at k = 6-8 (float32, code for
    Haswell timed on this machine's CPU): those keep the sample-outer loops there."""
    return _W_BLOCKS and k >= _W_BLOCKS_MIN_K and (k > _FUSED_W_MAX_K or compiles_for_avx512())


def _put_w_numerator_blocks(put, k: int) -> None:
    """Source of the W numerators with the loop over blocks of genes outside and the loop over
    the samples inside: a block's k rows of W and k numerators stay in registers (vectors of
    :mod:`._lanes`) while the samples go by, each sample reading its genes of X and its k
    coefficients only; each numerator is written once.

    Every gene's numbers are those of the sample-outer loops (:func:`_put_w_numerators`, kept
    where :func:`_w_blocks` says no and as the reference), bit for bit: each numerator is the same chain of
    fused multiply-adds in the same order of samples (LLVM contracted the sums of four samples'
    terms into a chain that adds sample 1 first, then 0, 2 and 3 up to ``_FUSED_W_MAX_K``
    metagenes, 0 to 3 in order above), W H a rounded product then fused multiply-adds in the
    order of the metagenes, and the genes fall into the same three parts as in LLVM's vectorized
    loops: blocks of 16 float32 (a reciprocal estimate for the division), the rest in blocks of 4
    (a coarser estimate) and the last ``m % 4`` one at a time (a true division); here all genes
    after the last block of 16 go one at a time, each with its part's division."""
    r = range(k)
    in_order = k > _FUSED_W_MAX_K
    if in_order:
        # the samples one at a time; each coefficient is read again, from a copy of H with a
        # sample's coefficients side by side, where the numerators take it: held in registers
        # from W H to there, k >= 9 coefficients made LLVM spill W and the numerators to the stack
        put("        for j in range(n):")
        for a in r:
            put(f"            Ht[j, {a}] = H[{a}, j]")
    put("        m_wide = m - m % wide_lanes(Wt)")
    put("        m_short = m - m % short_lanes(Wt)")
    # the genes LLVM's epilogue loop divided in 4-lane vectors go one at a time here, with that
    # loop's coarser estimate (a loop of their own in 4-lane vectors cost 0.2-0.6 s of compiling)
    coarse = compiles_for_avx512()
    for width, lo, hi in (("wide", "0", "m_wide"), ("one", "m_wide", "m")):
        v = width[0]  # names of their own per width: the vectors' types differ

        def quotient(s, j, v=v, width=width):
            for a in r:
                put(f"                {v}g{a}_{s} = {width}_splat_at(H, {a}, {j})")
            wh = f"mul({v}w0, {v}g0_{s})"
            for a in range(1, k):
                wh = f"fma({v}w{a}, {v}g{a}_{s}, {wh})"
            division = f"div({v}x, {v}d)"
            if coarse and width == "one":
                division = f"choose(b < m_short, coarse_div({v}x, {v}d), {division})"
            put(f"                {v}x = {width}_load(X, {j}, b)")
            put(f"                {v}d = {wh}")
            put(f"                {v}p{s} = {division}")

        def add(s, j, v=v, width=width):
            for a in r:
                g = f"{width}_splat_at(Ht, {j}, {a})" if in_order else f"{v}g{a}_{s}"
                put(f"                {v}n{a} = fma({g}, {v}p{s}, {v}n{a})")

        put(f"        for b in range({lo}, {hi}, {width}_lanes(Wt)):")
        for a in r:
            put(f"            {v}w{a} = {width}_load(Wt, {a}, b)")
            put(f"            {v}n{a} = {width}_zeros(Wt)")
        if not in_order:
            put(f"            for j in range(0, n - {_W_SAMPLES - 1}, {_W_SAMPLES}):")
            for s in range(_W_SAMPLES):
                quotient(s, f"j + {s}")
                # each sample's terms as soon as the order allows (fewer values live at once)
                for t in {0: (), 1: (1, 0)}.get(s, (s,)):
                    add(t, None)
        put(f"            for j in range({'0' if in_order else f'n - n % {_W_SAMPLES}'}, n):")
        quotient(0, "j")
        add(0, "j")
        for a in r:
            put(f"            store(numer, {a}, b, {v}n{a})")


def _put_w_numerators(put, k: int, n_samples: int, j: str) -> None:
    """Source adding the W numerators of samples ``j`` .. ``j + n_samples - 1`` (inside the loop
    over samples): one pass over the genes computes their quotients X / (W H), each metagene's
    numerator is read and written once for all of them."""
    r, s_ = range(k), range(n_samples)
    for s in s_:
        put(f"            x{s} = X[{j} + {s}]")
        for a in r:
            put(f"            h{a}_{s} = H[{a}, {j} + {s}]")
    terms = lambda a: " + ".join(f"h{a}_{s} * p{s}" for s in s_)
    quotient = lambda s: f"x{s}[i] / (" + " + ".join(f"w{a} * h{a}_{s}" for a in r) + ")"
    def loop_over_genes_reading_w():
        put("            for i in range(m):")
        for a in r:
            put(f"                w{a} = Wt[{a}, i]")

    if k <= _FUSED_W_MAX_K:
        loop_over_genes_reading_w()
        for s in s_:
            put(f"                p{s} = {quotient(s)}")
        for a in r:
            put(f"                numer[{a}, i] += {terms(a)}")
        return
    for first in range(0, n_samples, _QUOTIENT_SAMPLES):
        loop_over_genes_reading_w()
        for s in range(first, min(first + _QUOTIENT_SAMPLES, n_samples)):
            put(f"                q[{s}, i] = {quotient(s)}")
    for lo in range(0, k, _NUMER_ROWS):
        put("            for i in range(m):")
        for s in s_:
            put(f"                p{s} = q[{s}, i]")
        for a in range(lo, min(lo + _NUMER_ROWS, k)):
            put(f"                numer[{a}, i] += {terms(a)}")


@nb.njit(cache=True)  # not inlined: compiled once per dtype, not in every rank's kernels
def _cache_line_rows(rows, m, like):
    """An uninitialized (rows, m rounded up to whole 64-byte lines) array of ``like``'s dtype
    whose rows start on 64-byte boundaries.

    A 512-bit load or store from an address off such a boundary touches two cache lines, and
    the kernels' rows of genes otherwise start wherever the gene count puts them (5000 float32
    genes: every other row 32 bytes off; numpy's large arrays start 16 or 32 bytes off)."""
    per_line = CACHE_LINE // like.itemsize
    # under a line's worth of genes the vector loops do not run, and rows left unpadded keep the
    # numbers of unpadded ones bit for bit (padded, ranks 9-12 with < 16 float32 genes moved 1 ulp)
    width = (m + per_line - 1) // per_line * per_line if m >= per_line else m
    flat = np.empty(rows * width + per_line, like.dtype)
    start = (-(flat.ctypes.data // like.itemsize)) % per_line
    return flat[start:start + rows * width].reshape(rows, width)


_unrolled_lock = threading.Lock()


def _make_unrolled(k: int, *, cache: bool = True) -> tuple:
    """New dispatchers of the rank-``k`` kernels (see :func:`_unrolled`); ``cache=False`` keeps
    them off numba's on-disk cache."""
    namespace = {"__name__": __name__, "np": np, "_scale_w": _scale_w, "_stable_rule": _stable_rule,
                 "_cache_line_rows": _cache_line_rows,
                 "prefer_512_bit_vectors": prefer_512_bit_vectors, **INTRINSICS}
    exec(compile(_unrolled_source(k), __file__, "exec"), namespace)
    jit = nb.njit(nogil=True, **dict(_JIT, cache=cache))
    until_stable = jit(namespace[f"_dense_until_stable_k{k}"])
    steps_runs = jit(namespace[f"_dense_steps_runs_k{k}"])
    return until_stable, steps_runs


@functools.cache
def _unrolled_unlocked(k: int) -> tuple:
    return _make_unrolled(k)


def _unrolled(k: int) -> tuple:
    """Numba dispatchers of the rank-``k`` kernels, (connectivity loop over runs, steps over runs),
    made on first use (compiled on their first call, or loaded from numba's cache). The code
    object names this file, so numba's on-disk cache treats them as functions of this module,
    invalidated when it changes. One set per rank, also when threads ask at the same time."""
    with _unrolled_lock:
        return _unrolled_unlocked(k)



@nb.njit(**_JIT)
def _sparse_steps_one(data, indices, indptr, Wt, H, n_steps, eps):
    n = indptr.shape[0] - 1
    k, m = Wt.shape
    dt = Wt.dtype
    q = np.empty(m, dtype=dt)
    numer_w = np.empty((k, m), dtype=dt)
    col_sum = np.empty(k, dtype=dt)
    row_sum = np.empty(k, dtype=dt)
    zero = col_sum[:0].sum()  # 0 in the working precision
    for _ in range(n_steps):
        for a in range(k):
            col_sum[a] = Wt[a].sum()
        for j in range(n):
            lo, hi = indptr[j], indptr[j + 1]
            _sparse_quotient(data, indices, lo, hi, Wt, H, j, q)
            for a in range(k):
                s = zero
                for t in range(hi - lo):
                    s += Wt[a, indices[lo + t]] * q[t]
                h = H[a, j] * s / col_sum[a]
                H[a, j] = h if h > eps else eps
        for a in range(k):
            row_sum[a] = H[a].sum()
        numer_w[:, :] = 0.0
        for j in range(n):
            lo, hi = indptr[j], indptr[j + 1]
            _sparse_quotient(data, indices, lo, hi, Wt, H, j, q)
            for a in range(k):
                h = H[a, j]
                for t in range(hi - lo):
                    numer_w[a, indices[lo + t]] += h * q[t]
        _scale_w(Wt, numer_w, row_sum, eps, m)


@nb.njit(inline="always", **_JIT)
def _sparse_quotient(data, indices, lo, hi, Wt, H, j, q):
    """q[t] = x_t / (W H)[g_t, j] for the stored entries t = lo..hi of sample j (gene g_t)."""
    k = Wt.shape[0]
    for t in range(hi - lo):
        g = indices[lo + t]
        s = 0.0
        for a in range(k):
            s += Wt[a, g] * H[a, j]
        q[t] = data[lo + t] / s


@nb.njit(parallel=True, cache=True)
def _dense_batch(X, Wt, H, active, n_steps, eps):
    for t in nb.prange(active.shape[0]):
        r = active[t]
        _dense_steps_one(X, Wt[r], H[r], n_steps, eps)


@nb.njit(parallel=True, cache=True)
def _sparse_batch(data, indices, indptr, Wt, H, active, n_steps, eps):
    for t in nb.prange(active.shape[0]):
        r = active[t]
        _sparse_steps_one(data, indices, indptr, Wt[r], H[r], n_steps, eps)


@nb.njit(cache=True)
def _connectivity_unchanged(H, labels, old_of, new_of):
    """Assign every sample to its largest coefficient (the first on ties, as R's ``which.max``)
    and say whether the connectivity matrix (which samples share a metagene) is the one of
    ``labels``; ``labels`` becomes the new assignment.

    Two assignments have the same connectivity when they differ only by a relabelling of the
    metagenes, which is checked through the mapping between old and new labels in both
    directions, without forming the samples x samples matrix. ``labels`` at -1 (no check yet)
    never match, so the first check only sets the baseline, as in R's ``nmf.stop.connectivity``
    (and Brunet's code), whose first connectivity is compared with a zero matrix.
    """
    k, n = H.shape
    old_of[:] = -1
    new_of[:] = -1
    unchanged = True
    for j in range(n):
        best = 0
        for a in range(1, k):
            if H[a, j] > H[best, j]:
                best = a
        old = labels[j]
        if old < 0:
            unchanged = False
        elif unchanged:
            if new_of[old] < 0 and old_of[best] < 0:
                new_of[old] = best
                old_of[best] = old
            elif new_of[old] != best or old_of[best] != old:
                unchanged = False
        labels[j] = best
    return unchanged


@nb.njit(inline="always")
def _stable_rule(labels, old_of, new_of, H, stable, n_stable):
    """Brunet's connectivity rule after one check: the new count of unchanged checks and whether
    the run stops.

    The rule of R's NMF (``nmf.stop.connectivity``, ``stopconv = n_stable``) and of Brunet's
    MATLAB code: every ``check_interval`` iterations the connectivity is compared with the one at
    the previous check; a run stops at the first check where it has been unchanged for more than
    ``n_stable`` consecutive checks (41 for R's 40), counting from the first check, which sets the
    baseline (``labels`` come in at -1).
    """
    stable = stable + 1 if _connectivity_unchanged(H, labels, old_of, new_of) else 0
    return stable, stable > n_stable


@nb.njit(nogil=True, cache=True)
def _dense_until_stable(X, Wt, H, labels, runs, max_iter, check_interval, n_stable, eps, n_iter, converged):
    """Runs ``runs`` of a batch, one after the other, to Brunet's connectivity rule (dense X)."""
    k = H.shape[1]
    old_of = np.empty(k, dtype=labels.dtype)
    new_of = np.empty(k, dtype=labels.dtype)
    for r in runs:
        done = 0
        stable = 0
        while done < max_iter:
            steps = min(check_interval, max_iter - done)
            _dense_steps_one(X, Wt[r], H[r], steps, eps)
            done += steps
            stable, stop = _stable_rule(labels[r], old_of, new_of, H[r], stable, n_stable)
            if stop:
                converged[r] = True
                break
        n_iter[r] = done


@nb.njit(nogil=True, cache=True)
def _sparse_until_stable(data, indices, indptr, Wt, H, labels, runs, max_iter, check_interval, n_stable, eps,
                         n_iter, converged):
    """As :func:`_dense_until_stable`, for X in CSR form."""
    k = H.shape[1]
    old_of = np.empty(k, dtype=labels.dtype)
    new_of = np.empty(k, dtype=labels.dtype)
    for r in runs:
        done = 0
        stable = 0
        while done < max_iter:
            steps = min(check_interval, max_iter - done)
            _sparse_steps_one(data, indices, indptr, Wt[r], H[r], steps, eps)
            done += steps
            stable, stop = _stable_rule(labels[r], old_of, new_of, H[r], stable, n_stable)
            if stop:
                converged[r] = True
                break
        n_iter[r] = done


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _divergence_entry(x, Wt, H, g, j, total):
    wh = 0.0
    for a in range(Wt.shape[0]):
        wh += Wt[a, g] * H[a, j]
    total -= x
    if x > 0:
        total += x * np.log(x / wh)
    return total


@nb.njit(inline="always", fastmath=True, error_model="numpy")
def _total_wh(Wt, H):
    # sum(WH) once; then each stored entry adds x log(x / wh) - x
    total = 0.0
    for a in range(Wt.shape[0]):
        total += Wt[a].sum() * H[a].sum()
    return total


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _dense_divergence(X, Wt, H, active, positions, out):
    n, m = X.shape
    for t in positions:
        r = active[t]
        total = _total_wh(Wt[r], H[r])
        for j in range(n):
            for g in range(m):
                total = _divergence_entry(X[j, g], Wt[r], H[r], g, j, total)
        out[t] = total


@nb.njit(nogil=True, fastmath=True, error_model="numpy", cache=True)
def _sparse_divergence(data, indices, indptr, Wt, H, active, positions, out):
    n = indptr.shape[0] - 1
    for t in positions:
        r = active[t]
        total = _total_wh(Wt[r], H[r])
        for j in range(n):
            for p in range(indptr[j], indptr[j + 1]):
                total = _divergence_entry(data[p], Wt[r], H[r], indices[p], j, total)
        out[t] = total


def _spread(kernel, runs: np.ndarray, threads: bool) -> None:
    """``kernel(part)`` over the runs (or positions), split among numba's thread count of Python
    threads (the kernels release the GIL) or on the calling thread alone; each run is computed by one thread
    from start to end, so the numbers do not depend on the split."""
    n_threads = min(nb.get_num_threads(), runs.size) if threads else 1
    if n_threads <= 1:
        if runs.size:
            kernel(runs)
        return
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        # runs dealt round-robin: runs of one batch cost about the same
        for future in [pool.submit(kernel, runs[t::n_threads]) for t in range(n_threads)]:
            future.result()


def kl_steps(X, Wt, H, active, n_steps, eps):
    """Advance the runs ``active`` of a batch by ``n_steps`` iterations, in place.

    ``X``: samples x genes, C-ordered ndarray or CSR; ``Wt``: (batch, k, genes); ``H``:
    (batch, k, samples); all of one float dtype.
    """
    if isinstance(X, np.ndarray) and Wt.shape[1] <= _UNROLLED_MAX_K:
        steps_runs = _unrolled(Wt.shape[1])[1]
        _spread(lambda runs: steps_runs(X, Wt, H, runs, n_steps, eps), np.asarray(active, dtype=np.int64), True)
    elif isinstance(X, np.ndarray):
        _dense_batch(X, Wt, H, active, n_steps, eps)
    else:
        _sparse_batch(X.data, X.indices, X.indptr, Wt, H, active, n_steps, eps)


def kl_divergence(X, Wt, H, active, *, threads: bool = True) -> np.ndarray:
    """Generalized KL divergence D(X^T || W H) of each active run, accumulated in float64.

    ``threads=False`` computes on the calling thread alone, without holding the GIL.
    """
    active = np.asarray(active, dtype=np.int64)
    out = np.empty(active.shape[0], dtype=np.float64)
    if isinstance(X, np.ndarray):
        def kernel(positions):
            _dense_divergence(X, Wt, H, active, positions, out)
    else:
        def kernel(positions):
            _sparse_divergence(X.data, X.indices, X.indptr, Wt, H, active, positions, out)
    _spread(kernel, np.arange(active.shape[0], dtype=np.int64), threads)
    return out


def connectivity_unchanged(H, labels) -> bool:
    """Brunet's connectivity check of one run (see :func:`kl_until_stable`): whether the samples'
    grouping by largest coefficient of ``H`` (k x samples) is that of ``labels``, which it then
    overwrites; ``labels`` at -1 (before the first check) never match."""
    k = H.shape[0]
    return bool(_connectivity_unchanged(H, labels, np.empty(k, np.int64), np.empty(k, np.int64)))


def dense_until_stable_kernel(k: int):
    """The compiled connectivity loop for rank ``k`` on dense X, with the arguments of
    :func:`_dense_until_stable`: unrolled over the metagenes up to ``_UNROLLED_MAX_K``."""
    return _unrolled(k)[0] if k <= _UNROLLED_MAX_K else _dense_until_stable


def until_stable_arguments(b: int, n: int, max_iter, check_interval, n_stable, eps) -> tuple:
    """The connectivity loop's arguments for b runs on n samples besides X, the factors and the
    runs: (labels, (max_iter, check_interval, n_stable, eps, n_iter, converged)), as the kernels
    take them (``kernel(X, Wt, H, labels, runs, *rest)``)."""
    labels = np.full((b, n), -1, dtype=np.int64)  # no check yet: the first one sets the baseline
    n_iter = np.zeros(b, dtype=np.int64)
    converged = np.zeros(b, dtype=np.bool_)
    return labels, (int(max_iter), int(check_interval), int(n_stable), eps, n_iter, converged)


def kl_until_stable(X, Wt, H, *, max_iter, check_interval, n_stable, eps, threads: bool = True):
    """Run every run of a batch to Brunet's connectivity rule, in place; (n_iter, converged).

    The same iterations and checks as stepping ``check_interval`` iterations at a time and checking
    the connectivity between calls (so the same numbers), but each thread carries its runs to the
    end without waiting for the others at every check: on a busy machine those waits cost more
    than the checks. ``threads=True`` spreads the runs over numba's thread count of threads;
    ``threads=False`` runs them one after the other on the calling thread, without holding the
    GIL, for callers that keep several threads busy themselves.
    """
    b, k, n = H.shape
    labels, args = until_stable_arguments(b, n, max_iter, check_interval, n_stable, eps)
    n_iter, converged = args[-2:]
    if isinstance(X, np.ndarray):
        until_stable = dense_until_stable_kernel(k)

        def kernel(runs):
            until_stable(X, Wt, H, labels, runs, *args)
    else:
        def kernel(runs):
            _sparse_until_stable(X.data, X.indices, X.indptr, Wt, H, labels, runs, *args)
    _spread(kernel, np.arange(b, dtype=np.int64), threads)
    return n_iter, converged

