/* nn_plane.c — 3x3 stride-1 convolutions of a single input plane (every shipped net's first layer:
 * a gray face, a spectrogram), computed straight from a zero-padded copy of the plane's rows.
 * Through im2col and the GEMM, a K of 9 left the micro-kernel storing as often as it multiplied,
 * and the weight gradient's GEMM had 9 rows to fill 32-wide tiles with: the first layers ran at
 * 20-35% of the GEMM's peak. The forward pass sums each output's 9 taps in the im2col path's order
 * with fused multiply-adds, so its floats are that path's. The weight gradient sums each fixed
 * group of samples in 16 lanes and adds the groups in order, so no float depends on the threads. */
#include "nn.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define TAPS 9
#define LANES 16
#define SLOTS (TAPS + 1) /* a channel's weight-gradient sums: the 9 taps, then the bias */
/* A forward band's output: about a quarter of L2, so that an epilogue pass finds it in cache. */
#define BAND_OUTPUT_FLOATS ((size_t)1 << 16)
/* The padded rows a thread copies at a time. */
#define BAND_INPUT_FLOATS ((size_t)1 << 16)

/* fma where the GEMM uses it, so that the forward pass's floats stay the im2col path's. */
#ifdef __FMA__
#define MADD(a, b, c) fmaf(a, b, c)
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static int imin(int a, int b) { return a < b ? a : b; }
static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* A padded row: pad zeros, the input row, zeros past it for two vectors more than the output's,
 * so that every tap's load stays inside it, wherever a row's vectors start. */
static int padded_width(const nn_layer *l) { return (int)round_up((size_t)l->w, LANES) + 2 * LANES; }
static int input_band_rows(const nn_layer *l) { return (int)(BAND_INPUT_FLOATS / (size_t)padded_width(l)) - 2; }

/* A thread's scratch: the padded rows, then the weight gradient's lanes [c][SLOTS][16]. */
static size_t lane_floats(const nn_layer *l) { return (size_t)l->c * SLOTS * LANES; }

size_t nn_plane_scratch_floats(const nn_layer *l) { return BAND_INPUT_FLOATS + lane_floats(l); }

int nn_plane_fits(const nn_layer *l)
{
    return l->kind == NN_CONV && l->in_c == 1 && l->k == 3 && l->stride == 1 && l->pad <= 2 && l->bias &&
           input_band_rows(l) >= 1 && nn_plane_scratch_floats(l) <= NN_GEMM_PACK;
}

/* Without AVX-512 the plain loops stay the tests' reference only: im2col and the GEMM's AVX2 kernel
 * are the faster there. */
int nn_conv_uses_plane(const nn_layer *l, const nn_work *ws)
{
#ifdef __AVX512F__
    return ws->conv != NN_CONV_DIRECT && nn_plane_fits(l);
#else
    (void)l;
    (void)ws;
    return 0;
#endif
}

size_t nn_plane_part_floats(const nn_layer *l) { return (size_t)NN_GROUPS * l->c * SLOTS; }

/* Padded rows [r0, r1) of sample b's plane: padded row r is input row r - pad, moved right by pad. */
static void pad_rows(const nn_layer *l, const float *x, int b, int r0, int r1, float *dst)
{
    int wp = padded_width(l);
    const float *plane = x + (size_t)b * l->in_h * l->in_w;
    for (int r = r0; r < r1; r++, dst += wp) {
        int iy = r - l->pad;
        memset(dst, 0, (size_t)wp * sizeof *dst);
        if (iy >= 0 && iy < l->in_h)
            memcpy(dst + l->pad, plane + (size_t)iy * l->in_w, (size_t)l->in_w * sizeof *dst);
    }
}

/* What one forward band needs: where its output goes (row r of the band of channel oc at
 * out + oc * stride + r * w), whether the bias is added here (when no epilogue follows) or by the
 * epilogue with batch norm and activation, and whether whole aligned vectors go around the caches. */
typedef struct plane_band {
    const nn_layer *l;
    int oy0, oy1;
    const float *padded, *bias; /* bias NULL: left to the epilogue */
    float *out;
    size_t stride;
    int stream;
} plane_band;

