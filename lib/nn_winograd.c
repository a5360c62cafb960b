/* nn_winograd.c — 3x3 stride-1 'same' convolutions by Winograd's minimal filtering. F(2x2,3x3)
 * makes a 2x2 output tile from a 4x4 input tile in 16 multiplies instead of 36; F(4x4,3x3) a 4x4
 * tile from a 6x6 one in 36 instead of 144. Kernels and tiles are transformed, and the multiplies
 * of all tiles are 16 or 36 GEMMs over the channels. The input gradient is the same algorithm on
 * the rotated kernel; the weight gradient is the forward's adjoint. No tile's floats depend on how
 * the batch is cut into chunks, and the weight gradient sums fixed groups of samples, so no float
 * depends on the number of threads. */
#include "nn.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Floats of one transformed chunk ([planes][channels][tiles]): 1 MB, and as much for its product,
 * per thread (2^16 starved the GEMMs of the 256-channel layers of tiles; 2^19 left L2 further behind). */
#define WINO_CHUNK_FLOATS ((size_t)1 << 18)
/* Below this many input channels the GEMMs are too thin to repay the transforms (the first layer
 * of every shipped net has one channel). */
#define WINO_MIN_CHANNELS 8
/* The widest map an architecture may have (nn_arch.c): it bounds the tiles of a chunk. */
#define WINO_MAX_WIDTH 4096

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

/* Smaller maps may lose to the direct path. With the transforms over whole chunks, the smallest
 * of the shipped nets win too: the verifier's 16 channels at 12x12 (1.10/2.67 -> 0.71/1.81 ms
 * forward/backward at batch 64, bench-layers, 2 threads) and 32 at 6x6 (1.03/2.46 -> 0.60/1.54),
 * the prototype's 32 at 6x6 (0.75/1.37 -> 0.40/0.89); row by row they had lost (0.75-0.8x). */
#define WINO_MIN_INPUT_VALUES 1024

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

/* F(6x6,3x3) only on layers of up to this many channels in and out: on wider ones its 64 planes of
 * transformed kernels cost more than its fewer products save. bench-layers, 2 threads, forward +
 * backward ms at batch 64, best of three, F(6x6) against the smaller tile's best: the face net's
 * 24x24 layers 14.8 against 19.7 (32 -> 64 channels) and 23.1 against 28.7 (64 -> 64), the
 * verifier's 12x12 and 6x6 1.9 against 2.1 and 1.6 against 2.3, the prototype's 6x6 1.1 against
 * 1.3; but its 256-channel 6x6 ones 44.8 against 37.0, the music net's 128-channel 12x16 one 36.8
 * against 30.1. */
#define WINO6_MAX_CHANNELS 64

static int max_channels(const nn_layer *l) { return l->c > l->in_c ? l->c : l->in_c; }

int nn_winograd_tile(const nn_layer *l)
{
    /* The tile with the fewest products, clipped tiles counted whole (6x6: F(6x6)'s one tile of 64
     * against F(2x2)'s 9 of 16 and F(4x4)'s 4 of 36); the smaller on a tie. */
    int best = 2;
    for (int m = 4; m <= 6; m += 2)
        if ((m < 6 || max_channels(l) <= WINO6_MAX_CHANNELS) && tiling_products(tiling(l, m)) < tiling_products(tiling(l, best)))
            best = m;
    return best;
}

static wino_tiling tiling_for(const nn_layer *l, const nn_work *ws)
{
    int m = ws->wino_tile;
    return tiling(l, m == 2 || m == 4 || m == 6 ? m : nn_winograd_tile(l));
}

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

