/* song_match.c — a face to songs: the query's target in the chosen space (with the mood lift), the
 * similarity, and the top-k scan over the index's contiguous arrays, optionally diversified (MMR). */
#include "vx_song.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The middle of the norms' 1..9 valence scale: below it an emotion counts as negative. */
#define VALENCE_MIDDLE 5.0f

int vx_match_dims(enum vx_match_space space) { return space == VX_MATCH_VA ? 2 : VX_NCLASSES; }

int vx_match_target(const vx_index_space *sp, const vx_match_opts *o, const float p[VX_NCLASSES], float *target,
                    vx_error *err)
{
    float sum = 0;
    for (int e = 0; e < VX_NCLASSES; e++) {
        if (!isfinite(p[e]))
            return vx_fail(err, "the query's %s value is not a number", vx_class_name(e));
        if (p[e] < 0)
            return vx_fail(err, "the query's %s value is negative", vx_class_name(e));
        sum += p[e];
    }
    if (!(sum > 0))
        return vx_fail(err, "the query is all zeros");
    if (o->space == VX_MATCH_EMOTIONS) {
        memcpy(target, p, VX_NCLASSES * sizeof *target);
        int happy = vx_class_from_name("happy");
        for (int e = 0; e < VX_NCLASSES && o->lift > 0; e++)
            if (sp->emotion_va[e][0] < VALENCE_MIDDLE) {
                float moved = (float)o->lift * p[e];
                target[e] -= moved;
                target[happy] += moved;
            }
        return 0;
    }
    vx_space_face_va(sp->emotion_va, p, target);
    target[0] = fminf(9.0f, target[0] + (float)o->lift);
    return 0;
}

double vx_match_similarity(enum vx_match_space space, const float *a, const float *b, double *contrib)
{
    int d = vx_match_dims(space);
    if (space == VX_MATCH_VA) {
        double dv = (double)a[0] - b[0], da = (double)a[1] - b[1], d2 = dv * dv + da * da;
        double score = 1 - sqrt(d2) / VX_VA_MAX_DISTANCE;
        if (contrib) {
            contrib[0] = d2 > 0 ? dv * dv / d2 : 0;
            contrib[1] = d2 > 0 ? da * da / d2 : 0;
        }
        return isfinite(score) ? score : -1;
    }
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < d; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    double norm = sqrt(na) * sqrt(nb);
    for (int i = 0; contrib && i < d; i++)
        contrib[i] = norm > 0 ? (double)a[i] * b[i] / norm : 0;
    double score = norm > 0 ? dot / norm : 0;
    return isfinite(score) ? score : -1;
}

/* A min-heap of the best candidates so far: heap[0] is the worst kept. */
struct heap {
    vx_match_result *r;
    int n, cap;
};

static int worse(const vx_match_result *a, const vx_match_result *b)
{
    /* Ties go to the earlier song (path order), so results do not depend on the scan. */
    return a->score < b->score || (a->score == b->score && a->song > b->song);
}

static void heap_offer(struct heap *h, size_t song, float score)
{
    vx_match_result x = {song, score};
    int i;
    if (h->n < h->cap) {
        i = h->n++;
        while (i > 0 && worse(&x, &h->r[(i - 1) / 2])) {
            h->r[i] = h->r[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        h->r[i] = x;
        return;
    }
    if (!worse(&h->r[0], &x))
        return;
    i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && worse(&h->r[c + 1], &h->r[c]))
            c++;
        if (!worse(&h->r[c], &x))
            break;
        h->r[i] = h->r[c];
        i = c;
    }
    h->r[i] = x;
}

static int best_first(const void *pa, const void *pb)
{
    const vx_match_result *a = pa, *b = pb;
    return worse(a, b) - worse(b, a);
}

/* x |x|: squaring that keeps the sign, so comparisons of cosines need no square root. */
static float signed_square(float x) { return x * fabsf(x); }

/* The scan: the two spaces' inner loops written out, each a straight loop over floats. A song is
 * scored exactly only when it can enter the heap: on the plane the squared distance is compared
 * with the worst kept one's; for cosine dot |dot| / |s|^2 (monotone in the cosine) is compared
 * without a division or a square root. A NaN fails every comparison, so a damaged value is no match. */
