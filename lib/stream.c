/* stream.c — reading and writing the tensor stream format (formats/tensor-stream.md).
 * The reader trusts nothing: every field is range-checked before anything is allocated. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char stream_magic[4] = {'V', 'X', 'T', 'S'};
#define STREAM_VERSION 1
#define FIXED_LEN_V1 32
/* Later versions may grow the fixed header; a reader skips what it does not know, up to this. */
#define FIXED_LEN_MAX 1024

size_t vx_dtype_size(enum vx_dtype dtype)
{
    switch (dtype) {
    case VX_U8: return 1;
    case VX_F32: return 4;
    }
    return 0;
}

const char *vx_dtype_name(enum vx_dtype dtype)
{
    switch (dtype) {
    case VX_U8: return "u8";
    case VX_F32: return "f32";
    }
    return "?";
}

size_t vx_record_count(const vx_record *r)
{
    size_t n = 1;
    for (int i = 0; i < r->rank; i++)
        n *= r->dim[i];
    return n;
}

void vx_record_init(vx_record *r)
{
    memset(r, 0, sizeof *r);
    r->dtype = VX_U8;
    r->label = VX_NO_LABEL;
}

void vx_record_free(vx_record *r)
{
    free(r->key);
    free(r->meta);
    free(r->data);
    vx_record_init(r);
}

static int ensure_text(char **text, size_t len, vx_error *err)
{
    char *p = realloc(*text, len + 1);
    if (!p)
        return vx_fail(err, "out of memory");
    *text = p;
    return 0;
}

static int shape_bytes(enum vx_dtype dtype, int rank, const uint32_t *dim, size_t *nbytes, vx_error *err)
{
    size_t esize = vx_dtype_size(dtype);
    if (esize == 0)
        return vx_fail(err, "unknown dtype %d", (int)dtype);
    if (rank < 0 || rank > VX_MAX_RANK)
        return vx_fail(err, "rank %d is outside 0..%d", rank, VX_MAX_RANK);
    size_t n = esize;
    for (int i = 0; i < rank; i++) {
        if (dim[i] == 0 || dim[i] > VX_MAX_DIM)
            return vx_fail(err, "dimension %d is %u, outside 1..%u", i, (unsigned)dim[i], VX_MAX_DIM);
        if (vx_size_mul(n, dim[i], &n, NULL) < 0 || n > VX_MAX_PAYLOAD)
            return vx_fail(err, "shape is too large (payload above %zu MiB)", VX_MAX_PAYLOAD >> 20);
    }
    *nbytes = n;
    return 0;
}

int vx_record_reserve(vx_record *r, size_t nbytes, vx_error *err)
{
    if (nbytes <= r->capacity)
        return 0;
    /* A payload of megabytes (a song) goes on huge pages: see vx_alloc_large. */
    void *p = NULL;
    if (nbytes >= ((size_t)2 << 20)) {
        if (!(p = vx_alloc_large(nbytes, &nbytes, err)))
            return -1;
        if (r->data)
            memcpy(p, r->data, r->capacity);
        free(r->data);
    } else if (!(p = realloc(r->data, nbytes))) {
        return vx_fail(err, "out of memory allocating %zu bytes", nbytes);
    }
    r->data = p;
    r->capacity = nbytes;
    return 0;
}

int vx_record_shape(vx_record *r, enum vx_dtype dtype, int rank, const uint32_t *dim, vx_error *err)
{
    size_t nbytes;
    if (shape_bytes(dtype, rank, dim, &nbytes, err) < 0)
        return -1;
    if (vx_record_reserve(r, nbytes, err) < 0)
        return -1;
    r->dtype = dtype;
    r->rank = rank;
    for (int i = 0; i < VX_MAX_RANK; i++)
        r->dim[i] = i < rank ? dim[i] : 0;
    r->nbytes = nbytes;
    return 0;
}

int vx_record_set_key(vx_record *r, const char *key, vx_error *err)
{
    size_t len = strlen(key);
    if (len > VX_MAX_TEXT)
        return vx_fail(err, "key is longer than %d bytes", VX_MAX_TEXT);
    if (ensure_text(&r->key, len, err) < 0)
        return -1;
    memcpy(r->key, key, len + 1);
    return 0;
}

/* Finds the line "name=..." in meta; returns its start or NULL. */
static const char *meta_find(const char *meta, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *line = meta; line && *line;) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == '=')
            return line;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NULL;
}

