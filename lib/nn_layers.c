/* nn_layers.c — forward and backward passes of every layer over a batch stored [C][n][H][W],
 * each fast kernel followed by its naive reference. OpenMP runs over outer loops only and each
 * thread writes its own outputs, so results are bit-identical for any number of threads. */
#include "nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

int nn_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int nn_team_size(const nn_work *ws)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n < ws->nthreads ? n : ws->nthreads;
#else
    return ws->nthreads;
#endif
}

float nn_normal(uint64_t *state)
{
    /* Box-Muller. */
    float u1 = nn_uniform_positive(state);
    float u2 = nn_uniform(state);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

/* Marsaglia and Tsang's method, boosted by U^(1/a) below a = 1. */
double nn_gamma(uint64_t *rng, double a)
{
    double boost = 1;
    if (a < 1) {
        boost = pow(nn_uniform_positive(rng), 1.0 / a);
        a += 1;
    }
    double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x = nn_normal(rng), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = nn_uniform_positive(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return boost * d * v;
    }
}

/* ------------------------------------------------------------------ conv */

/* Samples per GEMM within a group: enough columns to fill the micro-tiles, few enough that
 * the im2col matrix stays a few MB. */
#define CONV_COL_FLOATS ((size_t)1 << 19)

static size_t conv_rows(const nn_layer *l) { return (size_t)l->in_c * l->k * l->k; }
static size_t conv_pixels(const nn_layer *l) { return (size_t)l->h * l->w; }

static int conv_chunk(const nn_layer *l, int group)
{
    size_t per = conv_rows(l) * conv_pixels(l);
    size_t m = CONV_COL_FLOATS / per;
    if (m < 1)
        m = 1;
    return m < (size_t)group ? (int)m : group;
}

/* Samples per GEMM in the forward pass, which never makes the im2col matrix: as many as keep the
 * chunk's output within about a quarter of L2, so that the epilogue after it (bias, or batch norm
 * and activation) finds it in cache; a first layer's 32 maps of 48x48 had been written for 25
 * samples at a time, 7 MB, and read back from memory. Where one sample's output is already larger
 * (the music net's first layer), the chunks stay as they were. The sums do not depend on it. */
#define CONV_OUT_FLOATS ((size_t)1 << 16)
static int forward_chunk(const nn_layer *l, int group)
{
    size_t m = CONV_OUT_FLOATS / ((size_t)l->c * conv_pixels(l));
    if (m < 1)
        return conv_chunk(l, group);
    return m < (size_t)group ? (int)m : group;
}

/* The direct path's scratch: the GEMM's packing, then im2col and its gradient (backward). */
static size_t direct_work(const nn_layer *l, int n, size_t *part, size_t *packed)
{
    int gmax = (n + nn_groups(n) - 1) / nn_groups(n);
    size_t col = conv_rows(l) * conv_pixels(l) * (size_t)conv_chunk(l, gmax);
    col = (col + 15) / 16 * 16; /* keep every buffer 64-byte aligned */
    *part = (size_t)NN_GROUPS * l->c * conv_rows(l);
    size_t fwd = nn_gemm_packed_a_floats(l->c, (int)conv_rows(l));
    size_t turned = nn_gemm_packed_a_floats(l->in_c, l->c * l->k * l->k); /* the input gradient's */
    *packed = fwd > turned ? fwd : turned;
    return 2 * col + NN_GEMM_PACK;
}

/* Room for either path, so that a network may switch to the direct one at any time. */
size_t nn_conv_work(const nn_layer *l, int n, size_t *part, size_t *packed)
{
    size_t t = direct_work(l, n, part, packed);
    if (nn_plane_fits(l) && nn_plane_part_floats(l) > *part)
        *part = nn_plane_part_floats(l);
    if (!nn_winograd_fits(l))
        return t;
    size_t wpart, wpacked, w = nn_winograd_work(l, &wpart, &wpacked);
    *part = wpart > *part ? wpart : *part;
    *packed = wpacked > *packed ? wpacked : *packed;
    return w > t ? w : t;
}

/* Output columns [lo, hi) of one row whose input index o*stride + off falls inside [0, size). */
static void valid_span(int size, int out, int stride, int off, int *lo, int *hi)
{
    int a = 0, b = out;
    while (a < out && a * stride + off < 0)
        a++;
    while (b > a && (b - 1) * stride + off >= size)
        b--;
    *lo = a;
    *hi = b;
}

/* One im2col row of one sample when stride is 1 and output rows are as wide as input rows: the
 * row is the input plane moved by a fixed offset, so it is one contiguous copy, after which the
 * columns that wrapped round from the neighbouring row are zeroed. Rows of 6 or 12 floats copied
 * one at a time spent more on loop control than on copying. */
static void shifted_plane_copy(const nn_layer *l, int ky, int kx, int oy0, int oy1, int xlo, int xhi, int ylo,
                               int yhi, const float *plane, float *dst)
{
    long W = l->in_w, HW = (long)l->in_h * W, d = (long)(ky - l->pad) * W + (kx - l->pad);
    long base = (long)oy0 * W, top = (long)oy1 * W; /* dst[i - base] is output pixel i */
    int vy0 = oy0 > ylo ? oy0 : ylo, vy1 = oy1 < yhi ? oy1 : yhi;
    if (vy0 >= vy1) {
        memset(dst, 0, (size_t)(top - base) * sizeof *dst);
        return;
    }
    long first = (long)vy0 * W, end = (long)vy1 * W;
    /* Kept inside [first, end]: a shift wider than the plane leaves nothing to copy. */
    long lo = first > -d ? first : -d, hi = end < HW - d ? end : HW - d;
    lo = lo < end ? lo : end;
    hi = hi > lo ? hi : lo;
    memset(dst, 0, (size_t)(lo - base) * sizeof *dst);
    memcpy(dst + (lo - base), plane + lo + d, (size_t)(hi - lo) * sizeof *dst);
    memset(dst + (hi - base), 0, (size_t)(top - hi) * sizeof *dst);
    for (long r = first - base; r < end - base; r += W) {
        for (int ox = 0; ox < xlo; ox++)
            dst[r + ox] = 0.0f;
        for (int ox = xhi; ox < W; ox++)
            dst[r + ox] = 0.0f;
    }
}

/* x [in_c][n][H][W], samples [b0, b0+m), output rows [oy0, oy1) -> col [in_c*k*k][m*(oy1-oy0)*OW]. */
static void im2col_rows(const nn_layer *l, int n, int b0, int m, int oy0, int oy1, const float *x, float *col)
{
    int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w, OH = l->h, OW = l->w;
    size_t ohw = (size_t)(oy1 - oy0) * OW;
    size_t cols = (size_t)m * ohw;
    for (int c = 0; c < l->in_c; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *row = col + ((size_t)(c * K + ky) * K + kx) * cols;
                int xlo, xhi, ylo, yhi;
                valid_span(W, OW, S, kx - P, &xlo, &xhi);
                valid_span(H, OH, S, ky - P, &ylo, &yhi);
                for (int b = 0; b < m; b++) {
                    const float *plane = x + ((size_t)c * n + b0 + b) * H * W;
                    float *dst = row + (size_t)b * ohw;
                    if (S == 1 && OW == W) {
                        shifted_plane_copy(l, ky, kx, oy0, oy1, xlo, xhi, ylo, yhi, plane, dst);
                        continue;
                    }
                    for (int oy = oy0; oy < oy1; oy++, dst += OW) {
                        if (oy < ylo || oy >= yhi) {
                            memset(dst, 0, (size_t)OW * sizeof *dst);
                            continue;
                        }
                        const float *src = plane + (size_t)(oy * S + ky - P) * W + kx - P;
                        for (int ox = 0; ox < xlo; ox++)
                            dst[ox] = 0.0f;
                        if (S == 1) { /* rows of 6 to 48 floats: a call to memcpy each cost more than the copy */
                            NN_SIMD
                            for (int ox = xlo; ox < xhi; ox++)
                                dst[ox] = src[ox];
                        } else {
                            for (int ox = xlo; ox < xhi; ox++)
                                dst[ox] = src[ox * S];
                        }
                        for (int ox = xhi; ox < OW; ox++)
                            dst[ox] = 0.0f;
                    }
                }
            }
}

static void im2col(const nn_layer *l, int n, int b0, int m, const float *x, float *col)
{
    im2col_rows(l, n, b0, m, 0, l->h, x, col);
}

/* The im2col matrix of samples [b0, b0+m), output rows [oy0, oy1), never made whole: the GEMM
 * asks for blocks of it already in its panel layout (nn_gemm_b_packer), so the rows x pixels
 * matrix, megabytes when the kernel is large, is neither written to memory nor read back. The
 * floats are those im2col_rows would give, in the places the GEMM's own packing would put them. */
typedef struct im2col_source {
    const nn_layer *l;
    int n, b0, oy0, oy1;
    const float *x;
    int plain; /* the copy loops only, never pack_unit_stride (for tests) */
} im2col_source;

/* Of a run of len output columns from ox0, the part [*lo, *hi) that reads inside an input row
 * for kernel column kx: 0 <= (ox0 + i) * S + kx - P < W. */
static void run_span(int ox0, int len, int kx, int S, int P, int W, int *lo, int *hi)
{
    int a = 0, b = len;
    while (a < len && (ox0 + a) * S + kx - P < 0)
        a++;
    while (b > a && (ox0 + b - 1) * S + kx - P >= W)
        b--;
    *lo = a;
    *hi = b;
}

/* Kernel widths up to this have their runs' spans worked out once per panel, not once per row
 * of it; wider ones (none in the shipped nets) per row. */
#define PACK_SPAN_K 16

#if defined(__AVX512F__) || defined(__AVX2__)
/* The panel rows of a stride-1 layer, two vectors each (four with AVX2). A run's lanes are one
 * masked load from its input row, at an address moved back by the lanes before the run, so that
 * they land in place; lanes whose input is padding, and those of no run, are never loaded and stay zero. No
 * zero fill and no scalar tails: the plain copy loops below spent as long packing a prototype
 * layer at batch 1 as the GEMM spent multiplying it. row[r]: run r's first input float for
 * channel 0, kernel row and column 0, less its first lane; lanes[r][kx]: the lanes it fills. */
static void pack_unit_stride(const im2col_source *src, int runs, const int *run_oy, const intptr_t *row,
                             const uint32_t (*lanes)[PACK_SPAN_K], int p0, int kc, float *dst)
{
    const nn_layer *l = src->l;
    int K = l->k, P = l->pad, H = l->in_h, W = l->in_w;
    intptr_t plane = (intptr_t)src->n * H * W;
    int ch = p0 / (K * K), ky = p0 / K % K, kx = p0 % K;
    for (int k = 0; k < kc; k++, dst += NN_GEMM_NR) {
        intptr_t at = ch * plane + (intptr_t)ky * W + kx;
#ifdef __AVX512F__
        __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps();
        for (int r = 0; r < runs; r++) {
            int iy = run_oy[r] + ky - P;
            if (iy < 0 || iy >= H)
                continue;
            /* An address outside the input only where no lane is loaded: kept an integer. */
            uintptr_t from = (uintptr_t)src->x + (uintptr_t)(row[r] + at) * sizeof(float);
            lo = _mm512_mask_loadu_ps(lo, (__mmask16)lanes[r][kx], (const float *)from);
            hi = _mm512_mask_loadu_ps(hi, (__mmask16)(lanes[r][kx] >> 16), (const float *)(from + 16 * sizeof(float)));
        }
        _mm512_store_ps(dst, lo);
        _mm512_store_ps(dst + 16, hi);
#else
        /* Masked loads read zero in the lanes they leave, so the runs' disjoint lanes are or-ed. */
        const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        __m256 v[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int r = 0; r < runs; r++) {
            int iy = run_oy[r] + ky - P;
            if (iy < 0 || iy >= H)
                continue;
            uintptr_t from = (uintptr_t)src->x + (uintptr_t)(row[r] + at) * sizeof(float);
            for (int q = 0; q < 4; q++) {
                int bits = (int)(lanes[r][kx] >> (8 * q) & 0xFF);
                if (!bits)
                    continue;
                __m256i mask = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bits), bit), bit);
                v[q] = _mm256_or_ps(v[q], _mm256_maskload_ps((const float *)(from + 8 * q * sizeof(float)), mask));
            }
        }
        for (int q = 0; q < 4; q++)
            _mm256_store_ps(dst + 8 * q, v[q]);
