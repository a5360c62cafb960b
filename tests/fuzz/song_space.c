/* fuzz/song_space.c — libFuzzer target: any bytes given to the emotion space parser must give a space
 * or a clean error, never a crash, a hang or a read past the text. Built by `make fuzz-song`. */
#include "vx_song.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    vx_space sp;
    vx_error err;
    if (vx_space_parse(&sp, text, size, "fuzz", &err) == 0) {
        /* What parsed must be usable: every set places a song inside 1..9. */
        for (int i = 0; i < sp.nsets; i++) {
            float probs[VX_NET_MAX_CLASSES], vec[VX_NCLASSES], va[2];
            for (int k = 0; k < sp.sets[i].nclasses; k++)
                probs[k] = 1.0f / (float)sp.sets[i].nclasses;
            vx_space_song(&sp.sets[i], probs, vec, va);
            if (!(va[0] >= 1 && va[0] <= 9 && va[1] >= 1 && va[1] <= 9))
                __builtin_trap();
        }
    }
    free(text);
    return 0;
}
