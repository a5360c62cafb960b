/* song_index.c — the binary song index (vx-index(5)): a builder that collects songs and writes them
 * in path order, a loader that maps the file and checks every offset against its size, and merge. */
#define _POSIX_C_SOURCE 200809L
#include "vx_song.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The arrays are mapped and used as they are, so the file's byte order must be the machine's. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the song index is little-endian and mapped as it is"
#endif

/* ------------------------------------------------------------ the layout (vx-index(5)) */

static const char index_magic[8] = {'V', 'X', 'S', 'O', 'N', 'G', 'S', 0};
#define INDEX_VERSION 1
#define HEADER_BYTES 1344 /* the fixed header of version 1, a multiple of the section alignment */
#define ALIGN 64
#define ENTRY_BYTES 48
enum { SEC_VECTORS, SEC_POINTS, SEC_PROBS, SEC_ENTRIES, SEC_STRINGS, SEC_SEGMENTS, NSECTIONS };
/* Header offsets. */
#define H_MAGIC 0
#define H_VERSION 8
#define H_HEADER_LEN 12
#define H_FILE_SIZE 16
#define H_NSONGS 24
#define H_NSEGMENTS 32
#define H_NCLASSES 40
#define H_FLAGS 44
#define H_SECTIONS 48 /* NSECTIONS x (u64 offset, u64 length) */
#define H_EMOTION_VA 144
#define H_FACE_CLASS 200
#define H_NAMES 232
#define H_PROFILE 744
#define H_CLASS_VA 1192
/* Entry offsets. */
#define E_PATH_OFF 0
#define E_PATH_LEN 8
#define E_NSEG 12
#define E_SEG_FIRST 16
#define E_SIZE 24
#define E_MTIME 32
#define E_DURATION 40


static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------- builder */

struct entry {
    uint64_t path_off; /* into strings */
    uint32_t path_len;
    uint32_t nseg;
    uint64_t seg_first; /* into segs, in segments */
    uint64_t size;
    int64_t mtime_ns;
    float duration;
    int removed; /* a tombstone: drops the path's earlier entries */
};

struct vx_index_builder {
    vx_index_space space;
    int k;
    struct entry *entries;
    size_t n, cap;
    char *strings;
    size_t strings_len, strings_cap;
    float *probs, *vecs, *points; /* [cap][K], [cap][7], [cap][2] */
    float *segs;                  /* [segs_cap][1 + K] */
    size_t nsegs, segs_cap;
};

/* Makes room for `need` elements of `elem` bytes in *p, doubling. */
static int grow(void **p, size_t *cap, size_t need, size_t elem, vx_error *err)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        if (vx_size_mul(c, 2, &c, err) < 0)
            return -1;
    size_t bytes;
    if (vx_size_mul(c, elem, &bytes, err) < 0)
        return -1;
    void *q = realloc(*p, bytes);
    if (!q)
        return vx_fail(err, "out of memory (%zu bytes for the index)", bytes);
    *p = q;
    *cap = c;
    return 0;
}

vx_index_builder *vx_index_builder_create(const vx_index_space *space, vx_error *err)
{
    if (space->set.nclasses < 1 || space->set.nclasses > VX_NET_MAX_CLASSES) {
        vx_fail(err, "a class set has 1 to %d classes, not %d", VX_NET_MAX_CLASSES, space->set.nclasses);
        return NULL;
    }
    vx_index_builder *b = vx_calloc(1, sizeof *b, err);
    if (!b)
        return NULL;
    b->space = *space;
    b->k = space->set.nclasses;
    return b;
}

void vx_index_builder_free(vx_index_builder *b)
{
    if (!b)
        return;
    free(b->entries);
    free(b->strings);
    free(b->probs);
    free(b->vecs);
    free(b->points);
    free(b->segs);
    free(b);
}

size_t vx_index_builder_pending(const vx_index_builder *b) { return b->n; }

