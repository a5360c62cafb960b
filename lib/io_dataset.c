/* dataset.c — a folder-per-class data set (DIR/CLASS/FILE) walked in a fixed order, holding the
 * names of one class folder at a time, so its size does not matter. */
#define _POSIX_C_SOURCE 200809L
#include "vx_io.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name, vx_error *err)
{
    size_t n = strlen(dir);
    int slash = n > 0 && dir[n - 1] != '/';
    char *p = vx_malloc(n + (size_t)slash + strlen(name) + 1, err);
    if (p)
        sprintf(p, "%s%s%s", dir, slash ? "/" : "", name);
    return p;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted names of the folders (want_dirs) or regular files in dir, those starting with '.' left
 * out. *names is allocated even when empty. */
static int list_dir(const char *dir, int want_dirs, char ***names, size_t *count, vx_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return vx_fail(err, "cannot open folder %s: %s", dir, strerror(errno));
    size_t n = 0, cap = 16;
    char **list = vx_malloc(cap * sizeof *list, err);
    int rc = list ? 0 : -1;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        /* stat, not lstat: a class folder or file may well be a symbolic link. */
        if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) {
            rc = vx_fail(err, "%s/%s: %s", dir, e->d_name, strerror(errno));
            break;
        }
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            char **grown = realloc(list, 2 * cap * sizeof *list);
            if (!grown) {
                rc = vx_fail(err, "out of memory listing %s", dir);
                break;
            }
            list = grown;
            cap *= 2;
        }
        if (!(list[n] = strdup(e->d_name))) {
            rc = vx_fail(err, "out of memory listing %s", dir);
            break;
        }
        n++;
    }
    if (rc == 0 && errno != 0)
        rc = vx_fail(err, "cannot read folder %s: %s", dir, strerror(errno));
    closedir(d);
    if (rc < 0) {
        free_names(list, n);
        return -1;
    }
    qsort(list, n, sizeof *list, by_name);
    *names = list;
    *count = n;
    return 0;
}

/* Label of class folder `name` under the options; -1 with a message when it has none. */
static int folder_label(const vx_dataset *ds, const char *name, int *label, vx_error *err)
{
    if (ds->opts.unlabelled) {
        *label = VX_NO_LABEL;
        return 0;
    }
    if (!ds->classes) {
        *label = vx_class_from_name(name);
        if (*label < 0)
            return vx_fail(err, "%s: folder '%s' is not an emotion class (anger disgust fear happy neutral sad "
                                "surprise); use --labels or --unlabelled",
                           ds->root, name);
        return 0;
    }
    size_t len = strlen(name);
    int index = 0;
    for (const char *p = ds->classes;; index++) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0) {
            *label = index;
            return 0;
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    return vx_fail(err, "%s: folder '%s' is not in the labels %s", ds->root, name, ds->classes);
}

int vx_dataset_check_labels(const char *labels, vx_error *err)
{
    if (!*labels || labels[0] == ',' || labels[strlen(labels) - 1] == ',' || strstr(labels, ",,"))
        return vx_fail(err, "--labels '%s': an empty class name", labels);
    if (strpbrk(labels, "\n="))
        return vx_fail(err, "--labels '%s': a class name holds '=' or a newline", labels);
    return 0;
}

static size_t capped(const vx_dataset *ds, size_t n)
{
    return ds->opts.per_class > 0 && n > (size_t)ds->opts.per_class ? (size_t)ds->opts.per_class : n;
}

int vx_dataset_open(vx_dataset *ds, const char *dir, const vx_dataset_opts *o, vx_error *err)
{
    memset(ds, 0, sizeof *ds);
    ds->opts = *o;
    if (o->labels && !o->unlabelled && vx_dataset_check_labels(o->labels, err) < 0)
        return -1;
    if (!(ds->root = strdup(dir)) || (o->labels && !o->unlabelled && !(ds->classes = strdup(o->labels)))) {
        vx_dataset_close(ds);
        return vx_fail(err, "out of memory");
    }
    if (list_dir(dir, 1, &ds->folders, &ds->nfolders, err) < 0)
        goto fail;
    if (ds->nfolders == 0) {
        vx_fail(err, "%s: no class folders (a data set is DIR/CLASS/FILE)", dir);
        goto fail;
    }
    if (!(ds->labels = vx_calloc(ds->nfolders, sizeof *ds->labels, err)))
        goto fail;
    /* Every folder is checked and counted first, so a bad one stops the run before any output. */
    for (size_t i = 0; i < ds->nfolders; i++) {
        char **files, *path;
        size_t n;
        if (folder_label(ds, ds->folders[i], &ds->labels[i], err) < 0 || !(path = join(dir, ds->folders[i], err)))
            goto fail;
        int rc = list_dir(path, 0, &files, &n, err);
        free(path);
        if (rc < 0)
            goto fail;
        free_names(files, n);
        ds->total += capped(ds, n);
    }
    return 0;
fail:
    vx_dataset_close(ds);
    return -1;
}

int vx_dataset_next(vx_dataset *ds, const char **path, int *label, vx_error *err)
{
    while (!ds->files || ds->file >= capped(ds, ds->nfiles)) {
        if (ds->files) {
            free_names(ds->files, ds->nfiles);
            ds->files = NULL;
            ds->folder++;
        }
        if (ds->folder >= ds->nfolders)
            return 0;
        char *dir = join(ds->root, ds->folders[ds->folder], err);
        int rc = dir ? list_dir(dir, 0, &ds->files, &ds->nfiles, err) : -1;
        free(dir);
        if (rc < 0)
            return -1;
        ds->file = 0;
    }
    char *dir = join(ds->root, ds->folders[ds->folder], err);
    if (!dir)
        return -1;
    free(ds->path);
    ds->path = join(dir, ds->files[ds->file], err);
    free(dir);
    if (!ds->path)
        return -1;
    ds->file++;
    *path = ds->path;
    *label = ds->labels[ds->folder];
    return 1;
}

void vx_dataset_close(vx_dataset *ds)
{
    free_names(ds->folders, ds->nfolders);
    free_names(ds->files, ds->nfiles);
    free(ds->labels);
    free(ds->root);
    free(ds->path);
    free(ds->classes);
    memset(ds, 0, sizeof *ds);
}