#endif
        if (++kx == K) {
            kx = 0;
            if (++ky == K)
                ky = 0, ch++;
        }
    }
}
#endif

static void im2col_pack(const void *ctx, int j0, int nc, int p0, int kc, float *dst)
{
    const im2col_source *src = ctx;
    const nn_layer *l = src->l;
    int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w, OW = l->w;
    int per = (src->oy1 - src->oy0) * OW; /* columns per sample */
    for (int jp = 0; jp < nc; jp += NN_GEMM_NR, dst += (size_t)kc * NN_GEMM_NR) {
        int cols = nc - jp < NN_GEMM_NR ? nc - jp : NN_GEMM_NR;
        /* The panel's columns as runs along one output row: sample, row, first column, length. */
        int run_b[NN_GEMM_NR], run_oy[NN_GEMM_NR], run_ox[NN_GEMM_NR], run_at[NN_GEMM_NR + 1], runs = 0;
        for (int c = 0; c < cols;) {
            int j = j0 + jp + c, b = j / per, pix = j % per, len = OW - pix % OW;
            len = len < cols - c ? len : cols - c;
            run_b[runs] = src->b0 + b;
            run_oy[runs] = src->oy0 + pix / OW;
            run_ox[runs] = pix % OW;
            run_at[runs++] = c;
            c += len;
        }
        run_at[runs] = cols;
        unsigned char span_lo[NN_GEMM_NR][PACK_SPAN_K], span_hi[NN_GEMM_NR][PACK_SPAN_K];
        int spans = K <= PACK_SPAN_K;
        for (int r = 0; spans && r < runs; r++)
            for (int kx = 0; kx < K; kx++) {
                int lo, hi;
                run_span(run_ox[r], run_at[r + 1] - run_at[r], kx, S, P, W, &lo, &hi);
                span_lo[r][kx] = (unsigned char)lo;
                span_hi[r][kx] = (unsigned char)hi;
            }
#if defined(__AVX512F__) || defined(__AVX2__)
        _Static_assert(NN_GEMM_NR == 32, "a panel row is 32 lanes, the width of the lane masks");
        if (S == 1 && spans && !src->plain) {
            intptr_t row[NN_GEMM_NR];
            uint32_t lanes[NN_GEMM_NR][PACK_SPAN_K];
            for (int r = 0; r < runs; r++) {
                row[r] = ((intptr_t)run_b[r] * H + run_oy[r] - P) * W + run_ox[r] - P - run_at[r];
                for (int x = 0; x < K; x++) {
                    int first = run_at[r] + span_lo[r][x], end = run_at[r] + span_hi[r][x];
                    uint64_t below_end = ((uint64_t)1 << end) - 1, below_first = ((uint64_t)1 << first) - 1;
                    lanes[r][x] = end > first ? (uint32_t)(below_end & ~below_first) : 0;
                }
            }
            pack_unit_stride(src, runs, run_oy, row, (const uint32_t (*)[PACK_SPAN_K])lanes, p0, kc, dst);
            continue;
        }
#endif
        /* Row p0 + k of im2col is channel ch, kernel row ky, kernel column kx, counted on. */
        int ch = p0 / (K * K), ky = p0 / K % K, kx = p0 % K;
        for (int k = 0; k < kc; k++) {
            float *d = dst + (size_t)k * NN_GEMM_NR;
            /* The whole panel row zeroed first (two vector stores), then the columns inside the
             * input copied over it: cheaper than a zero fill for each edge of each run. */
            NN_SIMD
            for (int c = 0; c < NN_GEMM_NR; c++)
                d[c] = 0.0f;
            for (int r = 0; r < runs; r++) {
                int iy = run_oy[r] * S + ky - P, ox0 = run_ox[r], len = run_at[r + 1] - run_at[r];
                if (iy < 0 || iy >= H)
                    continue;
                float *o = d + run_at[r];
                const float *in = src->x + (((size_t)ch * src->n + run_b[r]) * H + iy) * W;
                int lo, hi;
                if (spans)
                    lo = span_lo[r][kx], hi = span_hi[r][kx];
                else
                    run_span(ox0, len, kx, S, P, W, &lo, &hi);
                const float *from = hi > lo ? in + (ox0 + lo) * S + kx - P : in;
                if (S == 1) {
                    NN_SIMD
                    for (int i = lo; i < hi; i++)
                        o[i] = from[i - lo];
                } else {
                    for (int i = lo; i < hi; i++)
                        o[i] = from[(i - lo) * S];
                }
            }
            if (++kx == K) {
                kx = 0;
                if (++ky == K)
                    ky = 0, ch++;
            }
        }
    }
}