int vx_record_set_meta(vx_record *r, const char *name, const char *value, vx_error *err)
{
    if (!*name || strpbrk(name, "=\n") || strchr(value, '\n'))
        return vx_fail(err, "metadata name '%s' or its value holds '=' or a newline", name);
    const char *old = r->meta ? r->meta : "";
    const char *hit = meta_find(old, name);
    size_t before = hit ? (size_t)(hit - old) : strlen(old);
    const char *after = "";
    if (hit) {
        after = strchr(hit, '\n');
        after = after ? after + 1 : "";
    }
    size_t len = before + strlen(name) + 1 + strlen(value) + 1 + strlen(after);
    if (len > VX_MAX_TEXT)
        return vx_fail(err, "metadata is longer than %d bytes", VX_MAX_TEXT);
    char *meta = malloc(len + 1);
    if (!meta)
        return vx_fail(err, "out of memory");
    snprintf(meta, len + 1, "%.*s%s=%s\n%s", (int)before, old, name, value, after);
    free(r->meta);
    r->meta = meta;
    return 0;
}

int vx_record_get_meta(const vx_record *r, const char *name, char *buf, size_t bufsize)
{
    const char *hit = meta_find(r->meta ? r->meta : "", name);
    if (!hit)
        return 0;
    hit += strlen(name) + 1;
    size_t len = strcspn(hit, "\n");
    if (bufsize) {
        if (len >= bufsize)
            len = bufsize - 1;
        memcpy(buf, hit, len);
        buf[len] = '\0';
    }
    return 1;
}

int vx_record_copy(vx_record *dst, const vx_record *src, vx_error *err)
{
    if (vx_record_shape(dst, src->dtype, src->rank, src->dim, err) < 0)
        return -1;
    if (vx_record_set_key(dst, src->key ? src->key : "", err) < 0)
        return -1;
    size_t mlen = src->meta ? strlen(src->meta) : 0;
    if (ensure_text(&dst->meta, mlen, err) < 0)
        return -1;
    memcpy(dst->meta, src->meta ? src->meta : "", mlen + 1);
    memcpy(dst->data, src->data, src->nbytes);
    dst->label = src->label;
    return 0;
}

int vx_record_check(const vx_record *r, vx_error *err)
{
    size_t nbytes;
    if (shape_bytes(r->dtype, r->rank, r->dim, &nbytes, err) < 0)
        return -1;
    if (nbytes != r->nbytes)
        return vx_fail(err, "payload holds %zu bytes but the shape needs %zu", r->nbytes, nbytes);
    if (r->label != VX_NO_LABEL && (r->label < 0 || r->label > INT16_MAX))
        return vx_fail(err, "label %d is out of range", r->label);
    if (r->key && strlen(r->key) > VX_MAX_TEXT)
        return vx_fail(err, "key is longer than %d bytes", VX_MAX_TEXT);
    if (r->meta && strlen(r->meta) > VX_MAX_TEXT)
        return vx_fail(err, "metadata is longer than %d bytes", VX_MAX_TEXT);
    return 0;
}

/* ------------------------------------------------------------ byte order */

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* ----------------------------------------------------------------- write */

int vx_record_write(FILE *f, const vx_record *r, vx_error *err)
{
    if (vx_record_check(r, err) < 0)
        return -1;
    const char *key = r->key ? r->key : "";
    const char *meta = r->meta ? r->meta : "";
    size_t key_len = strlen(key), meta_len = strlen(meta);
    unsigned char head[FIXED_LEN_V1] = {0};
    memcpy(head, stream_magic, 4);
    vx_put_le16(head + 4, STREAM_VERSION);
    vx_put_le16(head + 6, FIXED_LEN_V1);
    head[8] = (unsigned char)r->dtype;
    head[9] = (unsigned char)r->rank;
    vx_put_le16(head + 10, (unsigned)(r->label == VX_NO_LABEL ? 0xffff : r->label));
    for (int i = 0; i < VX_MAX_RANK; i++)
        vx_put_le32(head + 12 + 4 * i, i < r->rank ? r->dim[i] : 0);
    vx_put_le16(head + 28, (unsigned)key_len);
    vx_put_le16(head + 30, (unsigned)meta_len);
    if (fwrite(head, 1, sizeof head, f) != sizeof head || fwrite(key, 1, key_len, f) != key_len ||
        fwrite(meta, 1, meta_len, f) != meta_len)
        return vx_fail(err, "write error: %s", strerror(errno));
    if (r->dtype == VX_F32 && !host_is_little_endian()) {
        const unsigned char *src = r->data;
        for (size_t i = 0; i < r->nbytes; i += 4) {
            unsigned char le[4] = {src[i + 3], src[i + 2], src[i + 1], src[i]};
            if (fwrite(le, 1, 4, f) != 4)
                return vx_fail(err, "write error: %s", strerror(errno));
        }
    } else if (fwrite(r->data, 1, r->nbytes, f) != r->nbytes) {
        return vx_fail(err, "write error: %s", strerror(errno));
    }
    return 0;
}

