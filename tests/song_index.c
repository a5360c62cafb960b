/* song_index.c — the emotion space parser, the song index (round trip, later-wins, removal, merge,
 * every kind of damaged file) and matching (against a brute-force ranking, exclusion, diversity,
 * lift). With --generate or --queries it writes the benchmark's index or query stream instead. */
#define _POSIX_C_SOURCE 200809L
#include "tap.h"
#include "vx_song.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define SPACE_FILE "models/emotion-space.txt"
/* Where the vectors section starts in a version 1 index: the header, 1344 bytes, is already aligned. */
#define HEADER_VECTORS_AT 1344

/* A small deterministic generator (splitmix64), so the benchmark index is the same every time. */
static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float next_unit(uint64_t *s) { return (float)(next_u64(s) >> 40) / (float)(1 << 24); }

/* Random probabilities over n classes, peaked like a classifier's output. */
static void random_probs(uint64_t *s, float *p, int n)
{
    float sum = 0;
    for (int i = 0; i < n; i++) {
        float u = next_unit(s);
        p[i] = u * u * u + 1e-3f;
        sum += p[i];
    }
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

static int load_space(vx_space *sp, const vx_space_set **set)
{
    vx_error err;
    /* The shell tests run elsewhere and say where the source tree's space file is. */
    const char *file = getenv("VX_SPACE_FILE") ? getenv("VX_SPACE_FILE") : SPACE_FILE;
    if (vx_space_load(sp, file, &err) < 0) {
        tap_diag("%s", err.msg);
        return -1;
    }
    *set = vx_space_find_set(sp, "Q1,Q2,Q3,Q4");
    return *set ? 0 : -1;
}

static void index_space(const vx_space *sp, const vx_space_set *set, vx_index_space *out)
{
    memset(out, 0, sizeof *out);
    out->set = *set;
    memcpy(out->emotion_va, sp->emotion_va, sizeof out->emotion_va);
}

/* Adds a random song at path with nseg segments. */
static int add_random(vx_index_builder *b, const vx_space_set *set, uint64_t *rng, const char *path, uint32_t nseg,
                      vx_error *err)
{
    float probs[VX_NET_MAX_CLASSES], vec[VX_NCLASSES], va[2], seg[64 * 5];
    int k = set->nclasses;
    random_probs(rng, probs, k);
    vx_space_song(set, probs, vec, va);
    for (uint32_t i = 0; i < nseg && i < 64; i++) {
        seg[i * (1 + k)] = 1.5f * (float)i;
        random_probs(rng, seg + i * (1 + k) + 1, k);
    }
    vx_song s = {path, 1000 + next_u64(rng) % 9000000, (int64_t)1700000000 * 1000000000 + (int64_t)(next_u64(rng) % 1000000000),
                 120 + 240 * next_unit(rng), probs, vec, va, nseg, seg};
    return vx_index_builder_add(b, &s, err);
}

/* --generate N SEED OUT: the benchmark's index, N songs with 4 segments each. */
static int generate(long n, uint64_t seed, const char *out)
{
    vx_space sp;
    const vx_space_set *set;
    vx_index_space ixs;
    vx_error err;
    if (load_space(&sp, &set) < 0)
        return 1;
    index_space(&sp, set, &ixs);
    vx_index_builder *b = vx_index_builder_create(&ixs, &err);
    char path[128];
    for (long i = 0; b && i < n; i++) {
        snprintf(path, sizeof path, "/music/artist%04ld/album%02ld/track%07ld.mp3", i % 9973, i % 13, i);
        if (add_random(b, set, &seed, path, 4, &err) < 0)
            break;
    }
    size_t written;
    if (!b || vx_index_builder_write(b, out, &written, &err) < 0) {
        fprintf(stderr, "song_index: %s\n", err.msg);
        return 1;
    }
    vx_index_builder_free(b);
    return 0;
}

/* --queries N SEED OUT: N face probability records, as vx-infer writes them. */
static int queries(long n, uint64_t seed, const char *out)
{
    vx_error err;
    vx_record r;
    vx_output o;
    uint32_t dim = VX_NCLASSES;
    char key[32];
    vx_record_init(&r);
    if (vx_output_open(&o, out, &err) < 0 || vx_record_shape(&r, VX_F32, 1, &dim, &err) < 0 ||
        vx_record_set_meta(&r, "classes", "anger,disgust,fear,happy,neutral,sad,surprise", &err) < 0)
        goto bad;
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof key, "face%05ld.png", i);
        random_probs(&seed, r.data, VX_NCLASSES);
        if (vx_record_set_key(&r, key, &err) < 0 || vx_record_write(o.file, &r, &err) < 0)
            goto bad;
    }
    if (vx_output_commit(&o, &err) < 0)
        goto bad;
    vx_record_free(&r);
    return 0;
