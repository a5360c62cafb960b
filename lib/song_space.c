/* song_space.c — the emotion space file (vx-space(5)): a line-oriented text read with hostile input
 * in mind, and the two rules that place faces and songs in it. */
#include "vx_song.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 1024
#define MAX_TOKENS 16

/* The parse state: which set is open, what was seen. */
struct parser {
    vx_space *space;
    const char *where;
    size_t line;
    int have_version;
    int emotion_seen[VX_NCLASSES];
    vx_space_set *open;  /* the set between `set` and `end`, or NULL */
    int open_classes;    /* class lines given so far for it */
    int face_seen[VX_NCLASSES];
};

static int fail_at(struct parser *p, vx_error *err, const char *what)
{
    return vx_fail(err, "%s: line %zu: %s", p->where, p->line, what);
}

/* A whole token as a finite number in [lo, hi]. */
static int number(struct parser *p, const char *tok, double lo, double hi, float *out, vx_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(tok, &end);
    if (end == tok || *end || errno == ERANGE || !isfinite(v))
        return vx_fail(err, "%s: line %zu: '%s' is not a number", p->where, p->line, tok);
    if (v < lo || v > hi)
        return vx_fail(err, "%s: line %zu: %s is outside %g..%g", p->where, p->line, tok, lo, hi);
    *out = (float)v;
    return 0;
}

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= VX_SPACE_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (*s == ',' || (unsigned char)*s < 0x21 || *s == 0x7f)
            return 0;
    return 1;
}

/* `set A,B,C`: names split on commas, each valid and distinct. */
static int open_set(struct parser *p, const char *list, vx_error *err)
{
    vx_space *s = p->space;
    if (p->open)
        return fail_at(p, err, "'set' inside a set (missing 'end')");
    if (s->nsets == VX_SPACE_MAX_SETS)
        return fail_at(p, err, "too many class sets");
    vx_space_set *set = &s->sets[s->nsets];
    memset(set, 0, sizeof *set);
    const char *c = list;
    for (;;) {
        size_t len = strcspn(c, ",");
        if (set->nclasses == VX_NET_MAX_CLASSES)
            return fail_at(p, err, "too many classes in the set");
        if (len == 0 || len >= VX_SPACE_NAME_MAX)
            return fail_at(p, err, "empty or over-long class name");
        memcpy(set->names[set->nclasses], c, len);
        set->names[set->nclasses][len] = 0;
        if (!valid_name(set->names[set->nclasses]))
            return fail_at(p, err, "bad class name");
        for (int i = 0; i < set->nclasses; i++)
            if (!strcmp(set->names[i], set->names[set->nclasses]))
                return fail_at(p, err, "a class is named twice");
        set->nclasses++;
        if (!c[len])
            break;
        c += len + 1;
    }
    char joined[VX_NET_MAX_CLASSES * VX_SPACE_NAME_MAX];
    vx_space_set_names(set, joined, sizeof joined);
    if (vx_space_find_set(s, joined))
        return fail_at(p, err, "the class set is defined twice");
    for (int e = 0; e < VX_NCLASSES; e++) {
        set->face_class[e] = -1;
        p->face_seen[e] = 0;
    }
    p->open = set;
    p->open_classes = 0;
    return 0;
}

/* `class NAME valence arousal w_anger .. w_surprise`, in the set's order. */
static int class_line(struct parser *p, char **tok, int ntok, vx_error *err)
{
    vx_space_set *set = p->open;
    if (!set)
        return fail_at(p, err, "'class' outside a set");
    if (ntok != 3 + VX_NCLASSES)
        return fail_at(p, err, "'class' wants a name, valence, arousal and 7 weights");
    if (p->open_classes == set->nclasses)
        return fail_at(p, err, "more class lines than the set has classes");
    int k = p->open_classes;
    if (strcmp(tok[0], set->names[k]))
        return vx_fail(err, "%s: line %zu: class '%s' where the set's class %d, '%s', was due", p->where, p->line,
                       tok[0], k + 1, set->names[k]);
    if (number(p, tok[1], 1, 9, &set->va[k][0], err) < 0 || number(p, tok[2], 1, 9, &set->va[k][1], err) < 0)
        return -1;
    double sum = 0;
    for (int e = 0; e < VX_NCLASSES; e++) {
        if (number(p, tok[3 + e], 0, 1, &set->profile[k][e], err) < 0)
            return -1;
        sum += set->profile[k][e];
    }
    if (fabs(sum - 1) > 1e-3)
        return fail_at(p, err, "the 7 weights of a class must sum to 1");
    p->open_classes++;
    return 0;
}

