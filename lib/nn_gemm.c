/* nn_gemm.c — single-precision matrix multiply for the network layers: operands packed into
 * panels and a register-tiled micro-kernel, each in AVX-512, in AVX2 or in plain C (the packing's
 * plain version stays as the reference the tests hold the others to), OpenMP over output tiles. */
#include "nn.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

/* Micro-tile MR x NR: 24 accumulators of 16 floats fill most of the 32 zmm registers.
 * KC keeps a packed B micro-panel (KC x NR) within L1; MC x KC of A stays in L2. */
#define MR 12
#define NR NN_GEMM_NR
#define KC 256
#define MC_MAX (MR * 8)
#define NC_MAX (NR * 16)
_Static_assert(NN_GEMM_PACK == (size_t)(MC_MAX + NC_MAX) * KC, "packing buffer size");

static int imin(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* The plain packing: what the vector packings below must reproduce float for float (tests compare
 * them through nn_gemm_pack_check), and the packing itself on machines without them. */
/* op(A)[i0:i0+mc, p0:p0+kc] -> MR-row panels, each [kc][MR]; rows past mc are zero. */
static void pack_a_plain(int trans, const float *A, size_t lda, int i0, int mc, int p0, int kc, float *dst)
{
    for (int ip = 0; ip < mc; ip += MR, dst += (size_t)kc * MR) {
        int rows = imin(MR, mc - ip);
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < MR; r++) {
                size_t at = trans ? (size_t)(p0 + k) * lda + i0 + ip + r : (size_t)(i0 + ip + r) * lda + p0 + k;
                dst[k * MR + r] = r < rows ? A[at] : 0.0f;
            }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> NR-column panels, each [kc][NR]; columns past nc are zero. */
static void pack_b_plain(int trans, const float *B, size_t ldb, int j0, int nc, int p0, int kc, float *dst)
{
    for (int jp = 0; jp < nc; jp += NR, dst += (size_t)kc * NR) {
        int cols = imin(NR, nc - jp);
        for (int k = 0; k < kc; k++)
            for (int c = 0; c < NR; c++) {
                size_t at = trans ? (size_t)(j0 + jp + c) * ldb + p0 + k : (size_t)(p0 + k) * ldb + j0 + jp + c;
                dst[k * NR + c] = c < cols ? B[at] : 0.0f;
            }
    }
}

#ifdef __AVX512F__
/* In-register transpose: r[i] holds row i of a 16x16 block; afterwards r[j] holds its column j. */
static void transpose16(__m512 r[16])
{
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    /* u[g + j]: each 128-bit lane L holds rows g..g+3 of column 4L + j */
    for (int g = 0; g < 16; g += 4) {
        u[g + 0] = _mm512_shuffle_ps(t[g], t[g + 2], 0x44);
        u[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], 0xEE);
        u[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        u[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        __m512 even_lo = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), odd_lo = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);
        __m512 even_hi = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
        __m512 odd_hi = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
        r[j] = _mm512_shuffle_f32x4(even_lo, even_hi, 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(even_lo, even_hi, 0xDD);
        r[4 + j] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(odd_lo, odd_hi, 0xDD);
    }
}

/* dst[k*ldd + r] = src[r*lds + k] for r < rows, k < ks (both <= 16); lanes rows..width-1 get 0. */
static void transpose_block(const float *src, size_t lds, int rows, int ks, float *dst, int ldd, int width)
{
    __m512 r[16];
    __mmask16 in = nn_first_lanes(ks), out = nn_first_lanes(width);
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(in, src + (size_t)i * lds) : _mm512_setzero_ps();
    transpose16(r);
    for (int k = 0; k < ks; k++)
        _mm512_mask_storeu_ps(dst + (size_t)k * ldd, out, r[k]);
}

/* op(A)[i0:i0+mc, p0:p0+kc] -> MR-row panels, each [kc][MR]; rows past mc are zero. */
static void pack_a(int trans, const float *A, size_t lda, int i0, int mc, int p0, int kc, float *dst)
{
    for (int ip = 0; ip < mc; ip += MR, dst += (size_t)kc * MR) {
        int rows = imin(MR, mc - ip);
        if (trans) {
            __mmask16 valid = nn_first_lanes(rows), panel = nn_first_lanes(MR);
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(dst + k * MR, panel,
                                      _mm512_maskz_loadu_ps(valid, A + (size_t)(p0 + k) * lda + i0 + ip));
        } else {
            for (int k0 = 0; k0 < kc; k0 += 16)
                transpose_block(A + (size_t)(i0 + ip) * lda + p0 + k0, lda, rows, imin(16, kc - k0), dst + k0 * MR,
                                MR, MR);
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> NR-column panels, each [kc][NR]; columns past nc are zero. */
static void pack_b(int trans, const float *B, size_t ldb, int j0, int nc, int p0, int kc, float *dst)
{
    for (int jp = 0; jp < nc; jp += NR, dst += (size_t)kc * NR) {
        int cols = imin(NR, nc - jp);
        for (int half = 0; half < NR; half += 16) {
            if (trans) {
                for (int k0 = 0; k0 < kc; k0 += 16)
                    transpose_block(B + (size_t)(j0 + jp + half) * ldb + p0 + k0, ldb, cols - half,
                                    imin(16, kc - k0), dst + k0 * NR + half, NR, 16);
            } else {
                __mmask16 valid = nn_first_lanes(cols - half);
                for (int k = 0; k < kc; k++)
                    _mm512_store_ps(dst + k * NR + half,
                                    _mm512_maskz_loadu_ps(valid, B + (size_t)(p0 + k) * ldb + j0 + jp + half));
            }
        }
    }
}

/* c[rows][cols] (ldc) = or += the first R rows of a-panel [kc][MR] @ b-panel [kc][NR]; rows <= R,
 * cols <= NR. Inlined where R is a constant. */
static inline __attribute__((always_inline)) void sub_tile(int R, int kc, const float *restrict a,
                                                           const float *restrict b, float *restrict c, size_t ldc,
                                                           int accumulate, int rows, int cols)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < R; i++)
        c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < R; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
    __mmask16 m0 = nn_first_lanes(cols), m1 = nn_first_lanes(cols - 16);
#pragma GCC unroll 12
    for (int i = 0; i < R; i++) {
        if (i >= rows)
            break;
        float *row = c + (size_t)i * ldc;
        if (accumulate) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, row));
            c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, row + 16));
        }
        _mm512_mask_storeu_ps(row, m0, c0[i]);
        _mm512_mask_storeu_ps(row + 16, m1, c1[i]);
    }
}

