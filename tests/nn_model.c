/* nn_model.c — networks end to end: architecture errors, a tiny synthetic task learned to 100%,
 * bit-identical training at 1 and 2 threads and across a checkpoint, model files saved and
 * loaded bit-exactly, and truncated or corrupt model files rejected. */
#define _GNU_SOURCE /* memmem */
#include "nn.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static const char tiny_arch[] = "# tiny\ninput 1 8 8\nconv 6 3 same\nbn\nrelu\nmaxpool 2\nconv 8 3 same stride 2\n"
                                "leakyrelu 0.05\ndense 16\nrelu\ndropout 0.2\nsoftmax 3\n";

/* Class 0: a bright top half, 1: a bright left half, 2: a bright centre; all with noise. */
static void make_set(vx_imageset *d, int n, uint64_t seed)
{
    vx_record r;
    vx_error err;
    uint32_t dim[3] = {1, 8, 8};
    vx_record_init(&r);
    vx_record_shape(&r, VX_U8, 3, dim, &err);
    vx_record_set_key(&r, "synthetic", &err);
    vx_imageset_init(d);
    for (int i = 0; i < n; i++) {
        uint8_t *p = r.data;
        r.label = i % 3;
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 8; x++) {
                int on = r.label == 0 ? y < 4 : r.label == 1 ? x < 4 : (x >= 2 && x < 6 && y >= 2 && y < 6);
                p[y * 8 + x] = (uint8_t)((on ? 150 : 40) + nn_splitmix64(&seed) % 80);
            }
        vx_imageset_add(d, &r, &err);
    }
    vx_record_free(&r);
}

/* Trains a fresh tiny net for `epochs` on d; the caller frees the net. */
static vx_net *train_tiny(const vx_imageset *d, int epochs, int threads, double *acc)
{
    vx_error err;
    vx_set_threads(threads);
    vx_net *net = vx_net_create(tiny_arch, 11, &err);
    vx_train_opts o;
    vx_train_defaults(&o);
    o.epochs = epochs;
    o.batch = 16;
    o.lr = 0.01;
    o.label_smoothing = 0.05;
    vx_trainer *t = net ? vx_trainer_create(net, &o, &err) : NULL;
    for (int e = 1; t && e <= epochs; e++)
        if (vx_train_epoch(t, d, e, NULL, NULL, NULL, &err) < 0)
            break;
    vx_eval ev;
    *acc = net && vx_net_evaluate(net, d, &ev, &err) == 0 ? ev.acc : 0;
    vx_trainer_free(t);
    vx_set_threads(2);
    return net;
}

static int same_params(const vx_net *a, const vx_net *b)
{
    return a && b && a->nparams == b->nparams && memcmp(a->params, b->params, a->nparams * sizeof(float)) == 0;
}

static char tmpdir[256];

static const char *temp_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *p = malloc(*len);
    if (p && fread(p, 1, *len, f) != *len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void write_all(const char *path, const unsigned char *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, len, f);
    fclose(f);
}

