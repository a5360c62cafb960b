/* nn_winograd.c — 3x3 stride-1 'same' convolutions by Winograd's minimal filtering. F(2x2,3x3)
 * makes a 2x2 output tile from a 4x4 input tile in 16 multiplies instead of 36; F(4x4,3x3) a 4x4
 * tile from a 6x6 one in 36 instead of 144. Kernels and tiles are transformed, and the multiplies
 * of all tiles are 16 or 36 GEMMs over the channels. The input gradient is the same algorithm on
 * the rotated kernel; the weight gradient is the forward's adjoint. No tile's floats depend on how
 * the batch is cut into chunks, and the weight gradient sums fixed groups of samples, so no float
 * depends on the number of threads. */
#include "nn.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Floats of one transformed chunk ([planes][channels][tiles]): 1 MB, and as much for its product,
 * per thread (2^16 starved the GEMMs of the 256-channel layers of tiles; 2^19 left L2 further behind). */
#define WINO_CHUNK_FLOATS ((size_t)1 << 18)
/* Below this many input channels the GEMMs are too thin to repay the transforms (the first layer
 * of every shipped net has one channel). */
#define WINO_MIN_CHANNELS 8
/* The widest map an architecture may have (nn_arch.c). The transforms keep rows of the width in
 * the GEMM's packing buffer: F(4x4,3x3)'s gradient transform 40 rows of a quarter of the width
 * and one more float, its input transform a chunk's tiles (WINO4_TILES below). */
#define WINO_MAX_WIDTH 4096
_Static_assert(40 * (WINO_MAX_WIDTH / 4 + 2) <= NN_GEMM_PACK, "F(4x4)'s rows fit the packing buffer");
_Static_assert(16 * (WINO_MAX_WIDTH / 2 + 2) <= NN_GEMM_PACK, "F(2x2)'s rows fit the packing buffer");

int nn_winograd_fits(const nn_layer *l)
{
    return l->kind == NN_CONV && l->k == 3 && l->stride == 1 && l->pad == 1 && l->h == l->in_h && l->w == l->in_w &&
           l->in_c >= WINO_MIN_CHANNELS && l->w <= WINO_MAX_WIDTH;
}

/* The weight gradient's fixed groups of samples, each summed apart and then added in order: fewer
 * than the direct path's NN_GROUPS, as each group's partial is 16/9 (or 36/9) of the kernels' size
 * and writing and adding them cost more than spreading them over more threads gained: two groups
 * took the face net's backward passes from 1.42x to 1.47x of the direct ones (two threads, one each). */
#define WINO_GROUPS 2

/* Smaller maps with few channels lose to the direct path: the prototype's 32 channels at 6x6 and
 * the verifier's 16 at 12x12 and 32 at 6x6 (0.75-0.8x); the face net's 128 at 6x6 wins (1.3x). */
#define WINO_MIN_INPUT_VALUES 4096

int nn_winograd_pays(const nn_layer *l)
{
    return nn_winograd_fits(l) && (size_t)l->in_c * l->h * l->w >= WINO_MIN_INPUT_VALUES;
}

int nn_conv_uses_winograd(const nn_layer *l, const nn_work *ws)
{
    return ws->conv == NN_CONV_WINOGRAD ? nn_winograd_fits(l) : ws->conv == NN_CONV_BEST && nn_winograd_pays(l);
}

/* How a layer's output is cut into tiles: of side m (2 or 4), each from an (m+2)^2 input tile
 * whose transform has that many values, the planes, one GEMM each. */
typedef struct wino_tiling {
    int m, planes;
    int th, tw; /* tiles down and across, the last ones clipped at the edges */
} wino_tiling;

static wino_tiling tiling(const nn_layer *l, int m)
{
    return (wino_tiling){m, (m + 2) * (m + 2), (l->h + m - 1) / m, (l->w + m - 1) / m};
}

/* Multiplies per channel pair of a tiling, clipped tiles counted whole. */
static size_t tiling_products(wino_tiling t) { return (size_t)t.planes * t.th * t.tw; }

int nn_winograd_tile(const nn_layer *l)
{
    /* The larger tile makes fewer products on every map but those of 2 mod 4 sides up to 6, where
     * its clipped tiles waste what it saves (6x6: 4 tiles of 36 against 9 of 16). */
    return tiling_products(tiling(l, 4)) < tiling_products(tiling(l, 2)) ? 4 : 2;
}

static wino_tiling tiling_for(const nn_layer *l, const nn_work *ws)
{
    return tiling(l, ws->wino_tile == 2 || ws->wino_tile == 4 ? ws->wino_tile : nn_winograd_tile(l));
}

static int max_channels(const nn_layer *l) { return l->c > l->in_c ? l->c : l->in_c; }

/* Tile rows in one chunk: at least one. */
static int chunk_rows(const nn_layer *l, wino_tiling t)
{
    size_t per_row = (size_t)t.planes * max_channels(l) * t.tw;
    size_t rows = WINO_CHUNK_FLOATS / per_row;
    return rows < 1 ? 1 : rows > (size_t)INT32_MAX ? INT32_MAX : (int)rows;
}

