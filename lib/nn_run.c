/* nn_run.c — what a training run decides and records around its epochs: class weights, the
 * model's account of its data and command line, the per-epoch facts and best so far, and the TSV log
 * that a resumed run cuts back to its finished epochs. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vx_train_class_weights(vx_train_opts *o, const char *spec, const vx_imageset *d, int classes, vx_error *err)
{
    o->use_class_weights = 1;
    if (strcmp(spec, "balanced") == 0) {
        size_t count[VX_NET_MAX_CLASSES] = {0};
        for (size_t i = 0; i < d->n; i++)
            count[d->labels[i]]++;
        for (int k = 0; k < classes; k++)
            o->class_weights[k] = count[k] ? (float)((double)d->n / (double)(classes * count[k])) : 0.0f;
        return 0;
    }
    int given = vx_classes_count(spec);
    if (given != classes)
        return vx_fail(err, "%d weights given, the network has %d classes (or say 'balanced')", given, classes);
    const char *p = spec;
    for (int k = 0; k < classes; k++) {
        size_t len = strcspn(p, ",");
        char item[64], what[32];
        double w;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        snprintf(what, sizeof what, "weight %d", k + 1);
        if (len >= sizeof item || vx_parse_double(item, what, 0, 1000, &w, err) < 0)
            return len >= sizeof item ? vx_fail(err, "weight %d is too long", k + 1) : -1;
        o->class_weights[k] = (float)w;
        p += len + 1;
    }
    return 0;
}

int vx_net_set_meta_number(vx_net *net, const char *name, const char *fmt, double v, vx_error *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    return vx_net_set_meta(net, name, buf, err);
}

/* The class names go from the stream (its classes= metadata) into the model; without them a
 * seven-class net is taken to read the seven emotions. */
static int record_classes(vx_net *net, const vx_imageset *d, vx_error *err)
{
    int classes;
    vx_net_shape(net, NULL, &classes, NULL);
    char names[VX_MAX_TEXT] = "";
    if (d->classes) {
        int count = vx_classes_count(d->classes);
        if (count != classes)
            return vx_fail(err, "the stream's classes '%s' are %d but the network has %d outputs", d->classes,
                           count, classes);
        snprintf(names, sizeof names, "%s", d->classes);
    } else if (classes == VX_NCLASSES) {
        for (int k = 0; k < classes; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? "," : "", vx_class_name(k));
    }
    return names[0] ? vx_net_set_meta(net, "classes", names, err) : 0;
}

/* The spectrogram a music model was trained on, for vx-embed to make the same: its parameters,
 * and segments as long as the network's input (frames = segment * rate / hop). */
static int record_spectro(vx_net *net, const vx_imageset *d, vx_error *err)
{
    for (int i = 0; i < 4; i++)
        if (!d->spectro[i])
            return 0;
    for (int i = 0; i < VX_SPECTRO_KEYS; i++) {
        char key[32];
        snprintf(key, sizeof key, "spectro_%s", vx_spectro_keys[i]);
        if (vx_net_set_meta_number(net, key, i < 4 ? "%.0f" : "%.9g", d->spectro[i], err) < 0)
            return -1;
    }
    uint32_t input[3];
    vx_net_shape(net, input, NULL, NULL);
    double seconds = (double)input[2] * d->spectro[2] / d->spectro[0];
    return vx_net_set_meta_number(net, "spectro_segment", "%.9g", seconds, err);
}

int vx_net_record_data(vx_net *net, const vx_imageset *d, const char *data_name, uint64_t seed, vx_error *err)
{
    if (record_classes(net, d, err) < 0 || record_spectro(net, d, err) < 0 ||
        vx_net_set_meta(net, "train_data", data_name, err) < 0 ||
        vx_net_set_meta_number(net, "seed", "%.0f", (double)seed, err) < 0 ||
        vx_net_set_meta_number(net, "train_images", "%.0f", (double)d->n, err) < 0)
        return -1;
    return 0;
}

int vx_net_record_command(vx_net *net, int argc, char **argv, vx_error *err)
{
    char line[1024] = "";
    size_t used = 0;
    for (int i = 1; i < argc && used < sizeof line; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--progress") == 0 || strncmp(a, "--threads=", 10) == 0 || (strncmp(a, "-j", 2) == 0 && a[2]))
            continue;
        if (strcmp(a, "--threads") == 0 || strcmp(a, "-j") == 0) {
            i++;
            continue;
        }
        used += (size_t)snprintf(line + used, sizeof line - used, "%s%s", used ? " " : "", a);
    }
    return vx_net_set_meta(net, "train_options", line, err);
}