/* For tests only (declared by them): im2col_pack's panels of samples [b0, b0+m), output rows
 * [oy0, oy1), by the vector path where it applies or (plain) by the copy loops. */
void nn_conv_pack_check(const nn_layer *l, int n, int b0, int oy0, int oy1, const float *x, int plain, int j0, int nc,
                        int p0, int kc, float *dst);
void nn_conv_pack_check(const nn_layer *l, int n, int b0, int oy0, int oy1, const float *x, int plain, int j0, int nc,
                        int p0, int kc, float *dst)
{
    im2col_source src = {l, n, b0, oy0, oy1, x, plain};
    im2col_pack(&src, j0, nc, p0, kc, dst);
}

/* The adjoint of im2col: dcol [in_c*k*k][m*OH*OW] -> dx for samples [b0, b0+m) (overwritten). */
static void col2im(const nn_layer *l, int n, int b0, int m, const float *dcol, float *dx)
{
    int K = l->k, S = l->stride, P = l->pad, H = l->in_h, W = l->in_w, OH = l->h, OW = l->w;
    size_t ohw = conv_pixels(l), cols = (size_t)m * ohw;
    for (int c = 0; c < l->in_c; c++) {
        for (int b = 0; b < m; b++)
            memset(dx + ((size_t)c * n + b0 + b) * H * W, 0, (size_t)H * W * sizeof *dx);
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *row = dcol + ((size_t)(c * K + ky) * K + kx) * cols;
                int xlo, xhi, ylo, yhi;
                valid_span(W, OW, S, kx - P, &xlo, &xhi);
                valid_span(H, OH, S, ky - P, &ylo, &yhi);
                for (int b = 0; b < m; b++) {
                    float *plane = dx + ((size_t)c * n + b0 + b) * H * W;
                    for (int oy = ylo; oy < yhi; oy++) {
                        const float *src = row + (size_t)b * ohw + (size_t)oy * OW;
                        float *dst = plane + (size_t)(oy * S + ky - P) * W + kx - P;
                        if (S == 1) {
                            NN_SIMD
                            for (int ox = xlo; ox < xhi; ox++)
                                dst[ox] += src[ox];
                        } else {
                            for (int ox = xlo; ox < xhi; ox++)
                                dst[ox * S] += src[ox];
                        }
                    }
                }
            }
    }
}

/* Batch norm at inference and the activations, one value at a time: the separate layers and the
 * convolution's fused epilogue share them, so both compute exactly the same floats. */
static void bn_inference_stats(const nn_layer *bn, int c, float *mean, float *invstd)
{
    *mean = bn->run_mean[c];
    *invstd = 1.0f / sqrtf(bn->run_var[c] + bn->alpha);
}
static inline float bn_apply(float x, float mean, float invstd, float gamma, float beta)
{
    return gamma * ((x - mean) * invstd) + beta;
}
static float act_slope(const nn_layer *act) { return act->kind == NN_LEAKY ? act->alpha : 0.0f; }
static inline float act_apply(float x, float slope) { return x > 0.0f ? x : slope * x; }

float nn_conv_bias_gradient(const nn_layer *l, int n, const float *dy, int oc)
{
    float s = 0.0f;
    size_t count = (size_t)n * conv_pixels(l);
    const float *src = dy + (size_t)oc * count;
    NN_PRAGMA(omp simd reduction(+ : s))
    for (size_t i = 0; i < count; i++)
        s += src[i];
    return s;
}

