/* nn_winograd.c — 3x3 stride-1 'same' convolutions by Winograd's F(2x2,3x3): a 4x4 input tile and a
 * 3x3 kernel, each transformed, give a 2x2 output tile in 16 multiplies instead of 36, and the
 * multiplies of all tiles are 16 GEMMs over the channels. The input gradient is the same algorithm on
 * the rotated kernel; the weight gradient is the forward's adjoint. No tile's floats depend on how
 * the batch is cut into chunks, and the weight gradient sums fixed groups of samples, so no float
 * depends on the number of threads. */
#include "nn.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Floats of one transformed chunk ([16][channels][tiles]): 1 MB, and as much for its product, per
 * thread (2^16 starved the GEMMs of the 256-channel layers of tiles; 2^19 left L2 further behind). */
#define WINO_CHUNK_FLOATS ((size_t)1 << 18)
/* Below this many input channels the GEMMs are too thin to repay the transforms (the first layer
 * of every shipped net has one channel). */
#define WINO_MIN_CHANNELS 8
/* The transforms keep rows of the width in the GEMM's packing buffer: 16 rows of tw+1 floats. */
#define WINO_MAX_WIDTH 16384
_Static_assert(16 * (WINO_MAX_WIDTH / 2 + 2) <= NN_GEMM_PACK, "the transforms' rows fit the packing buffer");

int nn_winograd_fits(const nn_layer *l)
{
    return l->kind == NN_CONV && l->k == 3 && l->stride == 1 && l->pad == 1 && l->h == l->in_h && l->w == l->in_w &&
           l->in_c >= WINO_MIN_CHANNELS && l->w <= WINO_MAX_WIDTH;
}

/* The weight gradient's fixed groups of samples, each summed apart and then added in order: fewer
 * than the direct path's NN_GROUPS, as each group's partial is 16/9 of the kernels' size and
 * writing and adding them cost more than spreading them over more threads gained: two groups
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

static int tile_rows(const nn_layer *l) { return (l->h + 1) / 2; }
static int tile_cols(const nn_layer *l) { return (l->w + 1) / 2; }
static int max_channels(const nn_layer *l) { return l->c > l->in_c ? l->c : l->in_c; }

/* Tile rows in one chunk: at least one. */
static int chunk_rows(const nn_layer *l)
{
    size_t per_row = 16 * (size_t)max_channels(l) * tile_cols(l);
    size_t rows = WINO_CHUNK_FLOATS / per_row;
    return rows < 1 ? 1 : rows > (size_t)INT32_MAX ? INT32_MAX : (int)rows;
}

static size_t chunk_floats(const nn_layer *l)
{
    int rows = chunk_rows(l), th = tile_rows(l);
    if (rows > th) /* whole samples: as many as fit */
        rows = rows / th * th;
    size_t f = 16 * (size_t)max_channels(l) * (size_t)rows * tile_cols(l);
    return (f + 15) / 16 * 16;
}

size_t nn_winograd_packed_floats(const nn_layer *l)
{
    size_t fwd = nn_gemm_packed_a_floats(l->c, l->in_c), bwd = nn_gemm_packed_a_floats(l->in_c, l->c);
    return 16 * (fwd > bwd ? fwd : bwd);
}

size_t nn_winograd_work(const nn_layer *l, size_t *part, size_t *packed)
{
    size_t weights = 16 * (size_t)l->c * l->in_c;
    *part = (size_t)WINO_GROUPS * weights;
    *packed = weights + nn_winograd_packed_floats(l); /* the transformed kernel, then its packing */
    return 2 * chunk_floats(l) + NN_GEMM_PACK;
}

/* A chunk: samples [b0, b0+m), tile rows [ty0, ty1) of each; tiles numbered sample, row, column. */
typedef struct wino_chunk {
    int b0, m, ty0, ty1;
} wino_chunk;

static size_t chunk_tiles(const nn_layer *l, wino_chunk c) { return (size_t)c.m * (c.ty1 - c.ty0) * tile_cols(l); }

/* The chunks of samples [b0, b1) over tile rows [ty0, ty1), in order: whole samples together when
 * they fit, else rows of one sample. Returns how many; the i-th is *c when i >= 0 is asked. */