static size_t tiling_chunk_floats(const nn_layer *l, wino_tiling t)
{
    int rows = chunk_rows(l, t);
    if (rows > t.th) /* whole samples: as many as fit */
        rows = rows / t.th * t.th;
    size_t f = (size_t)t.planes * max_channels(l) * (size_t)rows * t.tw;
    return (f + 15) / 16 * 16;
}

/* Room for either tiling, so that a test may choose one (ws->wino_tile) after the planning. */
static size_t chunk_floats(const nn_layer *l)
{
    size_t f2 = tiling_chunk_floats(l, tiling(l, 2)), f4 = tiling_chunk_floats(l, tiling(l, 4));
    return f2 > f4 ? f2 : f4;
}

size_t nn_winograd_packed_floats(const nn_layer *l)
{
    size_t fwd = nn_gemm_packed_a_floats(l->c, l->in_c), bwd = nn_gemm_packed_a_floats(l->in_c, l->c);
    return NN_WINO_PLANES * (fwd > bwd ? fwd : bwd);
}

size_t nn_winograd_work(const nn_layer *l, size_t *part, size_t *packed)
{
    size_t weights = NN_WINO_PLANES * (size_t)l->c * l->in_c;
    *part = (size_t)WINO_GROUPS * weights;
    *packed = weights + nn_winograd_packed_floats(l); /* the transformed kernel, then its packing */
    return 2 * chunk_floats(l) + NN_GEMM_PACK;
}

/* A chunk: samples [b0, b0+m), tile rows [ty0, ty1) of each; tiles numbered sample, row, column. */
typedef struct wino_chunk {
    int b0, m, ty0, ty1;
} wino_chunk;

static size_t chunk_tiles(wino_tiling t, wino_chunk c) { return (size_t)c.m * (c.ty1 - c.ty0) * t.tw; }

/* The chunks of samples [b0, b1) over tile rows [ty0, ty1), in order: whole samples together when
 * they fit, else rows of one sample. Returns how many; the i-th is *c when i >= 0 is asked. */
static int chunk_at(const nn_layer *l, wino_tiling t, int b0, int b1, int ty0, int ty1, int i, wino_chunk *c)
{
    int rows = chunk_rows(l, t), th = t.th;
    if (ty0 == 0 && ty1 == th && rows >= th) {
        int per = rows / th, count = (b1 - b0 + per - 1) / per;
        if (i >= 0 && i < count)
            *c = (wino_chunk){b0 + i * per, b1 - b0 - i * per < per ? b1 - b0 - i * per : per, 0, th};
        return count;
    }
    int per_sample = (ty1 - ty0 + rows - 1) / rows;
    if (i >= 0 && i < per_sample * (b1 - b0)) {
        int r = i % per_sample;
        c->b0 = b0 + i / per_sample;
        c->m = 1;
        c->ty0 = ty0 + r * rows;
        c->ty1 = c->ty0 + rows < ty1 ? c->ty0 + rows : ty1;
    }
    return per_sample * (b1 - b0);
}

/* ------------------------------------------------- F(2x2,3x3): 4x4 tiles */

/* Row iy of a plane, padded by one zero column on the left and zeros past W, split into its even
 * and odd padded columns: ev[k] = x[2k-1], od[k] = x[2k] for k in [0, tw]. A row outside the
 * plane is zeros. The tile transforms then read whole rows in step instead of every other float. */
static void split_row(const float *plane, int H, int W, int iy, int tw, float *ev, float *od)
{
    if (iy < 0 || iy >= H) {
        memset(ev, 0, (size_t)(tw + 1) * sizeof *ev);
        memset(od, 0, (size_t)(tw + 1) * sizeof *od);
        return;
    }
    const float *row = plane + (size_t)iy * W;
    NN_SIMD
    for (int k = 0; k < (W + 1) / 2; k++)
        od[k] = row[2 * k];
    NN_SIMD
    for (int k = 0; k < W / 2; k++)
        ev[k + 1] = row[2 * k + 1];
    ev[0] = 0.0f; /* the padding column x[-1], and what lies past x[W-1] */
    od[tw] = 0.0f;
    if (W & 1)
        ev[tw] = 0.0f;
}

/* B^T d B of every 4x4 input tile of the chunk (rows 2ty-1.., columns 2tx-1.., zero outside):
 * x [C][n][H][W] -> v [16][C][T]. rows: 16 rows of tw+1 floats. */