/* Room for any tiling, so that a test may choose one (ws->wino_tile) after the planning. */
static size_t chunk_floats(const nn_layer *l)
{
    size_t most = 0;
    for (int m = 2; m <= 6; m += 2) {
        size_t f = tiling_chunk_floats(l, tiling(l, m));
        most = f > most ? f : most;
    }
    return most;
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

/* ------------------------------------------------------------ the tiles */

/* The transforms work on a chunk's tiles of one channel side by side, value (r, c) of tile t at
 * o[(side*r + c)*ds + t], so that every step of B^T d B, A^T m A or A g A^T is one vector loop
 * over the chunk's tiles: a tile row of a small map (3 tiles at 12x12) is too short to fill a
 * vector on its own. Tile t is sample, tile row, tile column, in order; tile (ty, tx) covers rows
 * step*ty+off.. and columns step*tx+off.. of the map (off = -1 for the padded input tiles). */

/* The pitch of a chunk's tile rows: a little over a multiple of 16 floats, since at a power of
 * two all of them fall into the same cache sets (1024 apart, a 24x24 layer took 28 ms, not 18). */
static size_t tile_pitch(size_t tiles) { return (tiles + 15) / 16 * 16 + 16; }

/* The most tiles in a chunk: WINO_CHUNK_FLOATS over the fewest channels, or one tile row of the
 * widest map when a row alone is more. The transforms keep up to 72 rows of them (F(4x4)'s input:
 * the gathered 6x6 tiles and d B) in the GEMM's packing buffer, F(2x2)'s at most 32. */
#define WINO6_TILES 1024
#define WINO4_TILES 1024
#define WINO2_TILES 2048
_Static_assert(WINO_CHUNK_FLOATS / (64 * WINO_MIN_CHANNELS) <= WINO6_TILES && WINO_MAX_WIDTH / 6 <= WINO6_TILES,
               "an F(6x6) chunk holds at most WINO6_TILES tiles");
_Static_assert(WINO_CHUNK_FLOATS / (36 * WINO_MIN_CHANNELS) <= WINO4_TILES && WINO_MAX_WIDTH / 4 <= WINO4_TILES,
               "an F(4x4) chunk holds at most WINO4_TILES tiles");
_Static_assert(WINO_CHUNK_FLOATS / (16 * WINO_MIN_CHANNELS) <= WINO2_TILES && WINO_MAX_WIDTH / 2 <= WINO2_TILES,
               "an F(2x2) chunk holds at most WINO2_TILES tiles");
_Static_assert(128 * (WINO6_TILES + 32) <= NN_GEMM_PACK && 72 * (WINO4_TILES + 32) <= NN_GEMM_PACK &&
                   32 * (WINO2_TILES + 32) <= NN_GEMM_PACK,
               "a chunk's tiles fit the packing buffer");

/* The chunk's tiles of side `side` of one channel's maps y [n][H][W], gathered into o (the parts
 * past the edges zero) or scattered from it (those parts left out). Inlined where side, step and
 * off are constants, so that the copies of a tile row unroll. */
static inline __attribute__((always_inline)) void move_tiles(int scatter, float *y, int H, int W, int tw,
                                                             wino_chunk ch, int side, int step, int off, float *o,
                                                             size_t ds)
{
    /* tiles [lo, hi) lie inside a row: step*tx+off >= 0 and step*tx+off+side <= W */
    int lo = off < 0 ? 1 : 0, hi = W - side - off >= 0 ? (W - side - off) / step + 1 : 0;
    hi = hi < tw ? hi : tw;
    lo = lo < hi ? lo : hi;
    float *ot = o;
    for (int b = 0; b < ch.m; b++)
        for (int ty = ch.ty0; ty < ch.ty1; ty++, ot += tw)
            for (int r = 0; r < side; r++) {
                int iy = step * ty + off + r;
                float *orow = ot + (size_t)(side * r) * ds;
                if (iy < 0 || iy >= H) {
                    if (!scatter)
                        for (int c = 0; c < side; c++)
                            for (int tx = 0; tx < tw; tx++)
                                orow[(size_t)c * ds + tx] = 0.0f;
                    continue;
                }
                float *row = y + ((size_t)b * H + iy) * W;
                for (int tx = lo; tx < hi; tx++) {
                    float *at = row + step * tx + off;
                    for (int c = 0; c < side; c++) {
                        if (scatter)
                            at[c] = orow[(size_t)c * ds + tx];
                        else
                            orow[(size_t)c * ds + tx] = at[c];
                    }
                }
                for (int tx = lo > 0 ? 0 : hi; tx < tw; tx = tx + 1 == lo ? hi : tx + 1) /* the rest */
                    for (int c = 0; c < side; c++) {
                        int col = step * tx + off + c;
                        int inside = col >= 0 && col < W;
                        if (scatter && inside)
                            row[col] = orow[(size_t)c * ds + tx];
                        else if (!scatter)
                            orow[(size_t)c * ds + tx] = inside ? row[col] : 0.0f;
                    }
            }
}

/* move_tiles for each use and tiling, each its own function so that its side stays a constant
 * (inlined side by side, GCC merged them and the copies of a tile row ran as a loop over the
 * side). The input tiles have side m+2 and begin in the padding column; output tiles side m. */
#define TILE_MOVER(name, scatter, side, step, off)                                                        \
    static __attribute__((noinline)) void name(float *y, int H, int W, int tw, wino_chunk ch, float *o, size_t ds) \
    {                                                                                                      \
        move_tiles(scatter, y, H, W, tw, ch, side, step, off, o, ds);                                      \
    }
TILE_MOVER(gather_input8, 0, 8, 6, -1)
TILE_MOVER(gather_input6, 0, 6, 4, -1)
TILE_MOVER(gather_input4, 0, 4, 2, -1)
TILE_MOVER(gather_output6, 0, 6, 6, 0)
TILE_MOVER(gather_output4, 0, 4, 4, 0)
TILE_MOVER(gather_output2, 0, 2, 2, 0)
TILE_MOVER(scatter_output6, 1, 6, 6, 0)
TILE_MOVER(scatter_output4, 1, 4, 4, 0)
TILE_MOVER(scatter_output2, 1, 2, 2, 0)

/* Gathering only reads the map. */
static void gather_input_tiles(int m, const float *x, int H, int W, int tw, wino_chunk ch, float *d, size_t ds)
{
    (m == 6 ? gather_input8 : m == 4 ? gather_input6 : gather_input4)((float *)x, H, W, tw, ch, d, ds);
}

static void gather_output_tiles(int m, const float *dy, int H, int W, int tw, wino_chunk ch, float *g, size_t ds)
{
    (m == 6 ? gather_output6 : m == 4 ? gather_output4 : gather_output2)((float *)dy, H, W, tw, ch, g, ds);
}

static void scatter_output_tiles(int m, float *y, int H, int W, int tw, wino_chunk ch, float *o, size_t ds)
{
    (m == 6 ? scatter_output6 : m == 4 ? scatter_output4 : scatter_output2)(y, H, W, tw, ch, o, ds);
}

/* The matrices' rows on vectors of n floats, x[k*xs + t] -> y[k*ys + t] (one loop for all). */
typedef void rows_fn(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys);

/* F(2x2,3x3)'s B^T: d0-d2, d1+d2, d2-d1, d1-d3. */
static void bt4(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        y0[t] = x0[t] - x2[t];
        y1[t] = x1[t] + x2[t];
        y2[t] = x2[t] - x1[t];
        y3[t] = x1[t] - x3[t];
    }
}

