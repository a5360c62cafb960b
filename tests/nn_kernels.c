/* nn_kernels.c — every fast kernel (GEMM, convolution, pooling) against its naive reference on
 * random shapes, odd sizes included, plus hand-computed outputs of tiny layers. */
#include "nn.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static uint64_t rng = 12345;

static float *random_floats(size_t n)
{
    float *p = nn_aligned_alloc(n, NULL);
    for (size_t i = 0; i < n; i++)
        p[i] = nn_uniform(&rng) * 2 - 1;
    return p;
}

static double max_diff(const float *a, const float *b, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n; i++)
        d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* Largest |a - b| over the largest |b|: the error of a against the reference b. */
static double rel_diff(const float *a, const float *b, size_t n)
{
    double big = 0;
    for (size_t i = 0; i < n; i++)
        big = fmax(big, fabs((double)b[i]));
    return max_diff(a, b, n) / (big > 0 ? big : 1);
}

/* The largest of the Winograd bounds below, for tests of layers that may go either way. */
#define WINOGRAD_ANY_BOUND 5e-5
static int rnd(int lo, int hi) { return lo + (int)(nn_splitmix64(&rng) % (uint64_t)(hi - lo + 1)); }

/* One random GEMM: fast vs reference, both transposes and accumulate. */
static int check_gemm(tap *t, int M, int N, int K, int ta, int tb, int acc)
{
    size_t lda = (size_t)(ta ? M : K) + (size_t)rnd(0, 3), ldb = (size_t)(tb ? K : N) + (size_t)rnd(0, 3);
    size_t ldc = (size_t)N + (size_t)rnd(0, 3);
    float *A = random_floats(lda * (size_t)(ta ? K : M)), *B = random_floats(ldb * (size_t)(tb ? N : K));
    float *C = random_floats(ldc * (size_t)M), *R = nn_aligned_alloc(ldc * (size_t)M, NULL);
    float *C0 = nn_aligned_alloc(ldc * (size_t)M, NULL);
    memcpy(R, C, ldc * (size_t)M * sizeof *R);
    memcpy(C0, C, ldc * (size_t)M * sizeof *C0);
    nn_gemm(ta, tb, M, N, K, A, lda, B, ldb, acc, C, ldc);
    nn_gemm_ref(ta, tb, M, N, K, A, lda, B, ldb, acc, R, ldc);
    double d = max_diff(C, R, ldc * (size_t)M);
    /* With A packed beforehand (only A untransposed is): the same floats as nn_gemm. */
    int same = 1;
    if (!ta) {
        float *packed = nn_aligned_alloc(nn_gemm_packed_a_floats(M, K), NULL), *pack = nn_aligned_alloc(NN_GEMM_PACK, NULL);
        float *S = nn_aligned_alloc(ldc * (size_t)M, NULL);
        memcpy(S, C0, ldc * (size_t)M * sizeof *S);
        nn_gemm_pack_a(M, K, A, lda, packed);
        nn_gemm_serial_packed(ta, tb, M, N, K, A, lda, packed, B, ldb, acc, S, ldc, pack);
        same = memcmp(S, C, ldc * (size_t)M * sizeof *S) == 0;
        free(packed);
        free(pack);
        free(S);
    }
    int ok = tap_ok(t, d < 1e-5 * sqrt((double)K + 1) * 4 && same,
                    "gemm %dx%dx%d ta=%d tb=%d acc=%d: max diff %.2g%s", M, N, K, ta, tb, acc, d,
                    ta ? "" : same ? ", packed A the same" : ", packed A differs");
    free(A);
    free(B);
    free(C);
    free(C0);
    free(R);
    return ok;
}

/* In lib/nn_gemm.c, for tests only: the GEMM's packing (fast) or the plain one. */
void nn_gemm_pack_check(int b, int fast, int trans, const float *X, size_t ld, int r0, int n, int p0, int kc,
                        float *dst);

/* The vector packings against the plain ones, float for float, padding included, on every edge of
 * a panel: rows (A, MR = 12) or columns (B, NR = 32) short of a panel, k not a multiple of 8 or
 * 16. The operand is allocated to end at its last packed element, so a read past it is a fault
 * under the sanitizers. */
static void check_packing(tap *t, int b, int trans)
{
    static const int ns[] = {1, 4, 5, 8, 9, 11, 12, 13, 16, 20, 25, 31, 32, 33, 40, 64, 70, 97};
    static const int kcs[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 100, 255, 256};
    int cases = 0, bad = 0, panel = b ? 32 : 12;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t j = 0; j < sizeof kcs / sizeof *kcs; j++) {
            int n = ns[i], kc = kcs[j], r0 = rnd(0, 3), p0 = rnd(0, 3);
            /* stored with r along rows (A as is, B transposed) or along columns */
            int by_rows = (b ^ trans) == 0;
            size_t ld = (size_t)(by_rows ? p0 + kc : r0 + n) + (size_t)rnd(0, 2);
            size_t size = by_rows ? (size_t)(r0 + n - 1) * ld + (size_t)(p0 + kc)
                                  : (size_t)(p0 + kc - 1) * ld + (size_t)(r0 + n);
            float *X = malloc(size * sizeof *X);
            for (size_t e = 0; e < size; e++)
                X[e] = nn_uniform(&rng) * 2 - 1;
            size_t out = (size_t)((n + panel - 1) / panel * panel) * kc;
            float *fast = nn_aligned_alloc(out + 16, NULL), *plain = nn_aligned_alloc(out + 16, NULL);
            for (size_t e = 0; e < out + 16; e++)
                fast[e] = plain[e] = 7.0f; /* a value no packing writes: padding must become 0 */
            nn_gemm_pack_check(b, 1, trans, X, ld, r0, n, p0, kc, fast);
            nn_gemm_pack_check(b, 0, trans, X, ld, r0, n, p0, kc, plain);
            int zeros = 1; /* the plain packing's padding is zero */
            for (size_t e = 0; e < out; e++)
                zeros &= plain[e] != 7.0f;
            if (memcmp(fast, plain, (out + 16) * sizeof *fast) != 0 || !zeros) {
                if (bad++ < 3)
                    tap_diag("pack %c trans=%d n=%d kc=%d r0=%d p0=%d ld=%zu differs", b ? 'B' : 'A', trans, n, kc,
                             r0, p0, ld);
            }
            cases++;
            free(X);
            free(fast);
            free(plain);
        }
    tap_ok(t, bad == 0, "packing %c trans=%d: vector = plain in %d of %d shapes", b ? 'B' : 'A', trans, cases - bad,
           cases);
}