/* A panel's rows past the last multiple of 12 (32 output channels are 12 + 12 + 8, 64 are five
 * twelves and 4) are multiplied only as far as they go, by an 8- or 4-row tile. */
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                         int accumulate, int rows, int cols)
{
    if (rows > 8)
        sub_tile(12, kc, a, b, c, ldc, accumulate, rows, cols);
    else if (rows > 4)
        sub_tile(8, kc, a, b, c, ldc, accumulate, rows, cols);
    else
        sub_tile(4, kc, a, b, c, ldc, accumulate, rows, cols);
}
#else
#if defined(__AVX2__)
/* The packings 8 floats at a time. With few output rows or columns (a first conv layer, the
 * weight gradient's product), packing costs as much as the product: the plain loops above took
 * a third of the music net's training. */

/* A load mask of lanes [0, n). */
static __m256i lanes8(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }

/* The first n (<= 8) of 8 floats at p, the other lanes 0; nothing past them is read, and p is not
 * touched at all when n <= 0. */
static __m256 load8(const float *p, int n)
{
    if (n >= 8)
        return _mm256_loadu_ps(p);
    return n > 0 ? _mm256_maskload_ps(p, lanes8(n)) : _mm256_setzero_ps();
}

/* In-register transpose: r[i] holds row i of an 8x8 block; afterwards r[j] holds its column j. */
static void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);     /* rows i, i+1 interleaved: columns 0 1 | 4 5 */
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]); /* columns 2 3 | 6 7 */
    }
    /* u[g + j]: rows g..g+3 of column j in the low half, of column j + 4 in the high half */
    for (int g = 0; g < 8; g += 4) {
        u[g + 0] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
        u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xEE);
        u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
        u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        r[j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);
        r[4 + j] = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);
    }
}