/* `face EMOTION CLASS|-`: the congruent class, for judging. */
static int face_line(struct parser *p, char **tok, int ntok, vx_error *err)
{
    vx_space_set *set = p->open;
    if (!set)
        return fail_at(p, err, "'face' outside a set");
    if (ntok != 2)
        return fail_at(p, err, "'face' wants an emotion and a class (or -)");
    int e = vx_class_from_name(tok[0]);
    if (e < 0 || strcmp(tok[0], vx_class_name(e)))
        return vx_fail(err, "%s: line %zu: '%s' is not one of the 7 emotions", p->where, p->line, tok[0]);
    if (p->face_seen[e])
        return fail_at(p, err, "the emotion has two 'face' lines");
    p->face_seen[e] = 1;
    if (!strcmp(tok[1], "-"))
        return 0;
    for (int k = 0; k < set->nclasses; k++)
        if (!strcmp(tok[1], set->names[k])) {
            set->face_class[e] = k;
            return 0;
        }
    return vx_fail(err, "%s: line %zu: '%s' is not a class of the set", p->where, p->line, tok[1]);
}

static int point_line(struct parser *p, char **tok, int ntok, int is_anchor, vx_error *err)
{
    vx_space *s = p->space;
    if (p->open)
        return fail_at(p, err, "points are given outside a set");
    if (ntok != 3)
        return fail_at(p, err, "a point wants a name, valence and arousal");
    float va[2];
    if (number(p, tok[1], 1, 9, &va[0], err) < 0 || number(p, tok[2], 1, 9, &va[1], err) < 0)
        return -1;
    if (!is_anchor) {
        int e = vx_class_from_name(tok[0]);
        if (e < 0 || strcmp(tok[0], vx_class_name(e)))
            return vx_fail(err, "%s: line %zu: '%s' is not one of the 7 emotions", p->where, p->line, tok[0]);
        if (p->emotion_seen[e])
            return fail_at(p, err, "the emotion is given twice");
        p->emotion_seen[e] = 1;
        memcpy(s->emotion_va[e], va, sizeof va);
        return 0;
    }
    if (!valid_name(tok[0]))
        return fail_at(p, err, "bad anchor name");
    for (int i = 0; i < s->nanchors; i++)
        if (!strcmp(s->anchor_names[i], tok[0]))
            return fail_at(p, err, "the anchor is given twice");
    if (s->nanchors == VX_SPACE_MAX_ANCHORS)
        return fail_at(p, err, "too many anchors");
    strcpy(s->anchor_names[s->nanchors], tok[0]);
    memcpy(s->anchor_va[s->nanchors++], va, sizeof va);
    return 0;
}

static int parse_line(struct parser *p, char *line, vx_error *err)
{
    char *hash = strchr(line, '#');
    if (hash)
        *hash = 0;
    char *tok[MAX_TOKENS];
    int ntok = 0;
    /* Fields split in place on blanks (strtok would keep hidden state). */
    for (char *c = line;;) {
        c += strspn(c, " \t\r");
        if (!*c)
            break;
        if (ntok == MAX_TOKENS)
            return fail_at(p, err, "too many fields");
        tok[ntok++] = c;
        c += strcspn(c, " \t\r");
        if (*c)
            *c++ = 0;
    }
    if (ntok == 0)
        return 0;
    if (!p->have_version) {
        if (ntok != 2 || strcmp(tok[0], "vx-emotion-space"))
            return fail_at(p, err, "not an emotion space file (the first line must be 'vx-emotion-space 1')");
        if (strcmp(tok[1], "1"))
            return vx_fail(err, "%s: line %zu: version %s is not supported (this reader knows 1)", p->where,
                           p->line, tok[1]);
        p->have_version = 1;
        p->space->version = 1;
        return 0;
    }
    const char *kw = tok[0];
    if (!strcmp(kw, "emotion") || !strcmp(kw, "anchor"))
        return point_line(p, tok + 1, ntok - 1, kw[0] == 'a', err);
    if (!strcmp(kw, "set")) {
        if (ntok != 2)
            return fail_at(p, err, "'set' wants one comma-separated list of class names");
        return open_set(p, tok[1], err);
    }
    if (!strcmp(kw, "class"))
        return class_line(p, tok + 1, ntok - 1, err);
    if (!strcmp(kw, "face"))
        return face_line(p, tok + 1, ntok - 1, err);
    if (!strcmp(kw, "end")) {
        if (!p->open || ntok != 1)
            return fail_at(p, err, "'end' without a set");
        if (p->open_classes != p->open->nclasses)
            return fail_at(p, err, "the set ends before all its classes are given");
        p->open = NULL;
        p->space->nsets++;
        return 0;
    }
    return vx_fail(err, "%s: line %zu: unknown keyword '%.40s'", p->where, p->line, kw);
}

