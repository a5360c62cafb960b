/* nn_eval.c — judging a network's answers: the class it picks, the confusion matrix with each
 * class's recall, and the segments of a song averaged into the song's answer (vx-infer --eval, --songs). */
#include "nn.h"

#include <stdio.h>
#include <string.h>

int vx_argmax(const float *p, int classes, size_t stride)
{
    int best = 0;
    for (int k = 1; k < classes; k++)
        if (p[(size_t)k * stride] > p[(size_t)best * stride])
            best = k;
    return best;
}

void vx_confusion_init(vx_confusion *c, int classes)
{
    memset(c, 0, sizeof *c);
    c->classes = classes;
}

int vx_confusion_add(vx_confusion *c, int truth, const float *p, size_t stride)
{
    int guess = vx_argmax(p, c->classes, stride);
    c->count[truth][guess]++;
    return guess;
}

long vx_confusion_total(const vx_confusion *c, long *right)
{
    long total = 0, diagonal = 0;
    for (int t = 0; t < c->classes; t++) {
        for (int k = 0; k < c->classes; k++)
            total += c->count[t][k];
        diagonal += c->count[t][t];
    }
    if (right)
        *right = diagonal;
    return total;
}

/* Names come from a classes= list, else the index. */
static const char *class_label(const char *class_names, int k, char *buf, size_t size)
{
    if (!vx_classes_name(class_names, k, buf, size))
        snprintf(buf, size, "%d", k);
    return buf;
}

long vx_confusion_write(FILE *f, const vx_confusion *c, const char *class_names, const char *what,
                        size_t unlabelled)
{
    char name[64];
    fprintf(f, "true\\predicted");
    for (int k = 0; k < c->classes; k++)
        fprintf(f, "\t%s", class_label(class_names, k, name, sizeof name));
    fprintf(f, "\trecall\n");
    for (int t = 0; t < c->classes; t++) {
        long row = 0;
        fprintf(f, "%s", class_label(class_names, t, name, sizeof name));
        for (int k = 0; k < c->classes; k++) {
            fprintf(f, "\t%ld", c->count[t][k]);
            row += c->count[t][k];
        }
        fprintf(f, "\t%.4f\n", row ? (double)c->count[t][t] / (double)row : 0.0);
    }
    if (unlabelled)
        fprintf(f, "unlabelled\t%zu (not counted)\n", unlabelled);
    long right, total = vx_confusion_total(c, &right);
    fprintf(f, "%s\t%ld\n", what, total);
    fprintf(f, "accuracy\t%.4f\n", total ? (double)right / (double)total : 0.0);
    return total;
}

/* ------------------------------------------------------------------ songs */

void vx_song_mean_init(vx_song_mean *s, int classes)
{
    memset(s, 0, sizeof *s);
    s->classes = classes;
}

int vx_song_mean_finish(vx_song_mean *s, vx_song_result *song)
{
    if (!s->segments)
        return 0;
    snprintf(song->name, sizeof song->name, "%s", s->name);
    song->label = s->label;
    song->segments = s->segments;
    for (int k = 0; k < s->classes; k++)
        song->probs[k] = (float)(s->sum[k] / (double)s->segments);
    s->segments = 0;
    memset(s->sum, 0, sizeof s->sum);
    return 1;
}

int vx_song_mean_add(vx_song_mean *s, const vx_record *r, const float *p, vx_song_result *finished)
{
    char name[VX_MAX_TEXT];
    if (!vx_record_get_meta(r, "song", name, sizeof name))
        snprintf(name, sizeof name, "%s", r->key);
    int done = s->segments && strcmp(name, s->name) != 0 ? vx_song_mean_finish(s, finished) : 0;
    if (!s->segments) {
        snprintf(s->name, sizeof s->name, "%s", name);
        s->label = r->label;
    }
    for (int k = 0; k < s->classes; k++)
        s->sum[k] += p[k];
    s->segments++;
    return done;
}