static int chunk_at(const nn_layer *l, int b0, int b1, int ty0, int ty1, int i, wino_chunk *c)
{
    int rows = chunk_rows(l), th = tile_rows(l);
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

/* ------------------------------------------------------------ transforms */

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
static void input_transform(int C, int n, int H, int W, int tw, wino_chunk ch, const float *x, float *v, float *rows)
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
static void output_transform(int C, int n, int H, int W, int tw, wino_chunk ch, const float *m, float *y, float *rows)
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
static void gradient_transform(int C, int n, int H, int W, int tw, wino_chunk ch, const float *dy, float *z,
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

/* G g G^T of a 3x3 kernel read at g[ky*sy + kx*sx] -> u[16] at stride us. */
static void kernel_transform(const float *g, int sy, int sx, float *u, size_t us)
{
    float h[4][3];
    for (int k = 0; k < 3; k++) { /* rows of G g: g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2 */
        float a = g[k * sx], b = g[sy + k * sx], c = g[2 * sy + k * sx];
        h[0][k] = a;
        h[1][k] = 0.5f * (a + b + c);
        h[2][k] = 0.5f * (a - b + c);
        h[3][k] = c;
    }
    for (int i = 0; i < 4; i++) {
        u[(size_t)(4 * i + 0) * us] = h[i][0];
        u[(size_t)(4 * i + 1) * us] = 0.5f * (h[i][0] + h[i][1] + h[i][2]);
        u[(size_t)(4 * i + 2) * us] = 0.5f * (h[i][0] - h[i][1] + h[i][2]);
        u[(size_t)(4 * i + 3) * us] = h[i][2];
    }
}

/* G^T du G: the gradient of a 3x3 kernel from that of its transform, du[16] at stride us. */
static void kernel_gradient(const float *du, size_t us, float *g)
{
    float h[3][4];
    for (int k = 0; k < 4; k++) { /* rows of G^T du: u0 + (u1+u2)/2, (u1-u2)/2, (u1+u2)/2 + u3 */
        float a = du[(size_t)k * us], b = du[(size_t)(4 + k) * us], c = du[(size_t)(8 + k) * us],
              d = du[(size_t)(12 + k) * us];
        h[0][k] = a + 0.5f * (b + c);
        h[1][k] = 0.5f * (b - c);
        h[2][k] = 0.5f * (b + c) + d;
    }
    for (int i = 0; i < 3; i++) {
        g[3 * i + 0] = h[i][0] + 0.5f * (h[i][1] + h[i][2]);
        g[3 * i + 1] = 0.5f * (h[i][1] - h[i][2]);
        g[3 * i + 2] = 0.5f * (h[i][1] + h[i][2]) + h[i][3];
    }
}

/* The layer's kernels transformed, U [16][c][in_c], or for the input gradient the rotated kernels
 * with the channels swapped, [16][in_c][c]; each of the 16 then packed for the GEMM. */
void nn_winograd_pack_kernels(const nn_layer *l, int rotated, float *u, float *packed)
{
    int M = rotated ? l->in_c : l->c, K = rotated ? l->c : l->in_c;
    size_t plane = (size_t)M * K;
    NN_PARALLEL_FOR_IF(plane * 64, shared(l, rotated, u, M, K, plane))
    for (int i = 0; i < M; i++)
        for (int j = 0; j < K; j++) {
            int oc = rotated ? j : i, ic = rotated ? i : j;
            const float *g = l->weight + ((size_t)oc * l->in_c + ic) * 9;
            if (rotated) /* g'[ky][kx] = g[2-ky][2-kx] */
                kernel_transform(g + 8, -3, -1, u + (size_t)i * K + j, plane);
            else
                kernel_transform(g, 3, 1, u + (size_t)i * K + j, plane);
        }
    size_t per = nn_gemm_packed_a_floats(M, K);
    for (int x = 0; x < 16; x++)
        nn_gemm_pack_a(M, K, u + x * plane, (size_t)K, packed + x * per);
}

/* -------------------------------------------------------------- the passes */

/* One chunk of a 'same' 3x3 convolution with C_in -> C_out channels from kernels packed by
 * nn_winograd_pack_kernels: y's tiles of the chunk are overwritten (no bias). */
static void convolve_chunk(int cin, int cout, int n, int H, int W, int tw, wino_chunk ch, const float *x, float *y,
                           const float *packed, float *v, float *m, float *pack)
{
    size_t T = (size_t)ch.m * (ch.ty1 - ch.ty0) * tw, per = nn_gemm_packed_a_floats(cout, cin);
    input_transform(cin, n, H, W, tw, ch, x, v, pack);
    for (int x = 0; x < 16; x++)
        nn_gemm_serial_packed(0, 0, cout, (int)T, cin, NULL, (size_t)cin, packed + x * per, v + x * (size_t)cin * T,
                              T, 0, m + x * (size_t)cout * T, T, pack);
    output_transform(cout, n, H, W, tw, ch, m, y, pack);
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
static void chunk_epilogue(const nn_layer *l, int n, wino_chunk ch, float *y, const nn_conv_post *post)
{
    int r0 = 2 * ch.ty0, r1 = 2 * ch.ty1 < l->h ? 2 * ch.ty1 : l->h;
    for (int b = ch.b0; b < ch.b0 + ch.m; b++)
        nn_conv_epilogue(l, n, b, (size_t)r0 * l->w, (size_t)(r1 - r0) * l->w, y, post);
}

/* The convolution of layer l's geometry from cin to cout channels, x -> y, over a whole batch:
 * each thread a contiguous run of samples (or, below one sample a thread, of a sample's tile rows),
 * cut into chunks as large as the scratch allows. No tile's floats depend on how the batch is cut,
 * so the cut may follow the thread count. With epilogue, bias and post follow each chunk. */
static void convolve_batch(const nn_layer *l, int cin, int cout, int n, const float *x, float *y, const float *packed,
                           const nn_work *ws, const nn_layer *epilogue, const nn_conv_post *post)
{
    int team = nn_team_size(ws), th = tile_rows(l), tw = tile_cols(l);
    int share_rows = n < team; /* batch 1: the threads share each sample's tile rows, a sample a round */
    int rounds = share_rows ? n : 1;
    for (int r = 0; r < rounds; r++)
        NN_PRAGMA(omp parallel num_threads(team) default(none)
                  shared(l, cin, cout, n, x, y, packed, ws, epilogue, post, th, tw, share_rows, r))
        {
            int t = nn_thread_id(), parts = 1;
#ifdef _OPENMP
            parts = omp_get_num_threads();
#endif
            int b0 = (int)((long)t * n / parts), b1 = (int)((long)(t + 1) * n / parts), ty0 = 0, ty1 = th;
            if (share_rows) {
                b0 = r, b1 = r + 1;
                ty0 = (int)((long)t * th / parts), ty1 = (int)((long)(t + 1) * th / parts);
            }
            float *v, *m, *pack;
            scratch(l, ws, &v, &m, &pack);
            wino_chunk ch;
            int count = b1 > b0 && ty1 > ty0 ? chunk_at(l, b0, b1, ty0, ty1, -1, &ch) : 0;
            for (int i = 0; i < count; i++) {
                chunk_at(l, b0, b1, ty0, ty1, i, &ch);
                convolve_chunk(cin, cout, n, l->h, l->w, tw, ch, x, y, packed, v, m, pack);
                if (epilogue)
                    chunk_epilogue(epilogue, n, ch, y, post);
            }
        }
}

void nn_winograd_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws,
                         const float *packed, const nn_conv_post *post)
{
    convolve_batch(l, l->in_c, l->c, n, x, y, packed, ws, l, post);
}

void nn_winograd_backward(const nn_layer *l, int n, const float *x, const float *dy, float *dx, const nn_work *ws)
{
    int th = tile_rows(l), tw = tile_cols(l), cin = l->in_c, cout = l->c;
    size_t nweight = 16 * (size_t)cout * cin;
    int G = n < WINO_GROUPS ? n : WINO_GROUPS;
    /* The weight gradient sums over samples: in fixed groups, whatever the threads. */
    NN_PRAGMA(omp parallel num_threads(nn_team_size(ws)) default(none)
              shared(G, l, n, x, dy, ws, th, tw, cin, cout, nweight))
    {
        NN_PRAGMA(omp for schedule(dynamic))
        for (int g = 0; g < G; g++) {
            int b0 = (int)((long)g * n / G), b1 = (int)((long)(g + 1) * n / G);
            float *v, *m, *pack, *du = ws->part + (size_t)g * nweight; /* this group's [16][cout][cin] */
            scratch(l, ws, &v, &m, &pack);
            wino_chunk ch;
            int count = chunk_at(l, b0, b1, 0, th, -1, &ch);
            for (int i = 0; i < count; i++) {
                chunk_at(l, b0, b1, 0, th, i, &ch);
                size_t T = chunk_tiles(l, ch);
                /* du[x] (+)= z[x] [cout][T] @ v[x]^T [T][cin] */
                input_transform(cin, n, l->h, l->w, tw, ch, x, v, pack);
                gradient_transform(cout, n, l->h, l->w, tw, ch, dy, m, pack);
                for (int t = 0; t < 16; t++)
                    nn_gemm_serial(0, 1, cout, cin, (int)T, m + t * (size_t)cout * T, T, v + t * (size_t)cin * T, T,
                                   i > 0, du + t * (size_t)cout * cin, (size_t)cin, pack);
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
                kernel_gradient(ws->part + (size_t)oc * cin + ic, (size_t)cout * cin,
                                l->dweight + ((size_t)oc * cin + ic) * 9);
            l->dbias[oc] = nn_conv_bias_gradient(l, n, dy, oc);
        }
    }
    if (dx) { /* the input gradient: dy convolved by the turned kernels, a sample at a time */
        float *u = ws->packed_weight, *packed = u + nweight;
        nn_winograd_pack_kernels(l, 1, u, packed);
        convolve_batch(l, cout, cin, n, dy, dx, packed, ws, NULL, NULL);
    }
}