static void input_transform2(int C, int n, int H, int W, int tw, wino_chunk ch, const float *x, float *v, float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T;
    size_t rw = (size_t)tw + 1;
    float *d = rows, *e = rows + 8 * rw; /* d: 4 input rows, each an even half then an odd one */
    for (int c = 0; c < C; c++)
        for (int b = 0; b < ch.m; b++) {
            const float *plane = x + ((size_t)c * n + ch.b0 + b) * H * W;
            /* The tile's input rows r = 0..3, each split in two halves; a tile row shares two of
             * them with the one above, so those are kept rather than split again. */
            float *rows4[4] = {d, d + 2 * rw, d + 4 * rw, d + 6 * rw};
            for (int ty = ch.ty0; ty < ch.ty1; ty++) {
                if (ty == ch.ty0) {
                    for (int r = 0; r < 4; r++)
                        split_row(plane, H, W, 2 * ty - 1 + r, tw, rows4[r], rows4[r] + rw);
                } else {
                    float *a = rows4[0], *b = rows4[1];
                    rows4[0] = rows4[2], rows4[1] = rows4[3], rows4[2] = a, rows4[3] = b;
                    for (int r = 2; r < 4; r++)
                        split_row(plane, H, W, 2 * ty - 1 + r, tw, rows4[r], rows4[r] + rw);
                }
                /* e = B^T d, row by row: d0-d2, d1+d2, d2-d1, d1-d3, each as even and odd halves */
                for (int h = 0; h < 2; h++) {
                    const float *d0 = rows4[0] + h * rw, *d1 = rows4[1] + h * rw, *d2 = rows4[2] + h * rw,
                                *d3 = rows4[3] + h * rw;
                    float *e0 = e + h * rw, *e1 = e + (2 + h) * rw, *e2 = e + (4 + h) * rw, *e3 = e + (6 + h) * rw;
                    NN_SIMD
                    for (size_t k = 0; k < rw; k++) {
                        e0[k] = d0[k] - d2[k];
                        e1[k] = d1[k] + d2[k];
                        e2[k] = d2[k] - d1[k];
                        e3[k] = d1[k] - d3[k];
                    }
                }
                /* e B on each row: columns 2tx..2tx+3 are ev[tx], od[tx], ev[tx+1], od[tx+1] */
                float *out = v + (size_t)c * T + ((size_t)b * (ch.ty1 - ch.ty0) + (ty - ch.ty0)) * tw;
                for (int i = 0; i < 4; i++) {
                    const float *ev = e + 2 * i * rw, *od = ev + rw;
                    float *v0 = out + (size_t)(4 * i) * stride, *v1 = v0 + stride, *v2 = v1 + stride, *v3 = v2 + stride;
                    NN_SIMD
                    for (int tx = 0; tx < tw; tx++) {
                        v0[tx] = ev[tx] - ev[tx + 1];
                        v1[tx] = od[tx] + ev[tx + 1];
                        v2[tx] = ev[tx + 1] - od[tx];
                        v3[tx] = od[tx] - od[tx + 1];
                    }
                }
            }
        }
}

/* A^T m A of every tile: m [16][C][T] -> the chunk's 2x2 output tiles of y [C][n][H][W], clipped
 * at odd edges. rows: 12 rows of tw floats. */
static void output_transform2(int C, int n, int H, int W, int tw, wino_chunk ch, const float *m, float *y, float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T;
    float *q = rows, *o = rows + 8 * (size_t)tw; /* q: A^T m, [2][4] rows; o: one output row's halves */
    for (int c = 0; c < C; c++)
        for (int b = 0; b < ch.m; b++) {
            float *plane = y + ((size_t)c * n + ch.b0 + b) * H * W;
            for (int ty = ch.ty0; ty < ch.ty1; ty++) {
                const float *in = m + (size_t)c * T + ((size_t)b * (ch.ty1 - ch.ty0) + (ty - ch.ty0)) * tw;
                for (int j = 0; j < 4; j++) { /* A^T m: rows m0+m1+m2, m1-m2-m3 */
                    const float *m0 = in + (size_t)j * stride, *m1 = m0 + 4 * stride, *m2 = m1 + 4 * stride,
                                *m3 = m2 + 4 * stride;
                    float *q0 = q + (size_t)j * tw, *q1 = q + (size_t)(4 + j) * tw;
                    NN_SIMD
                    for (int tx = 0; tx < tw; tx++) {
                        q0[tx] = m0[tx] + m1[tx] + m2[tx];
                        q1[tx] = m1[tx] - m2[tx] - m3[tx];
                    }
                }
                for (int r = 0; r < 2 && 2 * ty + r < H; r++) {
                    const float *q0 = q + (size_t)(4 * r) * tw, *q1 = q0 + tw, *q2 = q1 + tw, *q3 = q2 + tw;
                    float *ev = o, *od = o + tw, *dst = plane + (size_t)(2 * ty + r) * W;
                    NN_SIMD
                    for (int tx = 0; tx < tw; tx++) {
                        ev[tx] = q0[tx] + q1[tx] + q2[tx];
                        od[tx] = q1[tx] - q2[tx] - q3[tx];
                    }
                    NN_SIMD
                    for (int k = 0; k < W / 2; k++) {
                        dst[2 * k] = ev[k];
                        dst[2 * k + 1] = od[k];
                    }
                    if (W & 1)
                        dst[W - 1] = ev[W / 2];
                }
            }
        }
}