static void scan(const vx_index *ix, const vx_match_opts *o, const float *t, struct heap *h)
{
    size_t n = vx_index_count(ix);
    if (o->space == VX_MATCH_VA) {
        const float *p = vx_index_points(ix);
        const float scale = (float)VX_VA_MAX_DISTANCE;
        float limit = HUGE_VALF; /* squared distance of the worst kept song */
        for (size_t i = 0; i < n; i++) {
            float dv = t[0] - p[2 * i], da = t[1] - p[2 * i + 1], d2 = dv * dv + da * da;
            if (!(d2 <= limit) || (o->exclude && o->exclude[i]))
                continue;
            heap_offer(h, i, 1.0f - sqrtf(d2) / scale);
            if (h->n == h->cap) {
                float worst = (1.0f - h->r[0].score) * scale;
                limit = worst * worst * 1.0001f + 1e-6f; /* slack for the rounding of score */
            }
        }
        return;
    }
    const float *v = vx_index_vectors(ix);
    float tn = 0;
    for (int e = 0; e < VX_NCLASSES; e++)
        tn += t[e] * t[e];
    tn = sqrtf(tn);
    float limit = 0; /* signed_square(worst kept score * |t|), once the heap is full */
    enum { BLOCK = 8 };
    for (size_t i0 = 0; i0 < n; i0 += BLOCK) {
        /* A block of songs at once: their sums are independent chains, not one long one. */
        size_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
        float dot[BLOCK] = {0}, sn[BLOCK] = {0};
        const float *s = v + i0 * VX_NCLASSES;
        if (m == BLOCK) {
            for (int e = 0; e < VX_NCLASSES; e++)
                for (int j = 0; j < BLOCK; j++) {
                    float x = s[j * VX_NCLASSES + e];
                    dot[j] += t[e] * x;
                    sn[j] += x * x;
                }
        } else {
            for (size_t j = 0; j < m; j++)
                for (int e = 0; e < VX_NCLASSES; e++) {
                    dot[j] += t[e] * s[j * VX_NCLASSES + e];
                    sn[j] += s[j * VX_NCLASSES + e] * s[j * VX_NCLASSES + e];
                }
        }
        for (size_t j = 0; j < m; j++) {
            size_t i = i0 + j;
            if (h->n == h->cap && !(signed_square(dot[j]) >= limit * sn[j]))
                continue;
            if (o->exclude && o->exclude[i])
                continue;
            float norm = tn * sqrtf(sn[j]);
            float score = norm > 0 ? dot[j] / norm : 0;
            if (!(score >= -1.0001f && score <= 1.0001f))
                continue;
            heap_offer(h, i, score);
            if (h->n == h->cap) {
                float worst = signed_square(h->r[0].score * tn);
                limit = worst - fabsf(worst) * 1e-4f; /* slack for the rounding of score */
            }
        }
    }
}

/* The candidates MMR chooses among: wide enough that a diverse pick is possible. */
static int candidate_count(int k) { return k > 1000 ? k : (k * 20 > 200 ? k * 20 : 200); }

int vx_match_run(const vx_index *ix, const vx_match_opts *o, const float *target, vx_match_result *results,
                 int *nresults, vx_error *err)
{
    *nresults = 0;
    if (o->k < 1)
        return vx_fail(err, "k must be at least 1");
    if (o->diversity < 0 || o->diversity > 1)
        return vx_fail(err, "diversity must be within 0..1");
    for (int d = 0; d < vx_match_dims(o->space); d++)
        if (!isfinite(target[d]))
            return vx_fail(err, "the target is not finite");
    int want = o->diversity > 0 ? candidate_count(o->k) : o->k;
    struct heap h = {vx_malloc((size_t)want * sizeof *h.r, err), 0, want};
    if (!h.r)
        return -1;
    scan(ix, o, target, &h);
    qsort(h.r, (size_t)h.n, sizeof *h.r, best_first);
    if (o->diversity <= 0) {
        memcpy(results, h.r, (size_t)h.n * sizeof *h.r);
        *nresults = h.n;
        free(h.r);
        return 0;
    }
    /* Greedy MMR: each step takes the candidate with the best relevance minus lambda times its
     * closeness to what is already chosen. maxsim[c] holds that closeness, updated per pick. */
    double *maxsim = vx_malloc((size_t)h.n * sizeof *maxsim, err);
    if (!maxsim) {
        free(h.r);
        return -1;
    }
    const float *arr = o->space == VX_MATCH_VA ? vx_index_points(ix) : vx_index_vectors(ix);
    int d = vx_match_dims(o->space), chosen = 0;
    double lambda = o->diversity;
    for (int c = 0; c < h.n; c++)
        maxsim[c] = -HUGE_VAL;
    while (chosen < o->k && chosen < h.n) {
        int best = -1;
        double best_v = -HUGE_VAL;
        for (int c = chosen; c < h.n; c++) {
            double v = (1 - lambda) * h.r[c].score - lambda * (chosen ? maxsim[c] : 0);
            if (best < 0 || v > best_v) {
                best = c;
                best_v = v;
            }
        }
        /* Move the pick to the front of the remaining candidates. */
        vx_match_result pick = h.r[best];
        double pick_sim = maxsim[best];
        h.r[best] = h.r[chosen];
        maxsim[best] = maxsim[chosen];
        h.r[chosen] = pick;
        maxsim[chosen] = pick_sim;
        results[chosen++] = pick;
        const float *ps = arr + pick.song * (size_t)d;
        for (int c = chosen; c < h.n; c++) {
            double s = vx_match_similarity(o->space, ps, arr + h.r[c].song * (size_t)d, NULL);
            if (s > maxsim[c])
                maxsim[c] = s;
        }
    }
    *nresults = chosen;
    free(maxsim);
    free(h.r);
    return 0;
}
