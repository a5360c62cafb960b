/* song_files.c — which files a library is made of: files as named, folders walked in name order
 * for audio (by extension, dot files skipped), and lists of paths one a line (vx-embed). */
#define _POSIX_C_SOURCE 200809L
#include "vx_song.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int list_add(vx_song_files *l, const char *path, vx_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **paths = realloc(l->paths, cap * sizeof *paths);
        if (!paths)
            return vx_fail(err, "out of memory");
        l->paths = paths;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = strdup(path)))
        return vx_fail(err, "out of memory");
    l->n++;
    return 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int same_ascii_nocase(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if ((*a | 0x20) != (*b | 0x20))
            return 0;
    return *a == *b;
}

int vx_audio_file_name(const char *name)
{
    static const char *ext[] = {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus",
                                ".m4a", ".aac", ".aif", ".aiff", ".au", ".wma"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t m = strlen(ext[i]);
        if (n > m && same_ascii_nocase(name + n - m, ext[i]))
            return 1;
    }
    return 0;
}

/* The entries of folder path, but dot files, in name order. */
static int read_folder(DIR *d, const char *path, vx_song_files *here, vx_error *err)
{
    const char *sep = path[strlen(path) - 1] == '/' ? "" : "/";
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            size_t n = strlen(path) + strlen(de->d_name) + 2;
            char *sub = vx_malloc(n, err);
            if (!sub)
                return -1;
            snprintf(sub, n, "%s%s%s", path, sep, de->d_name);
            int rc = list_add(here, sub, err);
            free(sub);
            if (rc < 0)
                return -1;
        }
    qsort(here->paths, here->n, sizeof *here->paths, by_name);
    return 0;
}

static int add(vx_song_files *l, const char *path, int named, vx_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        /* An unreadable file is the embedder's to report. */
        return named || vx_audio_file_name(path) ? list_add(l, path, err) : 0;
    DIR *d = opendir(path);
    if (!d) {
        if (l->warn)
            fprintf(stderr, "%s: warning: cannot read the folder %s\n", l->warn, path);
        return 0;
    }
    vx_song_files here = {.warn = l->warn};
    int rc = read_folder(d, path, &here, err);
    closedir(d);
    for (size_t i = 0; rc == 0 && i < here.n; i++)
        rc = add(l, here.paths[i], 0, err);
    vx_song_files_free(&here);
    return rc;
}

int vx_song_files_add(vx_song_files *l, const char *path, vx_error *err) { return add(l, path, 1, err); }

int vx_song_files_read(vx_song_files *l, FILE *f, const char *where, vx_error *err)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        if (len)
            rc = add(l, line, 1, err);
    }
    free(line);
    if (rc == 0 && ferror(f))
        rc = vx_fail(err, "error reading %s", where);
    return rc;
}

void vx_song_files_free(vx_song_files *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = l->cap = 0;
}