/* In lib/nn_gemm.c, for tests only: threads whose number has its bit set in mask take the GEMM's
 * out-of-memory path, as if their packing buffer could not be allocated. */
void nn_gemm_fail_packing(unsigned mask);

/* The GEMM with packing buffers refused (to every thread, or to the second only): the bytes of the
 * normal path on one thread, on 1 and 2 threads, every transpose, K across the KC blocking. The
 * shapes are large enough for nn_gemm to use its threads, and split into several tiles each. */
static void check_gemm_fallback(tap *t)
{
    static const int shapes[][3] = {{100, 300, 700}, {37, 1100, 260}, {250, 40, 513}};
    static const struct { int threads; unsigned fail; const char *what; } runs[] = {
        {2, 0, "normal path, 2 threads"},
        {1, ~0u, "no packing buffer, 1 thread"},
        {2, ~0u, "no packing buffer for either of 2 threads"},
        {2, 2u, "no packing buffer for the second of 2 threads"},
    };
    int nruns = (int)(sizeof runs / sizeof *runs), same[4] = {0, 0, 0, 0}, cases = 0;
#ifdef _OPENMP
    int threads_before = omp_get_max_threads();
#endif
    for (int s = 0; s < 3; s++)
        for (int tr = 0; tr < 4; tr++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = tr & 1, tb = tr >> 1, acc = (s + tr) & 1;
            size_t lda = (size_t)(ta ? M : K), ldb = (size_t)(tb ? K : N), ldc = (size_t)N + 1, nc = ldc * (size_t)M;
            float *A = random_floats(lda * (size_t)(ta ? K : M)), *B = random_floats(ldb * (size_t)(tb ? N : K));
            float *C0 = random_floats(nc), *want = nn_aligned_alloc(nc, NULL), *got = nn_aligned_alloc(nc, NULL);
            memcpy(want, C0, nc * sizeof *want);
            vx_set_threads(1);
            nn_gemm(ta, tb, M, N, K, A, lda, B, ldb, acc, want, ldc);
            for (int r = 0; r < nruns; r++) {
                memcpy(got, C0, nc * sizeof *got);
                vx_set_threads(runs[r].threads);
                nn_gemm_fail_packing(runs[r].fail);
                nn_gemm(ta, tb, M, N, K, A, lda, B, ldb, acc, got, ldc);
                nn_gemm_fail_packing(0);
                if (memcmp(got, want, nc * sizeof *got) == 0)
                    same[r]++;
                else
                    tap_diag("%s: gemm %dx%dx%d ta=%d tb=%d acc=%d differs", runs[r].what, M, N, K, ta, tb, acc);
            }
            cases++;
            free(A);
            free(B);
            free(C0);
            free(want);
            free(got);
        }
#ifdef _OPENMP
    vx_set_threads(threads_before);
#endif
    for (int r = 0; r < nruns; r++)
        tap_ok(t, same[r] == cases, "gemm, %s: the bytes of 1 thread's normal path in %d of %d products", runs[r].what,
               same[r], cases);
}

/* A layer with weights for tests, shaped by arch line parsing through a tiny network. */
static vx_net *one_layer(const char *line, int c, int h, int w, int n)
{
    char arch[256];
    snprintf(arch, sizeof arch, "input %d %d %d\n%s\ngap\nsoftmax 2\n", c, h, w, line);
    vx_error err;
    vx_net *net = vx_net_create(arch, 3, &err);
    if (!net || nn_net_reserve(net, n, 1, &err) < 0) {
        tap_diag("%s: %s", line, err.msg);
        return NULL;
    }
    for (size_t i = 0; i < net->nparams; i++)
        net->params[i] = nn_uniform(&rng) * 2 - 1;
    return net;
}

/* In lib/nn_layers.c, for tests only: a convolution's im2col panels as the GEMM takes them. */
void nn_conv_pack_check(const nn_layer *l, int n, int b0, int oy0, int oy1, const float *x, int plain, int j0, int nc,
                        int p0, int kc, float *dst);

/* The convolution's im2col panels, by the vector path (stride 1) and by the copy loops, against
 * their definition (an input value, or 0 in the padding and past the last column), float for
 * float: kernels of 1 to 8 wider or narrower than the plane, strides 1 and 2, every padding,
 * panels across samples and rows, starting anywhere in K. */
