/* bench/layers.c — `make bench-layers`: where a training step's time goes, layer by layer, for
 * architecture texts, against the machine's peak as the engine's own GEMM reaches it on large
 * square matrices in the same run (and OpenBLAS's sgemm beside it, when libopenblas is there).
 * Usage: bench-layers [-b BATCH] [-r REPS] [-j THREADS] ARCH...   (a benchmark, not a test) */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill(float *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = nn_uniform(&seed) * 2 - 1;
}

/* GFLOP/s of C = A B on N x N matrices, the best of reps. */
typedef void sgemm_fn(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c, int ldc);
static double gemm_peak(int N, int reps, sgemm_fn *blas)
{
    size_t nn = (size_t)N * N;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    fill(a, nn, 1);
    fill(b, nn, 2);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) { /* the first run warms up */
        double t0 = now();
        if (blas)
            blas(101, 111, 111, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N); /* row-major, no transposes */
        else
            nn_gemm(0, 0, N, N, N, a, (size_t)N, b, (size_t)N, 0, c, (size_t)N);
        double t = now() - t0;
        if (r > 0 && t < best)
            best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * N * (double)N * N / best / 1e9;
}

/* Multiply-adds of layer i for n samples, forward; backward is twice that (input and weight
 * gradients), or once where no layer below learns and there is no input gradient. Other layers
 * move memory and are given no FLOPs. */
static double layer_flops(const nn_layer *l, int n)
{
    if (l->kind == NN_CONV)
        return 2.0 * l->c * l->h * l->w * (double)l->in_c * l->k * l->k * n;
    if (l->kind == NN_DENSE)
        return 2.0 * l->c * (double)l->in_c * l->in_h * l->in_w * n;
    return 0;
}

static const char *kind_name(enum nn_kind k)
{
    static const char *names[] = {"input", "conv", "maxpool", "avgpool", "gap", "dense",
                                  "relu", "leakyrelu", "dropout", "bn", "softmax"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

static int bench_arch(const char *path, int batch, int reps, double peak)
{
    char *arch;
    size_t len;
    vx_error err;
    if (vx_read_file(path, (size_t)1 << 20, "architecture", &arch, &len, &err) < 0) {
        fprintf(stderr, "bench-layers: %s\n", err.msg);
        return -1;
    }
    vx_net *net = vx_net_create(arch, 1, &err);
    free(arch);
    if (!net || nn_net_reserve(net, batch, 1, &err) < 0) {
        fprintf(stderr, "bench-layers: %s: %s\n", path, err.msg);
        vx_net_free(net);
        return -1;
    }
    const nn_layer *in = &net->layer[0];
    size_t per = (size_t)in->c * in->h * in->w;
    float *x = malloc(per * sizeof *x);
    if (!x) {
        vx_net_free(net);
        return -1;
    }
    for (int i = 0; i < batch; i++) {
        fill(x, per, 100 + (uint64_t)i);
        nn_net_set_input(net, batch, i, x);
    }
    free(x);
    nn_net_forward(net, batch, 1, 7);
    /* Backward's gradients are random: only their cost matters here. */
    for (int i = 1; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        if (l->dout)
            fill(l->dout, (size_t)l->c * batch * l->h * l->w, 200 + (uint64_t)i);
    }
    printf("\n%s, batch %d, best of %d\n", path, batch, reps);
    printf("%-3s %-9s %-14s %9s %9s %8s %8s %7s %7s\n", "#", "layer", "output", "fwd ms", "bwd ms", "fwd GF/s",
           "bwd GF/s", "fwd %pk", "bwd %pk");
    double total_f = 0, total_b = 0, flops_all = 0;
    for (int i = 1; i < net->nlayers; i++) {
        const nn_layer *l = &net->layer[i];
        double best_f = 1e30, best_b = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            nn_layer_forward(net, i, batch, 1, 7);
            double t1 = now();
            nn_layer_backward(net, i, batch);
            double t2 = now();
            best_f = t1 - t0 < best_f ? t1 - t0 : best_f;
            best_b = t2 - t1 < best_b ? t2 - t1 : best_b;
        }
        double ff = layer_flops(l, batch), fb = ff * (net->layer[i - 1].dout ? 2 : 1);
        char shape[32];
        snprintf(shape, sizeof shape, "%dx%dx%d", l->c, l->h, l->w);
        printf("%-3d %-9s %-14s %9.3f %9.3f", i, kind_name(l->kind), shape, 1e3 * best_f, 1e3 * best_b);
        if (ff > 0)
            printf(" %8.1f %8.1f %6.0f%% %6.0f%%\n", ff / best_f / 1e9, fb / best_b / 1e9, 100 * ff / best_f / 1e9 / peak,
                   100 * fb / best_b / 1e9 / peak);
        else
            printf(" %8s %8s %7s %7s\n", "-", "-", "-", "-");
        total_f += best_f;
        total_b += best_b;
        flops_all += ff + fb;
    }
    printf("all layers: forward %.2f ms, backward %.2f ms, %.0f images/s, %.1f GFLOP/s (%.0f%% of peak)\n",
           1e3 * total_f, 1e3 * total_b, batch / (total_f + total_b), flops_all / (total_f + total_b) / 1e9,
           100 * flops_all / (total_f + total_b) / 1e9 / peak);
    vx_net_free(net);
    return 0;
}

int main(int argc, char **argv)
{
    int batch = 64, reps = 5, threads = 0, i = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        long v;
        vx_error err;
        if (strlen(argv[i]) != 2 || !strchr("brj", argv[i][1]) ||
            vx_parse_long(argv[i + 1], argv[i], 1, 100000, &v, &err) < 0) {
            fprintf(stderr, "usage: bench-layers [-b BATCH] [-r REPS] [-j THREADS] ARCH...\n");
            return 2;
        }
        *(argv[i][1] == 'b' ? &batch : argv[i][1] == 'r' ? &reps : &threads) = (int)v;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: bench-layers [-b BATCH] [-r REPS] [-j THREADS] ARCH...\n");
        return 2;
    }
    vx_set_threads(threads);
    double peak = gemm_peak(1536, reps, NULL);
    printf("peak: the engine's GEMM on 1536x1536 matrices: %.1f GFLOP/s", peak);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW);
    sgemm_fn *blas = lib ? (sgemm_fn *)dlsym(lib, "cblas_sgemm") : NULL;
    if (blas)
        printf("; OpenBLAS cblas_sgemm: %.1f GFLOP/s", gemm_peak(1536, reps, blas));
    else
        printf("; OpenBLAS: not installed (apt-get install libopenblas0)");
    printf("\n%% of peak is of the engine's GEMM figure; layers without FLOPs (pooling, bn, relu) show time only\n");
    int rc = 0;
    for (; i < argc; i++)
        rc |= bench_arch(argv[i], batch, reps, peak) < 0;
    if (lib)
        dlclose(lib);
    return rc;
}