/* A dy A^T of every 2x2 output-gradient tile (zero past odd edges): dy [C][n][H][W] -> z [16][C][T].
 * rows: 8 rows of tw+1 floats. */
static void gradient_transform2(int C, int n, int H, int W, int tw, wino_chunk ch, const float *dy, float *z,
                               float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T;
    size_t rw = (size_t)tw + 1;
    for (int c = 0; c < C; c++)
        for (int b = 0; b < ch.m; b++) {
            const float *plane = dy + ((size_t)c * n + ch.b0 + b) * H * W;
            for (int ty = ch.ty0; ty < ch.ty1; ty++) {
                /* Split as input rows are, column 2tx of a row is od[tx] and column 2tx+1 is ev[tx+1]. */
                float *g = rows; /* rows 0 and 1, each as even half then odd half */
                for (int r = 0; r < 2; r++)
                    split_row(plane, H, W, 2 * ty + r, tw, g + 2 * r * rw, g + (2 * r + 1) * rw);
                const float *a0 = g + rw, *b0 = g + 1, *a1 = g + 3 * rw, *b1 = g + 2 * rw + 1;
                float *out = z + (size_t)c * T + ((size_t)b * (ch.ty1 - ch.ty0) + (ty - ch.ty0)) * tw;
                /* Row i of A g is ra[i] g0 + rb[i] g1: g0, g0+g1, g0-g1, -g1, a pair of columns p, q
                 * (multiplying by 0 and 1 is exact); then the same on columns: p, p+q, p-q, -q. */
                static const float ra[4] = {1, 1, 1, 0}, rb[4] = {0, 1, -1, -1};
                for (int i = 0; i < 4; i++) {
                    float sa = ra[i], sb = rb[i];
                    float *z0 = out + (size_t)(4 * i) * stride, *z1 = z0 + stride, *z2 = z1 + stride, *z3 = z2 + stride;
                    NN_SIMD
                    for (int tx = 0; tx < tw; tx++) {
                        float p = sa * a0[tx] + sb * a1[tx], q = sa * b0[tx] + sb * b1[tx];
                        z0[tx] = p;
                        z1[tx] = p + q;
                        z2[tx] = p - q;
                        z3[tx] = -q;
                    }
                }
            }
        }
}


/* ------------------------------------------------- F(4x4,3x3): 6x6 tiles */

/* B^T's six rows on six vectors of n floats x[k*xs + t] -> y[k*ys + t]: one loop over all the
 * tiles of a chunk, as a tile row of a small map (3 tiles at 12x12) is too short to fill a vector. */
static void bt6(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs, *x4 = x3 + xs, *x5 = x4 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys, *y4 = y3 + ys, *y5 = y4 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float c0 = x0[t], c1 = x1[t], c2 = x2[t], c3 = x3[t], c4 = x4[t], c5 = x5[t];
        y0[t] = 4.0f * c0 - 5.0f * c2 + c4;
        y1[t] = c3 + c4 - 4.0f * (c1 + c2);
        y2[t] = c4 - c3 + 4.0f * (c1 - c2);
        y3[t] = c4 - c2 + 2.0f * (c3 - c1);
        y4[t] = c4 - c2 - 2.0f * (c3 - c1);
        y5[t] = 4.0f * c1 - 5.0f * c3 + c5;
    }
}

/* The chunk's 6x6 input tiles of one channel's planes x [n][H][W] side by side:
 * d[(6r+c)*ds + t] = x[4ty-1+r][4tx-1+c] for tile t (sample, row, column), zero outside. */
static void gather_tiles4(const float *x, int H, int W, int tw, wino_chunk ch, float *d, size_t ds)
{
    /* the tiles whose columns all lie inside a row: 4tx-1 >= 0 and 4tx+4 < W */
    int in1 = W >= 5 ? (W - 5) / 4 + 1 : 0;
    in1 = in1 < tw ? in1 : tw;
    float *dt = d;
    for (int b = 0; b < ch.m; b++)
        for (int ty = ch.ty0; ty < ch.ty1; ty++, dt += tw) {
            const float *plane = x + (size_t)b * H * W;
            for (int r = 0; r < 6; r++) {
                int iy = 4 * ty - 1 + r;
                float *d0 = dt + (size_t)(6 * r) * ds, *d1 = d0 + ds, *d2 = d1 + ds, *d3 = d2 + ds,
                      *d4 = d3 + ds, *d5 = d4 + ds;
                if (iy < 0 || iy >= H) {
                    for (int c = 0; c < 6; c++)
                        for (int tx = 0; tx < tw; tx++)
                            d0[(size_t)c * ds + tx] = 0.0f;
                    continue;
                }
                const float *row = plane + (size_t)iy * W;
                for (int tx = 1; tx < in1; tx++) {
                    const float *at = row + 4 * tx - 1;
                    d0[tx] = at[0], d1[tx] = at[1], d2[tx] = at[2], d3[tx] = at[3], d4[tx] = at[4], d5[tx] = at[5];
                }
                for (int tx = 0; tx < tw; tx += tx == 0 && in1 > 1 ? in1 : 1)
                    for (int c = 0; c < 6; c++) {
                        int col = 4 * tx - 1 + c;
                        d0[(size_t)c * ds + tx] = col >= 0 && col < W ? row[col] : 0.0f;
                    }
            }
        }
}