static void check_conv_packing(tap *t)
{
    int cases = 0, bad = 0;
    for (int round = 0; round < 400; round++) {
        nn_layer l = {.kind = NN_CONV, .in_c = rnd(1, 4), .in_h = rnd(1, 13), .in_w = rnd(1, 50), .k = rnd(1, 8),
                      .stride = rnd(1, 2)};
        l.pad = rnd(0, l.k - 1);
        l.h = (l.in_h + 2 * l.pad - l.k) / l.stride + 1;
        l.w = (l.in_w + 2 * l.pad - l.k) / l.stride + 1;
        if (l.h < 1 || l.w < 1)
            continue;
        int n = rnd(1, 3), b0 = rnd(0, n - 1), oy0 = rnd(0, l.h - 1), oy1 = rnd(oy0 + 1, l.h);
        int per = (oy1 - oy0) * l.w, cols = (n - b0) * per, K = l.in_c * l.k * l.k;
        int j0 = rnd(0, cols - 1), nc = rnd(1, cols - j0), p0 = rnd(0, K - 1), kc = rnd(1, K - p0);
        size_t nx = (size_t)l.in_c * n * l.in_h * l.in_w, out = (size_t)(nc + 31) / 32 * 32 * kc;
        float *x = malloc(nx * sizeof *x), *want = malloc(out * sizeof *want);
        float *fast = nn_aligned_alloc(out, NULL), *plain = nn_aligned_alloc(out, NULL);
        for (size_t e = 0; e < nx; e++)
            x[e] = nn_uniform(&rng) * 2 - 1;
        for (size_t e = 0; e < out; e++)
            fast[e] = plain[e] = 7.0f; /* a value no packing writes */
        for (int jp = 0; jp < nc; jp += 32)
            for (int k = 0; k < kc; k++)
                for (int c = 0; c < 32; c++) {
                    int j = j0 + jp + c, q = p0 + k, ch = q / (l.k * l.k), ky = q / l.k % l.k, kx = q % l.k;
                    int b = b0 + j / per, oy = oy0 + j % per / l.w, ox = j % per % l.w;
                    int iy = oy * l.stride + ky - l.pad, ix = ox * l.stride + kx - l.pad;
                    float v = 0.0f;
                    if (jp + c < nc && iy >= 0 && iy < l.in_h && ix >= 0 && ix < l.in_w)
                        v = x[(((size_t)ch * n + b) * l.in_h + iy) * l.in_w + ix];
                    want[(size_t)jp * kc + (size_t)k * 32 + c] = v;
                }
        nn_conv_pack_check(&l, n, b0, oy0, oy1, x, 0, j0, nc, p0, kc, fast);
        nn_conv_pack_check(&l, n, b0, oy0, oy1, x, 1, j0, nc, p0, kc, plain);
        if (memcmp(fast, want, out * sizeof *want) != 0 || memcmp(plain, want, out * sizeof *want) != 0) {
            if (bad++ < 3)
                tap_diag("conv packing: %d channels %dx%d, kernel %d stride %d pad %d, n %d from %d, rows %d-%d, "
                         "columns %d+%d, K %d+%d: %s differs", l.in_c, l.in_h, l.in_w, l.k, l.stride, l.pad, n, b0,
                         oy0, oy1, j0, nc, p0, kc, memcmp(fast, want, out * sizeof *want) ? "vector" : "plain");
        }
        cases++;
        free(x);
        free(want);
        free(fast);
        free(plain);
    }
    tap_ok(t, bad == 0, "conv im2col panels, vector and plain, against their definition: %d layers and panels, %d differ",
           cases, bad);
}

static void check_conv(tap *t, const char *line, int c, int h, int w, int n)
{
    vx_net *net = one_layer(line, c, h, w, n);
    if (!net) {
        tap_ok(t, 0, "conv %s", line);
        return;
    }
    nn_layer *l = &net->layer[1];
    size_t nx = (size_t)l->in_c * n * l->in_h * l->in_w, ny = (size_t)l->c * n * l->h * l->w;
    size_t nw = (size_t)l->c * l->in_c * l->k * l->k;
    float *x = random_floats(nx), *dy = random_floats(ny), *y = random_floats(ny), *yr = random_floats(ny);
    float *dx = random_floats(nx), *dxr = random_floats(nx), *dw = random_floats(nw + (size_t)l->c);
    nn_conv_forward(l, n, x, y, &net->work, NULL);
    nn_conv_forward_ref(l, n, x, yr);
    double dforward = max_diff(y, yr, ny);
    nn_conv_backward(l, n, x, dy, dx, &net->work);
    memcpy(dw, l->dweight, nw * sizeof *dw);
    memcpy(dw + nw, l->dbias, (size_t)l->c * sizeof *dw);
    nn_conv_backward_ref(l, n, x, dy, dxr);
    double ddx = max_diff(dx, dxr, nx), ddw = max_diff(dw, l->dweight, nw), ddb = max_diff(dw + nw, l->dbias, (size_t)l->c);
    /* absolute for the direct path; where a layer goes by Winograd, relative to the largest value
     * as the Winograd tests' bounds are */
    double ry = rel_diff(y, yr, ny), rdx = rel_diff(dx, dxr, nx);
    tap_ok(t, (dforward < 1e-4 || ry < WINOGRAD_ANY_BOUND) && (ddx < 1e-4 || rdx < WINOGRAD_ANY_BOUND) && ddw < 1e-3 && ddb < 1e-3,
           "conv '%s' on %dx%dx%d, batch %d: y %.2g dx %.2g dw %.2g db %.2g", line, c, h, w, n, dforward, ddx, ddw, ddb);
    free(x);
    free(dy);
    free(y);
    free(yr);
    free(dx);
    free(dxr);
    free(dw);
    vx_net_free(net);
}

/* levels > 0: the input takes only that many values, so that windows hold ties, which every
 * path must break as the reference does (the first of the window's largest). */
static void check_pool(tap *t, const char *line, int c, int h, int w, int n, int levels)
{
    vx_net *net = one_layer(line, c, h, w, n);
    if (!net) {
        tap_ok(t, 0, "pool %s", line);
        return;
    }
    nn_layer *l = &net->layer[1];
    size_t nx = (size_t)l->in_c * n * l->in_h * l->in_w, ny = (size_t)l->c * n * l->h * l->w;
    float *x = random_floats(nx), *dy = random_floats(ny), *y = random_floats(ny), *yr = random_floats(ny);
    float *dx = random_floats(nx), *dxr = random_floats(nx);
    for (size_t i = 0; levels && i < nx; i++)
        x[i] = floorf((x[i] + 1) * (float)levels / 2) / (float)levels;
    nn_pool_forward(l, n, x, y, l->idx);
    nn_pool_forward_ref(l, n, x, yr);
    nn_pool_backward(l, n, dy, dx, l->idx);
    nn_pool_backward_ref(l, n, x, dy, dxr);
    double d1 = max_diff(y, yr, ny), d2 = max_diff(dx, dxr, nx);
    nn_pool_forward(l, n, x, yr, NULL); /* inference keeps no argmax: the same outputs, exactly */
    int same = memcmp(y, yr, ny * sizeof *y) == 0;
    tap_ok(t, d1 < 1e-5 && d2 < 1e-5 && same, "pool '%s' on %dx%dx%d%s, batch %d: y %.2g dx %.2g, without argmax %s",
           line, c, h, w, levels ? " with ties" : "", n, d1, d2, same ? "same" : "differs");
    free(x);
    free(dy);
    free(y);
    free(yr);
    free(dx);
    free(dxr);
    vx_net_free(net);
}