bad:
    fprintf(stderr, "song_index: %s\n", err.msg);
    vx_output_abort(&o);
    return 1;
}

/* ------------------------------------------------------------------ space tests */

static void test_space(tap *t, const vx_space *sp, const vx_space_set *q)
{
    vx_error err;
    tap_ok(t, sp->version == 1 && sp->nsets == 2 && sp->nanchors == 2, "the shipped space: version 1, 2 sets, 2 anchors");
    tap_ok(t, sp->emotion_va[3][0] == 8.47f && sp->emotion_va[3][1] == 6.05f && sp->emotion_va[5][0] == 2.10f &&
                  sp->emotion_va[6][1] == 6.57f,
           "happy 8.47/6.05, sad 2.10, surprise arousal 6.57 (Warriner et al. 2013)");
    tap_ok(t, q->va[1][0] == 2.715f && q->va[1][1] == 6.035f && q->va[3][0] == 7.07f && q->va[3][1] == 2.08f,
           "Q2 is the mean of anger and fear, Q4 of calm and relaxed");
    tap_ok(t, q->face_class[3] == 0 && q->face_class[0] == 1 && q->face_class[1] == 1 && q->face_class[2] == 1 &&
                  q->face_class[5] == 2 && q->face_class[4] == 3 && q->face_class[6] == -1,
           "face emotions map to quadrants: happy Q1, anger/disgust/fear Q2, sad Q3, neutral Q4, surprise none");
    const vx_space_set *id = vx_space_find_set(sp, "anger,disgust,fear,happy,neutral,sad,surprise");
    int identity = id != NULL;
    for (int k = 0; identity && k < VX_NCLASSES; k++)
        for (int e = 0; e < VX_NCLASSES; e++)
            identity &= id->profile[k][e] == (k == e) && id->va[k][0] == sp->emotion_va[k][0];
    tap_ok(t, identity, "the folder-per-emotion set is the identity at the emotions' own points");
    tap_ok(t, !vx_space_find_set(sp, "Q1,Q2,Q3") && !vx_space_find_set(sp, "Q2,Q1,Q3,Q4"), "sets are found by their exact class list");

    float probs[4] = {0.5f, 0, 0.5f, 0}, vec[7], va[2];
    vx_space_song(q, probs, vec, va);
    tap_ok(t, vec[3] == 0.4f && vec[6] == 0.1f && vec[5] == 0.5f && fabsf(va[0] - (8.47f + 2.10f) / 2) < 1e-5f,
           "a song half Q1, half Q3: 7-vector happy .4 surprise .1 sad .5, valence the mean of the two points");
    float face[7] = {0, 0, 0, 0.5f, 0, 0.5f, 0};
    vx_space_face_va(sp->emotion_va, face, va);
    tap_ok(t, fabsf(va[0] - 5.285f) < 1e-5f && fabsf(va[1] - 4.77f) < 1e-5f, "a face half happy, half sad sits at 5.285/4.77");

    /* Hostile and mistaken files: each must be refused with a message, never crash. */
    static const char head[] = "vx-emotion-space 1\nemotion anger 2.5 5.93\nemotion disgust 3.32 5\nemotion fear 2.93 6.14\n"
                               "emotion happy 8.47 6.05\nemotion neutral 5.5 3.45\nemotion sad 2.1 3.49\n";
    static const char *bad[][2] = {
        {"", "empty"},
        {"vx-emotion-space 2\n", "version 2 is not supported"},
        {"emotion-space 1\n", "not an emotion space file"},
        {"HEAD", "no point for the emotion 'surprise'"},
        {"HEADemotion surprise 7.44 6.57\nemotion sad 1 1\n", "given twice"},
        {"HEADemotion surprise nan 6.57\n", "is not a number"},
        {"HEADemotion surprise 10 6.57\n", "outside 1..9"},
        {"HEADemotion surprise 7.44 6.57\n", "no class set"},
        {"HEADemotion surprise 7.44 6.57\nset A,B\nclass A 5 5 1 0 0 0 0 0 0\n", "has no 'end'"},
        {"HEADemotion surprise 7.44 6.57\nset A,B\nclass A 5 5 1 0 0 0 0 0 0\nend\n", "before all its classes"},
        {"HEADemotion surprise 7.44 6.57\nset A\nclass A 5 5 0.5 0 0 0 0 0 0\nend\n", "sum to 1"},
        {"HEADemotion surprise 7.44 6.57\nset A\nclass B 5 5 1 0 0 0 0 0 0\nend\n", "was due"},
        {"HEADemotion surprise 7.44 6.57\nset A,A\n", "named twice"},
        {"HEADemotion surprise 7.44 6.57\nset A\nclass A 5 5 1 0 0 0 0 0\nend\n", "wants a name"},
        {"HEADemotion surprise 7.44 6.57\nset A\nclass A 5 5 1 0 0 0 0 0 0\nface happy Z\nend\n", "not a class of the set"},
        {"HEADemotion surprise 7.44 6.57\nwhatever\n", "unknown keyword"},
    };
    int all = 1;
    char text[2048];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *src = bad[i][0];
        if (!strncmp(src, "HEAD", 4))
            snprintf(text, sizeof text, "%s%s", head, src + 4);
        else
            snprintf(text, sizeof text, "%s", src);
        vx_space s;
        err.msg[0] = 0;
        int rc = vx_space_parse(&s, text, strlen(text), "t", &err);
        if (rc != -1 || !strstr(err.msg, bad[i][1])) {
            tap_diag("case %zu: rc %d, '%s' (wanted '%s')", i, rc, err.msg, bad[i][1]);
            all = 0;
        }
    }
    tap_ok(t, all, "%zu broken space files are refused, each with its own message", sizeof bad / sizeof bad[0]);
    char longline[1500];
    memset(longline, 'x', sizeof longline);
    vx_space s;
    tap_ok(t, vx_space_parse(&s, longline, sizeof longline, "t", &err) < 0 && strstr(err.msg, "line too long") &&
                  vx_space_parse(&s, "vx-emotion-space 1\n\0", 20, "t", &err) < 0 && strstr(err.msg, "NUL"),
           "an over-long line and a NUL byte are refused");
}