static void forward_band_plain(const plane_band *s)
{
    const nn_layer *l = s->l;
    int wp = padded_width(l);
    for (int oy = s->oy0; oy < s->oy1; oy++) {
        const float *top = s->padded + (size_t)(oy - s->oy0) * wp;
        float *dst = s->out + (size_t)(oy - s->oy0) * l->w;
        for (int oc = 0; oc < l->c; oc++, dst += s->stride) {
            const float *wk = l->weight + (size_t)oc * TAPS;
            float bias = s->bias ? s->bias[oc] : 0.0f;
            int add_bias = s->bias != NULL;
            NN_SIMD
            for (int x = 0; x < l->w; x++) {
                float acc = 0.0f;
                for (int t = 0; t < TAPS; t++)
                    acc = MADD(wk[t], top[(size_t)(t / 3) * wp + x + t % 3], acc);
                dst[x] = add_bias ? acc + bias : acc;
            }
        }
    }
}

#ifdef __AVX512F__
/* The band's output in each channel is one run of rows * w floats, taken 16 at a time from flat
 * position p (row p / w, column p % w): a vector may run on into the next row, whose lanes are
 * loaded from that row's padded input. So the run's vectors can start where the output is 64-byte
 * aligned, and only the first and last of a band are partial: masked stores, which on this
 * machine (AMD Zen 4) cost several times a whole one, had taken a third of the music net's first
 * layer, at both ends of every 129-wide row. */
static inline __attribute__((always_inline)) void load_taps(const plane_band *s, int p, __m512 in[TAPS])
{
    const nn_layer *l = s->l;
    int wp = padded_width(l), r = p / l->w, x = p % l->w, rows = s->oy1 - s->oy0;
    const float *top = s->padded + (size_t)r * wp + x;
#pragma GCC unroll 9
    for (int t = 0; t < TAPS; t++)
        in[t] = _mm512_loadu_ps(top + (size_t)(t / 3) * wp + t % 3);
    if (x + LANES <= l->w || r + 1 >= rows)
        return; /* within the row, or past the band's end where nothing is stored */
    __mmask16 next = (__mmask16)~nn_first_lanes(l->w - x);
    const float *below = s->padded + (size_t)(r + 1) * wp - (l->w - x);
#pragma GCC unroll 9
    for (int t = 0; t < TAPS; t++)
        in[t] = _mm512_mask_loadu_ps(in[t], next, below + (size_t)(t / 3) * wp + t % 3);
}

/* V vectors (a constant where inlined, at most 3) from flat position p, up to end (at most
 * the end of the next row when rows are shorter than a vector), in every
 * channel: their 9 V tap vectors loaded once, and each channel's V sums 9 fused multiply-adds
 * each, V independent chains sharing the broadcasts of its weights. */
#define MAX_VECTORS 3
static inline __attribute__((always_inline)) void forward_vectors(int V, const plane_band *s, int p, int end)
{
    const nn_layer *l = s->l;
    __mmask16 valid[MAX_VECTORS];
    __m512 in[MAX_VECTORS][TAPS];
#pragma GCC unroll 3
    for (int v = 0; v < V; v++) {
        valid[v] = nn_first_lanes(end - p - LANES * v);
        load_taps(s, p + LANES * v, in[v]);
    }
    const float *wk = l->weight, *bias = s->bias;
    float *dst = s->out + p;
    for (int oc = 0; oc < l->c; oc++, wk += TAPS, dst += s->stride) {
        __m512 acc[MAX_VECTORS];
#pragma GCC unroll 3
        for (int v = 0; v < V; v++)
            acc[v] = _mm512_setzero_ps();
#pragma GCC unroll 9
        for (int t = 0; t < TAPS; t++) {
            __m512 w = _mm512_set1_ps(wk[t]);
#pragma GCC unroll 3
            for (int v = 0; v < V; v++)
                acc[v] = _mm512_fmadd_ps(w, in[v][t], acc[v]);
        }
#pragma GCC unroll 3
        for (int v = 0; v < V; v++) {
            if (bias)
                acc[v] = _mm512_add_ps(acc[v], _mm512_set1_ps(bias[oc]));
            if (valid[v] != 0xFFFF)
                _mm512_mask_storeu_ps(dst + LANES * v, valid[v], acc[v]);
            else if (s->stream)
                _mm512_stream_ps(dst + LANES * v, acc[v]);
            else
                _mm512_storeu_ps(dst + LANES * v, acc[v]);
        }
    }
}

