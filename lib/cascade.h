/* cascade.h — private to libvx: the in-memory form of a Haar cascade, shared by the XML loader
 * (cascade.c) and the detector (cascade_scan.c). Programs use only the opaque type in vx.h. */
#ifndef VX_CASCADE_H
#define VX_CASCADE_H

#include "vx.h"

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

#endif