/* ------------------------------------------------------------------ read */

void vx_reader_init(vx_reader *rd, FILE *file, const char *where)
{
    rd->file = file;
    rd->where = where;
    rd->offset = 0;
    rd->nrecords = 0;
    rd->record_start = 0;
    rd->payload_size = rd->payload_left = 0;
    rd->payload_esize = 1;
}

/* Reads exactly n bytes; returns the number read (short only at end of input or error). */
static size_t read_exact(vx_reader *rd, void *buf, size_t n)
{
    size_t got = fread(buf, 1, n, rd->file);
    rd->offset += got;
    return got;
}

static int reader_fail(vx_reader *rd, uint64_t record_start, vx_error *err, const char *what)
{
    if (ferror(rd->file))
        return vx_fail(err, "%s: record %llu at byte %llu: read error: %s", rd->where,
                       (unsigned long long)rd->nrecords + 1, (unsigned long long)record_start,
                       strerror(errno));
    return vx_fail(err, "%s: record %llu at byte %llu: %s", rd->where, (unsigned long long)rd->nrecords + 1,
                   (unsigned long long)record_start, what);
}

static int read_text(vx_reader *rd, char **text, size_t len, uint64_t start, const char *what, vx_error *err)
{
    char msg[96];
    if (ensure_text(text, len, err) < 0)
        return -1;
    if (read_exact(rd, *text, len) != len) {
        snprintf(msg, sizeof msg, "truncated %s", what);
        return reader_fail(rd, start, err, msg);
    }
    (*text)[len] = '\0';
    if (memchr(*text, '\0', len)) {
        snprintf(msg, sizeof msg, "%s holds a NUL byte", what);
        return reader_fail(rd, start, err, msg);
    }
    return 0;
}

/* Skips what is left of the last record's payload, so that the next header is where it should be. */
static int skip_payload(vx_reader *rd, vx_error *err)
{
    while (rd->payload_left > 0) {
        unsigned char sink[4096];
        size_t n = rd->payload_left < sizeof sink ? (size_t)rd->payload_left : sizeof sink;
        if (vx_reader_payload(rd, sink, n, err) < 0) /* payloads are whole elements, and so is sink */
            return -1;
    }
    return 0;
}

int vx_reader_head(vx_reader *rd, vx_record *r, vx_error *err)
{
    if (skip_payload(rd, err) < 0)
        return -1;
    uint64_t start = rd->offset;
    unsigned char head[FIXED_LEN_V1];
    char msg[256];
    size_t got = read_exact(rd, head, sizeof head);
    if (got == 0 && !ferror(rd->file))
        return 0;
    if (memcmp(head, stream_magic, got < 4 ? got : 4) != 0)
        return reader_fail(rd, start, err, "bad magic (not a vx tensor stream)");
    if (got != sizeof head)
        return reader_fail(rd, start, err, "truncated header");
    unsigned version = vx_get_le16(head + 4), fixed_len = vx_get_le16(head + 6);
    if (version != STREAM_VERSION) {
        snprintf(msg, sizeof msg, "unsupported version %u (this reader knows %d)", version, STREAM_VERSION);
        return reader_fail(rd, start, err, msg);
    }
    if (fixed_len < FIXED_LEN_V1 || fixed_len > FIXED_LEN_MAX) {
        snprintf(msg, sizeof msg, "header length %u is outside %d..%d", fixed_len, FIXED_LEN_V1, FIXED_LEN_MAX);
        return reader_fail(rd, start, err, msg);
    }
    enum vx_dtype dtype = (enum vx_dtype)head[8];
    int rank = head[9];
    unsigned label = vx_get_le16(head + 10);
    uint32_t dim[VX_MAX_RANK];
    for (int i = 0; i < VX_MAX_RANK; i++)
        dim[i] = vx_get_le32(head + 12 + 4 * i);
    size_t key_len = vx_get_le16(head + 28), meta_len = vx_get_le16(head + 30);

    if (vx_dtype_size(dtype) == 0) {
        snprintf(msg, sizeof msg, "unknown dtype %d", head[8]);
        return reader_fail(rd, start, err, msg);
    }
    for (int i = rank; i < VX_MAX_RANK && rank <= VX_MAX_RANK; i++)
        if (dim[i] != 0) {
            snprintf(msg, sizeof msg, "dimension %d is %u beyond rank %d", i, (unsigned)dim[i], rank);
            return reader_fail(rd, start, err, msg);
        }
    vx_error shape_err;
    size_t nbytes;
    if (shape_bytes(dtype, rank, dim, &nbytes, &shape_err) < 0)
        return reader_fail(rd, start, err, shape_err.msg);
    if (label != 0xffff && label > INT16_MAX) {
        snprintf(msg, sizeof msg, "label %u is out of range", label);
        return reader_fail(rd, start, err, msg);
    }
    if (key_len > VX_MAX_TEXT || meta_len > VX_MAX_TEXT) {
        snprintf(msg, sizeof msg, "key or metadata longer than %d bytes", VX_MAX_TEXT);
        return reader_fail(rd, start, err, msg);
    }
    /* Fields a later version added: skip them. */
    for (unsigned skip = fixed_len - FIXED_LEN_V1; skip > 0;) {
        unsigned char sink[64];
        size_t n = skip < sizeof sink ? skip : sizeof sink;
        if (read_exact(rd, sink, n) != n)
            return reader_fail(rd, start, err, "truncated header");
        skip -= (unsigned)n;
    }
    if (read_text(rd, &r->key, key_len, start, "key", err) < 0 ||
        read_text(rd, &r->meta, meta_len, start, "metadata", err) < 0)
        return -1;
    r->dtype = dtype;
    r->rank = rank;
    for (int i = 0; i < VX_MAX_RANK; i++)
        r->dim[i] = i < rank ? dim[i] : 0;
    r->nbytes = nbytes;
    r->label = label == 0xffff ? VX_NO_LABEL : (int)label;
    rd->record_start = start;
    rd->payload_size = rd->payload_left = nbytes;
    rd->payload_esize = vx_dtype_size(dtype);
    return 1;
}

