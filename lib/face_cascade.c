/* face_cascade.c — loading OpenCV's Haar cascade XML (the "new" format of opencv_traincascade) into
 * the arrays the detector walks. The XML reader (face_xml.c) builds a tree; this file checks every
 * element the way CascadeClassifierImpl::Data::read and HaarEvaluator::read use it. */
#define _POSIX_C_SOURCE 200809L
#include "face_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep a hostile file from asking for absurd memory or time. */
#define MAX_XML_BYTES ((size_t)64 << 20)
#define MAX_WINDOW 4096
/* OpenCV lowers every stage threshold by this much (cascadedetect.cpp, THRESHOLD_EPS). */
static const float threshold_eps = 1e-5f;

/* --------------------------------------------------------- cascade reader */

/* Reading context: messages name the file, the line and the element. */
struct reader {
    const struct xml_doc *doc;
    vx_error *err;
};

static int elem_fail(struct reader *rd, int node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int elem_fail(struct reader *rd, int node, const char *fmt, ...)
{
    const struct xml_node *n = &rd->doc->nodes[node];
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vx_fail(rd->err, "%s:%d: <%.*s>: %s", rd->doc->where, n->line, (int)n->name_len, n->name, msg);
}

/* The child `name` of parent, which must exist. */
static int need_child(struct reader *rd, int parent, const char *name)
{
    int c = xml_child(rd->doc, parent, name);
    if (c < 0)
        elem_fail(rd, parent, "missing <%s>", name);
    return c;
}

/* Numbers in an element's text, whitespace-separated, as OpenCV's FileStorage reads them:
 * strtod to double (the caller narrows to float where OpenCV does). */
struct numbers {
    const char *p, *end;
};

static void numbers_init(struct numbers *ns, const struct xml_node *n)
{
    ns->p = n->text ? n->text : "";
    ns->end = n->text ? n->text + n->text_len : ns->p;
}

/* 1 and the value; 0 at the end; -1 on a token that is no number. */
static int numbers_next(struct reader *rd, int node, struct numbers *ns, double *v)
{
    while (ns->p < ns->end && xml_is_space(*ns->p))
        ns->p++;
    if (ns->p >= ns->end)
        return 0;
    const char *tok = ns->p;
    while (ns->p < ns->end && !xml_is_space(*ns->p))
        ns->p++;
    char buf[64];
    size_t n = (size_t)(ns->p - tok);
    if (n >= sizeof buf)
        return elem_fail(rd, node, "'%.20s...' is not a number", tok);
    memcpy(buf, tok, n);
    buf[n] = 0;
    char *e;
    errno = 0;
    *v = strtod(buf, &e);
    if (e == buf || *e || errno == ERANGE || !isfinite(*v))
        return elem_fail(rd, node, "'%s' is not a number", buf);
    return 1;
}

static int numbers_count(struct reader *rd, int node)
{
    struct numbers ns;
    numbers_init(&ns, &rd->doc->nodes[node]);
    double v;
    int n = 0, got;
    while ((got = numbers_next(rd, node, &ns, &v)) == 1)
        n++;
    return got < 0 ? -1 : n;
}

static int as_int(struct reader *rd, int node, double v, long lo, long hi, const char *what, int *out)
{
    if (v != floor(v) || v < (double)lo || v > (double)hi)
        return elem_fail(rd, node, "%s %g is not an integer in %ld..%ld", what, v, lo, hi);
    *out = (int)v;
    return 0;
}

/* An element holding exactly one integer. */
static int read_int(struct reader *rd, int parent, const char *name, long lo, long hi, int *out)
{
    int c = need_child(rd, parent, name);
    if (c < 0)
        return -1;
    struct numbers ns;
    numbers_init(&ns, &rd->doc->nodes[c]);
    double v, extra;
    int got = numbers_next(rd, c, &ns, &v);
    if (got <= 0)
        return got < 0 ? -1 : elem_fail(rd, c, "expected a number");
    if ((got = numbers_next(rd, c, &ns, &extra)) != 0)
        return got < 0 ? -1 : elem_fail(rd, c, "expected one number");
    return as_int(rd, c, v, lo, hi, "value", out);
}

static int text_is(const struct xml_node *n, const char *s)
{
    return n->text && strlen(s) == n->text_len && memcmp(n->text, s, n->text_len) == 0;
}

static int read_header(struct reader *rd, int root, vx_cascade *c)
{
    int n = need_child(rd, root, "stageType");
    if (n < 0)
        return -1;
    if (!text_is(&rd->doc->nodes[n], "BOOST"))
        return elem_fail(rd, n, "only BOOST cascades are supported");
    if ((n = need_child(rd, root, "featureType")) < 0)
        return -1;
    if (!text_is(&rd->doc->nodes[n], "HAAR"))
        return elem_fail(rd, n, "only HAAR features are supported (not %.*s)", (int)rd->doc->nodes[n].text_len,
                         rd->doc->nodes[n].text ? rd->doc->nodes[n].text : "");
    if (read_int(rd, root, "width", 1, MAX_WINDOW, &c->win_w) < 0 ||
        read_int(rd, root, "height", 1, MAX_WINDOW, &c->win_h) < 0)
        return -1;
    /* OpenCV's normalisation rectangle is the window less a one-pixel border. */
    if (c->win_w < 3 || c->win_h < 3)
        return elem_fail(rd, root, "window %dx%d is smaller than 3x3", c->win_w, c->win_h);
    int fp = need_child(rd, root, "featureParams");
    if (fp < 0)
        return -1;
    int cat = 0;
    if (xml_child(rd->doc, fp, "maxCatCount") >= 0 && read_int(rd, fp, "maxCatCount", 0, 1 << 20, &cat) < 0)
        return -1;
    if (cat != 0)
        return elem_fail(rd, xml_child(rd->doc, fp, "maxCatCount"), "categorical (LBP) splits are not supported");
    return 0;
}

static void *grow(void *p, int *cap, int need, size_t elem, vx_error *err)
{
    if (need <= *cap)
        return p;
    int cap2 = *cap ? *cap : 64;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(p, (size_t)cap2 * elem);
    if (!q) {
        vx_fail(err, "out of memory loading a cascade");
        return NULL;
    }
    *cap = cap2;
    return q;
}

struct caps {
    int stages, trees, nodes, leaves;
};

/* One weak classifier: internalNodes holds (left right feature threshold) per node. */
static int read_tree(struct reader *rd, int weak, vx_cascade *c, struct caps *cap)
{
    int in = need_child(rd, weak, "internalNodes"), lv = need_child(rd, weak, "leafValues");
    if (in < 0 || lv < 0)
        return -1;
    int nvals = numbers_count(rd, in), nleaves = numbers_count(rd, lv);
    if (nvals < 0 || nleaves < 0)
        return -1;
    if (nvals == 0 || nvals % 4 != 0)
        return elem_fail(rd, in, "expected groups of 4 numbers (left right feature threshold), found %d numbers",
                         nvals);
    int nnodes = nvals / 4;
    /* OpenCV steps through the leaves as if every tree had nodes + 1 of them. */
    if (nleaves != nnodes + 1)
        return elem_fail(rd, lv, "%d nodes need %d leaf values, found %d", nnodes, nnodes + 1, nleaves);
    struct cascade_node *nodes = grow(c->nodes, &cap->nodes, c->nnodes + nnodes, sizeof *nodes, rd->err);
    if (!nodes)
        return -1;
    c->nodes = nodes;
    float *leaves = grow(c->leaves, &cap->leaves, c->nleaves + nleaves, sizeof *leaves, rd->err);
    if (!leaves)
        return -1;
    c->leaves = leaves;
    struct cascade_tree *trees = grow(c->trees, &cap->trees, c->ntrees + 1, sizeof *trees, rd->err);
    if (!trees)
        return -1;
    c->trees = trees;

    struct numbers ns;
    numbers_init(&ns, &rd->doc->nodes[in]);
    for (int i = 0; i < nnodes; i++) {
        double v[4];
        for (int k = 0; k < 4; k++)
            numbers_next(rd, in, &ns, &v[k]);
        struct cascade_node *n = &c->nodes[c->nnodes + i];
        if (as_int(rd, in, v[0], -nleaves + 1, nnodes - 1, "left child", &n->left) < 0 ||
            as_int(rd, in, v[1], -nleaves + 1, nnodes - 1, "right child", &n->right) < 0 ||
            as_int(rd, in, v[2], 0, c->nfeatures - 1, "feature index", &n->feature) < 0)
            return -1;
        /* Children after their parent: the walk always ends at a leaf. */
        if ((n->left > 0 && n->left <= i) || (n->right > 0 && n->right <= i))
            return elem_fail(rd, in, "node %d points back to node %d", i, n->left > 0 && n->left <= i ? n->left : n->right);
        n->threshold = (float)v[3];
    }
    numbers_init(&ns, &rd->doc->nodes[lv]);
    for (int i = 0; i < nleaves; i++) {
        double v;
        numbers_next(rd, lv, &ns, &v);
        c->leaves[c->nleaves + i] = (float)v;
    }
    c->trees[c->ntrees].first_node = c->nnodes;
    c->trees[c->ntrees].nnodes = nnodes;
    c->trees[c->ntrees].first_leaf = c->nleaves;
    c->ntrees++;
    c->nnodes += nnodes;
    c->nleaves += nleaves;
    return 0;
}

static int read_stages(struct reader *rd, int root, vx_cascade *c)
{
    int st = need_child(rd, root, "stages");
    if (st < 0)
        return -1;
    if (rd->doc->nodes[st].first_child < 0)
        return elem_fail(rd, st, "no stages");
    struct caps cap = {0, 0, 0, 0};
    for (int s = rd->doc->nodes[st].first_child; s >= 0; s = rd->doc->nodes[s].next_sibling) {
        struct cascade_stage *stages = grow(c->stages, &cap.stages, c->nstages + 1, sizeof *stages, rd->err);
        if (!stages)
            return -1;
        c->stages = stages;
        int th = need_child(rd, s, "stageThreshold");
        if (th < 0)
            return -1;
        struct numbers ns;
        double v;
        numbers_init(&ns, &rd->doc->nodes[th]);
        int got = numbers_next(rd, th, &ns, &v);
        if (got <= 0)
            return got < 0 ? -1 : elem_fail(rd, th, "expected a number");
        int wc = need_child(rd, s, "weakClassifiers");
        if (wc < 0)
            return -1;
        if (rd->doc->nodes[wc].first_child < 0)
            return elem_fail(rd, wc, "no weak classifiers");
        struct cascade_stage *stage = &c->stages[c->nstages];
        stage->first_tree = c->ntrees;
        stage->threshold = (float)v - threshold_eps;
        for (int w = rd->doc->nodes[wc].first_child; w >= 0; w = rd->doc->nodes[w].next_sibling)
            if (read_tree(rd, w, c, &cap) < 0)
                return -1;
        stage->ntrees = c->ntrees - stage->first_tree;
        c->nstages++;
    }
    return 0;
}

static int read_rect(struct reader *rd, int node, const vx_cascade *c, struct cascade_rect *r)
{
    struct numbers ns;
    numbers_init(&ns, &rd->doc->nodes[node]);
    double v[5];
    int n = 0, got;
    while (n < 6 && (got = numbers_next(rd, node, &ns, &v[n < 5 ? n : 4])) == 1)
        n++;
    if (got < 0)
        return -1;
    if (n != 5)
        return elem_fail(rd, node, "expected 5 numbers (x y width height weight), found %s", n > 5 ? "more" : "fewer");
    if (as_int(rd, node, v[0], 0, c->win_w - 1, "x", &r->x) < 0 ||
        as_int(rd, node, v[1], 0, c->win_h - 1, "y", &r->y) < 0 ||
        as_int(rd, node, v[2], 0, c->win_w - r->x, "width", &r->w) < 0 ||
        as_int(rd, node, v[3], 0, c->win_h - r->y, "height", &r->h) < 0)
        return -1;
    r->weight = (float)v[4];
    return 0;
}

static int read_features(struct reader *rd, int root, vx_cascade *c)
{
    int fs = need_child(rd, root, "features");
    if (fs < 0)
        return -1;
    c->nfeatures = xml_count_children(rd->doc, fs);
    if (c->nfeatures == 0)
        return elem_fail(rd, fs, "no features");
    c->features = calloc((size_t)c->nfeatures, sizeof *c->features);
    if (!c->features)
        return vx_fail(rd->err, "out of memory loading a cascade");
    int i = 0;
    for (int f = rd->doc->nodes[fs].first_child; f >= 0; f = rd->doc->nodes[f].next_sibling, i++) {
        struct cascade_feature *ft = &c->features[i];
        int rects = need_child(rd, f, "rects");
        if (rects < 0)
            return -1;
        for (int r = rd->doc->nodes[rects].first_child; r >= 0; r = rd->doc->nodes[r].next_sibling) {
            if (ft->nrects == CASCADE_MAX_RECTS)
                return elem_fail(rd, rects, "more than %d rectangles", CASCADE_MAX_RECTS);
            if (read_rect(rd, r, c, &ft->rect[ft->nrects]) < 0)
                return -1;
            ft->nrects++;
        }
        if (ft->nrects == 0)
            return elem_fail(rd, rects, "no rectangles");
        if (xml_child(rd->doc, f, "tilted") >= 0 && read_int(rd, f, "tilted", 0, 1, &ft->tilted) < 0)
            return -1;
        if (ft->tilted) {
            /* A rectangle turned 45 degrees must stay inside the window (OpenCV does not check;
             * a trained cascade never breaks it). */
            for (int k = 0; k < ft->nrects; k++) {
                const struct cascade_rect *q = &ft->rect[k];
                if (q->x - q->h < 0 || q->x + q->w > c->win_w || q->y + q->w + q->h > c->win_h)
                    return elem_fail(rd, rects, "tilted rectangle %d %d %d %d leaves the %dx%d window", q->x, q->y,
                                     q->w, q->h, c->win_w, c->win_h);
            }
            c->has_tilted = 1;
        }
    }
    return 0;
}

/* Flattening to stumps mirrors OpenCV's maxNodesPerTree == 1. */
static int finish(struct reader *rd, vx_cascade *c)
{
    int max_nodes = 0;
    for (int t = 0; t < c->ntrees; t++)
        if (c->trees[t].nnodes > max_nodes)
            max_nodes = c->trees[t].nnodes;
    if (max_nodes != 1)
        return 0;
    c->stumps = malloc((size_t)c->ntrees * sizeof *c->stumps);
    if (!c->stumps)
        return vx_fail(rd->err, "out of memory loading a cascade");
    for (int t = 0; t < c->ntrees; t++) {
        const struct cascade_tree *tr = &c->trees[t];
        const struct cascade_node *n = &c->nodes[tr->first_node];
        /* As OpenCV's Stump: the first leaf below the threshold, the second above, whatever
         * the node's left and right say. */
        c->stumps[t].feature = n->feature;
        c->stumps[t].threshold = n->threshold;
        c->stumps[t].left = c->leaves[tr->first_leaf];
        c->stumps[t].right = c->leaves[tr->first_leaf + 1];
    }
    return 0;
}

vx_cascade *vx_cascade_parse(const char *text, size_t len, const char *where, vx_error *err)
{
    struct xml_doc doc;
    vx_cascade *c = calloc(1, sizeof *c);
    if (!c) {
        vx_fail(err, "out of memory loading a cascade");
        return NULL;
    }
    if (xml_parse(&doc, text, len, where, err) < 0)
        goto fail;
    struct reader rd = {&doc, err};
    /* <opencv_storage> holds the cascade as its first element, whatever its name. */
    if (!xml_node_is(&doc.nodes[0], "opencv_storage")) {
        elem_fail(&rd, 0, "expected <opencv_storage> as the root element");
        goto fail;
    }
    int root = doc.nodes[0].first_child;
    if (root < 0) {
        elem_fail(&rd, 0, "empty: no cascade inside");
        goto fail;
    }
    if (xml_child(&doc, root, "stageType") < 0 && xml_child(&doc, root, "size") >= 0) {
        elem_fail(&rd, root, "an old-format cascade (opencv-haar-classifier) is not supported; "
                             "re-save it with OpenCV's opencv_traincascade format");
        goto fail;
    }
    /* Features first, so that each node's feature index is checked where it is written. */
    if (read_header(&rd, root, c) < 0 || read_features(&rd, root, c) < 0 || read_stages(&rd, root, c) < 0 ||
        finish(&rd, c) < 0)
        goto fail;
    free(doc.nodes);
    return c;
fail:
    free(doc.nodes);
    vx_cascade_free(c);
    return NULL;
}

vx_cascade *vx_cascade_load(const char *path, vx_error *err)
{
    char *buf;
    size_t len;
    if (vx_read_file(path, MAX_XML_BYTES, "cascade", &buf, &len, err) < 0)
        return NULL;
    vx_cascade *c = vx_cascade_parse(buf, len, path, err);
    free(buf);
    return c;
}

void vx_cascade_free(vx_cascade *c)
{
    if (!c)
        return;
    free(c->stages);
    free(c->trees);
    free(c->nodes);
    free(c->leaves);
    free(c->features);
    free(c->stumps);
    free(c);
}

void vx_cascade_window(const vx_cascade *c, int *width, int *height)
{
    *width = c->win_w;
    *height = c->win_h;
}