/* F(2x2,3x3)'s A^T: m0+m1+m2, m1-m2-m3. */
static void at2(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs;
    float *y0 = y, *y1 = y0 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        y0[t] = x0[t] + x1[t] + x2[t];
        y1[t] = x1[t] - x2[t] - x3[t];
    }
}

/* F(2x2,3x3)'s A: g0, g0+g1, g0-g1, -g1. */
static void a4(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        y0[t] = x0[t];
        y1[t] = x0[t] + x1[t];
        y2[t] = x0[t] - x1[t];
        y3[t] = -x1[t];
    }
}

/* F(4x4,3x3)'s B^T, rows 4 0 -5 0 1 0 / 0 -4 -4 1 1 0 / 0 4 -4 -1 1 0 / 0 -2 -1 2 1 0 /
 * 0 2 -1 -2 1 0 / 0 4 0 -5 0 1. */
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

/* F(4x4,3x3)'s A^T, rows 1 1 1 1 1 0 / 0 1 -1 2 -2 0 / 0 1 1 4 4 0 / 0 1 -1 8 -8 1. */
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

/* F(4x4,3x3)'s A, A^T's transpose. */
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

/* F(6x6,3x3)'s B^T (points 0, 1, -1, 1/2, -1/2, 2, -2), rows 1 0 -21/4 0 21/4 0 -1 0 /
 * 0 1 1 -17/4 -17/4 1 1 0 / 0 -1 1 17/4 -17/4 -1 1 0 / 0 1/2 1/4 -5/2 -5/4 2 1 0 /
 * 0 -1/2 1/4 5/2 -5/4 -2 1 0 / 0 2 4 -5/2 -5 1/2 1 0 / 0 -2 4 5/2 -5 -1/2 1 0 / 0 -1 0 21/4 0 -21/4 0 1,
 * as sums and differences of the even and odd parts. */