void nn_conv_epilogue(const nn_layer *l, int n, int b, size_t first, size_t count, float *y,
                          const nn_conv_post *post)
{
    const nn_layer *bn = post ? post->bn : NULL, *act = post ? post->act : NULL;
    for (int oc = 0; oc < l->c; oc++) {
        float *dst = y + ((size_t)oc * n + b) * conv_pixels(l) + first, bias = l->bias[oc];
        if (!bn && !act) {
            NN_SIMD
            for (size_t i = 0; i < count; i++)
                dst[i] += bias;
            continue;
        }
        float mean = 0.0f, invstd = 1.0f, gamma = 1.0f, beta = 0.0f, slope = act ? act_slope(act) : 1.0f;
        if (bn) {
            bn_inference_stats(bn, oc, &mean, &invstd);
            gamma = bn->weight[oc];
            beta = bn->bias[oc];
        }
        if (bn && act) {
            NN_SIMD
            for (size_t i = 0; i < count; i++)
                dst[i] = act_apply(bn_apply(dst[i] + bias, mean, invstd, gamma, beta), slope);
        } else if (bn) {
            NN_SIMD
            for (size_t i = 0; i < count; i++)
                dst[i] = bn_apply(dst[i] + bias, mean, invstd, gamma, beta);
        } else {
            NN_SIMD
            for (size_t i = 0; i < count; i++)
                dst[i] = act_apply(dst[i] + bias, slope);
        }
    }
}

/* Each thread's slice of the scratch: the GEMM's packing, then (backward) im2col and its gradient. */
float *nn_thread_scratch(const nn_work *ws) { return ws->thread + (size_t)nn_thread_id() * ws->per_thread; }

/* Samples [b0, b1) of a convolution's forward pass on the calling thread, the weight packed for
 * the GEMM beforehand; bias and post after, unless the layer has no bias (an input gradient). */
static void conv_forward_group(const nn_layer *l, int n, int b0, int b1, const float *x, float *y,
                               const float *packed_weight, float *pack, const nn_conv_post *post)
{
    size_t rows = conv_rows(l), ohw = conv_pixels(l);
    int chunk = forward_chunk(l, b1 - b0);
    for (int b = b0; b < b1; b += chunk) {
        int m = b1 - b < chunk ? b1 - b : chunk;
        /* y[:, b:b+m] [c][m*ohw] = weight [c][rows] @ im2col [rows][m*ohw]; the tiling never changes a sum */
        im2col_source src = {l, n, b, 0, l->h, x, 0};
        nn_gemm_b_packer packer = {im2col_pack, &src};
        nn_gemm_serial_packer(l->c, (int)(m * ohw), (int)rows, packed_weight, &packer, 0, y + (size_t)b * ohw,
                              (size_t)n * ohw, pack);
        if (l->bias)
            nn_conv_epilogue(l, n, b, 0, m * ohw, y, post);
    }
}

/* The direct forward pass, im2col packed straight into the GEMM, with the weight already packed. */
static void direct_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws,
                           const float *packed_weight, const nn_conv_post *post)
{
    int team = nn_team_size(ws);
    if (n < team) {
        /* Fewer samples than threads (batch 1 inference): the threads split each sample's output
         * rows, and each packs the columns it multiplies itself. (Sharing one im2col matrix and
         * one GEMM between them moved every column from one core's cache to the other's, and two
         * threads ran slower than one.) */
        size_t ohw = conv_pixels(l);
        for (int b = 0; b < n; b++) {
            NN_PRAGMA(omp parallel num_threads(team) default(none)
                      shared(l, n, b, x, y, ws, ohw, packed_weight, post, team))
            {
                int t = nn_thread_id(), parts = team;
#ifdef _OPENMP
                parts = omp_get_num_threads();
#endif
                int oy0 = (int)((long)t * l->h / parts), oy1 = (int)((long)(t + 1) * l->h / parts);
                size_t cols = (size_t)(oy1 - oy0) * l->w;
                if (cols > 0) {
                    im2col_source src = {l, n, b, oy0, oy1, x, 0};
                    nn_gemm_b_packer packer = {im2col_pack, &src};
                    nn_gemm_serial_packer(l->c, (int)cols, (int)conv_rows(l), packed_weight, &packer, 0,
                                          y + (size_t)b * ohw + (size_t)oy0 * l->w, (size_t)n * ohw,
                                          nn_thread_scratch(ws));
                    if (l->bias)
                        nn_conv_epilogue(l, n, b, (size_t)oy0 * l->w, cols, y, post);
                }
            }
        }
        return;
    }
    /* num_threads: each thread owns one slice of the scratch, sized when the batch was reserved. */
    int G = nn_groups(n);
    NN_PRAGMA(omp parallel for schedule(dynamic) num_threads(team) default(none)
              shared(G, l, n, x, y, ws, packed_weight, post))
    for (int g = 0; g < G; g++) {
        int b0, b1;
        nn_group_range(n, g, &b0, &b1);
        conv_forward_group(l, n, b0, b1, x, y, packed_weight, nn_thread_scratch(ws), post);
    }
}

size_t nn_conv_kernel_floats(const nn_layer *l)
{
    size_t direct = nn_gemm_packed_a_floats(l->c, (int)conv_rows(l));
    size_t winograd = nn_winograd_fits(l) ? nn_winograd_packed_floats(l) : 0;
    size_t most = direct > winograd ? direct : winograd;
    return (most + 15) / 16 * 16;
}

void nn_conv_prepare_kernels(const nn_layer *l, const nn_work *ws, float *kernels)
{
    if (nn_conv_uses_winograd(l, ws))
        nn_winograd_pack_kernels(l, ws, ws->packed_weight, kernels);
    else
        nn_gemm_pack_a(l->c, (int)conv_rows(l), l->weight, conv_rows(l), kernels);
}

void nn_conv_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws, const nn_conv_post *post)
{
    if (nn_conv_uses_plane(l, ws)) {
        nn_plane_forward(l, n, x, y, ws, post, 0);
        return;
    }
    const float *kernels = post ? post->kernels : NULL;
    if (!kernels) {
        /* Made ready once here rather than once per tile of every group's GEMM. The Winograd
         * path transforms them into the scratch's start and packs them after. */
        float *at = ws->packed_weight;
        if (nn_conv_uses_winograd(l, ws))
            at += NN_WINO_PLANES * (size_t)l->c * l->in_c;
        nn_conv_prepare_kernels(l, ws, at);
        kernels = at;
    }
    if (nn_conv_uses_winograd(l, ws))
        nn_winograd_forward(l, n, x, y, ws, kernels, post);
    else
        direct_forward(l, n, x, y, ws, kernels, post);
}

/* The input gradient of a stride-1 convolution is a convolution too: of dy, by the kernels turned
 * half round with input and output channels swapped, padded by k-1-pad. This is that layer (no
 * bias); its kernels go to rotated [in_c][c*k*k]. */