/* dst[k*ldd + r] = src[r*lds + k] for r < rows, k < ks (ks <= 8), lanes rows..7 zero; each dst row
 * gets 8 lanes, or its first 4 when half. src is not touched when rows <= 0. */
static void transpose_block8(const float *src, size_t lds, int rows, int ks, float *dst, int ldd, int half)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = i < rows ? load8(src + (size_t)i * lds, ks) : _mm256_setzero_ps();
    transpose8(r);
    for (int k = 0; k < ks; k++) {
        if (half)
            _mm_storeu_ps(dst + (size_t)k * ldd, _mm256_castps256_ps128(r[k]));
        else
            _mm256_storeu_ps(dst + (size_t)k * ldd, r[k]);
    }
}

/* op(A)[i0:i0+mc, p0:p0+kc] -> MR-row panels, each [kc][MR]; rows past mc are zero. */
static void pack_a(int trans, const float *A, size_t lda, int i0, int mc, int p0, int kc, float *dst)
{
    _Static_assert(MR == 12, "an A panel row is 8 + 4 floats");
    for (int ip = 0; ip < mc; ip += MR, dst += (size_t)kc * MR) {
        int rows = imin(MR, mc - ip);
        if (trans) {
            /* each k: MR consecutive floats of row p0+k */
            __m128i hi = _mm256_castsi256_si128(lanes8(rows - 8));
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + ip;
                _mm256_storeu_ps(dst + k * MR, load8(src, rows));
                _mm_storeu_ps(dst + k * MR + 8, rows > 8 ? _mm_maskload_ps(src + 8, hi) : _mm_setzero_ps());
            }
        } else {
            /* rows 0-7 and 8-11 of the panel, 8 values of k at a time */
            const float *top = A + (size_t)(i0 + ip) * lda + p0;
            const float *low = rows > 8 ? top + 8 * lda : NULL;
            for (int k0 = 0; k0 < kc; k0 += 8) {
                int ks = imin(8, kc - k0);
                transpose_block8(top + k0, lda, imin(8, rows), ks, dst + k0 * MR, MR, 0);
                transpose_block8(low ? low + k0 : NULL, lda, rows - 8, ks, dst + k0 * MR + 8, MR, 1);
            }
        }
    }
}

/* op(B)[p0:p0+kc, j0:j0+nc] -> NR-column panels, each [kc][NR]; columns past nc are zero. */
static void pack_b(int trans, const float *B, size_t ldb, int j0, int nc, int p0, int kc, float *dst)
{
    for (int jp = 0; jp < nc; jp += NR, dst += (size_t)kc * NR) {
        int cols = imin(NR, nc - jp);
        if (trans) {
            /* each 8 columns of the panel are 8 rows of B, transposed 8 values of k at a time */
            for (int c = 0; c < NR; c += 8) {
                const float *src = cols > c ? B + (size_t)(j0 + jp + c) * ldb + p0 : NULL;
                for (int k0 = 0; k0 < kc; k0 += 8)
                    transpose_block8(src ? src + k0 : NULL, ldb, cols - c, imin(8, kc - k0), dst + k0 * NR + c, NR, 0);
            }
        } else if (cols == NR) { /* whole panels, the common case, without the tests for edges */
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + jp;
                for (int c = 0; c < NR; c += 8)
                    _mm256_store_ps(dst + k * NR + c, _mm256_loadu_ps(src + c));
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + jp;
                for (int c = 0; c < NR; c += 8)
                    _mm256_store_ps(dst + k * NR + c, cols > c ? load8(src + c, cols - c) : _mm256_setzero_ps());
            }
        }
    }
}
#else
#define pack_a pack_a_plain
#define pack_b pack_b_plain
#endif

