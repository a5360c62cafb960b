/* nn_file.c — the model file (formats/model.md): written in memory and renamed into place, read
 * through a bounds-checked cursor, its checksum, tensors and metadata checked, then made a network. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char model_magic[8] = {0x89, 'V', 'X', 'M', '\r', '\n', 0x1a, '\n'};
#define MODEL_VERSION 1
#define MODEL_HEAD 40
#define MODEL_MAX_BYTES ((uint64_t)1 << 31)


static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* A growing byte buffer for building the file in memory before one atomic write. */
typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
    int oom;
} bytes;

static unsigned char *bytes_grow(bytes *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    memset(at, 0, n);
    b->len += n;
    return at;
}

static void bytes_u32(bytes *b, uint32_t v)
{
    unsigned char *p = bytes_grow(b, 4);
    if (p)
        vx_put_le32(p, v);
}
static void bytes_u64(bytes *b, uint64_t v)
{
    unsigned char *p = bytes_grow(b, 8);
    if (p)
        vx_put_le64(p, v);
}
static void bytes_put(bytes *b, const void *src, size_t n)
{
    unsigned char *p = bytes_grow(b, n);
    if (p)
        memcpy(p, src, n);
}

int nn_model_write(const vx_net *net, const nn_extra *extra, int nextra, const char *path, vx_error *err)
{
    /* A file the loader would refuse is never written. */
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        for (size_t j = 0; j < t->count; j++)
            if (!isfinite(net->params[t->offset + j]))
                return vx_fail(err, "not writing %s: tensor %s holds a non-finite value", path, t->name);
    }
    int nmeta = net->nmeta + 1, ntensors = net->ntensors + nextra;
    bytes b = {0};
    bytes_put(&b, model_magic, 8);
    bytes_u32(&b, MODEL_VERSION);
    bytes_u32(&b, (uint32_t)nmeta);
    bytes_u32(&b, (uint32_t)ntensors);
    bytes_u32(&b, 0);
    bytes_u64(&b, 0); /* data offset, patched below */
    bytes_u64(&b, 0); /* file size, patched below */
    for (int i = -1; i < net->nmeta; i++) {
        const char *k = i < 0 ? "arch" : net->meta_key[i], *v = i < 0 ? net->arch : net->meta_value[i];
        bytes_u32(&b, (uint32_t)strlen(k));
        bytes_u32(&b, (uint32_t)strlen(v));
        bytes_put(&b, k, strlen(k));
        bytes_put(&b, v, strlen(v));
    }
    uint64_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const nn_tensor *t = i < net->ntensors ? &net->tensor[i] : &extra[i - net->ntensors].t;
        bytes_u32(&b, (uint32_t)strlen(t->name));
        bytes_u32(&b, (uint32_t)t->rank);
        for (int d = 0; d < t->rank; d++)
            bytes_u32(&b, t->dim[d]);
        bytes_u64(&b, offset);
        bytes_u64(&b, t->count);
        bytes_put(&b, t->name, strlen(t->name));
        offset += (t->count * 4 + 63) / 64 * 64;
    }
    size_t data_at = (b.len + 63) / 64 * 64;
    bytes_grow(&b, data_at - b.len);
    for (int i = 0; i < ntensors; i++) {
        const nn_tensor *t = i < net->ntensors ? &net->tensor[i] : &extra[i - net->ntensors].t;
        const float *src = i < net->ntensors ? net->params + t->offset : extra[i - net->ntensors].data;
        unsigned char *p = bytes_grow(&b, (t->count * 4 + 63) / 64 * 64);
        for (size_t j = 0; p && j < t->count; j++) {
            uint32_t u;
            memcpy(&u, &src[j], 4);
            vx_put_le32(p + 4 * j, u);
        }
    }
    bytes_u64(&b, 0); /* checksum */
    if (b.oom) {
        free(b.p);
        return vx_fail(err, "out of memory writing %s", path);
    }
    vx_put_le64(b.p + 24, data_at);
    vx_put_le64(b.p + 32, b.len);
    vx_put_le64(b.p + b.len - 8, fnv1a(b.p, b.len - 8));
    vx_output out;
    if (vx_output_open(&out, path, err) < 0) {
        free(b.p);
        return -1;
    }
    if (fwrite(b.p, 1, b.len, out.file) != b.len) {
        free(b.p);
        vx_output_abort(&out);
        return vx_fail(err, "error writing %s: %s", path, strerror(errno));
    }
    free(b.p);
    return vx_output_commit(&out, err);
}