static void bt8(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs, *x4 = x3 + xs, *x5 = x4 + xs, *x6 = x5 + xs,
                *x7 = x6 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys, *y4 = y3 + ys, *y5 = y4 + ys, *y6 = y5 + ys,
          *y7 = y6 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float c1 = x1[t], c2 = x2[t], c3 = x3[t], c4 = x4[t], c5 = x5[t], c6 = x6[t];
        float e1 = c2 + c6 - 4.25f * c4, o1 = c1 + c5 - 4.25f * c3;
        float e2 = 0.25f * c2 - 1.25f * c4 + c6, o2 = 0.5f * c1 - 2.5f * c3 + 2.0f * c5;
        float e3 = 4.0f * c2 - 5.0f * c4 + c6, o3 = 2.0f * c1 - 2.5f * c3 + 0.5f * c5;
        y0[t] = x0[t] - c6 + 5.25f * (c4 - c2);
        y1[t] = e1 + o1;
        y2[t] = e1 - o1;
        y3[t] = e2 + o2;
        y4[t] = e2 - o2;
        y5[t] = e3 + o3;
        y6[t] = e3 - o3;
        y7[t] = x7[t] - c1 + 5.25f * (c3 - c5);
    }
}

/* F(6x6,3x3)'s A^T, rows 1 1 1 1 1 1 1 0 / 0 1 -1 2 -2 1/2 -1/2 0 / 0 1 1 4 4 1/4 1/4 0 /
 * 0 1 -1 8 -8 1/8 -1/8 0 / 0 1 1 16 16 1/16 1/16 0 / 0 1 -1 32 -32 1/32 -1/32 1. */
static void at6(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs, *x4 = x3 + xs, *x5 = x4 + xs, *x6 = x5 + xs,
                *x7 = x6 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys, *y4 = y3 + ys, *y5 = y4 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float s1 = x1[t] + x2[t], d1 = x1[t] - x2[t], s2 = x3[t] + x4[t], d2 = x3[t] - x4[t];
        float s3 = x5[t] + x6[t], d3 = x5[t] - x6[t];
        y0[t] = x0[t] + s1 + s2 + s3;
        y1[t] = d1 + 2.0f * d2 + 0.5f * d3;
        y2[t] = s1 + 4.0f * s2 + 0.25f * s3;
        y3[t] = d1 + 8.0f * d2 + 0.125f * d3;
        y4[t] = s1 + 16.0f * s2 + 0.0625f * s3;
        y5[t] = d1 + 32.0f * d2 + 0.03125f * d3 + x7[t];
    }
}