int vx_space_parse(vx_space *space, const char *text, size_t len, const char *where, vx_error *err)
{
    struct parser p;
    memset(space, 0, sizeof *space);
    memset(&p, 0, sizeof p);
    p.space = space;
    p.where = where;
    char line[LINE_MAX_BYTES + 1];
    size_t at = 0;
    while (at < len) {
        p.line++;
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        if (n > LINE_MAX_BYTES)
            return fail_at(&p, err, "line too long");
        if (memchr(text + at, 0, n))
            return fail_at(&p, err, "NUL byte");
        memcpy(line, text + at, n);
        line[n] = 0;
        at += n + (nl != NULL);
        if (parse_line(&p, line, err) < 0)
            return -1;
    }
    if (!p.have_version)
        return vx_fail(err, "%s: empty: not an emotion space file", where);
    if (p.open)
        return vx_fail(err, "%s: the last set has no 'end'", where);
    for (int e = 0; e < VX_NCLASSES; e++)
        if (!p.emotion_seen[e])
            return vx_fail(err, "%s: no point for the emotion '%s'", where, vx_class_name(e));
    if (space->nsets == 0)
        return vx_fail(err, "%s: no class set", where);
    return 0;
}

int vx_space_load(vx_space *space, const char *path, vx_error *err)
{
    char *buf;
    size_t n;
    if (vx_read_file(path, VX_SPACE_MAX_BYTES, "emotion space", &buf, &n, err) < 0)
        return -1;
    int rc = vx_space_parse(space, buf, n, path, err);
    free(buf);
    return rc;
}

void vx_space_set_names(const vx_space_set *set, char *buf, size_t size)
{
    size_t used = 0;
    if (size)
        buf[0] = 0;
    for (int k = 0; k < set->nclasses && used < size; k++) {
        int w = snprintf(buf + used, size - used, "%s%s", k ? "," : "", set->names[k]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

const vx_space_set *vx_space_find_set(const vx_space *space, const char *classes)
{
    char joined[VX_NET_MAX_CLASSES * VX_SPACE_NAME_MAX];
    for (int i = 0; i < space->nsets; i++) {
        vx_space_set_names(&space->sets[i], joined, sizeof joined);
        if (!strcmp(joined, classes))
            return &space->sets[i];
    }
    return NULL;
}

void vx_space_song(const vx_space_set *set, const float *probs, float vec[VX_NCLASSES], float va[2])
{
    double v[VX_NCLASSES] = {0}, point[2] = {0}, mean[2] = {0}, sum = 0;
    for (int k = 0; k < set->nclasses; k++) {
        for (int e = 0; e < VX_NCLASSES; e++)
            v[e] += (double)probs[k] * set->profile[k][e];
        for (int d = 0; d < 2; d++) {
            point[d] += (double)probs[k] * set->va[k][d];
            mean[d] += set->va[k][d] / set->nclasses;
        }
        sum += probs[k];
    }
    for (int e = 0; e < VX_NCLASSES; e++)
        vec[e] = (float)v[e];
    for (int d = 0; d < 2; d++)
        va[d] = (float)(sum > 0 ? point[d] / sum : mean[d]);
}

void vx_space_face_va(const float emotion_va[VX_NCLASSES][2], const float p[VX_NCLASSES], float va[2])
{
    double point[2] = {0}, sum = 0;
    for (int e = 0; e < VX_NCLASSES; e++) {
        point[0] += (double)p[e] * emotion_va[e][0];
        point[1] += (double)p[e] * emotion_va[e][1];
        sum += p[e];
    }
    va[0] = (float)(sum > 0 ? point[0] / sum : 5);
    va[1] = (float)(sum > 0 ? point[1] / sum : 5);
}