int vx_net_save(const vx_net *net, const char *path, vx_error *err) { return nn_model_write(net, NULL, 0, path, err); }


/* Bounds-checked cursor over the header. */
typedef struct cursor {
    const unsigned char *p;
    size_t at, end;
    int bad;
} cursor;

static const unsigned char *take(cursor *c, size_t n)
{
    if (c->bad || c->at > c->end || n > c->end - c->at) {
        c->bad = 1;
        return NULL;
    }
    const unsigned char *p = c->p + c->at;
    c->at += n;
    return p;
}
static uint32_t take32(cursor *c)
{
    const unsigned char *p = take(c, 4);
    return p ? vx_get_le32(p) : 0;
}
static uint64_t take64(cursor *c)
{
    const unsigned char *p = take(c, 8);
    return p ? vx_get_le64(p) : 0;
}

static char *take_text(cursor *c, uint32_t len)
{
    const unsigned char *p = len <= 1 << 20 ? take(c, len) : NULL;
    char *s = p ? malloc((size_t)len + 1) : NULL;
    if (!s) {
        c->bad = 1;
        return NULL;
    }
    memcpy(s, p, len);
    s[len] = '\0';
    if (strlen(s) != len) { /* NUL inside */
        free(s);
        c->bad = 1;
        return NULL;
    }
    return s;
}

/* The tensor named name in the file, checked against the expected rank and dims; NULL if absent. */
static int file_tensor(const nn_file *file, const char *name, const nn_tensor *want, const unsigned char **data,
                       vx_error *err)
{
    for (int i = 0; i < file->ntensors; i++) {
        const nn_tensor *t = &file->tensor[i];
        if (strcmp(t->name, name) != 0)
            continue;
        int same = t->rank == want->rank && t->count == want->count;
        for (int d = 0; same && d < t->rank; d++)
            same = t->dim[d] == want->dim[d];
        if (!same)
            return vx_fail(err, "%s: tensor %s has the wrong shape for the architecture", file->path, name);
        *data = file->data + t->offset;
        return 1;
    }
    return 0;
}

void nn_file_free(nn_file *file)
{
    free(file->buf);
    free(file->tensor);
    for (int i = 0; i < file->nmeta; i++) {
        free(file->meta_key[i]);
        free(file->meta_value[i]);
    }
    free(file->meta_key);
    free(file->meta_value);
    memset(file, 0, sizeof *file);
}

int nn_file_read(nn_file *file, const char *path, vx_error *err)
{
    memset(file, 0, sizeof *file);
    size_t len;
    char *buf;
    if (vx_read_file(path, MODEL_MAX_BYTES, "model", &buf, &len, err) < 0)
        return -1;
    return nn_file_parse(file, (unsigned char *)buf, len, path, err);
}