/* F(6x6,3x3)'s A, A^T's transpose. */
static void a8(size_t n, const float *restrict x, size_t xs, float *restrict y, size_t ys)
{
    const float *x0 = x, *x1 = x0 + xs, *x2 = x1 + xs, *x3 = x2 + xs, *x4 = x3 + xs, *x5 = x4 + xs;
    float *y0 = y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys, *y4 = y3 + ys, *y5 = y4 + ys, *y6 = y5 + ys,
          *y7 = y6 + ys;
    NN_SIMD
    for (size_t t = 0; t < n; t++) {
        float c0 = x0[t], c1 = x1[t], c2 = x2[t], c3 = x3[t], c4 = x4[t], c5 = x5[t];
        float e1 = c0 + c2 + c4, o1 = c1 + c3 + c5;
        float e2 = c0 + 4.0f * c2 + 16.0f * c4, o2 = 2.0f * c1 + 8.0f * c3 + 32.0f * c5;
        float e3 = c0 + 0.25f * c2 + 0.0625f * c4, o3 = 0.5f * c1 + 0.125f * c3 + 0.03125f * c5;
        y0[t] = c0;
        y1[t] = e1 + o1;
        y2[t] = e1 - o1;
        y3[t] = e2 + o2;
        y4[t] = e2 - o2;
        y5[t] = e3 + o3;
        y6[t] = e3 - o3;
        y7[t] = c5;
    }
}

/* B^T d B of every input tile of the chunk: x [C][n][H][W] -> v [planes][C][T], a channel at a
 * time: its tiles gathered, then d B, then B^T (d B). rows: the packing buffer. */
static void input_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *x, float *v,
                            float *rows)
{
    int a = t.m + 2;
    rows_fn *bt = t.m == 6 ? bt8 : t.m == 4 ? bt6 : bt4;
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * t.tw, stride = (size_t)C * T, ds = tile_pitch(T);
    float *d = rows, *h = rows + (size_t)a * a * ds;
    for (int c = 0; c < C; c++) {
        gather_input_tiles(t.m, x + ((size_t)c * n + ch.b0) * H * W, H, W, t.tw, ch, d, ds);
        for (int r = 0; r < a; r++) /* h[a r + j] = (d B)[r][j] */
            bt(T, d + (size_t)a * r * ds, ds, h + (size_t)a * r * ds, ds);
        for (int j = 0; j < a; j++) /* v[a i + j] = (B^T h)[i][j] */
            bt(T, h + j * ds, a * ds, v + (size_t)j * stride + (size_t)c * T, a * stride);
    }
}

/* A^T m A of every tile: m [planes][C][T] -> the chunk's output tiles of y [C][n][H][W], clipped
 * at the edges, a channel at a time: A^T m, then (A^T m) A, then the tiles into place. */
static void output_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *m, float *y,
                             float *rows)
{
    int a = t.m + 2;
    rows_fn *at = t.m == 6 ? at6 : t.m == 4 ? at4 : at2;
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * t.tw, stride = (size_t)C * T, ds = tile_pitch(T);
    float *q = rows, *o = rows + (size_t)t.m * a * ds;
    for (int c = 0; c < C; c++) {
        for (int j = 0; j < a; j++) /* q[a i + j] = (A^T m)[i][j] */
            at(T, m + (size_t)j * stride + (size_t)c * T, a * stride, q + j * ds, a * ds);
        for (int i = 0; i < t.m; i++) /* o[m i + j] = (q A)[i][j] */
            at(T, q + (size_t)a * i * ds, ds, o + (size_t)t.m * i * ds, ds);
        scatter_output_tiles(t.m, y + ((size_t)c * n + ch.b0) * H * W, H, W, t.tw, ch, o, ds);
    }
}

/* A g A^T of every output-gradient tile (zero past the edges): dy [C][n][H][W] -> z [planes][C][T],
 * a channel at a time: the tiles gathered, then g A^T, then A (g A^T). */