/* Appends an entry for path (song fields zero); its arrays get room but no values. */
static struct entry *append(vx_index_builder *b, const char *path, vx_error *err)
{
    size_t len = strlen(path);
    if (len == 0)
        return vx_fail(err, "a song needs a path"), NULL;
    if (len > VX_INDEX_MAX_PATH)
        return vx_fail(err, "path longer than %d bytes: %.60s...", VX_INDEX_MAX_PATH, path), NULL;
    size_t cap = b->cap;
    if (grow((void **)&b->entries, &cap, b->n + 1, sizeof *b->entries, err) < 0)
        return NULL;
    /* The parallel arrays follow the entries' capacity. */
    if (cap != b->cap) {
        size_t c;
        c = b->cap;
        if (grow((void **)&b->probs, &c, cap, (size_t)b->k * sizeof(float), err) < 0)
            return NULL;
        c = b->cap;
        if (grow((void **)&b->vecs, &c, cap, VX_NCLASSES * sizeof(float), err) < 0)
            return NULL;
        c = b->cap;
        if (grow((void **)&b->points, &c, cap, 2 * sizeof(float), err) < 0)
            return NULL;
        b->cap = cap;
    }
    if (grow((void **)&b->strings, &b->strings_cap, b->strings_len + len + 1, 1, err) < 0)
        return NULL;
    struct entry *e = &b->entries[b->n];
    memset(e, 0, sizeof *e);
    e->path_off = b->strings_len;
    e->path_len = (uint32_t)len;
    memcpy(b->strings + b->strings_len, path, len + 1);
    b->strings_len += len + 1;
    return e;
}

int vx_index_builder_add(vx_index_builder *b, const vx_song *s, vx_error *err)
{
    const char *path = s->path ? s->path : "";
    size_t k = (size_t)b->k;
    if (!isfinite(s->duration) || s->duration < 0)
        return vx_fail(err, "%s: bad duration", path);
    if (!all_finite(s->probs, k) || !all_finite(s->vec, VX_NCLASSES) || !all_finite(s->va, 2))
        return vx_fail(err, "%s: a class probability or vector value is not finite", path);
    if (s->nsegments > VX_INDEX_MAX_SEGMENTS_PER_SONG)
        return vx_fail(err, "%s: more than %u segments", path, VX_INDEX_MAX_SEGMENTS_PER_SONG);
    size_t per = 1 + k, nfloats;
    if (vx_size_mul(s->nsegments, per, &nfloats, err) < 0)
        return -1;
    if (s->nsegments && !all_finite(s->segments, nfloats))
        return vx_fail(err, "%s: a segment value is not finite", path);
    if (grow((void **)&b->segs, &b->segs_cap, b->nsegs + s->nsegments, per * sizeof(float), err) < 0)
        return -1;
    struct entry *e = append(b, path, err);
    if (!e)
        return -1;
    size_t i = b->n++;
    e->size = s->size;
    e->mtime_ns = s->mtime_ns;
    e->duration = s->duration;
    e->nseg = s->nsegments;
    e->seg_first = b->nsegs;
    memcpy(b->probs + i * k, s->probs, k * sizeof(float));
    memcpy(b->vecs + i * VX_NCLASSES, s->vec, VX_NCLASSES * sizeof(float));
    memcpy(b->points + i * 2, s->va, 2 * sizeof(float));
    if (nfloats)
        memcpy(b->segs + b->nsegs * per, s->segments, nfloats * sizeof(float));
    b->nsegs += s->nsegments;
    return 0;
}

int vx_index_builder_remove(vx_index_builder *b, const char *path, vx_error *err)
{
    struct entry *e = append(b, path, err);
    if (!e)
        return -1;
    size_t i = b->n++;
    e->removed = 1;
    memset(b->probs + i * (size_t)b->k, 0, (size_t)b->k * sizeof(float));
    memset(b->vecs + i * VX_NCLASSES, 0, VX_NCLASSES * sizeof(float));
    memset(b->points + i * 2, 0, 2 * sizeof(float));
    return 0;
}