/* The bounds every Winograd output, input gradient and weight gradient is held to: its largest
 * error against the double-precision direct reference, relative to the reference's largest
 * magnitude. F(2x2,3x3) and the direct float path measure 1e-7 to 5e-6 on these shapes; F(4x4,3x3),
 * whose transforms scale by up to 8 and by 1/6, 2e-7 to 1.2e-5 (the most on 256 channels);
 * F(6x6,3x3), by up to 32 and by 1/90, 8e-7 to 1.7e-5 (the most on 256 channels, a tile made to). */
#define WINOGRAD2_BOUND 1e-5
#define WINOGRAD4_BOUND 5e-5
#define WINOGRAD6_BOUND 5e-5

/* One Winograd layer (3x3 'same', in_c >= 8) with the tile of side m, forward and backward: against
 * the reference within the tile's bound, beside the direct path's error, and the same bytes on 1 and
 * 2 threads. */
static void check_winograd(tap *t, int m, int cin, int cout, int h, int w, int n)
{
    char line[64];
    snprintf(line, sizeof line, "conv %d 3 same", cout);
    vx_net *net = one_layer(line, cin, h, w, n);
    if (!net || !nn_winograd_fits(&net->layer[1])) {
        tap_ok(t, 0, "winograd %s on %dx%dx%d: not a Winograd layer", line, cin, h, w);
        vx_net_free(net);
        return;
    }
    nn_layer *l = &net->layer[1];
    net->work.conv = NN_CONV_WINOGRAD; /* on the small shapes too */
    net->work.wino_tile = m;
    double bound = m == 6 ? WINOGRAD6_BOUND : m == 4 ? WINOGRAD4_BOUND : WINOGRAD2_BOUND;
    size_t nx = (size_t)cin * n * h * w, ny = (size_t)cout * n * h * w, nw = (size_t)cout * cin * 9;
    float *x = random_floats(nx), *dy = random_floats(ny);
    float *y[3], *dx[3], *dw[3]; /* Winograd on 2 threads, on 1, and the reference */
    for (int k = 0; k < 3; k++) {
        y[k] = random_floats(ny);
        dx[k] = random_floats(nx);
        dw[k] = random_floats(nw);
    }
#ifdef _OPENMP
    int threads_before = omp_get_max_threads();
#endif
    for (int k = 0; k < 2; k++) {
        vx_set_threads(2 - k);
        nn_conv_forward(l, n, x, y[k], &net->work, NULL);
        nn_conv_backward(l, n, x, dy, dx[k], &net->work);
        memcpy(dw[k], l->dweight, nw * sizeof(float));
    }
#ifdef _OPENMP
    vx_set_threads(threads_before);
#endif
    nn_conv_forward_ref(l, n, x, y[2]);
    nn_conv_backward_ref(l, n, x, dy, dx[2]);
    memcpy(dw[2], l->dweight, nw * sizeof(float));
    double ey = rel_diff(y[0], y[2], ny), edx = rel_diff(dx[0], dx[2], nx), edw = rel_diff(dw[0], dw[2], nw);
    int same = !memcmp(y[0], y[1], ny * sizeof(float)) && !memcmp(dx[0], dx[1], nx * sizeof(float)) &&
               !memcmp(dw[0], dw[1], nw * sizeof(float));
    /* The direct path of the same network, for scale. */
    net->work.conv = NN_CONV_DIRECT;
    nn_conv_forward(l, n, x, y[1], &net->work, NULL);
    nn_conv_backward(l, n, x, dy, dx[1], &net->work);
    double direct = fmax(rel_diff(y[1], y[2], ny), fmax(rel_diff(dx[1], dx[2], nx), rel_diff(l->dweight, dw[2], nw)));
    tap_ok(t, ey < bound && edx < bound && edw < bound && same,
           "winograd F(%dx%d) %d->%d on %dx%d, batch %d: relative error y %.2g dx %.2g dw %.2g (direct path %.2g), "
           "1 and 2 threads %s",
           m, m, cin, cout, h, w, n, ey, edx, edw, direct, same ? "the same bytes" : "differ");
    for (int k = 0; k < 3; k++) {
        free(y[k]);
        free(dx[k]);
        free(dw[k]);
    }
    free(x);
    free(dy);
    vx_net_free(net);
}

/* A one-plane 3x3 layer (nn_plane.c): its forward pass the same floats as the im2col path's and
 * as its own plain loops, whatever the threads; its weight gradient the same floats on 1 and 2
 * threads and by the plain loops, within the direct path's tolerance of the reference. Shapes:
 * single pixels, rows shorter and longer than a vector, odd widths whose vectors run across
 * rows, batch 1 (bands split between threads), outputs large enough to be streamed past the
 * caches (the last two), and a plane too tall for one block of the weight gradient. */
/* Errors relative to the reference's largest magnitude, as for Winograd. The weight gradient's
 * grows with the terms it sums, zero-mean and cancelling: 6e-8 on 2 samples of 5x3, 1.1e-5 on 64
 * of 48x48 (147,456 terms), as the direct path's. */