/* The most tiles of a chunk (a whole tile row of the widest input, 4096, if more than
 * WINO_CHUNK_FLOATS allows) and the room their gathered and half-transformed copies take. */
#define WINO4_TILES 1024
_Static_assert(WINO_CHUNK_FLOATS / (36 * WINO_MIN_CHANNELS) <= WINO4_TILES && WINO_MAX_WIDTH / 4 <= WINO4_TILES,
               "a chunk holds at most WINO4_TILES tiles");
_Static_assert(72 * (WINO4_TILES + 32) <= NN_GEMM_PACK, "F(4x4)'s tiles fit the packing buffer");

/* B^T d B of every 6x6 input tile of the chunk (rows 4ty-1.., columns 4tx-1.., zero outside):
 * x [C][n][H][W] -> v [36][C][T], a channel at a time: its tiles gathered, then d B, then B^T (d B).
 * rows: 72 * (WINO4_TILES + 32) floats. */
static void input_transform4(int C, int n, int H, int W, int tw, wino_chunk ch, const float *x, float *v, float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T;
    /* the 36 rows a little over a multiple of 16 floats apart: a power of two would put them all
     * into the same cache sets (this took the face net's 24x24 layers from 18 to 28 ms) */
    size_t ds = (T + 15) / 16 * 16 + 16;
    float *d = rows, *h = rows + 36 * ds;
    for (int c = 0; c < C; c++) {
        gather_tiles4(x + ((size_t)c * n + ch.b0) * H * W, H, W, tw, ch, d, ds);
        for (int r = 0; r < 6; r++) /* h[6r+j] = (d B)[r][j] */
            bt6(T, d + 6 * r * ds, ds, h + 6 * r * ds, ds);
        for (int j = 0; j < 6; j++) /* v[6i+j] = (B^T h)[i][j] */
            bt6(T, h + j * ds, 6 * ds, v + (size_t)j * stride + (size_t)c * T, 6 * stride);
    }
}

/* A^T's four rows on six vectors x[k*xs + t] -> four y[k*ys + t]. */
static void at4(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs, *x4 = x3 + xs, *x5 = x4 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float s12 = x1[t] + x2[t], d12 = x1[t] - x2[t], s34 = x3[t] + x4[t], d34 = x3[t] - x4[t];
        y0[t] = x0[t] + s12 + s34;
        y1[t] = d12 + 2.0f * d34;
        y2[t] = s12 + 4.0f * s34;
        y3[t] = d12 + 8.0f * d34 + x5[t];
    }
}

/* A's six rows on four vectors x[k*xs + t] -> six y[k*ys + t]. */
static void a6(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys, *y4 = y3 + ys, *y5 = y4 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float s02 = x0[t] + x2[t], s13 = x1[t] + x3[t], f02 = x0[t] + 4.0f * x2[t], f13 = 2.0f * x1[t] + 8.0f * x3[t];
        y0[t] = x0[t];
        y1[t] = s02 + s13;
        y2[t] = s02 - s13;
        y3[t] = f02 + f13;
        y4[t] = f02 - f13;
        y5[t] = x3[t];
    }
}

/* The chunk's 4x4 tiles of a map of one channel, y [n][H][W], from or to o[(4r+c)*ds + t]
 * (tile t's row 4ty+r, column 4tx+c). Gathering, the tiles' parts past the edges are zeros;
 * scattering, they are left out. */
static void move_tiles4(int scatter, float *y, int H, int W, int tw, wino_chunk ch, float *o, size_t ds)
{
    int whole = W / 4 < tw ? W / 4 : tw; /* tiles whose four columns lie inside a row */
    float *ot = o;
    for (int b = 0; b < ch.m; b++)
        for (int ty = ch.ty0; ty < ch.ty1; ty++, ot += tw)
            for (int r = 0; r < 4; r++) {
                int iy = 4 * ty + r;
                float *o0 = ot + (size_t)(4 * r) * ds, *o1 = o0 + ds, *o2 = o1 + ds, *o3 = o2 + ds;
                if (iy >= H) {
                    if (!scatter)
                        for (int c = 0; c < 4; c++)
                            for (int tx = 0; tx < tw; tx++)
                                o0[(size_t)c * ds + tx] = 0.0f;
                    continue;
                }
                float *row = y + ((size_t)b * H + iy) * W;
                for (int tx = 0; tx < whole; tx++) {
                    float *at = row + 4 * tx;
                    if (scatter)
                        at[0] = o0[tx], at[1] = o1[tx], at[2] = o2[tx], at[3] = o3[tx];
                    else
                        o0[tx] = at[0], o1[tx] = at[1], o2[tx] = at[2], o3[tx] = at[3];
                }
                for (int tx = whole; tx < tw; tx++)
                    for (int c = 0; c < 4; c++) {
                        int col = 4 * tx + c;
                        if (scatter && col < W)
                            row[col] = o0[(size_t)c * ds + tx];
                        else if (!scatter)
                            o0[(size_t)c * ds + tx] = col < W ? row[col] : 0.0f;
                    }
            }
}