struct order {
    const char *path;
    size_t i; /* insertion order breaks ties: the last one wins */
};

static int order_cmp(const void *pa, const void *pb)
{
    const struct order *a = pa, *b = pb;
    int c = strcmp(a->path, b->path);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

static int pad_to(FILE *f, uint64_t *at, uint64_t to)
{
    static const unsigned char zeros[ALIGN];
    while (*at < to) {
        size_t n = (size_t)(to - *at < ALIGN ? to - *at : ALIGN);
        if (fwrite(zeros, 1, n, f) != n)
            return -1;
        *at += n;
    }
    return 0;
}

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* Header bytes for the given counts and section placement. */
static void fill_header(unsigned char *h, const vx_index_space *sp, uint64_t nsongs, uint64_t nsegs,
                        const uint64_t off[NSECTIONS], const uint64_t len[NSECTIONS], uint64_t file_size)
{
    memset(h, 0, HEADER_BYTES);
    memcpy(h + H_MAGIC, index_magic, 8);
    vx_put_le32(h + H_VERSION, INDEX_VERSION);
    vx_put_le32(h + H_HEADER_LEN, HEADER_BYTES);
    vx_put_le64(h + H_FILE_SIZE, file_size);
    vx_put_le64(h + H_NSONGS, nsongs);
    vx_put_le64(h + H_NSEGMENTS, nsegs);
    vx_put_le32(h + H_NCLASSES, (uint32_t)sp->set.nclasses);
    for (int s = 0; s < NSECTIONS; s++) {
        vx_put_le64(h + H_SECTIONS + 16 * s, off[s]);
        vx_put_le64(h + H_SECTIONS + 16 * s + 8, len[s]);
    }
    memcpy(h + H_EMOTION_VA, sp->emotion_va, sizeof sp->emotion_va);
    for (int e = 0; e < VX_NCLASSES; e++)
        vx_put_le32(h + H_FACE_CLASS + 4 * e, (uint32_t)sp->set.face_class[e]);
    for (int k = 0; k < sp->set.nclasses; k++) {
        /* The header is zeroed, so a name shorter than the field stays NUL-terminated. */
        memcpy(h + H_NAMES + VX_SPACE_NAME_MAX * k, sp->set.names[k], strnlen(sp->set.names[k], VX_SPACE_NAME_MAX - 1));
        memcpy(h + H_PROFILE + 4 * VX_NCLASSES * k, sp->set.profile[k], 4 * VX_NCLASSES);
        memcpy(h + H_CLASS_VA + 8 * k, sp->set.va[k], 8);
    }
}

int vx_index_builder_write(vx_index_builder *b, const char *path, size_t *nsongs, vx_error *err)
{
    size_t k = (size_t)b->k, per = 1 + k;
    struct order *ord = vx_malloc((b->n ? b->n : 1) * sizeof *ord, err);
    if (!ord)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        ord[i] = (struct order){b->strings + b->entries[i].path_off, i};
    qsort(ord, b->n, sizeof *ord, order_cmp);
    /* Keep the last entry of each path, unless it is a removal. */
    size_t keep = 0;
    uint64_t nsegs = 0, strings_len = 0;
    for (size_t j = 0; j < b->n; j++) {
        if (j + 1 < b->n && !strcmp(ord[j].path, ord[j + 1].path))
            continue;
        const struct entry *e = &b->entries[ord[j].i];
        if (e->removed)
            continue;
        ord[keep++] = ord[j];
        nsegs += e->nseg;
        strings_len += e->path_len + 1;
    }
    uint64_t off[NSECTIONS], len[NSECTIONS] = {
        [SEC_VECTORS] = (uint64_t)keep * VX_NCLASSES * 4, [SEC_POINTS] = (uint64_t)keep * 8,
        [SEC_PROBS] = (uint64_t)keep * k * 4,            [SEC_ENTRIES] = (uint64_t)keep * ENTRY_BYTES,
        [SEC_STRINGS] = strings_len,                      [SEC_SEGMENTS] = nsegs * per * 4};
    uint64_t at = HEADER_BYTES;
    for (int s = 0; s < NSECTIONS; s++) {
        off[s] = align_up(at);
        at = off[s] + len[s];
    }
    uint64_t file_size = at;
    unsigned char header[HEADER_BYTES];
    fill_header(header, &b->space, keep, nsegs, off, len, file_size);

    vx_output out;
    if (vx_output_open(&out, path, err) < 0) {
        free(ord);
        return -1;
    }
    FILE *f = out.file;
    int bad = fwrite(header, 1, HEADER_BYTES, f) != HEADER_BYTES;
    at = HEADER_BYTES;
    for (int s = 0; s < NSECTIONS && !bad; s++) {
        bad = pad_to(f, &at, off[s]) < 0;
        uint64_t str_at = 0, seg_at = 0;
        for (size_t j = 0; j < keep && !bad; j++) {
            size_t i = ord[j].i;
            const struct entry *e = &b->entries[i];
            switch (s) {
            case SEC_VECTORS: bad = fwrite(b->vecs + i * VX_NCLASSES, 4, VX_NCLASSES, f) != VX_NCLASSES; break;
            case SEC_POINTS: bad = fwrite(b->points + i * 2, 4, 2, f) != 2; break;
            case SEC_PROBS: bad = fwrite(b->probs + i * k, 4, k, f) != k; break;
            case SEC_ENTRIES: {
                unsigned char en[ENTRY_BYTES] = {0};
                vx_put_le64(en + E_PATH_OFF, str_at);
                vx_put_le32(en + E_PATH_LEN, e->path_len);
                vx_put_le32(en + E_NSEG, e->nseg);
                vx_put_le64(en + E_SEG_FIRST, seg_at);
                vx_put_le64(en + E_SIZE, e->size);
                vx_put_le64(en + E_MTIME, (uint64_t)e->mtime_ns);
                memcpy(en + E_DURATION, &e->duration, 4);
                str_at += e->path_len + 1;
                seg_at += e->nseg;
                bad = fwrite(en, 1, ENTRY_BYTES, f) != ENTRY_BYTES;
                break;
            }
            case SEC_STRINGS:
                bad = fwrite(b->strings + e->path_off, 1, e->path_len + 1, f) != e->path_len + 1;
                break;
            case SEC_SEGMENTS:
                bad = e->nseg && fwrite(b->segs + e->seg_first * per, 4 * per, e->nseg, f) != e->nseg;
                break;
            }
        }
        at += len[s];
    }
    free(ord);
    if (bad) {
        vx_fail(err, "error writing %s: %s", path && strcmp(path, "-") ? path : "standard output", strerror(errno));
        vx_output_abort(&out);
        return -1;
    }
    if (vx_output_commit(&out, err) < 0)
        return -1;
    if (nsongs)
        *nsongs = keep;
    return 0;
}

/* -------------------------------------------------------------------------- loader */

struct vx_index {
    const unsigned char *map;
    size_t size;
    char *where;
    uint64_t n, nsegs;
    int k;
    vx_index_space space;
    const float *vectors, *points, *probs, *segs;
    const unsigned char *entries;
    const char *strings;
    uint64_t strings_len;
};

static int bad_index(vx_error *err, const char *where, const char *what)
{
    return vx_fail(err, "%s: %s", where, what);
}

/* Checks the header of a mapped file of `size` bytes and fills ix from it. */
static int read_header(vx_index *ix, const char *where, vx_error *err)
{
    const unsigned char *h = ix->map;
    size_t size = ix->size;
    if (size < 16 || memcmp(h, index_magic, 8))
        return bad_index(err, where, "not a song index (bad magic)");
    uint32_t version = vx_get_le32(h + H_VERSION);
    if (version != INDEX_VERSION)
        return vx_fail(err, "%s: song index version %u is not supported (this reader knows %d)", where, version,
                       INDEX_VERSION);
    if (size < HEADER_BYTES)
        return bad_index(err, where, "truncated song index (the header is cut short)");
    uint32_t header_len = vx_get_le32(h + H_HEADER_LEN);
    if (header_len < HEADER_BYTES || header_len > size)
        return bad_index(err, where, "bad header length");
    if (vx_get_le64(h + H_FILE_SIZE) != size)
        return vx_fail(err, "%s: the index is %zu bytes but its header says %llu (truncated or padded)", where, size,
                       (unsigned long long)vx_get_le64(h + H_FILE_SIZE));
    ix->n = vx_get_le64(h + H_NSONGS);
    ix->nsegs = vx_get_le64(h + H_NSEGMENTS);
    uint32_t k = vx_get_le32(h + H_NCLASSES);
    if (k < 1 || k > VX_NET_MAX_CLASSES)
        return vx_fail(err, "%s: %u classes (1 to %d allowed)", where, k, VX_NET_MAX_CLASSES);
    if (ix->n > VX_INDEX_MAX_SONGS)
        return vx_fail(err, "%s: %llu songs is absurd", where, (unsigned long long)ix->n);
    if (ix->nsegs > size / 4)
        return vx_fail(err, "%s: %llu segments cannot fit in the file", where, (unsigned long long)ix->nsegs);
    ix->k = (int)k;
    /* Every section must have exactly the size its counts imply and lie inside the file. The counts
     * are bounded above, so the products cannot overflow 64 bits. */
    uint64_t want[NSECTIONS] = {[SEC_VECTORS] = ix->n * VX_NCLASSES * 4, [SEC_POINTS] = ix->n * 8,
                                [SEC_PROBS] = ix->n * k * 4,             [SEC_ENTRIES] = ix->n * ENTRY_BYTES,
                                [SEC_STRINGS] = 0,                       [SEC_SEGMENTS] = ix->nsegs * (1 + k) * 4};
    uint64_t off[NSECTIONS], len[NSECTIONS];
    for (int s = 0; s < NSECTIONS; s++) {
        off[s] = vx_get_le64(h + H_SECTIONS + 16 * s);
        len[s] = vx_get_le64(h + H_SECTIONS + 16 * s + 8);
        if (off[s] % 8 || off[s] < header_len || off[s] > size || len[s] > size - off[s])
            return vx_fail(err, "%s: section %d lies outside the file", where, s);
        if (s != SEC_STRINGS && len[s] != want[s])
            return vx_fail(err, "%s: section %d has %llu bytes where its counts say %llu", where, s,
                           (unsigned long long)len[s], (unsigned long long)want[s]);
    }
    ix->vectors = (const float *)(ix->map + off[SEC_VECTORS]);
    ix->points = (const float *)(ix->map + off[SEC_POINTS]);
    ix->probs = (const float *)(ix->map + off[SEC_PROBS]);
    ix->entries = ix->map + off[SEC_ENTRIES];
    ix->strings = (const char *)ix->map + off[SEC_STRINGS];
    ix->strings_len = len[SEC_STRINGS];
    ix->segs = (const float *)(ix->map + off[SEC_SEGMENTS]);

    vx_index_space *sp = &ix->space;
    memset(sp, 0, sizeof *sp);
    sp->set.nclasses = (int)k;
    memcpy(sp->emotion_va, h + H_EMOTION_VA, sizeof sp->emotion_va);
    if (!all_finite(&sp->emotion_va[0][0], 2 * VX_NCLASSES))
        return bad_index(err, where, "an emotion point is not finite");
    for (int e = 0; e < VX_NCLASSES; e++) {
        int32_t c = (int32_t)vx_get_le32(h + H_FACE_CLASS + 4 * e);
        if (c < -1 || c >= (int32_t)k)
            return bad_index(err, where, "bad face class");
        sp->set.face_class[e] = c;
    }
    for (uint32_t c = 0; c < k; c++) {
        const char *name = (const char *)h + H_NAMES + VX_SPACE_NAME_MAX * c;
        size_t nl = strnlen(name, VX_SPACE_NAME_MAX);
        if (nl == 0 || nl == VX_SPACE_NAME_MAX || memchr(name, ',', nl))
            return bad_index(err, where, "bad class name");
        memcpy(sp->set.names[c], name, nl);
        memcpy(sp->set.profile[c], h + H_PROFILE + 4 * VX_NCLASSES * c, 4 * VX_NCLASSES);
        memcpy(sp->set.va[c], h + H_CLASS_VA + 8 * c, 8);
        if (!all_finite(sp->set.profile[c], VX_NCLASSES) || !all_finite(sp->set.va[c], 2))
            return bad_index(err, where, "a class profile is not finite");
    }
    return 0;
}

vx_index *vx_index_open(const char *path, vx_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return vx_fail(err, "cannot open %s: %s", path, strerror(errno)), NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vx_fail(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    vx_index *ix = vx_calloc(1, sizeof *ix, err);
    if (!ix) {
        close(fd);
        return NULL;
    }
    ix->size = (size_t)st.st_size;
    ix->where = strdup(path);
    if (ix->size < HEADER_BYTES) {
        /* Too small to map usefully: say what it is from its first bytes. */
        unsigned char head[16] = {0};
        ssize_t got = read(fd, head, sizeof head);
        close(fd);
        if (got >= 8 && !memcmp(head, index_magic, 8))
            vx_fail(err, "%s: truncated song index (%zu bytes, the header alone is %d)", path, ix->size, HEADER_BYTES);
        else
            vx_fail(err, "%s: not a song index (%s)", path, ix->size ? "bad magic" : "empty file");
        vx_index_close(ix);
        return NULL;
    }
    void *m = mmap(NULL, ix->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        vx_fail(err, "cannot map %s: %s", path, strerror(errno));
        vx_index_close(ix);
        return NULL;
    }
    ix->map = m;
    if (!ix->where || read_header(ix, path, err) < 0) {
        if (!ix->where)
            vx_fail(err, "out of memory");
        vx_index_close(ix);
        return NULL;
    }
    return ix;
}

void vx_index_close(vx_index *ix)
{
    if (!ix)
        return;
    if (ix->map)
        munmap((void *)ix->map, ix->size);
    free(ix->where);
    free(ix);
}

size_t vx_index_count(const vx_index *ix) { return (size_t)ix->n; }
const vx_index_space *vx_index_space_of(const vx_index *ix) { return &ix->space; }
const float *vx_index_vectors(const vx_index *ix) { return ix->vectors; }
const float *vx_index_points(const vx_index *ix) { return ix->points; }

int vx_index_get(const vx_index *ix, size_t i, vx_song *s, vx_error *err)
{
    if (i >= ix->n)
        return vx_fail(err, "%s: song %zu of %llu does not exist", ix->where, i, (unsigned long long)ix->n);
    const unsigned char *e = ix->entries + i * ENTRY_BYTES;
    uint64_t po = vx_get_le64(e + E_PATH_OFF), seg = vx_get_le64(e + E_SEG_FIRST);
    uint32_t pl = vx_get_le32(e + E_PATH_LEN), nseg = vx_get_le32(e + E_NSEG);
    if (pl == 0 || pl > VX_INDEX_MAX_PATH || po >= ix->strings_len || pl >= ix->strings_len - po ||
        ix->strings[po + pl] != 0 || memchr(ix->strings + po, 0, pl))
        return vx_fail(err, "%s: song %zu: bad path offset", ix->where, i);
    if (seg > ix->nsegs || nseg > ix->nsegs - seg)
        return vx_fail(err, "%s: song %zu: its segments lie outside the file", ix->where, i);
    size_t k = (size_t)ix->k;
    s->path = ix->strings + po;
    s->size = vx_get_le64(e + E_SIZE);
    s->mtime_ns = (int64_t)vx_get_le64(e + E_MTIME);
    memcpy(&s->duration, e + E_DURATION, 4);
    s->probs = ix->probs + i * k;
    s->vec = ix->vectors + i * VX_NCLASSES;
    s->va = ix->points + i * 2;
    s->nsegments = nseg;
    s->segments = ix->segs + seg * (1 + k);
    return 0;
}

long long vx_index_find(const vx_index *ix, const char *path)
{
    size_t lo = 0, hi = (size_t)ix->n;
    vx_song s;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vx_index_get(ix, mid, &s, NULL) < 0)
            return -1;
        int c = strcmp(path, s.path);
        if (c == 0)
            return (long long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

int vx_index_check(const vx_index *ix, vx_error *err)
{
    size_t k = (size_t)ix->k;
    const char *prev = NULL;
    vx_song s;
    for (size_t i = 0; i < ix->n; i++) {
        if (vx_index_get(ix, i, &s, err) < 0)
            return -1;
        if (prev && strcmp(prev, s.path) >= 0)
            return vx_fail(err, "%s: song %zu: paths out of order or repeated", ix->where, i);
        prev = s.path;
        if (!isfinite(s.duration) || s.duration < 0 || !all_finite(s.probs, k) ||
            !all_finite(s.vec, VX_NCLASSES) || !all_finite(s.va, 2) ||
            !all_finite(s.segments, (size_t)s.nsegments * (1 + k)))
            return vx_fail(err, "%s: song %zu: a value is not finite", ix->where, i);
    }
    return 0;
}

int vx_index_builder_add_index(vx_index_builder *b, const vx_index *ix, const char *where, vx_error *err)
{
    const vx_index_space *a = &b->space, *c = &ix->space;
    int same = a->set.nclasses == c->set.nclasses && !memcmp(a->emotion_va, c->emotion_va, sizeof a->emotion_va) &&
               !memcmp(a->set.face_class, c->set.face_class, sizeof a->set.face_class);
    for (int i = 0; same && i < a->set.nclasses; i++)
        same = !strcmp(a->set.names[i], c->set.names[i]) &&
               !memcmp(a->set.profile[i], c->set.profile[i], sizeof a->set.profile[i]) &&
               !memcmp(a->set.va[i], c->set.va[i], sizeof a->set.va[i]);
    if (!same) {
        char x[VX_NET_MAX_CLASSES * VX_SPACE_NAME_MAX], y[sizeof x];
        vx_space_set_names(&a->set, x, sizeof x);
        vx_space_set_names(&c->set, y, sizeof y);
        if (strcmp(x, y))
            return vx_fail(err, "%s: made with the classes %s, not %s", where, y, x);
        return vx_fail(err, "%s: made in another emotion space (other points or profiles for %s)", where, x);
    }
    vx_song s;
    for (size_t i = 0; i < ix->n; i++)
        if (vx_index_get(ix, i, &s, err) < 0 || vx_index_builder_add(b, &s, err) < 0)
            return -1;
    return 0;
}

int vx_index_merge(const char *const *paths, int n, const char *out, size_t *nsongs, vx_error *err)
{
    vx_index_builder *b = NULL;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        vx_index *ix = vx_index_open(paths[i], err);
        if (!ix || vx_index_check(ix, err) < 0)
            rc = -1;
        else if (!b && !(b = vx_index_builder_create(&ix->space, err)))
            rc = -1;
        else
            rc = vx_index_builder_add_index(b, ix, paths[i], err);
        vx_index_close(ix);
    }
    if (rc == 0 && !b)
        rc = vx_fail(err, "nothing to merge");
    if (rc == 0)
        rc = vx_index_builder_write(b, out, nsongs, err);
    vx_index_builder_free(b);
    return rc;
}

int vx_song_put_escaped(FILE *f, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        int r;
        switch (*c) {
        case '\\': r = fputs("\\\\", f); break;
        case '\t': r = fputs("\\t", f); break;
        case '\n': r = fputs("\\n", f); break;
        case '\r': r = fputs("\\r", f); break;
        default: r = *c < 0x20 || *c == 0x7f ? fprintf(f, "\\%03o", *c) : fputc(*c, f);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}