static nn_layer input_gradient_layer(const nn_layer *l, float *rotated)
{
    int K = l->k;
    for (int ic = 0; ic < l->in_c; ic++)
        for (int oc = 0; oc < l->c; oc++)
            for (int i = 0; i < K * K; i++)
                rotated[((size_t)ic * l->c + oc) * K * K + i] =
                    l->weight[((size_t)oc * l->in_c + ic) * K * K + (K * K - 1 - i)];
    return (nn_layer){.kind = NN_CONV, .c = l->in_c, .h = l->in_h, .w = l->in_w, .in_c = l->c, .in_h = l->h,
                      .in_w = l->w, .k = K, .stride = 1, .pad = K - 1 - l->pad, .weight = rotated};
}

/* The input gradient of a stride-1 layer, as the convolution input_gradient_layer makes, by the
 * direct path; ws->part is taken for the turned kernels. */
static void input_gradient_by_convolution(const nn_layer *l, int n, const float *dy, float *dx, const nn_work *ws)
{
    nn_layer t = input_gradient_layer(l, ws->part);
    nn_gemm_pack_a(t.c, (int)conv_rows(&t), t.weight, conv_rows(&t), ws->packed_weight);
    direct_forward(&t, n, dy, dx, ws, ws->packed_weight, NULL);
}

void nn_conv_backward(const nn_layer *l, int n, const float *x, const float *dy, float *dx, const nn_work *ws)
{
    if (nn_conv_uses_plane(l, ws)) {
        nn_plane_weight_gradient(l, n, x, dy, ws, 0);
        if (dx)
            input_gradient_by_convolution(l, n, dy, dx, ws);
        return;
    }
    if (nn_conv_uses_winograd(l, ws)) {
        nn_winograd_backward(l, n, x, dy, dx, ws);
        return;
    }
    /* Stride 1 (unless direct only): the input gradient as a convolution, after the weight's. */
    int transposed = dx && l->stride == 1 && ws->conv != NN_CONV_DIRECT;
    float *dcol_dx = transposed ? NULL : dx;
    size_t rows = conv_rows(l), ohw = conv_pixels(l), part, packed;
    size_t colsize = (direct_work(l, n, &part, &packed) - NN_GEMM_PACK) / 2;
    size_t nweight = (size_t)l->c * rows;
    int G = nn_groups(n), swapped = rows < (size_t)l->c;
    NN_PRAGMA(omp parallel num_threads(nn_team_size(ws)) default(none)
              shared(G, l, n, x, dy, dcol_dx, ws, rows, ohw, colsize, nweight, swapped))
    {
        NN_PRAGMA(omp for schedule(dynamic))
        for (int g = 0; g < G; g++) {
            float *pack = nn_thread_scratch(ws), *col = pack + NN_GEMM_PACK, *dcol = col + colsize;
            float *dw = ws->part + (size_t)g * nweight; /* this group's weight gradient [c][rows] (or [rows][c]) */
            int b0, b1;
            nn_group_range(n, g, &b0, &b1);
            int chunk = conv_chunk(l, b1 - b0);
            for (int b = b0; b < b1; b += chunk) {
                int m = b1 - b < chunk ? b1 - b : chunk;
                const float *dyb = dy + (size_t)b * ohw; /* [c][m*ohw], row stride n*ohw */
                im2col(l, n, b, m, x, col);
                /* dw [c][rows] (+)= dy [c][m*ohw] @ col^T [m*ohw][rows]; with fewer rows than
                 * channels (a first layer: 9 rows, 32 channels) as its transpose, the same
                 * products summed in the same order, filling the GEMM's 32-wide tiles. */
                if (swapped)
                    nn_gemm_serial(0, 1, (int)rows, l->c, (int)(m * ohw), col, m * ohw, dyb, (size_t)n * ohw,
                                   b > b0, dw, (size_t)l->c, pack);
                else
                    nn_gemm_serial(0, 1, l->c, (int)rows, (int)(m * ohw), dyb, (size_t)n * ohw, col, m * ohw,
                                   b > b0, dw, rows, pack);
                if (dcol_dx) {
                    /* dcol [rows][m*ohw] = weight^T [rows][c] @ dy [c][m*ohw] */
                    nn_gemm_serial(1, 0, (int)rows, (int)(m * ohw), l->c, l->weight, rows, dyb, (size_t)n * ohw, 0,
                                   dcol, m * ohw, pack);
                    col2im(l, n, b, m, dcol, dcol_dx);
                }
            }
        }
        /* The groups' partial gradients are added in group order. */
        NN_PRAGMA(omp for schedule(static))
        for (size_t i = 0; i < nweight; i++) {
            size_t at = swapped ? i % rows * l->c + i / rows : i; /* [rows][c] when swapped */
            float s = 0.0f;
            for (int g = 0; g < G; g++)
                s += ws->part[(size_t)g * nweight + at];
            l->dweight[i] = s;
        }
        NN_PRAGMA(omp for schedule(static))
        for (int oc = 0; oc < l->c; oc++)
            l->dbias[oc] = nn_conv_bias_gradient(l, n, dy, oc);
    }
    if (transposed) /* the partials are spent: their room takes the turned kernels */
        input_gradient_by_convolution(l, n, dy, dx, ws);
}

/* Input value at (c, b, iy, ix) or 0 in the padding. */
static float conv_input(const nn_layer *l, int n, const float *x, int c, int b, int iy, int ix)
{
    if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
        return 0.0f;
    return x[(((size_t)c * n + b) * l->in_h + iy) * l->in_w + ix];
}

void nn_conv_forward_ref(const nn_layer *l, int n, const float *x, float *y)
{
    int K = l->k;
    for (int oc = 0; oc < l->c; oc++)
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < l->h; oy++)
                for (int ox = 0; ox < l->w; ox++) {
                    double s = l->bias[oc];
                    for (int c = 0; c < l->in_c; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++)
                                s += (double)l->weight[((size_t)(oc * l->in_c + c) * K + ky) * K + kx] *
                                     conv_input(l, n, x, c, b, oy * l->stride + ky - l->pad,
                                                ox * l->stride + kx - l->pad);
                    y[(((size_t)oc * n + b) * l->h + oy) * l->w + ox] = (float)s;
                }
}

void nn_conv_backward_ref(const nn_layer *l, int n, const float *x, const float *dy, float *dx)
{
    int K = l->k;
    memset(l->dweight, 0, (size_t)l->c * conv_rows(l) * sizeof(float));
    memset(l->dbias, 0, (size_t)l->c * sizeof(float));
    if (dx)
        memset(dx, 0, (size_t)l->in_c * n * l->in_h * l->in_w * sizeof(float));
    for (int oc = 0; oc < l->c; oc++)
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < l->h; oy++)
                for (int ox = 0; ox < l->w; ox++) {
                    float g = dy[(((size_t)oc * n + b) * l->h + oy) * l->w + ox];
                    l->dbias[oc] += g;
                    for (int c = 0; c < l->in_c; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                int iy = oy * l->stride + ky - l->pad, ix = ox * l->stride + kx - l->pad;
                                size_t wi = ((size_t)(oc * l->in_c + c) * K + ky) * K + kx;
                                l->dweight[wi] += g * conv_input(l, n, x, c, b, iy, ix);
                                if (dx && iy >= 0 && iy < l->in_h && ix >= 0 && ix < l->in_w)
                                    dx[(((size_t)c * n + b) * l->in_h + iy) * l->in_w + ix] += g * l->weight[wi];
                            }
                }
}

