/* face_boxes.c — OpenCV's groupRectangles: raw detections that overlap (eps) are joined by
 * union-find into averaged boxes, each with the number of detections it stands for. */
#define _POSIX_C_SOURCE 200809L
#include "face_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OpenCV's arithmetic is float and double without fused multiply-add (its x86-64 build has no
 * FMA in this code); clang would otherwise contract a*b+c. GCC in -std=c11 mode does not. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif


int face_box_push(struct box_list *l, int x, int y, int w, int h, vx_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        vx_box *b = realloc(l->b, cap * sizeof *b);
        if (!b)
            return vx_fail(err, "out of memory: %zu candidate boxes", l->n);
        l->b = b;
        l->cap = cap;
    }
    l->b[l->n++] = (vx_box){x, y, w, h, 1};
    return 0;
}

/* OpenCV's SimilarRects. */
static int boxes_similar(const vx_box *a, const vx_box *b, double eps)
{
    double delta = eps * ((a->w < b->w ? a->w : b->w) + (a->h < b->h ? a->h : b->h)) * 0.5;
    return abs(a->x - b->x) <= delta && abs(a->y - b->y) <= delta && abs(a->x + a->w - b->x - b->w) <= delta &&
           abs(a->y + a->h - b->y - b->h) <= delta;
}

static int find_root(int *parent, int i)
{
    int r = i;
    while (parent[r] != r)
        r = parent[r];
    while (parent[i] != r) {
        int next = parent[i];
        parent[i] = r;
        i = next;
    }
    return r;
}

struct by_x {
    int x, i;
};

static int cmp_by_x(const void *a, const void *b)
{
    const struct by_x *p = a, *q = b;
    return p->x != q->x ? (p->x < q->x ? -1 : 1) : (p->i < q->i ? -1 : p->i > q->i);
}

/* cv::partition with SimilarRects: connected components of the similarity graph, numbered in
 * order of their first member, as OpenCV numbers them. Pairs are looked for only among boxes
 * whose x differ by at most the largest possible delta, which leaves the components unchanged. */
static int partition_boxes(const vx_box *b, size_t n, double eps, int *label, vx_error *err)
{
    int *parent = malloc(n * sizeof *parent);
    struct by_x *order = malloc(n * sizeof *order);
    if (!parent || !order) {
        free(parent);
        free(order);
        return vx_fail(err, "out of memory grouping %zu boxes", n);
    }
    for (size_t i = 0; i < n; i++) {
        parent[i] = (int)i;
        order[i] = (struct by_x){b[i].x, (int)i};
    }
    qsort(order, n, sizeof *order, cmp_by_x);
    for (size_t k = 0; k < n; k++) {
        const vx_box *a = &b[order[k].i];
        double reach = eps * (a->w + a->h) * 0.5; /* delta never exceeds this for a */
        for (size_t m = k + 1; m < n && order[m].x - a->x <= reach; m++) {
            if (!boxes_similar(a, &b[order[m].i], eps))
                continue;
            int r1 = find_root(parent, order[k].i), r2 = find_root(parent, order[m].i);
            if (r1 != r2)
                parent[r1 > r2 ? r1 : r2] = r1 < r2 ? r1 : r2;
        }
    }
    /* A component's class number is fixed by its first member in the original order. */
    free(order);
    int *cls = malloc(n * sizeof *cls);
    if (!cls) {
        free(parent);
        return vx_fail(err, "out of memory grouping %zu boxes", n);
    }
    for (size_t i = 0; i < n; i++)
        cls[i] = -1;
    int nclasses = 0;
    for (size_t i = 0; i < n; i++) {
        int r = find_root(parent, (int)i);
        if (cls[r] < 0)
            cls[r] = nclasses++;
        label[i] = cls[r];
    }
    free(cls);
    free(parent);
    return nclasses;
}

int vx_boxes_group(vx_box *boxes, size_t *n, int min_neighbors, double eps, vx_error *err)
{
    size_t count = *n;
    if (min_neighbors <= 0 || count == 0) {
        for (size_t i = 0; i < count; i++)
            boxes[i].strength = 1;
        return 0;
    }
    if (count > (size_t)1 << 30)
        return vx_fail(err, "too many boxes to group (%zu)", count);
    int *label = malloc(count * sizeof *label);
    if (!label)
        return vx_fail(err, "out of memory grouping %zu boxes", count);
    int nclasses = partition_boxes(boxes, count, eps, label, err);
    if (nclasses < 0) {
        free(label);
        return -1;
    }
    long long (*sum)[4] = calloc((size_t)nclasses, sizeof *sum);
    int *weight = calloc((size_t)nclasses, sizeof *weight);
    vx_box *avg = malloc((size_t)nclasses * sizeof *avg);
    if (!sum || !weight || !avg) {
        free(label);
        free(sum);
        free(weight);
        free(avg);
        return vx_fail(err, "out of memory grouping %zu boxes", count);
    }
    for (size_t i = 0; i < count; i++) {
        int c = label[i];
        sum[c][0] += boxes[i].x;
        sum[c][1] += boxes[i].y;
        sum[c][2] += boxes[i].w;
        sum[c][3] += boxes[i].h;
        weight[c]++;
    }
    /* The mean as OpenCV takes it: int sum times a float reciprocal, rounded half to even. */
    for (int c = 0; c < nclasses; c++) {
        float s = 1.f / (float)weight[c];
        avg[c] = (vx_box){face_round_f((float)sum[c][0] * s), face_round_f((float)sum[c][1] * s),
                          face_round_f((float)sum[c][2] * s), face_round_f((float)sum[c][3] * s), weight[c]};
    }
    size_t out = 0;
    for (int i = 0; i < nclasses; i++) {
        const vx_box *r1 = &avg[i];
        int n1 = weight[i], j;
        if (n1 <= min_neighbors)
            continue;
        /* Drop a small group inside a larger, stronger one. */
        for (j = 0; j < nclasses; j++) {
            int n2 = weight[j];
            if (j == i || n2 <= min_neighbors)
                continue;
            const vx_box *r2 = &avg[j];
            int dx = face_round_d(r2->w * eps), dy = face_round_d(r2->h * eps);
            if (r1->x >= r2->x - dx && r1->y >= r2->y - dy && r1->x + r1->w <= r2->x + r2->w + dx &&
                r1->y + r1->h <= r2->y + r2->h + dy && (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
                break;
        }
        if (j == nclasses)
            boxes[out++] = *r1;
    }
    *n = out;
    free(label);
    free(sum);
    free(weight);
    free(avg);
    return 0;
}

long vx_boxes_largest(const vx_box *boxes, size_t n)
{
    long best = -1;
    long long best_area = -1;
    for (size_t i = 0; i < n; i++) {
        long long a = (long long)boxes[i].w * boxes[i].h;
        if (a > best_area) {
            best_area = a;
            best = (long)i;
        }
    }
    return best;
}