#if defined(__AVX2__) && defined(__FMA__)
/* AVX2 has 16 ymm registers, too few for the whole MR x NR tile: it is done as sub-tiles of up to
 * 6 x 16 (12 accumulators, 2 B vectors and a broadcast), each summing k in the same order with
 * fused multiply-adds as the AVX-512 kernel does, so the results are the same bit for bit. R, the
 * sub-tile's rows, is a constant wherever it is inlined, so its accumulators stay in registers. */
static inline __attribute__((always_inline)) void sub_tile(int R, int kc, const float *restrict ap,
                                                           const float *restrict bp, float *restrict c,
                                                           size_t ldc, int accumulate, int nr, int nc)
{
    __m256 lo[6], hi[6];
#pragma GCC unroll 6
    for (int i = 0; i < R; i++)
        lo[i] = hi[i] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            __m256 ai = _mm256_broadcast_ss(ap + i);
            lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
            hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        if (i >= nr)
            break;
        float *row = c + (size_t)i * ldc;
        if (nc == 16) {
            __m256 l = lo[i], h = hi[i];
            if (accumulate) {
                l = _mm256_add_ps(l, _mm256_loadu_ps(row));
                h = _mm256_add_ps(h, _mm256_loadu_ps(row + 8));
            }
            _mm256_storeu_ps(row, l);
            _mm256_storeu_ps(row + 8, h);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, lo[i]);
            _mm256_storeu_ps(tmp + 8, hi[i]);
            for (int j = 0; j < nc; j++)
                row[j] = accumulate ? tmp[j] + row[j] : tmp[j];
        }
    }
}

/* A panel's rows past the last multiple of 6 (32 output channels are 12 + 12 + 8) are multiplied
 * only as far as they go. */
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                         int accumulate, int rows, int cols)
{
    for (int r0 = 0; r0 < MR && r0 < rows; r0 += 6)
        for (int c0 = 0; c0 < NR && c0 < cols; c0 += 16) {
            int nr = rows - r0 < 6 ? rows - r0 : 6, nc = cols - c0 < 16 ? cols - c0 : 16;
            float *cp = c + (size_t)r0 * ldc + c0;
            if (nr > 4)
                sub_tile(6, kc, a + r0, b + c0, cp, ldc, accumulate, nr, nc);
            else if (nr > 2)
                sub_tile(4, kc, a + r0, b + c0, cp, ldc, accumulate, nr, nc);
            else
                sub_tile(2, kc, a + r0, b + c0, cp, ldc, accumulate, nr, nc);
        }
}
#else
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                         int accumulate, int rows, int cols)
{
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            c[(size_t)i * ldc + j] = (accumulate ? c[(size_t)i * ldc + j] : 0.0f) + acc[i][j];
}
#endif
#endif

/* op(A) packed whole (see nn_gemm_pack_a): the MR-row panels of rows [i0, ...) in the K block at p0. */
static const float *packed_a_at(const float *packed, int M, int i0, int p0, int kc)
{
    return packed + (size_t)p0 * round_up(M, MR) + (size_t)i0 * kc;
}

/* Rows [i0, i0+mc) x columns [j0, j0+nc) of C, summing K in KC blocks in increasing order. Each
 * B block is packed once for all the rows; A comes packed whole (packed_a) or is packed per
 * MC_MAX rows into pa. pb: packing buffer for B. */