/* --------------------------------------------------------------- pooling */

/* One output of max/avg pooling over plane [in_h][in_w]; *arg gets the argmax index. */
static float pool_one(const nn_layer *l, const float *plane, int oy, int ox, int32_t *arg)
{
    float best = -INFINITY, sum = 0.0f;
    int32_t at = 0, count = 0;
    for (int ky = 0; ky < l->k; ky++)
        for (int kx = 0; kx < l->k; kx++) {
            int iy = oy * l->stride + ky - l->pad, ix = ox * l->stride + kx - l->pad;
            if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
                continue;
            float v = plane[iy * l->in_w + ix];
            sum += v;
            count++;
            if (v > best || count == 1) {
                best = v;
                at = iy * l->in_w + ix;
            }
        }
    *arg = at;
    return l->kind == NN_MAXPOOL ? best : sum / (float)(count ? count : 1);
}

#ifdef __AVX512F__
/* One output row of the 2x2 max pool from input rows r0 and r1 (r1's first index in the plane is
 * row + in_w), 16 outputs at a time: each window's four values taken apart into four vectors,
 * then compared in the scalar loop's order, so outputs and argmax are its own. Rows of 6 or 12
 * outputs left that loop in scalar code: the 6x6 pooling of the face net took 2.5 times as long
 * as the 24x24 one over a quarter of the data. arg may be NULL. */
static void max_pool2_row(const float *r0, const float *r1, int w, int32_t row, int32_t in_w, float *o, int32_t *arg)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int ox = 0; ox < w; ox += 16) {
        int outs = w - ox < 16 ? w - ox : 16, ins = 2 * outs;
        __mmask16 m = nn_first_lanes(outs), lo = nn_first_lanes(ins), hi = nn_first_lanes(ins - 16);
        __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ox), b0 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ox + 16);
        __m512 a1 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ox + 16);
        __m512 v = _mm512_permutex2var_ps(a0, even, b0);
        __m512 c[3] = {_mm512_permutex2var_ps(a0, odd, b0), _mm512_permutex2var_ps(a1, even, b1),
                       _mm512_permutex2var_ps(a1, odd, b1)};
        /* each window's first index, then the others' offsets from it, in the scalar order */
        __m512i first = _mm512_add_epi32(_mm512_set1_epi32(row + 2 * ox), even), at = first;
        __m512i step[3] = {_mm512_set1_epi32(1), _mm512_set1_epi32(in_w), _mm512_set1_epi32(in_w + 1)};
        for (int i = 0; i < 3; i++) {
            __mmask16 more = _mm512_cmp_ps_mask(c[i], v, _CMP_GT_OQ);
            v = _mm512_mask_mov_ps(v, more, c[i]);
            at = _mm512_mask_mov_epi32(at, more, _mm512_add_epi32(first, step[i]));
        }
        _mm512_mask_storeu_ps(o + ox, m, v);
        if (arg)
            _mm512_mask_storeu_epi32(arg + ox, m, at);
    }
}
#endif

void nn_pool_forward(const nn_layer *l, int n, const float *x, float *y, int32_t *idx)
{
    size_t in_hw = (size_t)l->in_h * l->in_w, out_hw = (size_t)l->h * l->w;
    NN_PARALLEL_FOR_IF((size_t)l->c * n * l->in_h * l->in_w, shared(l, n, x, y, idx, in_hw, out_hw))
    for (long p = 0; p < (long)l->c * n; p++) {
        const float *plane = x + (size_t)p * in_hw;
        float *out = y + (size_t)p * out_hw;
        if (l->kind == NN_GAP) {
            float s = 0.0f;
            for (size_t i = 0; i < in_hw; i++)
                s += plane[i];
            out[0] = s / (float)in_hw;
            continue;
        }
        int32_t *arg = idx ? idx + (size_t)p * out_hw : NULL;
        if (l->kind == NN_MAXPOOL && l->pad == 0 && l->k == 2 && l->stride == 2) {
            /* The common 2x2 window, unrolled: the comparisons of the general loop below, in its order. */
            for (int oy = 0; oy < l->h; oy++) {
                const float *r0 = plane + (size_t)2 * oy * l->in_w, *r1 = r0 + l->in_w;
                float *o = out + (size_t)oy * l->w;
#ifdef __AVX512F__
                max_pool2_row(r0, r1, l->w, 2 * oy * l->in_w, l->in_w, o, arg ? arg + (size_t)oy * l->w : NULL);
                continue;
#endif
                if (!arg) {
                    NN_SIMD
                    for (int ox = 0; ox < l->w; ox++) {
                        float v = r0[2 * ox];
                        v = r0[2 * ox + 1] > v ? r0[2 * ox + 1] : v;
                        v = r1[2 * ox] > v ? r1[2 * ox] : v;
                        o[ox] = r1[2 * ox + 1] > v ? r1[2 * ox + 1] : v;
                    }
                    continue;
                }
                /* in_w held apart: the stores to a might otherwise alias l->in_w for all GCC knows */
                int32_t *a = arg + (size_t)oy * l->w, in_w = l->in_w, row = 2 * oy * in_w;
                NN_SIMD
                for (int ox = 0; ox < l->w; ox++) {
                    float v = r0[2 * ox], c;
                    int32_t at = row + 2 * ox;
                    c = r0[2 * ox + 1];
                    at = c > v ? row + 2 * ox + 1 : at;
                    v = c > v ? c : v;
                    c = r1[2 * ox];
                    at = c > v ? row + in_w + 2 * ox : at;
                    v = c > v ? c : v;
                    c = r1[2 * ox + 1];
                    at = c > v ? row + in_w + 2 * ox + 1 : at;
                    v = c > v ? c : v;
                    o[ox] = v;
                    a[ox] = at;
                }
            }
            continue;
        }
        if (l->kind == NN_AVGPOOL && l->pad == 0 && l->k == 2 && l->stride == 2 && !arg) {
            /* pool_one's sums, in its order, in vectors: the verifier's first layer had taken
             * longer in pool_one than its convolution */
            for (int oy = 0; oy < l->h; oy++) {
                const float *r0 = plane + (size_t)2 * oy * l->in_w, *r1 = r0 + l->in_w;
                float *o = out + (size_t)oy * l->w;
                NN_SIMD
                for (int ox = 0; ox < l->w; ox++)
                    o[ox] = (((r0[2 * ox] + r0[2 * ox + 1]) + r1[2 * ox]) + r1[2 * ox + 1]) / 4.0f;
            }
            continue;
        }
        if (l->kind == NN_MAXPOOL && l->pad == 0) {
            /* Every window lies inside the plane: no bounds to check. */
            for (int oy = 0; oy < l->h; oy++)
                for (int ox = 0; ox < l->w; ox++) {
                    int at = oy * l->stride * l->in_w + ox * l->stride, best = at;
                    for (int ky = 0; ky < l->k; ky++, at += l->in_w)
                        for (int kx = 0; kx < l->k; kx++)
                            best = plane[at + kx] > plane[best] ? at + kx : best;
                    out[oy * l->w + ox] = plane[best];
                    if (arg)
                        arg[oy * l->w + ox] = best;
                }
            continue;
        }
        for (int oy = 0; oy < l->h; oy++)
            for (int ox = 0; ox < l->w; ox++) {
                int32_t at;
                out[oy * l->w + ox] = pool_one(l, plane, oy, ox, &at);
                if (arg)
                    arg[oy * l->w + ox] = at;
            }
    }
}