#define PLANE_BOUND 3e-5
static void check_plane(tap *t, int c, int h, int w, int n, const char *padding)
{
    char line[64];
    snprintf(line, sizeof line, "conv %d 3 %s", c, padding);
    vx_net *net = one_layer(line, 1, h, w, n);
    nn_layer *l = net ? &net->layer[1] : NULL;
    if (!net || !nn_plane_fits(l)) {
        tap_ok(t, 0, "plane %s on 1x%dx%d: not a one-plane layer", line, h, w);
        vx_net_free(net);
        return;
    }
    int planed = nn_conv_uses_plane(l, &net->work);
    size_t nx = (size_t)n * h * w, ny = (size_t)c * n * l->h * l->w, nw = (size_t)c * 9, ng = nw + (size_t)c;
    float *x = random_floats(nx), *dy = random_floats(ny);
    float *y[4], *g[4]; /* plane on 2 threads, on 1, plain; then the direct path and the reference */
    for (int k = 0; k < 4; k++) {
        y[k] = random_floats(ny);
        g[k] = random_floats(ng);
    }
#ifdef _OPENMP
    int threads_before = omp_get_max_threads();
#endif
    for (int k = 0; k < 3; k++) {
        vx_set_threads(k == 1 ? 1 : 2);
        if (k < 2) {
            nn_conv_forward(l, n, x, y[k], &net->work, NULL);
            nn_conv_backward(l, n, x, dy, NULL, &net->work);
        } else {
            nn_plane_forward(l, n, x, y[k], &net->work, NULL, 1);
            nn_plane_weight_gradient(l, n, x, dy, &net->work, 1);
        }
        memcpy(g[k], l->dweight, nw * sizeof(float));
        memcpy(g[k] + nw, l->dbias, (size_t)c * sizeof(float));
    }
#ifdef _OPENMP
    vx_set_threads(threads_before);
#endif
    net->work.conv = NN_CONV_DIRECT;
    nn_conv_forward(l, n, x, y[3], &net->work, NULL);
    nn_conv_backward(l, n, x, dy, NULL, &net->work);
    memcpy(g[3], l->dweight, nw * sizeof(float));
    memcpy(g[3] + nw, l->dbias, (size_t)c * sizeof(float));
    float *yr = random_floats(ny);
    nn_conv_forward_ref(l, n, x, yr);
    nn_conv_backward_ref(l, n, x, dy, NULL);
    int same_y = !memcmp(y[0], y[1], ny * sizeof(float)) && !memcmp(y[0], y[2], ny * sizeof(float)) &&
                 !memcmp(y[0], y[3], ny * sizeof(float));
    /* (without AVX-512 the layer goes by im2col and the GEMM, whose sums the plain loops do not follow) */
    int same_g = !memcmp(g[0], g[1], ng * sizeof(float)) &&
                 (!planed || !memcmp(g[0], g[2], ng * sizeof(float)));
    double ey = rel_diff(y[0], yr, ny), ew = rel_diff(g[0], l->dweight, nw), eb = rel_diff(g[0] + nw, l->dbias, (size_t)c);
    double direct = fmax(rel_diff(g[3], l->dweight, nw), rel_diff(g[3] + nw, l->dbias, (size_t)c));
    tap_ok(t, same_y && same_g && ey < PLANE_BOUND && ew < PLANE_BOUND && eb < PLANE_BOUND,
           "plane %s on 1x%dx%d, batch %d: y %s the im2col path's, the plain loops' and 1 thread's; dw, db %s on 1 "
           "and 2 threads and plain; relative error y %.2g dw %.2g db %.2g (direct path's dw, db %.2g)",
           line, h, w, n, same_y ? "is" : "differs from", same_g ? "the same" : "differ", ey, ew, eb, direct);
    for (int k = 0; k < 4; k++) {
        free(y[k]);
        free(g[k]);
    }
    free(x);
    free(dy);
    free(yr);
    vx_net_free(net);
}

/* Inference with a one-plane first layer fused with batch norm and an activation: the same bytes
 * as with the im2col path (--direct-conv), at batch 1 and 7. */
static void check_plane_inference(tap *t)
{
    vx_error err;
    vx_net *net = vx_net_create("input 1 13 21\nconv 6 3 same\nbn\nrelu\nmaxpool 2\nconv 4 3 same\ngap\nsoftmax 3\n", 3, &err);
    enum { N = 7 };
    float x[N * 13 * 21], p[2][2][N * 3] = {{{0}}}; /* [im2col path][batch 1, batch N] */
    int ok = net != NULL;
    for (size_t i = 0; ok && i < net->nparams; i++)
        net->params[i] = (nn_uniform(&rng) * 2 - 1) * 0.5f;
    for (int c = 0; ok && c < 6; c++)
        net->layer[2].run_var[c] = 0.5f + nn_uniform(&rng);
    for (int i = 0; i < N * 13 * 21; i++)
        x[i] = nn_uniform(&rng);
    for (int direct = 0; ok && direct < 2; direct++) {
        vx_net_use_direct_conv(net, direct);
        ok = vx_net_predict(net, x, 1, p[direct][0], &err) == 0 && vx_net_predict(net, x, N, p[direct][1], &err) == 0;
    }
    tap_ok(t, ok && !memcmp(p[0], p[1], sizeof p[0]) && p[0][0][0] > 0.0f,
           "one-plane layer fused with bn and relu at batch 1 and %d: the same bytes as the im2col path (%.6f %.6f)", N,
           ok ? p[0][1][0] : 0.0, ok ? p[1][1][0] : 0.0);
    vx_net_free(net);
}

/* Inference keeps each Winograd layer's transformed kernels between batches, renews them when the
 * weights change (nn_net_params_changed), and --direct-conv leaves them aside. */