static void gemm_block(int ta, int tb, int M, int i0, int mc, int j0, int nc, int K, const float *A, size_t lda,
                       const float *packed_a, const float *B, size_t ldb, const nn_gemm_b_packer *packer,
                       int accumulate, float *C, size_t ldc, float *pa, float *pb)
{
    for (int p0 = 0; p0 < K; p0 += KC) {
        int kc = imin(KC, K - p0);
        int acc = accumulate || p0 > 0;
        if (packer)
            packer->pack(packer->ctx, j0, nc, p0, kc, pb);
        else
            pack_b(tb, B, ldb, j0, nc, p0, kc, pb);
        for (int r0 = i0; r0 < i0 + mc; r0 += MC_MAX) {
            int rows = imin(MC_MAX, i0 + mc - r0);
            const float *a = pa;
            if (packed_a)
                a = packed_a_at(packed_a, M, r0, p0, kc);
            else
                pack_a(ta, A, lda, r0, rows, p0, kc, pa);
            for (int jp = 0; jp < nc; jp += NR)
                for (int ip = 0; ip < rows; ip += MR)
                    micro_kernel(kc, a + (size_t)ip * kc, pb + (size_t)jp * kc,
                                 C + (size_t)(r0 + ip) * ldc + j0 + jp, ldc, acc, imin(MR, rows - ip),
                                 imin(NR, nc - jp));
        }
    }
}

size_t nn_gemm_packed_a_floats(int M, int K) { return (size_t)round_up(M, MR) * (size_t)K; }

void nn_gemm_pack_a(int M, int K, const float *A, size_t lda, float *packed)
{
    for (int p0 = 0; p0 < K; p0 += KC) {
        int kc = imin(KC, K - p0);
        pack_a(0, A, lda, 0, M, p0, kc, packed + (size_t)p0 * round_up(M, MR));
    }
}

/* For tests: op(A) (b = 0) rows or op(B) (b = 1) columns [r0, r0+n) over K [p0, p0+kc), packed by
 * the GEMM's own packing (fast) or by the plain one into dst, round_up(n, MR or NR) * kc floats,
 * 64-byte aligned. Declared by the tests only. */
void nn_gemm_pack_check(int b, int fast, int trans, const float *X, size_t ld, int r0, int n, int p0, int kc,
                        float *dst);
void nn_gemm_pack_check(int b, int fast, int trans, const float *X, size_t ld, int r0, int n, int p0, int kc,
                        float *dst)
{
    if (b)
        (fast ? pack_b : pack_b_plain)(trans, X, ld, r0, n, p0, kc, dst);
    else
        (fast ? pack_a : pack_a_plain)(trans, X, ld, r0, n, p0, kc, dst);
}

/* Zeroes C when K is empty; returns 1 when there is nothing more to do. */
static int gemm_trivial(int M, int N, int K, int accumulate, float *C, size_t ldc)
{
    if (M <= 0 || N <= 0)
        return 1;
    if (K > 0)
        return 0;
    if (!accumulate)
        for (int i = 0; i < M; i++)
            memset(C + (size_t)i * ldc, 0, (size_t)N * sizeof *C);
    return 1;
}

void nn_gemm_serial(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B,
                    size_t ldb, int accumulate, float *C, size_t ldc, float *pack)
{
    nn_gemm_serial_packed(trans_a, trans_b, M, N, K, A, lda, NULL, B, ldb, accumulate, C, ldc, pack);
}

void nn_gemm_serial_packed(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda,
                           const float *packed_a, const float *B, size_t ldb, int accumulate, float *C, size_t ldc,
                           float *pack)
{
    if (gemm_trivial(M, N, K, accumulate, C, ldc))
        return;
    float *pa = pack, *pb = pack + (size_t)MC_MAX * KC;
    for (int j0 = 0; j0 < N; j0 += NC_MAX)
        gemm_block(trans_a, trans_b, M, 0, M, j0, imin(NC_MAX, N - j0), K, A, lda, packed_a, B, ldb, NULL,
                   accumulate, C, ldc, pa, pb);
}