int vx_net_best_so_far(const vx_net *net, double *best, vx_error *err)
{
    const char *text = vx_net_get_meta(net, "best_val_acc");
    *best = -1;
    return text ? vx_parse_double(text, "metadata best_val_acc", 0, 1, best, err) : 0;
}

int vx_net_record_epoch(vx_net *net, int epoch, const vx_epoch_stats *st, const vx_eval *ev, double *best,
                        vx_error *err)
{
    if (vx_net_set_meta_number(net, "train_acc", "%.4f", st->acc, err) < 0)
        return -1;
    if (!ev)
        return 0;
    if (vx_net_set_meta_number(net, "val_acc", "%.4f", ev->acc, err) < 0)
        return -1;
    if (!(ev->acc > *best))
        return 0;
    *best = ev->acc;
    if (vx_net_set_meta_number(net, "best_val_acc", "%.4f", *best, err) < 0 ||
        vx_net_set_meta_number(net, "best_epoch", "%.0f", epoch, err) < 0)
        return -1;
    return 1;
}

/* ------------------------------------------------------------------- the log */

struct vx_train_log {
    FILE *file;
    char *path;
};

static const char log_header[] = "epoch\ttrain_loss\ttrain_acc\tval_loss\tval_acc\tseconds\timages_per_s\n";

/* The epoch a log line is of, or 0 for the header and anything else that is not an epoch's line. */
static long line_epoch(const char *line)
{
    char *end;
    if (line[0] < '0' || line[0] > '9')
        return 0;
    errno = 0;
    long epoch = strtol(line, &end, 10);
    return errno == 0 && *end == '\t' ? epoch : 0;
}

/* Keeps the header and the lines of the first `done` epochs: what a resumed run continues. */
static int cut_log(const char *path, int done, vx_error *err)
{
    char *old = NULL;
    size_t len;
    if (access(path, F_OK) == 0 && vx_read_file(path, (size_t)1 << 20, "training log", &old, &len, err) < 0)
        return -1;
    vx_output out;
    if (vx_output_open(&out, path, err) < 0) {
        free(old);
        return -1;
    }
    for (char *line = old, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line_epoch(line) <= done)
            fprintf(out.file, "%s\n", line);
    }
    free(old);
    return vx_output_commit(&out, err);
}

vx_train_log *vx_train_log_open(const char *path, int done, vx_error *err)
{
    if (done > 0 && cut_log(path, done, err) < 0)
        return NULL;
    vx_train_log *log = vx_calloc(1, sizeof *log, err);
    if (!log)
        return NULL;
    if (!(log->path = strdup(path))) {
        vx_fail(err, "out of memory");
        free(log);
        return NULL;
    }
    if (!(log->file = fopen(path, done > 0 ? "a" : "w"))) {
        vx_fail(err, "cannot open %s: %s", path, strerror(errno));
        free(log->path);
        free(log);
        return NULL;
    }
    if (done == 0 && fputs(log_header, log->file) == EOF) {
        vx_train_log_close(log, err);
        return NULL;
    }
    return log;
}

int vx_train_log_epoch(vx_train_log *log, int epoch, const vx_epoch_stats *st, const vx_eval *ev, vx_error *err)
{
    fprintf(log->file, "%d\t%.5f\t%.5f\t%.5f\t%.5f\t%.1f\t%.1f\n", epoch, st->loss, st->acc, ev ? ev->loss : 0.0,
            ev ? ev->acc : 0.0, st->seconds, st->images_per_s);
    if (fflush(log->file) != 0 || ferror(log->file))
        return vx_fail(err, "error writing %s: %s", log->path, strerror(errno));
    return 0;
}

int vx_train_log_close(vx_train_log *log, vx_error *err)
{
    if (!log)
        return 0;
    int bad = ferror(log->file);
    bad |= fclose(log->file) != 0;
    int rc = bad ? vx_fail(err, "error writing %s", log->path) : 0;
    free(log->path);
    free(log);
    return rc;
}