static void check_winograd_cache(tap *t)
{
    vx_error err;
    vx_net *net = vx_net_create("input 8 6 6\nconv 8 3 same\nrelu\ngap\nsoftmax 3\n", 5, &err);
    float x[8 * 6 * 6], p0[3], p1[3], p2[3], p3[3];
    for (int i = 0; i < 8 * 6 * 6; i++)
        x[i] = nn_uniform(&rng);
    if (net)
        net->work.conv = NN_CONV_WINOGRAD; /* too small to pay: made to */
    int ok = net && vx_net_predict(net, x, 1, p0, &err) == 0;
    for (size_t i = 0; ok && i < net->layer[1].c * (size_t)72; i++)
        net->layer[1].weight[i] *= -2.0f;
    nn_net_params_changed(net);
    ok = ok && vx_net_predict(net, x, 1, p1, &err) == 0;
    ok = ok && vx_net_predict(net, x, 1, p2, &err) == 0; /* from the cache made for p1 */
    vx_net_use_direct_conv(net, 1);
    ok = ok && vx_net_predict(net, x, 1, p3, &err) == 0;
    tap_ok(t, ok && memcmp(p0, p1, sizeof p0) && !memcmp(p1, p2, sizeof p1) && fabsf(p2[0] - p3[0]) < 1e-6f,
           "winograd kernels cached for inference and renewed with the weights: %.6f, then %.6f %.6f, direct %.6f",
           p0[0], p1[0], p2[0], p3[0]);
    vx_net_free(net);
}

/* Hand-computed: a 3x3 input, a 2x2 kernel of ones, valid: sums of each 2x2 window plus bias. */
static void check_tiny_conv(tap *t)
{
    vx_net *net = one_layer("conv 1 2 valid", 1, 3, 3, 1);
    nn_layer *l = &net->layer[1];
    for (int i = 0; i < 4; i++)
        l->weight[i] = 1.0f;
    l->bias[0] = 0.5f;
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    nn_conv_forward(l, 1, x, y, &net->work, NULL);
    tap_ok(t, y[0] == 12.5f && y[1] == 16.5f && y[2] == 24.5f && y[3] == 28.5f, "tiny conv: %g %g %g %g", y[0], y[1],
           y[2], y[3]);
    vx_net_free(net);
}

static void check_tiny_layers(tap *t)
{
    /* max pool 2 over a 4x4 ramp picks the bottom-right of each window */
    vx_net *net = one_layer("maxpool 2", 1, 4, 4, 1);
    float x[16], y[4];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i;
    nn_pool_forward(&net->layer[1], 1, x, y, net->layer[1].idx);
    tap_ok(t, y[0] == 5 && y[1] == 7 && y[2] == 13 && y[3] == 15, "tiny maxpool: %g %g %g %g", y[0], y[1], y[2], y[3]);
    vx_net_free(net);
    /* softmax of (0, ln 3) is (1/4, 3/4); cross-entropy against class 1 is ln(4/3) */
    float z[2] = {0.0f, logf(3.0f)}, p[2], dz[2];
    int label = 1;
    nn_softmax_forward(2, 1, z, p);
    double loss = nn_xent(2, 1, p, &label, NULL, 0.0f, dz);
    tap_ok(t, fabsf(p[0] - 0.25f) < 1e-6f && fabs(loss - log(4.0 / 3.0)) < 1e-6 && fabsf(dz[0] - 0.25f) < 1e-6f,
           "tiny softmax + cross-entropy: p %g %g loss %g", p[0], p[1], loss);
    /* batch norm of (1, 3) normalises to (-1, 1) (eps aside) */
    net = one_layer("bn", 1, 1, 1, 2);
    nn_layer *l = &net->layer[1];
    l->weight[0] = 2.0f;
    l->bias[0] = 1.0f;
    float bx[2] = {1, 3}, by[2];
    nn_bn_forward(l, 2, 1, 0.1f, bx, by, l->aux, l->stat);
    tap_ok(t, fabsf(by[0] + 1.0f) < 1e-4f && fabsf(by[1] - 3.0f) < 1e-4f, "tiny batch norm: %g %g", by[0], by[1]);
    vx_net_free(net);
}

/* Inference fuses conv + batch norm + activation and skips dropout: its probabilities must be
 * those of running every layer on its own, bit for bit. */
static void check_fused_inference(tap *t)
{
    const char *arch = "input 2 11 9\nconv 13 3 same\nbn\nrelu\nmaxpool 2\ndropout 0.3\n"
                       "conv 9 3 same\nleakyrelu 0.1\nconv 7 2 valid\nbn\nconv 14 3 same stride 2\nrelu\n"
                       "gap\ndense 5\nsoftmax 3\n";
    int n = 6;
    uint64_t draws = 5; /* its own: what the tests before it draw must not make its logits saturate */
    vx_error err;
    vx_net *net = vx_net_create(arch, 3, &err);
    /* reserved for training, so that every layer has an output of its own to run alone */
    if (!net || nn_net_reserve(net, n, 1, &err) < 0) {
        tap_ok(t, 0, "fused inference: %s", err.msg);
        return;
    }
    for (size_t i = 0; i < net->nparams; i++)
        net->params[i] = (nn_uniform(&draws) * 2 - 1) * 0.3f; /* logits of a few units: no probability saturates */
    for (int i = 0; i < net->nlayers; i++)
        if (net->layer[i].kind == NN_BN)
            for (int c = 0; c < net->layer[i].c; c++)
                net->layer[i].run_var[c] = 0.5f + nn_uniform(&draws);
    size_t nin = (size_t)2 * n * 11 * 9;
    for (size_t i = 0; i < nin; i++)
        net->layer[0].out[i] = nn_uniform(&draws) * 2 - 1;
    float fused[3 * 6], separate[3 * 6];
    memcpy(fused, nn_net_forward(net, n, 0, 0), sizeof fused);
    for (int i = 1; i < net->nlayers; i++)
        nn_layer_forward(net, i, n, 0, 0);
    memcpy(separate, net->layer[net->nlayers - 1].out, sizeof separate);
    tap_ok(t, memcmp(fused, separate, sizeof fused) == 0 && fused[0] > 0.0f,
           "fused inference equals layer by layer, bit for bit (p0 %g, %g)", fused[0], separate[0]);
    vx_net_free(net);
}

/* Gamma draws with the moments of Gamma(a, 1) (mean and variance a), and a batch mixed as mixup
 * says, against the same sums written out: 2 tests each. */