/* The file's FNV-1a checksum, recomputed after a deliberate edit so only the edit is seen. */
static void reseal(unsigned char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    for (int i = 0; i < 8; i++)
        p[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* Loading a damaged copy must fail with a message containing `want`. */
static void expect_reject(tap *t, const unsigned char *p, size_t len, const char *want, const char *what)
{
    const char *path = temp_path("bad.vxm");
    write_all(path, p, len);
    vx_error err = {""};
    vx_net *net = vx_net_load(path, &err);
    tap_ok(t, !net && strstr(err.msg, want), "%s rejected: %s", what, err.msg);
    vx_net_free(net);
}

static float max_gap(const float *a, const float *b, int n)
{
    float gap = 0;
    for (int i = 0; i < n; i++)
        gap = fabsf(a[i] - b[i]) > gap ? fabsf(a[i] - b[i]) : gap;
    return gap;
}

/* Test-time views of two 8x8 images x against predictions of views made here by hand. */
static void check_views(tap *t, vx_net *net, const float x[2 * 64])
{
    vx_error err;
    float plain[6], got[6], want[6] = {0}, p[6], mirror[2 * 64], moved[4][2 * 64];
    vx_net_predict(net, x, 2, plain, &err);
    vx_views none = {0, 0}, flip = {1, 0}, shift1 = {0, 1}, both = {1, 2};
    vx_net_predict_views(net, x, 2, &none, got, &err);
    tap_ok(t, memcmp(got, plain, sizeof got) == 0, "views: no views is a plain prediction");

    for (int i = 0; i < 2 * 8; i++)
        for (int c = 0; c < 8; c++)
            mirror[i * 8 + c] = x[i * 8 + 7 - c];
    vx_net_predict(net, mirror, 2, p, &err);
    for (int k = 0; k < 6; k++)
        want[k] = (plain[k] + p[k]) / 2;
    vx_net_predict_views(net, x, 2, &flip, got, &err);
    tap_ok(t, max_gap(got, want, 6) < 1e-6f, "views: --flip averages with the mirror image");

    /* Moved one pixel down, up, right, left; the row or column uncovered repeats the border. */
    for (int i = 0; i < 2; i++)
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++) {
                const float *img = x + i * 64;
                moved[0][i * 64 + r * 8 + c] = img[(r ? r - 1 : 0) * 8 + c];
                moved[1][i * 64 + r * 8 + c] = img[(r < 7 ? r + 1 : 7) * 8 + c];
                moved[2][i * 64 + r * 8 + c] = img[r * 8 + (c ? c - 1 : 0)];
                moved[3][i * 64 + r * 8 + c] = img[r * 8 + (c < 7 ? c + 1 : 7)];
            }
    memcpy(want, plain, sizeof want);
    for (int v = 0; v < 4; v++) {
        vx_net_predict(net, moved[v], 2, p, &err);
        for (int k = 0; k < 6; k++)
            want[k] += p[k];
    }
    for (int k = 0; k < 6; k++)
        want[k] /= 5;
    vx_net_predict_views(net, x, 2, &shift1, got, &err);
    tap_ok(t, max_gap(got, want, 6) < 1e-6f, "views: --shift 1 averages the image moved each way");

    /* Ten views closed under mirroring: the mirror image gets the same average. */
    vx_net_predict_views(net, x, 2, &both, got, &err);
    vx_net_predict_views(net, mirror, 2, &both, want, &err);
    float sum = 0;
    for (int k = 0; k < 3; k++)
        sum += got[k];
    tap_ok(t, max_gap(got, want, 6) < 1e-6f && fabsf(sum - 1) < 1e-5f && max_gap(got, plain, 6) > 0,
           "views: flip and shift 2 give the mirror image the same probabilities");
}

/* Views as text: the forms accepted, their canonical spelling, and the mistakes refused. */
static void check_views_text(tap *t)
{
    static const char *const good[][2] = {{"none", "none"}, {"flip", "flip"}, {"shift=2", "shift=2"},
                                          {"shift=3,flip", "flip,shift=3"}, {"flip,shift=64", "flip,shift=64"}};
    static const char *const bad[] = {"", "flip,", "flip,flip", "shift=0", "shift=65", "shift=2x", "shift=", "mirror"};
    vx_error err;
    vx_views v;
    char text[32];
    int ok = 1;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        ok &= vx_views_parse(good[i][0], &v, &err) == 0;
        vx_views_format(&v, text, sizeof text);
        ok &= strcmp(text, good[i][1]) == 0;
    }
    tap_ok(t, ok, "views: text forms parsed and written back canonically");
    ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ok &= vx_views_parse(bad[i], &v, &err) < 0 && strstr(err.msg, "is not flip or shift=N");
    tap_ok(t, ok, "views: malformed texts refused");
}

/* A model's views= metadata is checked when set, which is also how a file's metadata is loaded. */
static void check_views_meta(tap *t, vx_net *net)
{
    vx_error err;
    int set = vx_net_set_meta(net, "views", "flip,shift=2", &err) == 0 &&
              strcmp(vx_net_get_meta(net, "views"), "flip,shift=2") == 0;
    int refused = vx_net_set_meta(net, "views", "mirror", &err) < 0 && strstr(err.msg, "'mirror' is not flip") &&
                  strcmp(vx_net_get_meta(net, "views"), "flip,shift=2") == 0;
    tap_ok(t, set && refused, "views metadata: a valid form is kept, a bad one refused (%s)", err.msg);
}