void nn_pool_backward(const nn_layer *l, int n, const float *dy, float *dx, const int32_t *idx)
{
    size_t in_hw = (size_t)l->in_h * l->in_w, out_hw = (size_t)l->h * l->w;
    NN_PARALLEL_FOR_IF((size_t)l->c * n * l->in_h * l->in_w, shared(l, n, dy, dx, idx, in_hw, out_hw))
    for (long p = 0; p < (long)l->c * n; p++) {
        float *plane = dx + (size_t)p * in_hw;
        const float *g = dy + (size_t)p * out_hw;
        if (l->kind == NN_GAP) {
            for (size_t i = 0; i < in_hw; i++)
                plane[i] = g[0] / (float)in_hw;
            continue;
        }
        memset(plane, 0, in_hw * sizeof *plane);
        for (int oy = 0; oy < l->h; oy++)
            for (int ox = 0; ox < l->w; ox++) {
                float v = g[oy * l->w + ox];
                if (l->kind == NN_MAXPOOL) {
                    plane[idx[(size_t)p * out_hw + oy * l->w + ox]] += v;
                    continue;
                }
                int count = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int ky = 0; ky < l->k; ky++)
                        for (int kx = 0; kx < l->k; kx++) {
                            int iy = oy * l->stride + ky - l->pad, ix = ox * l->stride + kx - l->pad;
                            if (iy < 0 || iy >= l->in_h || ix < 0 || ix >= l->in_w)
                                continue;
                            if (pass == 0)
                                count++;
                            else
                                plane[iy * l->in_w + ix] += v / (float)count;
                        }
            }
    }
}

void nn_pool_forward_ref(const nn_layer *l, int n, const float *x, float *y)
{
    int gap = l->kind == NN_GAP;
    int K = gap ? 1 : l->k;
    for (int c = 0; c < l->c; c++)
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < l->h; oy++)
                for (int ox = 0; ox < l->w; ox++) {
                    const float *plane = x + ((size_t)c * n + b) * l->in_h * l->in_w;
                    double best = -INFINITY, sum = 0;
                    int count = 0;
                    for (int iy = 0; iy < l->in_h; iy++)
                        for (int ix = 0; ix < l->in_w; ix++) {
                            int ky = iy - oy * l->stride + l->pad, kx = ix - ox * l->stride + l->pad;
                            if (!gap && (ky < 0 || ky >= K || kx < 0 || kx >= K))
                                continue;
                            double v = plane[iy * l->in_w + ix];
                            best = v > best ? v : best;
                            sum += v;
                            count++;
                        }
                    y[(((size_t)c * n + b) * l->h + oy) * l->w + ox] =
                        (float)(l->kind == NN_MAXPOOL ? best : sum / count);
                }
}

void nn_pool_backward_ref(const nn_layer *l, int n, const float *x, const float *dy, float *dx)
{
    int gap = l->kind == NN_GAP;
    int K = gap ? 1 : l->k;
    memset(dx, 0, (size_t)l->c * n * l->in_h * l->in_w * sizeof *dx);
    for (int c = 0; c < l->c; c++)
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < l->h; oy++)
                for (int ox = 0; ox < l->w; ox++) {
                    size_t base = ((size_t)c * n + b) * l->in_h * l->in_w;
                    float g = dy[(((size_t)c * n + b) * l->h + oy) * l->w + ox];
                    int count = 0, best = -1;
                    for (int pass = 0; pass < 2; pass++)
                        for (int iy = 0; iy < l->in_h; iy++)
                            for (int ix = 0; ix < l->in_w; ix++) {
                                int ky = iy - oy * l->stride + l->pad, kx = ix - ox * l->stride + l->pad;
                                if (!gap && (ky < 0 || ky >= K || kx < 0 || kx >= K))
                                    continue;
                                int at = iy * l->in_w + ix;
                                if (pass == 0) {
                                    count++;
                                    if (best < 0 || x[base + at] > x[base + best])
                                        best = at;
                                } else if (l->kind != NN_MAXPOOL) {
                                    dx[base + at] += g / (float)count;
                                }
                            }
                    if (l->kind == NN_MAXPOOL)
                        dx[base + best] += g;
                }
}

/* ----------------------------------------------------------------- dense */

static size_t dense_inputs(const nn_layer *l) { return (size_t)l->in_c * l->in_h * l->in_w; }

void nn_dense_forward(const nn_layer *l, int n, const float *x, float *y, float *flat)
{
    size_t hw = (size_t)l->in_h * l->in_w, F = dense_inputs(l);
    /* x [in_c][n][hw] -> flat [in_c*hw][n]: a feature per row, as the GEMM wants. */
    NN_PARALLEL_FOR_IF(F * (size_t)n, shared(l, n, x, flat, hw))
    for (int c = 0; c < l->in_c; c++)
        for (int b = 0; b < n; b++)
            for (size_t p = 0; p < hw; p++)
                flat[((size_t)c * hw + p) * n + b] = x[((size_t)c * n + b) * hw + p];
    /* y [c][n] = weight [c][F] @ flat [F][n] */
    nn_gemm(0, 0, l->c, n, (int)F, l->weight, F, flat, (size_t)n, 0, y, (size_t)n);
    NN_PARALLEL_FOR_IF((size_t)l->c * n, shared(l, n, y))
    for (int o = 0; o < l->c; o++)
        for (int b = 0; b < n; b++)
            y[(size_t)o * n + b] += l->bias[o];
}

void nn_dense_backward(const nn_layer *l, int n, const float *flat, const float *dy, float *dx, float *dflat)
{
    size_t hw = (size_t)l->in_h * l->in_w, F = dense_inputs(l);
    /* dweight [c][F] = dy [c][n] @ flat^T [n][F] */
    nn_gemm(0, 1, l->c, (int)F, n, dy, (size_t)n, flat, (size_t)n, 0, l->dweight, F);
    NN_PARALLEL_FOR_IF((size_t)l->c * n, shared(l, n, dy))
    for (int o = 0; o < l->c; o++) {
        float s = 0.0f;
        for (int b = 0; b < n; b++)
            s += dy[(size_t)o * n + b];
        l->dbias[o] = s;
    }
    if (!dx)
        return;
    /* dflat [F][n] = weight^T [F][c] @ dy [c][n], then back to [in_c][n][hw] */
    nn_gemm(1, 0, (int)F, n, l->c, l->weight, F, dy, (size_t)n, 0, dflat, (size_t)n);
    NN_PARALLEL_FOR_IF(F * (size_t)n, shared(l, n, dx, dflat, hw))
    for (int c = 0; c < l->in_c; c++)
        for (int b = 0; b < n; b++)
            for (size_t p = 0; p < hw; p++)
                dx[((size_t)c * n + b) * hw + p] = dflat[((size_t)c * hw + p) * n + b];
}