int nn_file_parse(nn_file *file, unsigned char *buf, size_t len, const char *path, vx_error *err)
{
    memset(file, 0, sizeof *file);
    file->path = path;
    file->buf = buf;
    const unsigned char *p = file->buf;
    if (len < 8 || memcmp(p, model_magic, 8) != 0) {
        nn_file_free(file);
        return vx_fail(err, "%s: not a VibeluX model file (bad magic)", path);
    }
    if (len < MODEL_HEAD + 8) {
        nn_file_free(file);
        return vx_fail(err, "%s: truncated model file (%zu bytes)", path, len);
    }
    uint32_t version = vx_get_le32(p + 8);
    if (version != MODEL_VERSION) {
        nn_file_free(file);
        return vx_fail(err, "%s: model file version %u, this program reads %d", path, version, MODEL_VERSION);
    }
    uint64_t data_at = vx_get_le64(p + 24), size = vx_get_le64(p + 32);
    if (size != len) {
        nn_file_free(file);
        return vx_fail(err, "%s: truncated or extended model file (%zu bytes, header says %llu)", path, len,
                       (unsigned long long)size);
    }
    if (vx_get_le64(p + len - 8) != fnv1a(p, len - 8)) {
        nn_file_free(file);
        return vx_fail(err, "%s: model file is corrupt (checksum mismatch)", path);
    }
    uint32_t nmeta = vx_get_le32(p + 12), ntensors = vx_get_le32(p + 16);
    /* The directory lies between the fixed header and the data offset, the data between it and
     * the checksum: an offset of 0 (or anything inside the header) would put them on top of it. */
    if (data_at < MODEL_HEAD || data_at > len - 8 || data_at % 64 || nmeta < 1 || nmeta > 1024 ||
        ntensors > 4096 || vx_get_le32(p + 20) != 0) {
        nn_file_free(file);
        return vx_fail(err, "%s: inconsistent model header (data offset %llu, %u metadata entries, %u tensors, "
                            "%zu bytes)", path, (unsigned long long)data_at, nmeta, ntensors, len);
    }
    cursor c = {.p = p, .at = MODEL_HEAD, .end = (size_t)data_at};
    file->meta_key = calloc(nmeta + 1, sizeof(char *));
    file->meta_value = calloc(nmeta + 1, sizeof(char *));
    file->tensor = calloc(ntensors + 1, sizeof(nn_tensor));
    if (!file->meta_key || !file->meta_value || !file->tensor)
        c.bad = 1;
    for (uint32_t i = 0; i < nmeta && !c.bad; i++) {
        uint32_t kl = take32(&c), vl = take32(&c);
        file->meta_key[i] = take_text(&c, kl);
        file->meta_value[i] = take_text(&c, vl);
        file->nmeta = (int)i + 1;
    }
    size_t data_len = len - 8 - (size_t)data_at;
    for (uint32_t i = 0; i < ntensors && !c.bad; i++) {
        nn_tensor *t = &file->tensor[i];
        uint32_t nl = take32(&c);
        t->rank = (int)take32(&c);
        if (nl >= sizeof t->name || t->rank < 0 || t->rank > 4) {
            c.bad = 1;
            break;
        }
        uint64_t count = 1;
        for (int d = 0; d < t->rank; d++) {
            t->dim[d] = take32(&c);
            count *= t->dim[d] ? t->dim[d] : 0;
            if (count > data_len)
                c.bad = 1;
        }
        uint64_t off = take64(&c), n = take64(&c);
        const unsigned char *name = take(&c, nl);
        if (c.bad || n != count || off % 64 || off > data_len || n * 4 > data_len - off) {
            c.bad = 1;
            break;
        }
        if (memchr(name, '\0', nl)) {
            c.bad = 1;
            break;
        }
        memcpy(t->name, name, nl);
        t->name[nl] = '\0';
        t->offset = (size_t)off;
        t->count = (size_t)n;
        file->ntensors = (int)i + 1;
    }
    if (c.bad) {
        nn_file_free(file);
        return vx_fail(err, "%s: inconsistent model header (bad metadata or tensor directory)", path);
    }
    file->data = p + data_at;
    if (strcmp(file->meta_key[0], "arch") != 0) {
        vx_fail(err, "%s: the first metadata entry is '%s', not the architecture", path, file->meta_key[0]);
        nn_file_free(file);
        return -1;
    }
    for (int i = 0; i < file->nmeta; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(file->meta_key[i], file->meta_key[j]) == 0) {
                vx_fail(err, "%s: metadata '%s' appears twice", path, file->meta_key[i]);
                nn_file_free(file);
                return -1;
            }
    for (int i = 0; i < file->ntensors; i++) {
        if (!file->tensor[i].name[0]) {
            nn_file_free(file);
            return vx_fail(err, "%s: tensor %d has no name", path, i);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(file->tensor[i].name, file->tensor[j].name) == 0) {
                vx_fail(err, "%s: tensor %s appears twice", path, file->tensor[i].name);
                nn_file_free(file);
                return -1;
            }
    }
    return 0;
}