int main(void)
{
    tap t;
    tap_plan(&t, 28);
    snprintf(tmpdir, sizeof tmpdir, "%s/nn_model.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        tap_skip_all("cannot create a temporary directory");

    /* Architecture errors name the line. */
    vx_error err = {""};
    vx_net *bad = vx_net_create("input 1 8 8\nconv 4 3 same\nfoo 3\nsoftmax 2\n", 1, &err);
    tap_ok(&t, !bad && strstr(err.msg, "line 3"), "unknown layer: %s", err.msg);
    bad = vx_net_create("input 1 4 4\nmaxpool 8\nsoftmax 2\n", 1, &err);
    tap_ok(&t, !bad && strstr(err.msg, "does not fit"), "layer too large for its input: %s", err.msg);
    bad = vx_net_create("input 1 4 4\nconv 4 3 same\n", 1, &err);
    tap_ok(&t, !bad && strstr(err.msg, "softmax"), "no softmax: %s", err.msg);

    /* A tiny synthetic task, learned. */
    vx_imageset d;
    make_set(&d, 96, 5);
    double acc1, acc2;
    vx_net *one = train_tiny(&d, 15, 1, &acc1);
    tap_ok(&t, acc1 == 1.0, "synthetic task learned: accuracy %.3f", acc1);
    vx_net *two = train_tiny(&d, 15, 2, &acc2);
    tap_ok(&t, same_params(one, two), "1 and 2 threads give bit-identical weights");

    /* Four epochs straight vs two, a checkpoint, a new process's worth of state, two more. */
    vx_set_threads(2);
    vx_train_opts o;
    vx_train_defaults(&o);
    o.epochs = 4;
    o.batch = 16;
    o.lr = 0.01;
    vx_net *straight = vx_net_create(tiny_arch, 3, &err), *split = vx_net_create(tiny_arch, 3, &err);
    vx_trainer *ts = vx_trainer_create(straight, &o, &err), *tp = vx_trainer_create(split, &o, &err);
    for (int e = 1; e <= 4; e++)
        vx_train_epoch(ts, &d, e, NULL, NULL, NULL, &err);
    for (int e = 1; e <= 2; e++)
        vx_train_epoch(tp, &d, e, NULL, NULL, NULL, &err);
    int saved = vx_trainer_save(tp, temp_path("ckpt"), 2, &err);
    vx_trainer_free(tp);
    vx_net_free(split);
    split = vx_net_create(tiny_arch, 99, &err); /* another seed: everything must come from the file */
    tp = vx_trainer_create(split, &o, &err);
    int done = 0, resumed = vx_trainer_resume(tp, temp_path("ckpt"), &done, &err);
    tap_ok(&t, saved == 0 && resumed == 0 && done == 2, "checkpoint saved and resumed after epoch %d", done);
    for (int e = done + 1; e <= 4; e++)
        vx_train_epoch(tp, &d, e, NULL, NULL, NULL, &err);
    tap_ok(&t, same_params(straight, split), "training resumed from a checkpoint is bit-identical");
    {   /* Resuming into a net that has already run inference renews its Winograd kernels. */
        static const char wide[] = "input 16 16 16\nconv 16 3 same\nrelu\ngap\nsoftmax 3\n";
        vx_net *a = vx_net_create(wide, 1, &err), *b = vx_net_create(wide, 2, &err);
        vx_trainer *ta = vx_trainer_create(a, &o, &err), *tb = vx_trainer_create(b, &o, &err);
        static float x[16 * 16 * 16];
        for (size_t i = 0; i < sizeof x / sizeof *x; i++)
            x[i] = (float)((i * 7919) % 97) / 97.0f;
        float pa[3], pb[3], pr[3];
        int ok = vx_trainer_save(tb, temp_path("wide-ckpt"), 1, &err) == 0 && vx_net_predict(b, x, 1, pb, &err) == 0 &&
                 vx_net_predict(a, x, 1, pa, &err) == 0 && vx_trainer_resume(ta, temp_path("wide-ckpt"), &done, &err) == 0 &&
                 vx_net_predict(a, x, 1, pr, &err) == 0;
        tap_ok(&t, ok && memcmp(pa, pb, sizeof pa) && !memcmp(pr, pb, sizeof pr),
               "resumed after inference: the checkpoint's probabilities (%.6f; %.6f before, %.6f wanted)", pr[0], pa[0],
               pb[0]);
        vx_trainer_free(ta);
        vx_trainer_free(tb);
        vx_net_free(a);
        vx_net_free(b);
    }
    vx_net *plain = vx_net_create("input 1 8 8\nconv 2 3 same\nsoftmax 3\n", 1, &err);
    vx_trainer *tw = vx_trainer_create(plain, &o, &err);
    int r2 = vx_trainer_resume(tw, temp_path("ckpt"), &done, &err);
    tap_ok(&t, r2 < 0 && strstr(err.msg, "different architecture"), "checkpoint of another net refused: %s", err.msg);
    vx_trainer_free(tw);
    vx_net_free(plain);
    vx_trainer_free(ts);
    vx_trainer_free(tp);
    vx_net_free(straight);
    vx_net_free(split);

    /* Save and load: bit-exact parameters, metadata, identical predictions. */
    vx_net_set_meta(one, "classes", "top,left,centre", &err);
    vx_net_set_meta(one, "input_mean", "0.25", &err);
    vx_net_set_meta(one, "views", "shift=3", &err);
    const char *path = temp_path("tiny.vxm");
    int rc = vx_net_save(one, path, &err);
    vx_net *back = vx_net_load(path, &err);
    tap_ok(&t, rc == 0 && back && same_params(one, back), "save/load round trip is bit-exact");
    const char *cls = back ? vx_net_get_meta(back, "classes") : NULL;
    tap_ok(&t, cls && strcmp(cls, "top,left,centre") == 0 && back->in_mean == 0.25f &&
                   strcmp(vx_net_get_meta(back, "arch"), tiny_arch) == 0,
           "metadata and architecture kept");
    float x[2 * 64], p1[6], p2[6];
    uint64_t s = 1;
    for (int i = 0; i < 128; i++)
        x[i] = nn_uniform(&s);
    vx_net_predict(one, x, 2, p1, &err);
    if (back)
        vx_net_predict(back, x, 2, p2, &err);
    tap_ok(&t, back && memcmp(p1, p2, sizeof p1) == 0, "loaded model predicts identically");
    check_views(&t, one, x);
    check_views_text(&t);
    if (back)
        check_views_meta(&t, back);
    else
        tap_ok(&t, 0, "views metadata: no model loaded back");
    vx_net_free(back);

    /* Damaged files. */
    size_t len = 0;
    unsigned char *good = read_all(path, &len), *copy = malloc(len + 1);
    if (!good || len < 100)
        return tap_diag("cannot read back %s", path), tap_done(&t) | 1;
    expect_reject(&t, good, 5, "bad magic", "5-byte file");
    expect_reject(&t, good, 30, "truncated", "header cut short");
    expect_reject(&t, good, len / 2, "truncated", "file cut in half");
    expect_reject(&t, good, len - 1, "truncated", "last byte missing");
    memcpy(copy, good, len);
    copy[len / 2] ^= 0x40;
    expect_reject(&t, copy, len, "checksum", "flipped bit");
    memcpy(copy, good, len);
    copy[1] = 'W';
    expect_reject(&t, copy, len, "magic", "wrong magic");
    memcpy(copy, good, len);
    copy[8] = 9;
    expect_reject(&t, copy, len, "version", "unknown version");
    /* A tensor dimension edited (checksum recomputed): the directory no longer fits the data. */
    memcpy(copy, good, len);
    unsigned char *name = memmem(copy, len, "L1.weight", 9);
    if (name) {
        /* the entry is: u32 namelen, u32 rank, u32 dims[4], u64 offset, u64 count, name */
        name[-8 - 8 - 16] = 7;
        reseal(copy, len);
    }
    expect_reject(&t, copy, len, "inconsistent", "edited dimension");
    /* The views metadata edited to a form vx-infer cannot run (checksum recomputed). */
    memcpy(copy, good, len);
    unsigned char *views = memmem(copy, len, "shift=3", 7);
    if (views) {
        views[6] = '0';
        reseal(copy, len);
    }
    expect_reject(&t, copy, len, "bad.vxm: views 'shift=0'", "views=shift=0");
    free(good);
    free(copy);

    vx_net_free(one);
    vx_net_free(two);
    vx_imageset_free(&d);
    unlink(temp_path("ckpt"));
    unlink(temp_path("tiny.vxm"));
    unlink(temp_path("bad.vxm"));
    rmdir(tmpdir);
    return tap_done(&t);
}