static void check_gamma(tap *t, double a)
{
    uint64_t state = 99;
    double sum = 0, sq = 0;
    int n = 40000;
    for (int i = 0; i < n; i++) {
        double g = nn_gamma(&state, a);
        sum += g, sq += g * g;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    tap_ok(t, fabs(mean - a) < 0.03 * a && fabs(var - a) < 0.06 * a, "Gamma(%g): mean %.4f, variance %.4f", a, mean,
           var);
}

static void check_mixup(tap *t)
{
    int c = 2, h = 3, w = 4, n = 5;
    vx_net *net = one_layer("conv 2 3 same", c, h, w, n);
    if (!net) {
        tap_ok(t, 0, "mixup: no network");
        return;
    }
    size_t count = (size_t)c * n * h * w, plane = (size_t)h * w;
    float *before = random_floats(count);
    memcpy(net->layer[0].out, before, count * sizeof *before);
    int labels[5] = {0, 1, 1, 0, 1}, partners[5] = {-1, -1, -1, -1, -1};
    float lambda = nn_mixup_batch(net, n, 0.4, 7, labels, partners);
    double worst = 0;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < n; i++)
            for (size_t k = 0; k < plane; k++) {
                float own = before[((size_t)ch * n + i) * plane + k], other = before[((size_t)ch * n + n - 1 - i) * plane + k];
                double want = lambda * own + (1 - lambda) * other, got = net->layer[0].out[((size_t)ch * n + i) * plane + k];
                worst = fmax(worst, fabs(got - want));
            }
    int partners_ok = 1;
    for (int i = 0; i < n; i++)
        partners_ok &= partners[i] == labels[n - 1 - i];
    tap_ok(t, lambda >= 0.5f && lambda <= 1 && worst < 1e-6, "mixup: lambda %.4f, every input the mixture (worst %g)",
           lambda, worst);
    tap_ok(t, partners_ok, "mixup: each input's partner label is the one at the other end of the batch");
    free(before);
    vx_net_free(net);
}

/* Row statistics of input i, channel ch, row y of a [c][n][h][w] batch. */
static void row_stats(const float *x, int n, int h, int w, int ch, int i, int y, double *mean, double *dev)
{
    const float *row = x + (((size_t)ch * n + i) * h + y) * w;
    double sum = 0, sq = 0;
    for (int k = 0; k < w; k++)
        sum += row[k];
    *mean = sum / w;
    for (int k = 0; k < w; k++)
        sq += (row[k] - *mean) * (row[k] - *mean);
    *dev = sqrt(sq / w + 1e-6);
}

/* Freq-MixStyle: with p = 0 the batch is untouched; with p = 1 every input's rows take the
 * mean and deviation of one mixture, the same proportion and the same other input for all its
 * rows, the shape of each row kept (its values an affine map of the old ones). 2 tests. */
static void check_mix_style(tap *t)
{
    int c = 2, h = 3, w = 16, n = 5;
    vx_net *net = one_layer("conv 2 3 same", c, h, w, n);
    if (!net) {
        tap_ok(t, 0, "mix-style: no network");
        return;
    }
    size_t count = (size_t)c * n * h * w;
    float *before = random_floats(count), stats[5 * 2 * 3 * 2];
    memcpy(net->layer[0].out, before, count * sizeof *before);
    nn_mix_band_style(net, n, 0, 3, stats);
    tap_ok(t, memcmp(net->layer[0].out, before, count * sizeof *before) == 0, "mix-style: p = 0 changes nothing");
    nn_mix_band_style(net, n, 1, 3, stats);
    const float *after = net->layer[0].out;
    int explained = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        /* Find the other input and the proportion from the first row's mean, then check every row. */
        int found = 0;
        for (int j = 0; j < n && !found; j++) {
            if (j == i)
                continue;
            double mi, di, mj, dj, ma, da;
            row_stats(before, n, h, w, 0, i, 0, &mi, &di);
            row_stats(before, n, h, w, 0, j, 0, &mj, &dj);
            row_stats(after, n, h, w, 0, i, 0, &ma, &da);
            double lambda = (ma - mj) / (mi - mj), err = 0;
            if (!(lambda >= -1e-3 && lambda <= 1 + 1e-3))
                continue;
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++) {
                    row_stats(before, n, h, w, ch, i, y, &mi, &di);
                    row_stats(before, n, h, w, ch, j, y, &mj, &dj);
                    row_stats(after, n, h, w, ch, i, y, &ma, &da);
                    err = fmax(err, fmax(fabs(ma - (lambda * mi + (1 - lambda) * mj)),
                                         fabs(da - (lambda * di + (1 - lambda) * dj))));
                    const float *old = before + (((size_t)ch * n + i) * h + y) * w;
                    const float *now = after + (((size_t)ch * n + i) * h + y) * w;
                    for (int k = 0; k < w; k++)
                        err = fmax(err, fabs((now[k] - ma) / da - (old[k] - mi) / di));
                }
            if (err < 1e-4) {
                found = 1;
                worst = fmax(worst, err);
            }
        }
        explained += found;
    }
    tap_ok(t, explained == n, "mix-style: p = 1, %d of %d inputs one mixture of theirs and another's (worst %g)",
           explained, n, worst);
    free(before);
    vx_net_free(net);
}