const char *nn_file_meta(const nn_file *file, const char *name)
{
    for (int i = 0; i < file->nmeta; i++)
        if (strcmp(file->meta_key[i], name) == 0)
            return file->meta_value[i];
    return NULL;
}

/* Copies a tensor's little-endian floats. */
static void copy_floats(float *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = vx_get_le32(src + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
}

int nn_file_tensor(const nn_file *file, const char *name, const nn_tensor *want, float *dst, vx_error *err)
{
    const unsigned char *data = NULL;
    int got = file_tensor(file, name, want, &data, err);
    if (got == 1)
        copy_floats(dst, data, want->count);
    return got;
}

/* Refuses parameters that would make every output NaN: non-finite values, negative variances. */
static int check_params(const vx_net *net, const char *path, vx_error *err)
{
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        const float *p = net->params + t->offset;
        int var = strstr(t->name, ".running_var") != NULL;
        for (size_t j = 0; j < t->count; j++)
            if (!isfinite(p[j]) || (var && p[j] < 0))
                return vx_fail(err, "%s: tensor %s: element %zu is %g%s", path, t->name, j, p[j],
                               var ? " (a variance must be finite and not negative)" : ", not finite");
    }
    return 0;
}

vx_net *nn_net_from_file(const nn_file *file, vx_error *err)
{
    const char *arch = nn_file_meta(file, "arch");
    if (!arch) {
        vx_fail(err, "%s: model file has no architecture", file->path);
        return NULL;
    }
    vx_error sub;
    vx_net *net = nn_net_parse(arch, &sub);
    if (!net) {
        vx_fail(err, "%s: %s", file->path, sub.msg);
        return NULL;
    }
    /* The file's tensors against the architecture first: a text asking for gigabytes of weights
     * the file does not hold is refused before any of it is allocated. */
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        const unsigned char *data;
        int got = file_tensor(file, t->name, t, &data, err);
        if (got <= 0) {
            if (got == 0)
                vx_fail(err, "%s: tensor %s is missing", file->path, t->name);
            vx_net_free(net);
            return NULL;
        }
    }
    if (nn_net_alloc_params(net, &sub) < 0) {
        vx_fail(err, "%s: %s", file->path, sub.msg);
        vx_net_free(net);
        return NULL;
    }
    for (int i = 0; i < file->nmeta; i++)
        if (strcmp(file->meta_key[i], "arch") != 0 &&
            vx_net_set_meta(net, file->meta_key[i], file->meta_value[i], &sub) < 0) {
            vx_fail(err, "%s: %s", file->path, sub.msg);
            vx_net_free(net);
            return NULL;
        }
    if (net->norm_bands && (!net->band_mean || !net->band_std)) {
        vx_fail(err, "%s: input_norm=bands without input_band_mean and input_band_std", file->path);
        vx_net_free(net);
        return NULL;
    }
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        nn_file_tensor(file, t->name, t, net->params + t->offset, err);
    }
    if (check_params(net, file->path, err) < 0) {
        vx_net_free(net);
        return NULL;
    }
    return net;
}

vx_net *vx_net_load(const char *path, vx_error *err)
{
    nn_file file;
    if (nn_file_read(&file, path, err) < 0)
        return NULL;
    vx_net *net = nn_net_from_file(&file, err);
    nn_file_free(&file);
    return net;
}