static void forward_band(const plane_band *s)
{
    const nn_layer *l = s->l;
    if (l->w < LANES) { /* a vector would span more than two rows: one row at a time */
        for (int r = 0; r < s->oy1 - s->oy0; r++)
            forward_vectors(1, s, r * l->w, (r + 1) * l->w);
        return;
    }
    int count = (s->oy1 - s->oy0) * l->w, p = 0;
    if (s->stride % LANES == 0) { /* every channel's run aligned as the first's */
        p = imin(count, (int)((64 - ((uintptr_t)s->out & 63)) % 64 / sizeof *s->out));
        if (p > 0)
            forward_vectors(1, s, 0, p);
    }
    for (; p < count; p += LANES * MAX_VECTORS) {
        int left = (count - p + LANES - 1) / LANES;
        if (left >= 3)
            forward_vectors(3, s, p, count);
        else if (left == 2)
            forward_vectors(2, s, p, count);
        else
            forward_vectors(1, s, p, count);
    }
    if (s->stream)
        _mm_sfence();
}
#else
#define forward_band forward_band_plain
#endif

/* A training pass's output larger than this is written around the caches: the batch norm after
 * it reads it back from memory anyway, and writing through them read every line in first
 * (bench-layers, 2 threads, the face net's first layer at batch 64, 19 MB: 0.9-1.1 ms -> 0.5-0.7
 * ms, the batch norm after it unchanged at 1.4-2.0 ms). */
#define STREAM_OUTPUT_BYTES ((size_t)8 << 20)

void nn_plane_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws, const nn_conv_post *post,
                      int plain)
{
    /* Bands of equal rows, small enough for cache, and enough of them to keep every thread busy
     * at batch 1. */
    int team = nn_team_size(ws);
    size_t fit = BAND_OUTPUT_FLOATS / ((size_t)l->c * l->w), ohw = (size_t)l->h * l->w;
    int rows = fit < (size_t)l->h ? (int)fit : l->h;
    rows = imin(rows > 1 ? rows : 1, input_band_rows(l));
    int bands = (l->h + rows - 1) / rows;
    if ((long)n * bands < 2L * team)
        bands = imin(l->h, (2 * team + n - 1) / n);
    rows = (l->h + bands - 1) / bands;
    bands = (l->h + rows - 1) / rows;
    int fused_bias = !post || (!post->bn && !post->act);
    int stream = fused_bias && (size_t)l->c * n * ohw * sizeof(float) > STREAM_OUTPUT_BYTES && n * ohw % LANES == 0;
    long items = (long)n * bands;
    NN_PRAGMA(omp parallel num_threads(team) default(none)
              shared(l, n, x, y, ws, post, plain, rows, bands, fused_bias, stream, items, ohw))
    {
        float *padded = nn_thread_scratch(ws);
        NN_PRAGMA(omp for schedule(dynamic))
        for (long item = 0; item < items; item++) {
            int b = (int)(item / bands), oy0 = (int)(item % bands) * rows, oy1 = imin(l->h, oy0 + rows);
            pad_rows(l, x, b, oy0, oy1 + 2, padded);
            plane_band s = {l, oy0, oy1, padded, fused_bias ? l->bias : NULL,
                            y + (size_t)b * ohw + (size_t)oy0 * l->w, (size_t)n * ohw, stream};
            if (plain)
                forward_band_plain(&s);
            else
                forward_band(&s);
            if (!fused_bias)
                nn_conv_epilogue(l, n, b, (size_t)oy0 * l->w, (size_t)(oy1 - oy0) * l->w, y, post);
        }
    }
}