/* A^T m A of every tile: m [36][C][T] -> the chunk's 4x4 output tiles of y [C][n][H][W], clipped
 * at the edges, a channel at a time: A^T m, then (A^T m) A, then the tiles into place.
 * rows: 40 * (WINO4_TILES + 32) floats. */
static void output_transform4(int C, int n, int H, int W, int tw, wino_chunk ch, const float *m, float *y, float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T, ds = (T + 15) / 16 * 16 + 16;
    float *q = rows, *o = rows + 24 * ds;
    for (int c = 0; c < C; c++) {
        for (int j = 0; j < 6; j++) /* q[6i+j] = (A^T m)[i][j] */
            at4(T, m + (size_t)j * stride + (size_t)c * T, 6 * stride, q + j * ds, 6 * ds);
        for (int i = 0; i < 4; i++) /* o[4i+j] = (q A)[i][j] */
            at4(T, q + 6 * i * ds, ds, o + 4 * i * ds, ds);
        move_tiles4(1, y + ((size_t)c * n + ch.b0) * H * W, H, W, tw, ch, o, ds);
    }
}

/* A g A^T of every 4x4 output-gradient tile (zero past the edges): dy [C][n][H][W] -> z [36][C][T],
 * a channel at a time: the tiles gathered, then g A^T, then A (g A^T). rows: 40 * (WINO4_TILES + 32). */
static void gradient_transform4(int C, int n, int H, int W, int tw, wino_chunk ch, const float *dy, float *z,
                                float *rows)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, stride = (size_t)C * T, ds = (T + 15) / 16 * 16 + 16;
    float *g = rows, *w = rows + 16 * ds;
    for (int c = 0; c < C; c++) {
        /* gathering only reads the map */
        move_tiles4(0, (float *)(dy + ((size_t)c * n + ch.b0) * H * W), H, W, tw, ch, g, ds);
        for (int r = 0; r < 4; r++) /* w[6r+j] = (g A^T)[r][j] */
            a6(T, g + 4 * r * ds, ds, w + 6 * r * ds, ds);
        for (int j = 0; j < 6; j++) /* z[6i+j] = (A w)[i][j] */
            a6(T, w + j * ds, 6 * ds, z + (size_t)j * stride + (size_t)c * T, 6 * stride);
    }
}

/* ------------------------------------------------------------ kernels */

/* G of each tiling, [m+2][3]: G g G^T is a kernel's transform, G^T du G the gradient back. */
static const float G2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
static const float G4[6][3] = {{1.0f / 4, 0, 0},
                               {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                               {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                               {1.0f / 24, 1.0f / 12, 1.0f / 6},
                               {1.0f / 24, -1.0f / 12, 1.0f / 6},
                               {0, 0, 1}};

/* G g G^T of a 3x3 kernel read at g[ky*sy + kx*sx] -> u[a*a] at stride us, for G [a][3]. Inlined
 * where a and G are constants, so that the loops unroll. */
static inline __attribute__((always_inline)) void transform_kernel(const float *G, int a, const float *g, int sy,
                                                                   int sx, float *u, size_t us)
{
    float h[6][3];
    for (int i = 0; i < a; i++)
        for (int kx = 0; kx < 3; kx++)
            h[i][kx] = G[3 * i] * g[kx * sx] + G[3 * i + 1] * g[sy + kx * sx] + G[3 * i + 2] * g[2 * sy + kx * sx];
    for (int i = 0; i < a; i++)
        for (int j = 0; j < a; j++)
            u[(size_t)(a * i + j) * us] = h[i][0] * G[3 * j] + h[i][1] * G[3 * j + 1] + h[i][2] * G[3 * j + 2];
}

static void kernel_transform(wino_tiling t, const float *g, int sy, int sx, float *u, size_t us)
{
    if (t.m == 4)
        transform_kernel(&G4[0][0], 6, g, sy, sx, u, us);
    else
        transform_kernel(&G2[0][0], 4, g, sy, sx, u, us);
}

/* G^T du G: the gradient of a 3x3 kernel from that of its transform, du[a*a] at stride us. */
static inline __attribute__((always_inline)) void gradient_of_kernel(const float *G, int a, const float *du,
                                                                     size_t us, float *g)
{
    float h[3][6];
    for (int ky = 0; ky < 3; ky++)
        for (int j = 0; j < a; j++) {
            float s = 0;
            for (int i = 0; i < a; i++)
                s += G[3 * i + ky] * du[(size_t)(a * i + j) * us];
            h[ky][j] = s;
        }
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            float s = 0;
            for (int j = 0; j < a; j++)
                s += h[ky][j] * G[3 * j + kx];
            g[3 * ky + kx] = s;
        }
}

static void kernel_gradient(wino_tiling t, const float *du, size_t us, float *g)
{
    if (t.m == 4)
        gradient_of_kernel(&G4[0][0], 6, du, us, g);
    else
        gradient_of_kernel(&G2[0][0], 4, du, us, g);
}

/* ------------------------------------------------------------ the transforms by tiling */

static void input_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *x, float *v,
                            float *rows)
{
    (t.m == 4 ? input_transform4 : input_transform2)(C, n, H, W, t.tw, ch, x, v, rows);
}

