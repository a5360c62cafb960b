/* nn_eval.c — judging answers against hand-computed values: the argmax over strided
 * probabilities and its tie rule, the confusion matrix as vx-infer writes it, and segments
 * averaged into songs by their song= metadata. */
#define _POSIX_C_SOURCE 200809L
#include "vx_nn.h"
#include "tap.h"

#include <string.h>

/* A record keyed `key` whose song= metadata is `song` (NULL: none), labelled `label`. */
static void segment(vx_record *r, const char *key, const char *song, int label)
{
    vx_error err;
    vx_record_set_key(r, key, &err);
    if (r->meta)
        r->meta[0] = '\0';
    if (song)
        vx_record_set_meta(r, "song", song, &err);
    r->label = label;
}

int main(void)
{
    tap t;
    tap_plan(&t, 9);
    /* [classes][n] with n = 2: sample 1 is column 1. */
    const float columns[3 * 2] = {0.1f, 0.5f, 0.7f, 0.2f, 0.2f, 0.3f};
    tap_ok(&t, vx_argmax(columns, 3, 2) == 1 && vx_argmax(columns + 1, 3, 2) == 0,
           "argmax over a stride: sample 0 is class 1, sample 1 class 0");
    const float tie[3] = {0.4f, 0.4f, 0.2f};
    tap_ok(&t, vx_argmax(tie, 3, 1) == 0, "a tie goes to the first class");

    vx_confusion c;
    vx_confusion_init(&c, 2);
    const float a[2] = {0.9f, 0.1f}, b[2] = {0.2f, 0.8f};
    vx_confusion_add(&c, 0, a, 1);
    vx_confusion_add(&c, 0, b, 1);
    vx_confusion_add(&c, 1, b, 1);
    long right, total = vx_confusion_total(&c, &right);
    tap_ok(&t, total == 3 && right == 2 && c.count[0][1] == 1, "3 judged, 2 right, one class-0 input taken for 1");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    vx_confusion_write(f, &c, "calm,angry", "songs", 4);
    fclose(f);
    const char *want = "true\\predicted\tcalm\tangry\trecall\n"
                       "calm\t1\t1\t0.5000\n"
                       "angry\t0\t1\t1.0000\n"
                       "unlabelled\t4 (not counted)\n"
                       "songs\t3\n"
                       "accuracy\t0.6667\n";
    tap_ok(&t, text && strcmp(text, want) == 0, "the matrix as vx-infer(1) writes it, names from classes=");
    free(text);
    f = open_memstream(&text, &len);
    vx_confusion_write(f, &c, NULL, "images", 0);
    fclose(f);
    tap_ok(&t, text && strncmp(text, "true\\predicted\t0\t1\trecall\n0\t1\t1", 30) == 0 && !strstr(text, "unlabelled"),
           "without names the indices, and no unlabelled line for none");
    free(text);

    /* Three segments of song x, one of y, then one record without song= (a song of its own). */
    vx_song_mean s;
    vx_song_mean_init(&s, 2);
    vx_record r;
    vx_record_init(&r);
    vx_song_result done;
    const float p1[2] = {1, 0}, p2[2] = {0.5f, 0.5f}, p3[2] = {0, 1};
    int finished = 0;
    segment(&r, "x#0", "x", 1);
    finished += vx_song_mean_add(&s, &r, p1, &done);
    segment(&r, "x#1", "x", 0); /* the label is the first segment's */
    finished += vx_song_mean_add(&s, &r, p2, &done);
    segment(&r, "x#2", "x", 0);
    finished += vx_song_mean_add(&s, &r, p3, &done);
    tap_ok(&t, finished == 0, "no song finishes while its segments keep coming");
    segment(&r, "y#0", "y", 0);
    int got = vx_song_mean_add(&s, &r, p3, &done);
    tap_ok(&t, got == 1 && strcmp(done.name, "x") == 0 && done.label == 1 && done.segments == 3 &&
                   fabsf(done.probs[0] - 0.5f) < 1e-6f && fabsf(done.probs[1] - 0.5f) < 1e-6f,
           "song x: 3 segments averaged to (0.5, 0.5), labelled as its first");
    segment(&r, "lone", NULL, 1);
    got = vx_song_mean_add(&s, &r, p1, &done);
    tap_ok(&t, got == 1 && strcmp(done.name, "y") == 0 && done.segments == 1, "song y ends when a record without song= comes");
    got = vx_song_mean_finish(&s, &done);
    int again = vx_song_mean_finish(&s, &done);
    tap_ok(&t, got == 1 && strcmp(done.name, "lone") == 0 && done.label == 1 && again == 0,
           "the last song is its key; finishing twice gives nothing more");
    vx_record_free(&r);
    return tap_done(&t);
}