/* ------------------------------------------------------------------ index tests */

static size_t file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return (size_t)n;
}

/* Copies src to dst, cut to `keep` bytes, with `n` bytes at `at` replaced by `bytes`. */
static void damaged_copy(const char *src, const char *dst, size_t keep, size_t at, const void *bytes, size_t n)
{
    size_t size = file_size(src);
    unsigned char *buf = malloc(size);
    FILE *f = fopen(src, "rb");
    if (!buf || !f || fread(buf, 1, size, f) != size)
        abort();
    fclose(f);
    if (bytes)
        memcpy(buf + at, bytes, n);
    f = fopen(dst, "wb");
    fwrite(buf, 1, keep < size ? keep : size, f);
    fclose(f);
    free(buf);
}

static int opens_with(const char *path, const char *want)
{
    vx_error err = {""};
    vx_index *ix = vx_index_open(path, &err);
    if (ix) {
        vx_index_close(ix);
        tap_diag("%s opened", path);
        return 0;
    }
    if (!strstr(err.msg, want))
        tap_diag("'%s' lacks '%s'", err.msg, want);
    return strstr(err.msg, want) != NULL;
}

static void test_index(tap *t, const vx_index_space *ixs, const char *dir)
{
    vx_error err;
    uint64_t rng = 42;
    char a[512], b2[512], m[512], bad[512];
    snprintf(a, sizeof a, "%s/a.vxi", dir);
    snprintf(b2, sizeof b2, "%s/b.vxi", dir);
    snprintf(m, sizeof m, "%s/m.vxi", dir);
    snprintf(bad, sizeof bad, "%s/bad.vxi", dir);

    vx_index_builder *b = vx_index_builder_create(ixs, &err);
    const char *paths[] = {"z/last.mp3", "a/first.ogg", "m/tab\there.mp3", "m/new\nline.mp3", "dup.mp3"};
    int ok = b != NULL;
    for (int i = 0; ok && i < 5; i++)
        ok = add_random(b, &ixs->set, &rng, paths[i], (uint32_t)i, &err) == 0;
    float probs[4] = {0, 0, 0, 1}, vec[7], va[2];
    vx_space_song(&ixs->set, probs, vec, va);
    vx_song dup = {"dup.mp3", 77, 1234567890123456789LL, 3.5f, probs, vec, va, 0, NULL};
    ok = ok && vx_index_builder_add(b, &dup, &err) == 0 && vx_index_builder_remove(b, "a/first.ogg", &err) == 0;
    size_t n = 0;
    ok = ok && vx_index_builder_write(b, a, &n, &err) == 0;
    tap_ok(t, ok && n == 4, "builder: 5 songs, one replaced, one removed: 4 written (%s)", ok ? "ok" : err.msg);
    vx_index_builder_free(b);

    vx_index *ix = vx_index_open(a, &err);
    vx_song s;
    int got = ix && vx_index_count(ix) == 4 && vx_index_check(ix, &err) == 0;
    tap_ok(t, got, "the index opens and checks clean");
    if (!ix)
        return;
    got = vx_index_get(ix, 0, &s, &err) == 0 && !strcmp(s.path, "dup.mp3") && s.size == 77 &&
          s.mtime_ns == 1234567890123456789LL && s.duration == 3.5f && s.probs[3] == 1 && s.vec[4] == 1 &&
          s.va[0] == 7.07f && s.nsegments == 0;
    tap_ok(t, got, "songs come back in path order, the later dup.mp3 with all its fields");
    long long i = vx_index_find(ix, "m/tab\there.mp3");
    got = i == 2 && vx_index_get(ix, (size_t)i, &s, &err) == 0 && s.nsegments == 2 && s.segments[0] == 0 &&
          s.segments[5] == 1.5f && vx_index_find(ix, "a/first.ogg") == -1 && vx_index_find(ix, "zz") == -1 &&
          vx_index_find(ix, "z/last.mp3") == 3;
    tap_ok(t, got, "find by path; the removed path and an unknown one are absent; segments kept");
    vx_index_close(ix);

    /* Merge: the later file wins. */
    b = vx_index_builder_create(ixs, &err);
    vx_song newer = {"z/last.mp3", 5, 6, 7.0f, probs, vec, va, 0, NULL};
    ok = b && vx_index_builder_add(b, &newer, &err) == 0 && add_random(b, &ixs->set, &rng, "b/only.mp3", 1, &err) == 0 &&
         vx_index_builder_write(b, b2, NULL, &err) == 0;
    vx_index_builder_free(b);
    const char *both[] = {a, b2};
    ok = ok && vx_index_merge(both, 2, m, &n, &err) == 0;
    ix = ok ? vx_index_open(m, &err) : NULL;
    got = ix && n == 5 && vx_index_count(ix) == 5 && vx_index_get(ix, (size_t)vx_index_find(ix, "z/last.mp3"), &s, &err) == 0 &&
          s.size == 5 && vx_index_find(ix, "b/only.mp3") >= 0;
    tap_ok(t, got, "merge of two indexes: 4 + 2 songs, one shared path, the later file's entry kept");
    vx_index_close(ix);
    vx_index_space other = *ixs;
    other.set.va[0][0] = 8;
    b = vx_index_builder_create(&other, &err);
    ok = b && vx_index_builder_write(b, bad, NULL, &err) == 0;
    vx_index_builder_free(b);
    const char *mixed[] = {a, bad};
    tap_ok(t, ok && vx_index_merge(mixed, 2, m, NULL, &err) < 0 && strstr(err.msg, "another emotion space"),
           "merge refuses an index made in another space: %s", err.msg);

    /* An empty index is valid. */
    b = vx_index_builder_create(ixs, &err);
    ok = b && vx_index_builder_write(b, bad, NULL, &err) == 0;
    vx_index_builder_free(b);
    ix = ok ? vx_index_open(bad, &err) : NULL;
    tap_ok(t, ix && vx_index_count(ix) == 0 && vx_index_check(ix, &err) == 0 && vx_index_find(ix, "x") == -1,
           "an index of no songs opens with count 0");
    vx_index_close(ix);

    /* Damaged files. */
    size_t size = file_size(a);
    damaged_copy(a, bad, 0, 0, NULL, 0);
    tap_ok(t, opens_with(bad, "empty file"), "an empty file is refused");
    damaged_copy(a, bad, 100, 0, NULL, 0);
    tap_ok(t, opens_with(bad, "truncated song index"), "the header cut short is refused");
    damaged_copy(a, bad, size - 10, 0, NULL, 0);
    tap_ok(t, opens_with(bad, "header says"), "the index cut short by 10 bytes is refused");
    damaged_copy(a, bad, size, 0, "VXSTREAM", 8);
    tap_ok(t, opens_with(bad, "bad magic"), "the wrong magic is refused");
    uint32_t v = 9;
    damaged_copy(a, bad, size, 8, &v, 4);
    tap_ok(t, opens_with(bad, "version 9 is not supported"), "an unknown version is refused");
    uint64_t huge = (uint64_t)1 << 40;
    damaged_copy(a, bad, size, 24, &huge, 8);
    tap_ok(t, opens_with(bad, "is absurd"), "2^40 songs is refused before any use");
    huge = 5;
    damaged_copy(a, bad, size, 24, &huge, 8);
    tap_ok(t, opens_with(bad, "where its counts say"), "a song count that disagrees with the sections is refused");
    uint32_t k = 99;
    damaged_copy(a, bad, size, 40, &k, 4);
    tap_ok(t, opens_with(bad, "99 classes"), "99 classes is refused");
    uint64_t off = size - 8;
    damaged_copy(a, bad, size, 48 + 16 * 2, &off, 8);
    tap_ok(t, opens_with(bad, "lies outside the file"), "a section reaching past the end is refused");
    /* An entry's path offset pointing away: the header is fine, the song is not. */
    ix = vx_index_open(a, &err);
    uint64_t entries_off = 0;
    FILE *f = fopen(a, "rb");
    if (f && fseek(f, 48 + 16 * 3, SEEK_SET) == 0 && fread(&entries_off, 8, 1, f) == 1)
        fclose(f);
    vx_index_close(ix);
    uint64_t far = 1u << 30;
    damaged_copy(a, bad, size, (size_t)entries_off + 48, &far, 8);
    ix = vx_index_open(bad, &err);
    got = ix && vx_index_get(ix, 1, &s, &err) < 0 && strstr(err.msg, "bad path offset") && vx_index_get(ix, 0, &s, &err) == 0 &&
          vx_index_check(ix, &err) < 0;
    tap_ok(t, got, "an entry whose path points outside: get and check refuse it, other songs still read");
    vx_index_close(ix);
    float nan = NAN;
    damaged_copy(a, bad, size, HEADER_VECTORS_AT, &nan, 4);
    ix = vx_index_open(bad, &err);
    tap_ok(t, ix && vx_index_check(ix, &err) < 0 && strstr(err.msg, "not finite"), "check finds a NaN in the vectors");
    vx_index_close(ix);
    unlink(a);
    unlink(b2);
    unlink(m);
    unlink(bad);
}