int main(void)
{
    tap t;
    /* GEMM edges, every transpose: rows < MR, columns < NR, K not a multiple of 8 or 16 */
    int edges[][3] = {{5, 9, 17}, {11, 31, 9}, {12, 17, 263}, {25, 40, 7}, {3, 100, 300}, {97, 33, 15}};
    int nedges = (int)(sizeof edges / sizeof *edges);
    int winograd[][5] = {{8, 5, 7, 9, 3},   {17, 33, 6, 6, 13}, {12, 20, 1, 5, 2}, {9, 4, 2, 2, 1},
                         {32, 64, 24, 24, 4}, {64, 64, 13, 11, 1}, {16, 8, 3, 17, 9}, {64, 128, 12, 12, 9},
                         {256, 256, 6, 6, 2}, {10, 7, 33, 5, 1}, {16, 64, 70, 66, 2}, {64, 64, 8, 8, 16},
                         {8, 8, 3, 4095, 1}}; /* the last: the widest tile row, F(4x4)'s largest chunk */
    int nwinograd = (int)(sizeof winograd / sizeof *winograd);
    tap_plan(&t, 4 + 16 + 4 * nedges + 4 + 1 + 15 + 7 + 5 + 4 + 1 + 3 * nwinograd + 1 + 10 + 1 + 4 + 2);
    for (int b = 0; b < 2; b++)
        for (int trans = 0; trans < 2; trans++)
            check_packing(&t, b, trans);
    /* GEMM: micro-tile edges, K across the KC blocking, transposes, accumulation. */
    int shapes[][3] = {{1, 1, 1}, {12, 32, 256}, {13, 33, 257}, {7, 5, 3}, {100, 70, 300}, {31, 600, 9}, {13, 530, 260}, {5, 1000, 40}};
    for (int i = 0; i < 8; i++) {
        check_gemm(&t, shapes[i][0], shapes[i][1], shapes[i][2], i & 1, (i >> 1) & 1, 0);
        check_gemm(&t, shapes[i][1], shapes[i][0], shapes[i][2], (i >> 1) & 1, i & 1, 1);
    }
    for (int i = 0; i < nedges; i++)
        for (int tr = 0; tr < 4; tr++)
            check_gemm(&t, edges[i][0], edges[i][1], edges[i][2], tr & 1, tr >> 1, (i + tr) & 1);
    check_gemm_fallback(&t);
    check_conv_packing(&t);
    check_conv(&t, "conv 4 3 same", 3, 7, 9, 5);
    check_conv(&t, "conv 5 3 valid", 2, 8, 6, 3);
    check_conv(&t, "conv 3 4 same", 1, 9, 9, 2);
    check_conv(&t, "conv 6 5 same stride 2", 3, 11, 10, 4);
    check_conv(&t, "conv 2 3 valid stride 2", 4, 9, 9, 1);
    check_conv(&t, "conv 8 1 same", 5, 4, 4, 9);
    check_conv(&t, "conv 33 3 same", 17, 6, 6, 13);
    check_conv(&t, "conv 16 3 same", 8, 12, 12, 20);
    check_conv(&t, "conv 7 8x8 same", 1, 16, 16, 3);
    check_conv(&t, "conv 4 6x6 same", 3, 13, 13, 2);
    check_conv(&t, "conv 12 2 same stride 2", 2, 7, 7, 6);
    check_conv(&t, "conv 40 3 same", 1, 48, 48, 3);
    /* Batch 1: the threads split the output rows, each copying its rows' shifted input planes. */
    check_conv(&t, "conv 5 3 same", 3, 11, 10, 1);
    check_conv(&t, "conv 3 5 same", 2, 7, 7, 1);
    /* A kernel wider than the plane: whole shifted rows fall outside it (im2col wrote past its row). */
    check_conv(&t, "conv 2 7 same", 3, 2, 2, 1);
    /* Winograd: odd sizes, one tile row or column, batch 1 (rows split between threads), chunks
     * of several samples and (70x66) of a sample's rows, and the shipped nets' shapes. */
    for (int m = 2; m <= 6; m += 2)
        for (int i = 0; i < nwinograd; i++)
            check_winograd(&t, m, winograd[i][0], winograd[i][1], winograd[i][2], winograd[i][3], winograd[i][4]);
    check_winograd_cache(&t);
    struct { int c, h, w, n; const char *padding; } planes[] = {
        {1, 1, 1, 1, "same"},     {3, 5, 7, 2, "valid"},   {4, 9, 17, 3, "same"},     {5, 13, 16, 1, "same"},
        {2, 7, 129, 1, "same"},   {7, 3, 40, 9, "valid"},  {33, 24, 24, 10, "same"},  {2, 400, 129, 2, "same"},
        {16, 96, 129, 12, "same"}, {32, 48, 48, 64, "same"}};
    for (size_t i = 0; i < sizeof planes / sizeof *planes; i++)
        check_plane(&t, planes[i].c, planes[i].h, planes[i].w, planes[i].n, planes[i].padding);
    check_plane_inference(&t);
    /* Pooling; then 2x2 max pooling 16 outputs at a time: rows of 6, 16, 17 and 24, odd input
     * rows, and inputs of 3 or 2 values, whose ties every path must break alike. */
    struct { const char *line; int c, h, w, n, levels; } pools[] = {
        {"maxpool 2", 3, 8, 8, 5, 0},          {"maxpool 2", 2, 7, 9, 3, 0},  {"maxpool 3 stride 2", 2, 9, 7, 3, 0},
        {"avgpool 2", 3, 7, 7, 4, 0},          {"avgpool 3 stride 1", 2, 6, 5, 2, 0},
        {"maxpool 3 stride 1", 1, 5, 5, 2, 0}, {"gap", 4, 5, 3, 3, 0},        {"maxpool 2", 3, 12, 12, 4, 0},
        {"maxpool 2", 2, 32, 35, 2, 0},        {"maxpool 2", 2, 9, 34, 3, 0}, {"maxpool 2", 2, 48, 48, 2, 3},
        {"maxpool 2", 4, 12, 13, 3, 2}};
    for (size_t i = 0; i < sizeof pools / sizeof *pools; i++)
        check_pool(&t, pools[i].line, pools[i].c, pools[i].h, pools[i].w, pools[i].n, pools[i].levels);
    check_tiny_conv(&t);
    check_tiny_layers(&t);
    check_fused_inference(&t);
    check_gamma(&t, 0.4);
    check_gamma(&t, 2.5);
    check_mixup(&t);
    check_mix_style(&t);
    return tap_done(&t);
}