int vx_reader_payload(vx_reader *rd, void *buf, size_t n, vx_error *err)
{
    char msg[96];
    if (n > rd->payload_left || n % rd->payload_esize)
        return vx_fail(err, "%s: record %llu: %zu bytes asked of a payload with %llu left in elements of %zu",
                       rd->where, (unsigned long long)(rd->nrecords + (rd->payload_left > 0)), n,
                       (unsigned long long)rd->payload_left, rd->payload_esize);
    size_t got = read_exact(rd, buf, n);
    rd->payload_left -= got;
    if (got != n) {
        snprintf(msg, sizeof msg, "truncated payload (%llu of %llu bytes)",
                 (unsigned long long)(rd->payload_size - rd->payload_left), (unsigned long long)rd->payload_size);
        rd->payload_left = 0;
        return reader_fail(rd, rd->record_start, err, msg);
    }
    if (rd->payload_esize == 4 && !host_is_little_endian()) {
        unsigned char *p = buf;
        for (size_t i = 0; i < n; i += 4) {
            unsigned char t = p[i];
            p[i] = p[i + 3];
            p[i + 3] = t;
            t = p[i + 1];
            p[i + 1] = p[i + 2];
            p[i + 2] = t;
        }
    }
    if (rd->payload_left == 0)
        rd->nrecords++;
    return 0;
}

int vx_reader_next(vx_reader *rd, vx_record *r, vx_error *err)
{
    int got = vx_reader_head(rd, r, err);
    if (got != 1)
        return got;
    if (vx_record_reserve(r, r->nbytes, err) < 0 || vx_reader_payload(rd, r->data, r->nbytes, err) < 0)
        return -1;
    return 1;
}

/* ----------------------------------------------------------------- stats */

void vx_record_stats(const vx_record *r, vx_stats *s)
{
    size_t n = vx_record_count(r), finite = 0;
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    s->nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double v = r->dtype == VX_U8 ? ((const unsigned char *)r->data)[i] : ((const float *)r->data)[i];
        if (!isfinite(v)) {
            s->nonfinite++;
            continue;
        }
        finite++;
        sum += v;
        if (v < lo)
            lo = v;
        if (v > hi)
            hi = v;
    }
    s->min = finite ? lo : NAN;
    s->max = finite ? hi : NAN;
    s->mean = finite ? sum / (double)finite : NAN;
}

int vx_record_require_finite(const vx_record *r, vx_error *err)
{
    if (r->dtype != VX_F32)
        return 0;
    const float *v = r->data;
    size_t n = vx_record_count(r);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return vx_fail(err, "%s: element %zu is %s", r->key ? r->key : "record", i,
                           isnan(v[i]) ? "NaN" : "infinite");
    return 0;
}

const char *vx_record_shape_text(const vx_record *r, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (r->rank == 0)
        snprintf(buf, size, "scalar");
    for (int i = 0; i < r->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%u", i ? "x" : "", (unsigned)r->dim[i]);
    return buf;
}
