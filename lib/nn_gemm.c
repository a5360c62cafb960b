/* nn_gemm.c — single-precision matrix multiply for the network layers: operands packed into
 * panels, a register-tiled AVX-512 micro-kernel (portable C elsewhere), OpenMP over output tiles. */
#include "nn.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* Micro-tile MR x NR: 24 accumulators of 16 floats fill most of the 32 zmm registers.
 * KC keeps a packed B micro-panel (KC x NR) within L1; MC x KC of A stays in L2. */
#define MR 12
#define NR 32
#define KC 256
#define MC_MAX (MR * 8)
#define NC_MAX (NR * 16)
_Static_assert(NN_GEMM_PACK == (size_t)(MC_MAX + NC_MAX) * KC, "packing buffer size");

static int imin(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int m) { return (x + m - 1) / m * m; }

/* op(A)[i0:i0+mc, p0:p0+kc] -> MR-row panels, each [kc][MR]; rows past mc are zero. */
static void pack_a(int trans, const float *A, size_t lda, int i0, int mc, int p0, int kc, float *dst)
{
    for (int ip = 0; ip < mc; ip += MR, dst += (size_t)kc * MR) {
        int rows = imin(MR, mc - ip);
        if (trans) {
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(p0 + k) * lda + i0 + ip;
                for (int r = 0; r < MR; r++)
                    dst[k * MR + r] = r < rows ? src[r] : 0.0f;
            }
        } else {
            for (int r = 0; r < MR; r++) {
                const float *src = A + (size_t)(i0 + ip + r) * lda + p0;
                for (int k = 0; k < kc; k++)
                    dst[k * MR + r] = r < rows ? src[k] : 0.0f;
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
            for (int c = 0; c < NR; c++) {
                const float *src = B + (size_t)(j0 + jp + c) * ldb + p0;
                for (int k = 0; k < kc; k++)
                    dst[k * NR + c] = c < cols ? src[k] : 0.0f;
            }
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = B + (size_t)(p0 + k) * ldb + j0 + jp;
                memcpy(dst + k * NR, src, (size_t)cols * sizeof *src);
                memset(dst + k * NR + cols, 0, (size_t)(NR - cols) * sizeof *src);
            }
        }
    }
}

/* c[MR][NR] (ldc) = or += a-panel [kc][MR] @ b-panel [kc][NR]. */
#ifdef __AVX512F__
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                         int accumulate)
{
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
    }
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *row = c + (size_t)i * ldc;
        if (accumulate) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(row));
            c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(row + 16));
        }
        _mm512_storeu_ps(row, c0[i]);
        _mm512_storeu_ps(row + 16, c1[i]);
    }
}
#else
static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *restrict c, size_t ldc,
                         int accumulate)
{
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++, a += MR, b += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += a[i] * b[j];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[(size_t)i * ldc + j] = (accumulate ? c[(size_t)i * ldc + j] : 0.0f) + acc[i][j];
}
#endif

/* One mc x nc tile of C, summing K in KC blocks in increasing order. pa, pb: packing buffers. */
static void gemm_tile(int ta, int tb, int i0, int mc, int j0, int nc, int K, const float *A, size_t lda,
                      const float *B, size_t ldb, int accumulate, float *C, size_t ldc, float *pa, float *pb)
{
    float edge[MR * NR] __attribute__((aligned(64)));
    for (int p0 = 0; p0 < K; p0 += KC) {
        int kc = imin(KC, K - p0);
        int acc = accumulate || p0 > 0;
        pack_a(ta, A, lda, i0, mc, p0, kc, pa);
        pack_b(tb, B, ldb, j0, nc, p0, kc, pb);
        for (int jp = 0; jp < nc; jp += NR) {
            int cols = imin(NR, nc - jp);
            for (int ip = 0; ip < mc; ip += MR) {
                int rows = imin(MR, mc - ip);
                const float *a = pa + (size_t)ip * kc, *b = pb + (size_t)jp * kc;
                float *c = C + (size_t)(i0 + ip) * ldc + j0 + jp;
                if (rows == MR && cols == NR) {
                    micro_kernel(kc, a, b, c, ldc, acc);
                    continue;
                }
                /* A partial tile is computed whole into edge, then only its valid part is written. */
                micro_kernel(kc, a, b, edge, NR, 0);
                for (int i = 0; i < rows; i++)
                    for (int j = 0; j < cols; j++)
                        c[(size_t)i * ldc + j] = (acc ? c[(size_t)i * ldc + j] : 0.0f) + edge[i * NR + j];
            }
        }
    }
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
    if (gemm_trivial(M, N, K, accumulate, C, ldc))
        return;
    float *pa = pack, *pb = pack + (size_t)MC_MAX * KC;
    for (int i0 = 0; i0 < M; i0 += MC_MAX)
        for (int j0 = 0; j0 < N; j0 += NC_MAX)
            gemm_tile(trans_a, trans_b, i0, imin(MC_MAX, M - i0), j0, imin(NC_MAX, N - j0), K, A, lda, B, ldb,
                      accumulate, C, ldc, pa, pb);
}

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
    /* Tiles as large as the caches allow, split until every thread has a few to take. The tiling
     * only decides who computes an element, never the order of its sum, so results stay exact. */
    int mc = round_up(imin(M, MC_MAX), MR), nc = round_up(imin(N, NC_MAX), NR);
    while (((M + mc - 1) / mc) * ((N + nc - 1) / nc) < 4 * nthreads && (nc > NR || mc > MR)) {
        if (nc > NR && nc >= mc)
            nc = round_up(nc / 2, NR);
        else
            mc = round_up(mc / 2, MR);
    }
    int mt = (M + mc - 1) / mc, nt = (N + nc - 1) / nc;
    NN_PRAGMA(omp parallel if (nthreads > 1))
    {
        float *pack = aligned_alloc(64, NN_GEMM_PACK * sizeof(float));
        NN_PRAGMA(omp for schedule(dynamic))
        for (int t = 0; t < mt * nt; t++) {
            int i0 = t / nt * mc, j0 = t % nt * nc;
            int tm = imin(mc, M - i0), tn = imin(nc, N - j0);
            if (pack)
                gemm_tile(trans_a, trans_b, i0, tm, j0, tn, K, A, lda, B, ldb, accumulate, C, ldc, pack,
                          pack + (size_t)MC_MAX * KC);
            else /* out of memory for packing: still correct, just slow */
                nn_gemm_ref(trans_a, trans_b, tm, tn, K, trans_a ? A + i0 : A + (size_t)i0 * lda, lda,
                            trans_b ? B + (size_t)j0 * ldb : B + j0, ldb, accumulate, C + (size_t)i0 * ldc + j0, ldc);
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