void nn_gemm_serial_packer(int M, int N, int K, const float *packed_a, const nn_gemm_b_packer *packer, int accumulate,
                           float *C, size_t ldc, float *pack)
{
    if (gemm_trivial(M, N, K, accumulate, C, ldc))
        return;
    float *pa = pack, *pb = pack + (size_t)MC_MAX * KC;
    for (int j0 = 0; j0 < N; j0 += NC_MAX)
        gemm_block(0, 0, M, 0, M, j0, imin(NC_MAX, N - j0), K, NULL, 0, packed_a, NULL, 0, packer, accumulate, C, ldc,
                   pa, pb);
}

/* For tests: threads whose number has its bit set in mask act as if their packing buffer could not
 * be allocated, and take the fallback below. Declared by the tests only. */
void nn_gemm_fail_packing(unsigned mask);
static unsigned fail_packing;
void nn_gemm_fail_packing(unsigned mask) { fail_packing = mask; }

void nn_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb,
             int accumulate, float *C, size_t ldc)
{
    if (gemm_trivial(M, N, K, accumulate, C, ldc))
        return;
    int nthreads = 1;
#ifdef _OPENMP
    nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
#endif
    /* Below about a million multiply-adds, a parallel region costs more than it saves. */
    if ((double)M * N * K < 1e6)
        nthreads = 1;
    /* Tiles as large as the caches allow, in a number the threads share evenly: the column panels
     * are dealt out in nt nearly equal runs (halving tiles left one thread with 3 of 5 at batch 1).
     * The tiling only decides who computes an element, never the order of its sum. */
    int mc = round_up(imin(M, MC_MAX), MR), mt = (M + mc - 1) / mc;
    int panels = (N + NR - 1) / NR, nt = (panels + NC_MAX / NR - 1) / (NC_MAX / NR);
    while ((mt * nt < nthreads || (mt * nt) % nthreads) && nt < panels)
        nt++;
    while (mt * nt < nthreads && mc > MR) {
        mc = round_up(mc / 2, MR);
        mt = (M + mc - 1) / mc;
    }
    /* Out of memory for a thread's packing buffer: its tiles are packed into this one, which every
     * such thread (in any GEMM) takes in turn. The same packing and kernel sum in the same order,
     * so the floats are those of the normal path on any number of threads, only slower. */
    static _Alignas(64) float spare[NN_GEMM_PACK];
    NN_PRAGMA(omp parallel if (nthreads > 1) default(none) shared(trans_a, trans_b, M, N, K, A, lda, B, ldb,
                                                                   accumulate, C, ldc, mc, mt, nt, panels,
                                                                   fail_packing, spare))
    {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        float *pack = me < 32 && (fail_packing >> me & 1) ? NULL : aligned_alloc(64, NN_GEMM_PACK * sizeof(float));
        NN_PRAGMA(omp for schedule(dynamic))
        for (int t = 0; t < mt * nt; t++) {
            int jb = t % nt, first = (int)((long)jb * panels / nt), end = (int)((long)(jb + 1) * panels / nt);
            int i0 = t / nt * mc, j0 = first * NR;
            int tm = imin(mc, M - i0), tn = imin(end * NR, N) - j0;
            if (pack) {
                gemm_block(trans_a, trans_b, M, i0, tm, j0, tn, K, A, lda, NULL, B, ldb, NULL, accumulate, C, ldc,
                           pack, pack + (size_t)MC_MAX * KC);
            } else { /* out of memory for packing: the spare buffer, one thread at a time */
                NN_PRAGMA(omp critical(nn_gemm_spare))
                gemm_block(trans_a, trans_b, M, i0, tm, j0, tn, K, A, lda, NULL, B, ldb, NULL, accumulate, C, ldc,
                           spare, spare + (size_t)MC_MAX * KC);
            }
        }
        free(pack);
    }
}

void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B,
                 size_t ldb, int accumulate, float *C, size_t ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = accumulate ? C[(size_t)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++) {
                float a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += (double)a * b;
            }
            C[(size_t)i * ldc + j] = (float)sum;
        }
}