/* ------------------------------------------------------------------ match tests */

/* The k best by brute force: every song scored with vx_match_similarity, selection sort. */
static int brute_matches(const vx_index *ix, enum vx_match_space space, const float *target, int k,
                         const vx_match_result *r, int n)
{
    size_t count = vx_index_count(ix);
    const float *arr = space == VX_MATCH_VA ? vx_index_points(ix) : vx_index_vectors(ix);
    int d = vx_match_dims(space);
    double *score = malloc(count * sizeof *score);
    for (size_t i = 0; i < count; i++)
        score[i] = vx_match_similarity(space, target, arr + i * (size_t)d, NULL);
    int same = n == k;
    for (int j = 0; j < k && same; j++) {
        size_t best = 0;
        for (size_t i = 1; i < count; i++)
            if (score[i] > score[best])
                best = i;
        /* Equal scores may come in either order; compare scores, and songs when they differ. */
        same = fabs(score[best] - r[j].score) < 1e-5;
        if (!same)
            tap_diag("rank %d: brute %zu %.7f, scan %zu %.7f (n %d)", j + 1, best, score[best], r[j].song, r[j].score, n);
        score[best] = -HUGE_VAL;
    }
    free(score);
    return same;
}

static double mean_pairwise(const vx_index *ix, enum vx_match_space space, const vx_match_result *r, int n)
{
    const float *arr = space == VX_MATCH_VA ? vx_index_points(ix) : vx_index_vectors(ix);
    int d = vx_match_dims(space);
    double sum = 0;
    int pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, pairs++)
            sum += vx_match_similarity(space, arr + r[i].song * (size_t)d, arr + r[j].song * (size_t)d, NULL);
    return pairs ? sum / pairs : 0;
}