/* The weight gradient goes over blocks of the input: several whole samples, or one sample's band
 * of rows where a sample's padded plane alone would not fit; the padded rows of each sample of
 * the block one after the other. Each channel's dy is then read in runs over the block's samples
 * (the hardware prefetcher had not kept up with runs of one sample's plane: 9 KB on the face net). */
typedef struct plane_block {
    int b0, b1, oy0, rows;
    const float *padded;
} plane_block;

static size_t block_plane(const nn_layer *l, int rows) { return (size_t)(rows + 2) * padded_width(l); }

/* One channel's sums over a block, lanes [SLOTS][16] += for each tap dy times the input under it,
 * and dy itself for the bias, pixel x in lane x % 16. */
static void gradient_plain(const nn_layer *l, const plane_block *k, const float *dy, float *lanes)
{
    int wp = padded_width(l);
    size_t ohw = (size_t)l->h * l->w;
    for (int b = k->b0; b < k->b1; b++) {
        const float *padded = k->padded + (size_t)(b - k->b0) * block_plane(l, k->rows);
        for (int r = 0; r < k->rows; r++) {
            const float *top = padded + (size_t)r * wp, *d = dy + (size_t)(b - k->b0) * ohw + (size_t)r * l->w;
            for (int x = 0; x < l->w; x++) {
                float *lane = lanes + x % LANES;
                for (int t = 0; t < TAPS; t++)
                    lane[t * LANES] = MADD(d[x], top[(size_t)(t / 3) * wp + x + t % 3], lane[t * LANES]);
                lane[TAPS * LANES] += d[x];
            }
        }
    }
}

#ifdef __AVX512F__
#define PREFETCH_FLOATS 1024
/* The same sums for C (1 or 2, a constant where inlined) channels at once, sharing the input's
 * vectors; past the row's end dy is loaded as 0, so those lanes add nothing. */
static inline __attribute__((always_inline)) void gradient_channels(int C, const nn_layer *l, const plane_block *k,
                                                                    const float *const dy[2], float *const lanes[2])
{
    int wp = padded_width(l);
    size_t ohw = (size_t)l->h * l->w;
    __m512 acc[2][SLOTS];
#pragma GCC unroll 16
    for (int c = 0; c < C; c++)
#pragma GCC unroll 16
        for (int t = 0; t < SLOTS; t++)
            acc[c][t] = _mm512_load_ps(lanes[c] + t * LANES);
    for (int b = k->b0; b < k->b1; b++) {
        const float *padded = k->padded + (size_t)(b - k->b0) * block_plane(l, k->rows);
        for (int r = 0; r < k->rows; r++) {
            const float *top = padded + (size_t)r * wp;
            size_t at = (size_t)(b - k->b0) * ohw + (size_t)r * l->w;
            for (int x0 = 0; x0 < l->w; x0 += LANES) {
                __mmask16 valid = nn_first_lanes(l->w - x0);
                __m512 d[2];
#pragma GCC unroll 16
                for (int c = 0; c < C; c++) {
                    _mm_prefetch((const char *)(dy[c] + at + x0 + PREFETCH_FLOATS), _MM_HINT_T0);
                    d[c] = _mm512_maskz_loadu_ps(valid, dy[c] + at + x0);
                }
#pragma GCC unroll 16
                for (int ky = 0; ky < 3; ky++) {
                    /* the taps' inputs shifted out of two aligned vectors rather than loaded
                     * across cache lines */
                    const float *src = top + (size_t)ky * wp + x0;
                    __m512i lo = _mm512_castps_si512(_mm512_load_ps(src));
                    __m512i hi = _mm512_castps_si512(_mm512_load_ps(src + LANES));
                    __m512 in[3] = {_mm512_castsi512_ps(lo), _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 1)),
                                    _mm512_castsi512_ps(_mm512_alignr_epi32(hi, lo, 2))};
#pragma GCC unroll 3
                    for (int kx = 0; kx < 3; kx++)
#pragma GCC unroll 16
                        for (int c = 0; c < C; c++)
                            acc[c][ky * 3 + kx] = _mm512_fmadd_ps(d[c], in[kx], acc[c][ky * 3 + kx]);
                }
#pragma GCC unroll 16
                for (int c = 0; c < C; c++)
                    acc[c][TAPS] = _mm512_add_ps(acc[c][TAPS], d[c]);
            }
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; c++)
#pragma GCC unroll 16
        for (int t = 0; t < SLOTS; t++)
            _mm512_store_ps(lanes[c] + t * LANES, acc[c][t]);
}
#endif

