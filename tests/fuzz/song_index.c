/* fuzz/song_index.c — libFuzzer target: any file opened as a song index must be refused cleanly or
 * give songs whose every byte lies inside the file; check, find and a match must not crash. */
#define _POSIX_C_SOURCE 200809L
#include "vx_song.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* The loader maps a file, so the input goes through one. */
    char path[] = "/tmp/fuzz-song-index.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    vx_error err;
    vx_index *ix = vx_index_open(path, &err);
    unlink(path);
    if (!ix)
        return 0;
    vx_song s;
    volatile float sink = 0;
    size_t n = vx_index_count(ix), k = (size_t)vx_index_space_of(ix)->set.nclasses;
    for (size_t i = 0; i < n && i < 4096; i++)
        if (vx_index_get(ix, i, &s, &err) == 0) {
            sink += (float)strlen(s.path) + s.probs[k - 1] + s.vec[6] + s.va[1];
            if (s.nsegments)
                sink += s.segments[(size_t)s.nsegments * (1 + k) - 1];
            vx_index_find(ix, s.path);
        }
    vx_index_check(ix, &err);
    vx_match_opts o = {.space = VX_MATCH_EMOTIONS, .k = 3, .diversity = 0.5};
    float target[VX_NCLASSES] = {0, 0, 0, 1, 0, 0, 0};
    vx_match_result r[3];
    int got;
    if (n <= 100000) {
        vx_match_run(ix, &o, target, r, &got, &err);
        o.space = VX_MATCH_VA;
        vx_match_run(ix, &o, target, r, &got, &err);
    }
    vx_index_close(ix);
    (void)sink;
    return 0;
}