static void gradient_transform(wino_tiling t, int C, int n, int H, int W, wino_chunk ch, const float *dy, float *z,
                               float *rows)
{
    int a = t.m + 2;
    rows_fn *ag = t.m == 6 ? a8 : t.m == 4 ? a6 : a4;
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * t.tw, stride = (size_t)C * T, ds = tile_pitch(T);
    float *g = rows, *w = rows + (size_t)t.m * t.m * ds;
    for (int c = 0; c < C; c++) {
        gather_output_tiles(t.m, dy + ((size_t)c * n + ch.b0) * H * W, H, W, t.tw, ch, g, ds);
        for (int r = 0; r < t.m; r++) /* w[a r + j] = (g A^T)[r][j] */
            ag(T, g + (size_t)t.m * r * ds, ds, w + (size_t)a * r * ds, ds);
        for (int j = 0; j < a; j++) /* z[a i + j] = (A w)[i][j] */
            ag(T, w + j * ds, a * ds, z + (size_t)j * stride + (size_t)c * T, a * stride);
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
static const float G6[8][3] = {{1, 0, 0},
                               {-2.0f / 9, -2.0f / 9, -2.0f / 9},
                               {-2.0f / 9, 2.0f / 9, -2.0f / 9},
                               {1.0f / 90, 1.0f / 45, 2.0f / 45},
                               {1.0f / 90, -1.0f / 45, 2.0f / 45},
                               {32.0f / 45, 16.0f / 45, 8.0f / 45},
                               {32.0f / 45, -16.0f / 45, 8.0f / 45},
                               {0, 0, 1}};

/* G g G^T of K kernels at once, for G [a][3]: their taps read tap by tap, taps[e][j] at stride
 * plane between taps, the transforms written to u[(a*r + c) * plane + j], in vectors down the
 * row (the expressions of the single-kernel transform, so the same floats). Inlined where a and G
 * are constants, so that the loops unroll. */
static inline __attribute__((always_inline)) void transform_kernels(const float *G, int a, const float *taps,
                                                                    size_t plane, int K, float *u)
{
    enum { BLOCK = 64 };
    for (int j0 = 0; j0 < K; j0 += BLOCK) {
        int n = K - j0 < BLOCK ? K - j0 : BLOCK;
        float h[8][3][BLOCK];
        for (int r = 0; r < a; r++)
            for (int kx = 0; kx < 3; kx++) {
                const float *g0 = taps + (size_t)kx * plane + j0, *g1 = g0 + 3 * plane, *g2 = g0 + 6 * plane;
                NN_SIMD
                for (int j = 0; j < n; j++)
                    h[r][kx][j] = G[3 * r] * g0[j] + G[3 * r + 1] * g1[j] + G[3 * r + 2] * g2[j];
            }
        for (int r = 0; r < a; r++)
            for (int c = 0; c < a; c++) {
                float *dst = u + (size_t)(a * r + c) * plane + j0;
                NN_SIMD
                for (int j = 0; j < n; j++)
                    dst[j] = h[r][0][j] * G[3 * c] + h[r][1][j] * G[3 * c + 1] + h[r][2][j] * G[3 * c + 2];
            }
    }
}

/* G^T du G for a row of up to KERNEL_ROW kernels: the gradients of their 3x3 kernels from those
 * of their transforms, du[a*a][KERNEL_ROW], to dw[q*9 + 3*ky + kx] for kernel q. In vectors along
 * the row, in the sums' order of one kernel at a time (so the same floats): that way, reading
 * each kernel's 36 values a plane apart, it had been most of the weight gradient's last step.
 * Inlined where a and G are constants. */
enum { KERNEL_ROW = 64 };
static inline __attribute__((always_inline)) void gradient_of_kernels(const float *G, int a,
                                                                      float (*du)[KERNEL_ROW], int nk, float *dw)
{
    float h[3][8][KERNEL_ROW];
    for (int ky = 0; ky < 3; ky++)
        for (int j = 0; j < a; j++) {
            float *s = h[ky][j];
            NN_SIMD
            for (int q = 0; q < nk; q++)
                s[q] = 0;
            for (int i = 0; i < a; i++) {
                const float *d = du[a * i + j];
                float gi = G[3 * i + ky];
                NN_SIMD
                for (int q = 0; q < nk; q++)
                    s[q] += gi * d[q];
            }
        }
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            float s[KERNEL_ROW];
            NN_SIMD
            for (int q = 0; q < nk; q++)
                s[q] = 0;
            for (int j = 0; j < a; j++) {
                float gj = G[3 * j + kx];
                NN_SIMD
                for (int q = 0; q < nk; q++)
                    s[q] += h[ky][j][q] * gj;
            }
            for (int q = 0; q < nk; q++)
                dw[q * 9 + 3 * ky + kx] = s[q];
        }
}

/* Output channel oc's kernel gradients from the groups' partial gradients of the transforms,
 * part[group][planes][cout][cin] (nweight floats a group), added in group order. */
static void kernel_gradients(wino_tiling t, const float *part, size_t nweight, int groups, int cout, int cin, int oc,
                             float *dweight)
{
    float du[NN_WINO_PLANES][KERNEL_ROW];
    for (int ic0 = 0; ic0 < cin; ic0 += KERNEL_ROW) {
        int nk = cin - ic0 < KERNEL_ROW ? cin - ic0 : KERNEL_ROW;
        for (int p = 0; p < t.planes; p++) {
            const float *src = part + ((size_t)p * cout + oc) * cin + ic0;
            NN_SIMD
            for (int q = 0; q < nk; q++)
                du[p][q] = src[q];
            for (int g = 1; g < groups; g++) {
                const float *more = src + (size_t)g * nweight;
                NN_SIMD
                for (int q = 0; q < nk; q++)
                    du[p][q] += more[q];
            }
        }
        float *dw = dweight + ((size_t)oc * cin + ic0) * 9;
        if (t.m == 6)
            gradient_of_kernels(&G6[0][0], 8, du, nk, dw);
        else if (t.m == 4)
            gradient_of_kernels(&G4[0][0], 6, du, nk, dw);
        else
            gradient_of_kernels(&G2[0][0], 4, du, nk, dw);
    }
}

/* The layer's kernels transformed, U [planes][c][in_c], or for the input gradient the rotated
 * kernels with the channels swapped, [planes][in_c][c]; each plane then packed for the GEMM. The
 * kernels' taps are laid out tap by tap first ([9][M][K], in the room the packing fills last), so
 * that the transforms run along rows of kernels in vectors: a kernel at a time, with 36 stores
 * far apart each, they had taken 4% of a training step of the face net. */
static void pack_kernels(const nn_layer *l, wino_tiling t, int rotated, float *u, float *packed)
{
    int M = rotated ? l->in_c : l->c, K = rotated ? l->c : l->in_c;
    size_t plane = (size_t)M * K;
    float *taps = packed;
    NN_PARALLEL_FOR_IF(plane * 64, shared(l, rotated, taps, M, K, plane))
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) {
            int oc = rotated ? j : i, ic = rotated ? i : j;
            const float *g = l->weight + ((size_t)oc * l->in_c + ic) * 9;
            for (int e = 0; e < 9; e++) /* rotated: g'[ky][kx] = g[2-ky][2-kx] */
                taps[e * plane + (size_t)i * K + j] = g[rotated ? 8 - e : e];
        }
    NN_PARALLEL_FOR_IF(plane * 64, shared(t, taps, u, M, K, plane, G2, G4, G6))
    for (int i = 0; i < M; i++) {
        if (t.m == 6)
            transform_kernels(&G6[0][0], 8, taps + (size_t)i * K, plane, K, u + (size_t)i * K);
        else if (t.m == 4)
            transform_kernels(&G4[0][0], 6, taps + (size_t)i * K, plane, K, u + (size_t)i * K);
        else
            transform_kernels(&G2[0][0], 4, taps + (size_t)i * K, plane, K, u + (size_t)i * K);
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
    *v = nn_thread_scratch(ws);
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
        for (int oc = 0; oc < cout; oc++) {
            kernel_gradients(t, ws->part, nweight, G, cout, cin, oc, l->dweight);
            l->dbias[oc] = nn_conv_bias_gradient(l, n, dy, oc);
        }
    }
    if (dx) { /* the input gradient: dy convolved by the turned kernels, a sample at a time */
        float *u = ws->packed_weight, *packed = u + nweight;
        pack_kernels(l, t, 1, u, packed);
        convolve_batch(l, t, cout, cin, n, dy, dx, packed, ws, NULL, NULL);
    }
}