/* ------------------------------------------------------------ batch norm */

void nn_bn_forward(const nn_layer *l, int n, int train, float momentum, const float *x, float *y, float *xhat,
                   float *stat)
{
    size_t m = (size_t)n * l->h * l->w; /* values per channel */
    NN_PARALLEL_FOR_IF((size_t)l->c * n * l->h * l->w, shared(l, train, momentum, x, y, xhat, stat, m))
    for (int c = 0; c < l->c; c++) {
        const float *xc = x + (size_t)c * m;
        float mean, invstd;
        if (train) {
            double s = 0, ss = 0;
            NN_PRAGMA(omp simd reduction(+ : s))
            for (size_t i = 0; i < m; i++)
                s += xc[i];
            double mu = s / (double)m;
            NN_PRAGMA(omp simd reduction(+ : ss))
            for (size_t i = 0; i < m; i++)
                ss += ((double)xc[i] - mu) * ((double)xc[i] - mu);
            double var = ss / (double)m;
            mean = (float)mu;
            invstd = (float)(1.0 / sqrt(var + l->alpha));
            /* Running variance is unbiased, as PyTorch keeps it. */
            double unbiased = m > 1 ? ss / (double)(m - 1) : var;
            l->run_mean[c] = (1.0f - momentum) * l->run_mean[c] + momentum * mean;
            l->run_var[c] = (1.0f - momentum) * l->run_var[c] + momentum * (float)unbiased;
        } else {
            bn_inference_stats(l, c, &mean, &invstd);
        }
        if (stat) {
            stat[c] = mean;
            stat[l->c + c] = invstd;
        }
        float *yc = y + (size_t)c * m, gamma = l->weight[c], beta = l->bias[c];
        if (xhat) {
            float *hc = xhat + (size_t)c * m;
            NN_SIMD
            for (size_t i = 0; i < m; i++) {
                hc[i] = (xc[i] - mean) * invstd;
                yc[i] = gamma * hc[i] + beta;
            }
        } else {
            NN_SIMD
            for (size_t i = 0; i < m; i++)
                yc[i] = bn_apply(xc[i], mean, invstd, gamma, beta);
        }
    }
}

void nn_bn_backward(const nn_layer *l, int n, const float *xhat, const float *stat, const float *dy, float *dx)
{
    size_t m = (size_t)n * l->h * l->w;
    NN_PARALLEL_FOR_IF((size_t)l->c * n * l->h * l->w, shared(l, xhat, stat, dy, dx, m))
    for (int c = 0; c < l->c; c++) {
        const float *g = dy + (size_t)c * m, *h = xhat + (size_t)c * m;
        double sg = 0, sgh = 0;
        NN_PRAGMA(omp simd reduction(+ : sg, sgh))
        for (size_t i = 0; i < m; i++) {
            sg += g[i];
            sgh += (double)g[i] * h[i];
        }
        l->dbias[c] = (float)sg;
        l->dweight[c] = (float)sgh;
        if (!dx)
            continue;
        /* dx = gamma * invstd / m * (m dy - sum dy - xhat sum(dy xhat)) */
        float scale = l->weight[c] * stat[l->c + c] / (float)m;
        float a = (float)sg, b = (float)sgh;
        float *d = dx + (size_t)c * m;
        NN_SIMD
        for (size_t i = 0; i < m; i++)
            d[i] = scale * ((float)m * g[i] - a - h[i] * b);
    }
}

/* ----------------------------------------------------------- activations */

void nn_act_forward(const nn_layer *l, size_t count, const float *x, float *y)
{
    float slope = act_slope(l);
    NN_PARALLEL_FOR_SIMD(count, shared(count, x, y, slope))
    for (size_t i = 0; i < count; i++)
        y[i] = act_apply(x[i], slope);
}

void nn_act_backward(const nn_layer *l, size_t count, const float *x, const float *dy, float *dx)
{
    float slope = act_slope(l);
    NN_PARALLEL_FOR_SIMD(count, shared(count, x, dy, dx, slope))
    for (size_t i = 0; i < count; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void nn_dropout_forward(const nn_layer *l, size_t count, uint64_t seed, const float *x, float *y, float *mask)
{
    float keep = 1.0f - l->alpha, scale = 1.0f / keep;
    NN_PARALLEL_FOR_SIMD(count, shared(count, seed, x, y, mask, keep, scale))
    for (size_t i = 0; i < count; i++) {
        uint64_t s = seed ^ (i * 0x9e3779b97f4a7c15ull);
        mask[i] = nn_uniform(&s) < keep ? scale : 0.0f;
        y[i] = x[i] * mask[i];
    }
}

void nn_dropout_backward(size_t count, const float *mask, const float *dy, float *dx)
{
    NN_PARALLEL_FOR_SIMD(count, shared(count, mask, dy, dx))
    for (size_t i = 0; i < count; i++)
        dx[i] = dy[i] * mask[i];
}

/* ------------------------------------------------------ softmax and loss */

void nn_softmax_forward(int c, int n, const float *z, float *p)
{
    for (int b = 0; b < n; b++) {
        float mx = z[b];
        for (int k = 1; k < c; k++)
            mx = fmaxf(mx, z[(size_t)k * n + b]);
        double s = 0;
        for (int k = 0; k < c; k++)
            s += exp((double)z[(size_t)k * n + b] - mx);
        for (int k = 0; k < c; k++)
            p[(size_t)k * n + b] = (float)(exp((double)z[(size_t)k * n + b] - mx) / s);
    }
}

double nn_xent(int c, int n, const float *p, const int *labels, const float *class_weight, float smoothing,
               float *dz)
{
    double total = 0, wsum = 0;
    for (int b = 0; b < n; b++)
        wsum += class_weight ? class_weight[labels[b]] : 1.0f;
    if (wsum <= 0)
        wsum = 1;
    for (int b = 0; b < n; b++) {
        double w = class_weight ? class_weight[labels[b]] : 1.0;
        for (int k = 0; k < c; k++) {
            double q = (k == labels[b] ? 1.0 - smoothing : 0.0) + smoothing / c;
            double pk = p[(size_t)k * n + b];
            if (q > 0)
                total -= w * q * log(pk > 1e-30 ? pk : 1e-30);
            if (dz)
                dz[(size_t)k * n + b] = (float)(w * (pk - q) / wsum);
        }
    }
    return total / wsum;
}