static void output_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *m, float *y,
                             float *rows)
{
    (t.m == 4 ? output_transform4 : output_transform2)(C, n, H, W, t.tw, ch, m, y, rows);
}

static void gradient_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *dy, float *z,
                               float *rows)
{
    (t.m == 4 ? gradient_transform4 : gradient_transform2)(C, n, H, W, t.tw, ch, dy, z, rows);
}

/* The layer's kernels transformed, U [planes][c][in_c], or for the input gradient the rotated
 * kernels with the channels swapped, [planes][in_c][c]; each plane then packed for the GEMM. */
static void pack_kernels(const nn_layer *l, wino_tiling t, int rotated, float *u, float *packed)
{
    int M = rotated ? l->in_c : l->c, K = rotated ? l->c : l->in_c;
    size_t plane = (size_t)M * K;
    NN_PARALLEL_FOR_IF(plane * 64, shared(l, t, rotated, u, M, K, plane))
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) {
            int oc = rotated ? j : i, ic = rotated ? i : j;
            const float *g = l->weight + ((size_t)oc * l->in_c + ic) * 9;
            if (rotated) /* g'[ky][kx] = g[2-ky][2-kx] */
                kernel_transform(t, g + 8, -3, -1, u + (size_t)i * K + j, plane);
            else
                kernel_transform(t, g, 3, 1, u + (size_t)i * K + j, plane);
        }
    size_t per = nn_gemm_packed_a_floats(M, K);
    for (int x = 0; x < t.planes; x++)
        nn_gemm_pack_a(M, K, u + x * plane, (size_t)K, packed + x * per);
}

void nn_winograd_pack_kernels(const nn_layer *l, const nn_work *ws, float *u, float *packed)
{
    pack_kernels(l, tiling_for(l, ws), 0, u, packed);
}

/* -------------------------------------------------------------- the passes */

/* One chunk of a 'same' 3x3 convolution with C_in -> C_out channels from kernels packed by
 * pack_kernels: y's tiles of the chunk are overwritten (no bias). */
static void convolve_chunk(wino_tiling t, int cin, int cout, int n, int H, int W, wino_chunk ch, const float *x,
                           float *y, const float *packed, float *v, float *m, float *pack)
{
    size_t T = chunk_tiles(t, ch), per = nn_gemm_packed_a_floats(cout, cin);
    input_transform(t, cin, n, H, W, ch, x, v, pack);
    for (int x = 0; x < t.planes; x++)
        nn_gemm_serial_packed(0, 0, cout, (int)T, cin, NULL, (size_t)cin, packed + x * per, v + x * (size_t)cin * T,
                              T, 0, m + x * (size_t)cout * T, T, pack);
    output_transform(t, cout, n, H, W, ch, m, y, pack);
}

/* The per-thread scratch: two chunk buffers, then the GEMM's packing (also the transforms' rows). */
static void scratch(const nn_layer *l, const nn_work *ws, float **v, float **m, float **pack)
{
    size_t cf = chunk_floats(l);
    *v = ws->thread + (size_t)nn_thread_id() * ws->per_thread;
    *m = *v + cf;
    *pack = *m + cf;
}

/* The forward pass's output rows of chunk ch get bias (and post) */
static void chunk_epilogue(const nn_layer *l, wino_tiling t, int n, wino_chunk ch, float *y, const nn_conv_post *post)
{
    int r0 = t.m * ch.ty0, r1 = t.m * ch.ty1 < l->h ? t.m * ch.ty1 : l->h;
    for (int b = ch.b0; b < ch.b0 + ch.m; b++)
        nn_conv_epilogue(l, n, b, (size_t)r0 * l->w, (size_t)(r1 - r0) * l->w, y, post);
}

/* The convolution of layer l's geometry from cin to cout channels, x -> y, over a whole batch:
 * each thread a contiguous run of samples (or, below one sample a thread, of a sample's tile rows),
 * cut into chunks as large as the scratch allows. No tile's floats depend on how the batch is cut,
 * so the cut may follow the thread count. With epilogue, bias and post follow each chunk. */
