/* face_internal.h — private to libvx and its tests: the in-memory form of a Haar cascade, shared by
 * the XML loader (face_cascade.c) and the detector (face_scan.c), and the detector's parts. */
#ifndef VX_CASCADE_H
#define VX_CASCADE_H

#include "vx_face.h"

#include <math.h>

#define CASCADE_MAX_RECTS 3 /* OpenCV's HaarEvaluator::Feature::RECT_NUM */

struct cascade_rect {
    int x, y, w, h;
    float weight;
};

struct cascade_feature {
    int tilted;
    int nrects;
    struct cascade_rect rect[CASCADE_MAX_RECTS]; /* unused entries are all zero, as in OpenCV */
};

/* A tree node as OpenCV stores it: left/right > 0 name internal nodes of the same tree,
 * <= 0 name leaf -left / -right. The loader guarantees children come after their parent. */
struct cascade_node {
    int feature;
    float threshold;
    int left, right;
};

struct cascade_tree {
    int first_node, nnodes, first_leaf;
};

struct cascade_stage {
    int first_tree, ntrees;
    float threshold; /* already lowered by OpenCV's THRESHOLD_EPS */
};

/* The common case (every tree a single node) flattened as OpenCV's Stump. */
struct cascade_stump {
    int feature;
    float threshold, left, right;
};

struct vx_cascade {
    int win_w, win_h;
    int nstages, ntrees, nnodes, nleaves, nfeatures;
    struct cascade_stage *stages;
    struct cascade_tree *trees;
    struct cascade_node *nodes;
    float *leaves;
    struct cascade_feature *features;
    struct cascade_stump *stumps; /* NULL unless every tree has one node */
    int has_tilted;
};
/* A small XML reader (face_xml.c), enough for OpenCV's cascade files: a tree of elements with
 * their own text, lines kept for messages, at most 64 levels deep. */
struct xml_node {
    const char *name;
    size_t name_len;
    const char *text; /* the element's own text (NULL when only whitespace) */
    size_t text_len;
    int line;
    int first_child, next_sibling; /* indices, -1 for none */
};

struct xml_doc {
    const char *where;
    const char *p, *end;
    int line;
    struct xml_node *nodes;
    int nnodes, cap;
};
/* Parses len bytes into d (d->nodes malloc'd, node 0 the root); messages name `where` and the line. */
int xml_parse(struct xml_doc *d, const char *text, size_t len, const char *where, vx_error *err);
int xml_node_is(const struct xml_node *n, const char *name);
/* XML's whitespace: space, tab, CR, LF. */
int xml_is_space(char c);
/* The first child of parent named name, or -1; the number of parent's children. */
int xml_child(const struct xml_doc *d, int parent, const char *name);
int xml_count_children(const struct xml_doc *d, int parent);

/* cvRound: round half to even in the default rounding mode, like _mm_cvtss_si32/_mm_cvtsd_si32. */
static inline int face_round_f(float v) { return (int)lrintf(v); }
static inline int face_round_d(double v) { return (int)lrint(v); }

/* Raw detections as they are found (face_boxes.c). */
struct box_list {
    vx_box *b;
    size_t n, cap;
};
int face_box_push(struct box_list *l, int x, int y, int w, int h, vx_error *err);

/* The bit-exact pyramid (face_resize.c). */
/* cv::resize(INTER_LINEAR_EXACT) on 8-bit data works in 8.8 fixed point (ufixedpoint16):
 * each output column/row takes source index ofs and weights (256 - c, c). Columns before
 * `lo` repeat the first source pixel, columns from `hi` on repeat the last. */
struct axis {
    int *ofs;
    unsigned short *coef; /* pairs */
    int lo, hi;
};

enum resize_mode { RESIZE_COPY, RESIZE_AREA2, RESIZE_LINEAR };

/* Produces the rows of one resized image in order, holding two horizontally resized source rows. */
struct resizer {
    const unsigned char *src;
    int sw, sh;
    size_t sstride;
    int dw, dh;
    enum resize_mode mode;
    struct axis x, y;
    unsigned short *hrow[2]; /* 8.8 fixed point, dw each */
    int hsrc[2];             /* which source row each holds, -1 none */
    unsigned char *row;      /* the current output row, dw bytes */
    int next;                /* the next output row */
};

int face_resizer_init(struct resizer *rs, const unsigned char *src, int sw, int sh, size_t sstride, int dw, int dh,
                      vx_error *err);
/* The next output row (dw bytes, valid until the next call). */
const unsigned char *face_resizer_next(struct resizer *rs);
void face_resizer_free(struct resizer *rs);

/* The detector's parts, for the tests. */
/* cv::resize(src, dst, Size(dw, dh), 0, 0, INTER_LINEAR_EXACT) on 8-bit gray. */
int vx_resize_linear_exact(const unsigned char *src, int sw, int sh, size_t sstride, unsigned char *dst, int dw,
                           int dh, vx_error *err);
/* cv::groupRectangles(boxes, min_neighbors, eps) in place, with strength set to each group's size. */
int vx_boxes_group(vx_box *boxes, size_t *n, int min_neighbors, double eps, vx_error *err);
/* The largest box by area (the first of equals); -1 when n is 0. */
long vx_boxes_largest(const vx_box *boxes, size_t n);

#endif
