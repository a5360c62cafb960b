/* nn_hostile.c — model files and architectures as an attacker would write them: offsets and
 * sizes outside the file (a data offset of 0 read header bytes as weights), metadata that
 * formats/model.md forbids (empty input_mean, classes= of the wrong length, repeated keys and
 * tensor names), non-finite weights and degenerate normalisation, architectures asking for tens
 * of gigabytes (refused from the figures before anything is allocated), and training input that
 * overflows. Each file is written from scratch by the small writer below, size and checksum
 * fixed up, so that only the defect under test is seen. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char arch[] = "input 1 4 4\nconv 2 3 same\nbn\nrelu\nsoftmax 2\n";

/* What goes into one file: metadata after arch, and the tensors of a real net of `arch`, with
 * changes. */
typedef struct spec {
    const char *meta[16][2];
    int nmeta;
    int first_not_arch;     /* the first entry is not the architecture */
    const char *arch_text;  /* instead of arch */
    int dup_tensor;         /* tensor 1 gets tensor 0's name */
    int nan_at;             /* parameter index made NaN (+1; 0 none) */
    int negative_var;       /* running_var made -1 */
    int64_t data_at;        /* instead of the real data offset (-1: keep) */
    uint64_t tensor_offset; /* instead of tensor 0's data offset (0: keep) */
} spec;

typedef struct buf {
    unsigned char p[1 << 16];
    size_t len;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put32(buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, c, 4);
}
static void put64(buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}
static void set64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_meta(buf *b, const char *k, const char *v)
{
    put32(b, (uint32_t)strlen(k));
    put32(b, (uint32_t)strlen(v));
    put(b, k, strlen(k));
    put(b, v, strlen(v));
}

/* The whole file for s into b: header, metadata, directory, data, size and checksum. */
static void build(const spec *s, buf *b)
{
    vx_error err;
    vx_net *net = vx_net_create(arch, 7, &err);
    if (s->nan_at)
        net->params[s->nan_at - 1] = NAN;
    if (s->negative_var)
        net->layer[2].run_var[0] = -1;
    static const unsigned char magic[8] = {0x89, 'V', 'X', 'M', '\r', '\n', 0x1a, '\n'};
    b->len = 0;
    put(b, magic, 8);
    put32(b, 1);
    put32(b, (uint32_t)s->nmeta + 1);
    put32(b, (uint32_t)net->ntensors);
    put32(b, 0);
    put64(b, 0);
    put64(b, 0);
    const char *a = s->arch_text ? s->arch_text : arch;
    if (s->first_not_arch && s->nmeta) {
        put_meta(b, s->meta[0][0], s->meta[0][1]);
        put_meta(b, "arch", a);
    } else {
        put_meta(b, "arch", a);
        if (s->nmeta)
            put_meta(b, s->meta[0][0], s->meta[0][1]);
    }
    for (int i = 1; i < s->nmeta; i++)
        put_meta(b, s->meta[i][0], s->meta[i][1]);
    uint64_t off = 0;
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[(s->dup_tensor && i == 1) ? 0 : i];
        const nn_tensor *shape = &net->tensor[i];
        put32(b, (uint32_t)strlen(t->name));
        put32(b, (uint32_t)shape->rank);
        for (int d = 0; d < shape->rank; d++)
            put32(b, shape->dim[d]);
        put64(b, i == 0 && s->tensor_offset ? s->tensor_offset : off);
        put64(b, shape->count);
        put(b, t->name, strlen(t->name));
        off += (shape->count * 4 + 63) / 64 * 64;
    }
    size_t data_at = (b->len + 63) / 64 * 64;
    memset(b->p + b->len, 0, data_at - b->len);
    b->len = data_at;
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        size_t n = (t->count * 4 + 63) / 64 * 64;
        memset(b->p + b->len, 0, n);
        memcpy(b->p + b->len, net->params + t->offset, t->count * 4); /* little-endian hosts */
        b->len += n;
    }
    put64(b, 0);
    set64(b->p + 24, s->data_at >= 0 ? (uint64_t)s->data_at : data_at);
    set64(b->p + 32, b->len);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i + 8 < b->len; i++)
        h = (h ^ b->p[i]) * 0x100000001b3ull;
    set64(b->p + b->len - 8, h);
    vx_net_free(net);
}

static char path[256];