/* Every channel's sums over a block, two channels at a time. */
static void gradient_block(const nn_layer *l, int n, const plane_block *k, const float *dy, float *lanes, int plain)
{
    size_t ohw = (size_t)l->h * l->w;
    for (int oc = 0; oc < l->c; oc += 2) {
        int pair = oc + 1 < l->c ? 2 : 1;
        const float *d[2];
        float *lane[2];
        for (int c = 0; c < pair; c++) {
            d[c] = dy + ((size_t)(oc + c) * n + k->b0) * ohw + (size_t)k->oy0 * l->w;
            lane[c] = lanes + (size_t)(oc + c) * SLOTS * LANES;
        }
#ifdef __AVX512F__
        if (!plain) {
            if (pair == 2)
                gradient_channels(2, l, k, d, lane);
            else
                gradient_channels(1, l, k, d, lane);
            continue;
        }
#else
        (void)plain;
#endif
        for (int c = 0; c < pair; c++)
            gradient_plain(l, k, d[c], lane[c]);
    }
}

/* Samples [b0, b1) into blocks: as many whole samples as fit, or bands of one sample's rows. */
static void gradient_samples(const nn_layer *l, int n, const float *x, int b0, int b1, const float *dy, float *lanes,
                             float *padded, int plain)
{
    size_t whole = block_plane(l, l->h);
    int per = (int)(BAND_INPUT_FLOATS / whole);
    if (per >= 1) {
        for (int b = b0; b < b1; b += per) {
            plane_block k = {b, imin(b1, b + per), 0, l->h, padded};
            for (int s = k.b0; s < k.b1; s++)
                pad_rows(l, x, s, 0, l->h + 2, padded + (size_t)(s - k.b0) * whole);
            gradient_block(l, n, &k, dy, lanes, plain);
        }
        return;
    }
    int rows = input_band_rows(l);
    for (int b = b0; b < b1; b++)
        for (int oy0 = 0; oy0 < l->h; oy0 += rows) {
            plane_block k = {b, b + 1, oy0, imin(rows, l->h - oy0), padded};
            pad_rows(l, x, b, oy0, oy0 + k.rows + 2, padded);
            gradient_block(l, n, &k, dy, lanes, plain);
        }
}

void nn_plane_weight_gradient(const nn_layer *l, int n, const float *x, const float *dy, const nn_work *ws, int plain)
{
    int G = nn_groups(n);
    size_t slots = (size_t)l->c * SLOTS;
    NN_PRAGMA(omp parallel num_threads(nn_team_size(ws)) default(none) shared(l, n, x, dy, ws, plain, G, slots))
    {
        float *padded = nn_thread_scratch(ws), *lanes = padded + BAND_INPUT_FLOATS;
        NN_PRAGMA(omp for schedule(dynamic))
        for (int g = 0; g < G; g++) {
            int b0, b1;
            nn_group_range(n, g, &b0, &b1);
            memset(lanes, 0, lane_floats(l) * sizeof *lanes);
            gradient_samples(l, n, x, b0, b1, dy, lanes, padded, plain);
            float *part = ws->part + (size_t)g * slots;
            for (size_t i = 0; i < slots; i++) {
                float s = 0.0f;
                for (int k = 0; k < LANES; k++)
                    s += lanes[i * LANES + k];
                part[i] = s;
            }
        }
        /* The groups' partial gradients are added in group order. */
        NN_PRAGMA(omp for schedule(static))
        for (size_t i = 0; i < slots; i++) {
            float s = 0.0f;
            for (int g = 0; g < G; g++)
                s += ws->part[(size_t)g * slots + i];
            size_t oc = i / SLOTS, t = i % SLOTS;
            if (t < TAPS)
                l->dweight[oc * TAPS + t] = s;
            else
                l->dbias[oc] = s;
        }
    }
}