static void test_match(tap *t, const vx_index_space *ixs, const char *dir)
{
    vx_error err;
    uint64_t rng = 7;
    char path[512], song[64];
    snprintf(path, sizeof path, "%s/match.vxi", dir);
    vx_index_builder *b = vx_index_builder_create(ixs, &err);
    for (int i = 0; b && i < 3000; i++) {
        snprintf(song, sizeof song, "song%04d.mp3", i);
        add_random(b, &ixs->set, &rng, song, 1, &err);
    }
    vx_index *ix = b && vx_index_builder_write(b, path, NULL, &err) == 0 ? vx_index_open(path, &err) : NULL;
    vx_index_builder_free(b);
    if (!ix) {
        tap_diag("%s", err.msg);
        return;
    }
    vx_match_opts o = {.space = VX_MATCH_EMOTIONS, .k = 10};
    vx_match_result r[40], r2[40];
    float face[7], target[7];
    int n, n2, all = 1;
    for (int q = 0; q < 20; q++) {
        random_probs(&rng, face, 7);
        o.space = q % 2 ? VX_MATCH_VA : VX_MATCH_EMOTIONS;
        all &= vx_match_target(ixs, &o, face, target, &err) == 0 && vx_match_run(ix, &o, target, r, &n, &err) == 0 &&
               brute_matches(ix, o.space, target, 10, r, n);
        for (int j = 1; j < n; j++)
            all &= r[j - 1].score >= r[j].score;
    }
    tap_ok(t, all, "20 queries in both spaces: the top 10 are the brute-force top 10, best first");

    o.space = VX_MATCH_EMOTIONS;
    float happy[7] = {0, 0, 0, 1, 0, 0, 0};
    vx_match_target(ixs, &o, happy, target, &err);
    vx_match_run(ix, &o, target, r, &n, &err);
    unsigned char *ex = calloc(vx_index_count(ix), 1);
    for (int j = 0; j < 5; j++)
        ex[r[j].song] = 1;
    o.exclude = ex;
    vx_match_run(ix, &o, target, r2, &n2, &err);
    int clean = n2 == 10;
    for (int j = 0; j < n2; j++)
        clean &= !ex[r2[j].song];
    tap_ok(t, clean && r2[0].song == r[5].song, "excluded songs never appear: the 6th best becomes the first");
    o.exclude = NULL;
    free(ex);

    o.k = 20;
    vx_match_run(ix, &o, target, r, &n, &err);
    o.diversity = 0.7;
    vx_match_run(ix, &o, target, r2, &n2, &err);
    double plain = mean_pairwise(ix, o.space, r, n), diverse = mean_pairwise(ix, o.space, r2, n2);
    tap_ok(t, n2 == 20 && r2[0].song == r[0].song && diverse < plain - 0.01,
           "diversity 0.7: the best song first, then songs less alike (mean pairwise cosine %.3f -> %.3f)", plain, diverse);
    o.space = VX_MATCH_VA;
    o.diversity = 0;
    vx_match_target(ixs, &o, happy, target, &err);
    vx_match_run(ix, &o, target, r, &n, &err);
    o.diversity = 0.7;
    vx_match_run(ix, &o, target, r2, &n2, &err);
    plain = mean_pairwise(ix, o.space, r, n);
    diverse = mean_pairwise(ix, o.space, r2, n2);
    tap_ok(t, diverse < plain - 0.01, "diversity on the plane too (mean pairwise closeness %.3f -> %.3f)", plain, diverse);
    o.diversity = 0;
    o.k = 10;

    float sad[7] = {0, 0.2f, 0, 0, 0, 0.8f, 0};
    o.space = VX_MATCH_EMOTIONS;
    o.lift = 0.5;
    vx_match_target(ixs, &o, sad, target, &err);
    tap_ok(t, target[5] == 0.4f && target[1] == 0.1f && target[3] == 0.5f && target[4] == 0,
           "lift 0.5 in the emotion space moves half of sad and disgust to happy");
    o.space = VX_MATCH_VA;
    o.lift = 2;
    vx_match_target(ixs, &o, sad, target, &err);
    float base[2];
    vx_space_face_va(ixs->emotion_va, sad, base);
    tap_ok(t, fabsf(target[0] - (base[0] + 2)) < 1e-5f && target[1] == base[1], "lift 2 on the plane adds 2 to valence");
    o.lift = 8;
    vx_match_target(ixs, &o, happy, target, &err);
    tap_ok(t, target[0] == 9, "valence lifted past 9 stays at 9");
    o.lift = 0;
    float nanq[7] = {0, 0, 0, NAN, 0, 0, 0}, zero[7] = {0}, neg[7] = {0, 0, 0, 1, -1, 0, 0};
    tap_ok(t, vx_match_target(ixs, &o, nanq, target, &err) < 0 && strstr(err.msg, "not a number") &&
                  vx_match_target(ixs, &o, zero, target, &err) < 0 && vx_match_target(ixs, &o, neg, target, &err) < 0,
           "a NaN, all-zero or negative query is refused");
    double c[7];
    float sv[7] = {0.1f, 0, 0, 0.7f, 0.2f, 0, 0}, tv[7] = {0, 0, 0, 1, 0, 0, 0.5f};
    double sc = vx_match_similarity(VX_MATCH_EMOTIONS, tv, sv, c), sum = 0;
    for (int e = 0; e < 7; e++)
        sum += c[e];
    tap_ok(t, fabs(sum - sc) < 1e-9 && c[0] == 0 && c[3] > 0.8, "the contributions add up to the cosine");
    vx_index_close(ix);
    unlink(path);
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--generate"))
        return generate(atol(argv[2]), (uint64_t)atoll(argv[3]), argv[4]);
    if (argc == 5 && !strcmp(argv[1], "--queries"))
        return queries(atol(argv[2]), (uint64_t)atoll(argv[3]), argv[4]);
    tap t;
    vx_space sp;
    const vx_space_set *set;
    if (load_space(&sp, &set) < 0)
        tap_skip_all("cannot load " SPACE_FILE " (run from the source tree)");
    char dir[] = "/tmp/song_index.XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("no temporary directory");
    tap_plan(&t, 37);
    test_space(&t, &sp, set);
    vx_index_space ixs;
    index_space(&sp, set, &ixs);
    test_index(&t, &ixs, dir);
    test_match(&t, &ixs, dir);
    rmdir(dir);
    return tap_done(&t);
}