/* Loads the file s describes: the net, or NULL with the message in err. */
static vx_net *load(const spec *s, vx_error *err)
{
    static buf b;
    build(s, &b);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.len, f);
    fclose(f);
    err->msg[0] = '\0';
    return vx_net_load(path, err);
}

static void expect(tap *t, const spec *s, const char *want, const char *what)
{
    vx_error err;
    vx_net *net = load(s, &err);
    if (want)
        tap_ok(t, !net && strstr(err.msg, want) && strstr(err.msg, path), "%s: refused (%s)", what, err.msg);
    else
        tap_ok(t, net != NULL, "%s: loads%s%s", what, net ? "" : ": ", net ? "" : err.msg);
    vx_net_free(net);
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(void)
{
    tap t;
    tap_plan(&t, 40);
    snprintf(path, sizeof path, "%s/vx-hostile-%ld.vxm", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());

    spec ok = {.data_at = -1};
    expect(&t, &ok, NULL, "the writer's own file");
    spec q = ok;
    q.nmeta = 2;
    q.meta[0][0] = "classes", q.meta[0][1] = "Q1,Q2";
    q.meta[1][0] = "input_norm", q.meta[1][1] = "bands";
    q.nmeta = 4;
    q.meta[2][0] = "input_band_mean", q.meta[2][1] = "0,0.5,1,-2";
    q.meta[3][0] = "input_band_std", q.meta[3][1] = "1,2,3,4";
    expect(&t, &q, NULL, "classes=Q1,Q2 on 2 outputs, input_norm=bands with 4 band statistics");

    /* Defect 1: offsets and sizes against the file's bounds. */
    spec s = ok;
    s.data_at = 0;
    expect(&t, &s, "inconsistent model header (data offset 0", "data offset 0");
    s.data_at = 1 << 20;
    expect(&t, &s, "inconsistent", "data offset past the end");
    s = ok;
    s.tensor_offset = (uint64_t)1 << 63;
    expect(&t, &s, "inconsistent", "tensor offset 2^63");
    s.tensor_offset = 64 * 1000;
    expect(&t, &s, "inconsistent", "tensor offset past the data");
    s = ok;
    s.nmeta = 1;
    s.meta[0][0] = "train_data", s.meta[0][1] = "x";
    s.first_not_arch = 1;
    expect(&t, &s, "not the architecture", "first metadata entry not arch");

    /* Item 4: every metadata value and tensor validated. */
    static const struct {
        const char *key, *value, *want, *what;
    } bad[] = {
        {"input_mean", "", "input_mean", "empty input_mean"},
        {"input_mean", "0.5x", "input_mean", "input_mean 0.5x"},
        {"input_std", "", "input_std", "empty input_std"},
        {"input_std", "1e-45", "input_std", "input_std 1e-45 (degenerate)"},
        {"input_std", "nan", "input_std", "input_std nan"},
        {"classes", "a,b,c", "3 names for 2 outputs", "classes= with 3 names for 2 outputs"},
        {"classes", "", "0 names for 2 outputs", "empty classes="},
        {"classes", "a,", "empty", "classes= with an empty name"},
        {"classes", "a,a", "twice", "classes= naming a class twice"},
        {"input_norm", "bands", "input_band_mean", "input_norm=bands without band statistics"},
        {"input_band_std", "1,1,0,1", "input_band_std", "a band deviation of 0"},
        {"views", "shift=0", "views", "views=shift=0"},
        {"seed", "-1", "seed", "seed=-1"},
        {"epochs", "", "epochs", "empty epochs="},
        {"train_acc", "1.5", "train_acc", "train_acc=1.5"},
        {"augment", "everything", "augment", "augment=everything"},
        {"spectro_hop", "nan", "spectro_hop", "spectro_hop=nan"},
        {"spectro_hop", "0", "positive", "spectro_hop=0 (only a band edge may be 0)"},
        {"spectro_fmax", "-5", "non-negative", "spectro_fmax=-5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = ok;
        s.nmeta = 1;
        s.meta[0][0] = bad[i].key, s.meta[0][1] = bad[i].value;
        expect(&t, &s, bad[i].want, bad[i].what);
    }
    s = ok;
    s.nmeta = 2;
    s.meta[0][0] = s.meta[1][0] = "input_mean";
    s.meta[0][1] = "0.5", s.meta[1][1] = "0.25";
    expect(&t, &s, "appears twice", "input_mean given twice");
    s = ok;
    s.dup_tensor = 1;
    expect(&t, &s, "tensor L1.weight appears twice", "two tensors named L1.weight");

    /* Defect 3: non-finite weights, impossible statistics. */
    s = ok;
    s.nan_at = 3;
    expect(&t, &s, "not finite", "a NaN weight");
    s = ok;
    s.negative_var = 1;
    expect(&t, &s, "variance", "a negative running variance");
    vx_error err;
    vx_net *net = vx_net_create(arch, 1, &err);
    net->params[0] = INFINITY;
    tap_ok(&t, vx_net_save(net, path, &err) < 0 && strstr(err.msg, "non-finite"), "saving an infinite weight refused: %s",
           err.msg);
    vx_net_free(net);

    /* Training input that overflows once normalised is refused, not learnt into NaN weights. */
    net = vx_net_create(arch, 1, &err);
    vx_imageset d;
    vx_imageset_init(&d);
    vx_record r;
    vx_record_init(&r);
    uint32_t dim[3] = {1, 4, 4};
    vx_record_shape(&r, VX_F32, 3, dim, &err);
    vx_record_set_key(&r, "huge", &err);
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 16; k++)
            ((float *)r.data)[k] = 3e38f;
        r.label = i % 2;
        vx_imageset_add(&d, &r, &err);
    }
    tap_ok(&t, vx_net_fit_input(net, &d, NULL, &err) < 0 && strstr(err.msg, "overflow"),
           "normalisation of 3e38 input refused: %s", err.msg);
    vx_train_opts o;
    vx_train_defaults(&o);
    o.epochs = 1, o.batch = 4, o.augment = VX_AUGMENT_NONE;
    vx_trainer *tr = vx_trainer_create(net, &o, &err);
    int rc = tr ? vx_train_epoch(tr, &d, 1, NULL, NULL, NULL, &err) : -1;
    tap_ok(&t, rc < 0 && strstr(err.msg, "3e+38"), "training on 3e38 input with the default normalisation refused: %s",
           err.msg);
    vx_trainer_free(tr);
    vx_net_free(net);
    vx_imageset_free(&d);
    vx_record_free(&r);

    /* Defect 2: memory from the architecture and the batch, before allocating. */
    long before = peak_kb();
    net = vx_net_create("input 1 48 48\ndense 1000000\nsoftmax 7\n", 1, &err);
    tap_ok(&t, !net && strstr(err.msg, "MiB") && strstr(err.msg, "4096 MiB"), "dense 1000000 refused: %s", err.msg);
    rc = vx_net_check_arch("input 1 48 48\nconv 4096 3 same\nconv 4096 3 same\nsoftmax 7\n", 64, 1, &err);
    tap_ok(&t, rc < 0 && strstr(err.msg, "MiB"), "two conv 4096 layers refused for training: %s", err.msg);
    tap_ok(&t, peak_kb() - before < 100000, "peak RSS grew %ld kB refusing them", peak_kb() - before);
    net = vx_net_create("input 4096 4096 4096\nsoftmax 2\n", 1, &err);
    tap_ok(&t, !net && strstr(err.msg, "values per sample"), "input 4096 4096 4096 refused: %s", err.msg);
    s = ok;
    s.arch_text = "input 1 4 4\nconv 2 3 same\nbn\nrelu\ndense 1000000\nsoftmax 2\n";
    expect(&t, &s, "for the architecture", "a small model whose text says dense 1000000");
    vx_net_set_memory_limit((size_t)1 << 20);
    net = vx_net_create("input 1 48 48\ndense 200\nsoftmax 7\n", 1, &err);
    tap_ok(&t, !net && strstr(err.msg, "above the memory limit of 1 MiB"), "a 3.5 MiB net under a 1 MiB limit: %s",
           err.msg);
    vx_net_set_memory_limit((size_t)8 << 20);
    net = vx_net_create("input 1 48 48\ndense 200\nsoftmax 7\n", 1, &err);
    tap_ok(&t, net != NULL, "the same net under an 8 MiB limit");
    vx_net_free(net);
    vx_net_set_memory_limit(VX_NET_MEMORY_DEFAULT);

    unlink(path);
    return t.failed ? 1 : 0;
}