static void convolve_batch(const nn_layer *l, wino_tiling t, int cin, int cout, int n, const float *x, float *y,
                           const float *packed, const nn_work *ws, const nn_layer *epilogue, const nn_conv_post *post)
{
    int team = nn_team_size(ws);
    int share_rows = n < team; /* batch 1: the threads share each sample's tile rows, a sample a round */
    int rounds = share_rows ? n : 1;
    for (int r = 0; r < rounds; r++)
        NN_PRAGMA(omp parallel num_threads(team) default(none)
                  shared(l, t, cin, cout, n, x, y, packed, ws, epilogue, post, share_rows, r))
        {
            int id = nn_thread_id(), parts = 1;
#ifdef _OPENMP
            parts = omp_get_num_threads();
#endif
            int b0 = (int)((long)id * n / parts), b1 = (int)((long)(id + 1) * n / parts), ty0 = 0, ty1 = t.th;
            if (share_rows) {
                b0 = r, b1 = r + 1;
                ty0 = (int)((long)id * t.th / parts), ty1 = (int)((long)(id + 1) * t.th / parts);
            }
            float *v, *m, *pack;
            scratch(l, ws, &v, &m, &pack);
            wino_chunk ch;
            int count = b1 > b0 && ty1 > ty0 ? chunk_at(l, t, b0, b1, ty0, ty1, -1, &ch) : 0;
            for (int i = 0; i < count; i++) {
                chunk_at(l, t, b0, b1, ty0, ty1, i, &ch);
                convolve_chunk(t, cin, cout, n, l->h, l->w, ch, x, y, packed, v, m, pack);
                if (epilogue)
                    chunk_epilogue(epilogue, t, n, ch, y, post);
            }
        }
}

void nn_winograd_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws,
                         const float *packed, const nn_conv_post *post)
{
    convolve_batch(l, tiling_for(l, ws), l->in_c, l->c, n, x, y, packed, ws, l, post);
}

void nn_winograd_backward(const nn_layer *l, int n, const float *x, const float *dy, float *dx, const nn_work *ws)
{
    wino_tiling t = tiling_for(l, ws);
    int cin = l->in_c, cout = l->c;
    size_t nweight = (size_t)t.planes * cout * cin;
    int G = n < WINO_GROUPS ? n : WINO_GROUPS;
    /* The weight gradient sums over samples: in fixed groups, whatever the threads. */
    NN_PRAGMA(omp parallel num_threads(nn_team_size(ws)) default(none)
              shared(G, l, t, n, x, dy, ws, cin, cout, nweight))
    {
        NN_PRAGMA(omp for schedule(dynamic))
        for (int g = 0; g < G; g++) {
            int b0 = (int)((long)g * n / G), b1 = (int)((long)(g + 1) * n / G);
            float *v, *m, *pack, *du = ws->part + (size_t)g * nweight; /* this group's [planes][cout][cin] */
            scratch(l, ws, &v, &m, &pack);
            wino_chunk ch;
            int count = chunk_at(l, t, b0, b1, 0, t.th, -1, &ch);
            for (int i = 0; i < count; i++) {
                chunk_at(l, t, b0, b1, 0, t.th, i, &ch);
                size_t T = chunk_tiles(t, ch);
                /* du[x] (+)= z[x] [cout][T] @ v[x]^T [T][cin] */
                input_transform(t, cin, n, l->h, l->w, ch, x, v, pack);
                gradient_transform(t, cout, n, l->h, l->w, ch, dy, m, pack);
                for (int p = 0; p < t.planes; p++)
                    nn_gemm_serial(0, 1, cout, cin, (int)T, m + p * (size_t)cout * T, T, v + p * (size_t)cin * T, T,
                                   i > 0, du + p * (size_t)cout * cin, (size_t)cin, pack);
            }
        }
        /* The groups' partial gradients are added in group order, then taken back to 3x3 kernels. */
        NN_PRAGMA(omp for schedule(static))
        for (size_t i = 0; i < nweight; i++) {
            float s = ws->part[i];
            for (int g = 1; g < G; g++)
                s += ws->part[(size_t)g * nweight + i];
            ws->part[i] = s;
        }
        NN_PRAGMA(omp for schedule(static))
        for (int oc = 0; oc < cout; oc++) {
            for (int ic = 0; ic < cin; ic++)
                kernel_gradient(t, ws->part + (size_t)oc * cin + ic, (size_t)cout * cin,
                                l->dweight + ((size_t)oc * cin + ic) * 9);
            l->dbias[oc] = nn_conv_bias_gradient(l, n, dy, oc);
        }
    }
    if (dx) { /* the input gradient: dy convolved by the turned kernels, a sample at a time */
        float *u = ws->packed_weight, *packed = u + nweight;
        pack_kernels(l, t, 1, u, packed);
        convolve_batch(l, t, cout, cin, n, dy, dx, packed, ws, NULL, NULL);
    }
}
