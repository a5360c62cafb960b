/* fuzz/model.c — libFuzzer target for the model loader: any bytes, with the file-size field and
 * the checksum fixed up so that the fuzzer reaches the directory, metadata and tensors behind
 * them, must load or be refused with a message, never crash, leak or allocate without bound; a
 * model that loads is run on one image. Built by `make fuzz-model` (tests/fuzz.mk). */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    vx_net_set_memory_limit((size_t)64 << 20);
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    if (size >= 48) {
        for (int i = 0; i < 8; i++)
            buf[32 + i] = (unsigned char)((uint64_t)size >> (8 * i));
        uint64_t h = 0xcbf29ce484222325ull;
        for (size_t i = 0; i + 8 < size; i++)
            h = (h ^ buf[i]) * 0x100000001b3ull;
        for (int i = 0; i < 8; i++)
            buf[size - 8 + i] = (unsigned char)(h >> (8 * i));
    }
    nn_file file;
    vx_error err;
    if (nn_file_parse(&file, buf, size, "fuzz", &err) < 0)
        return 0;
    vx_net *net = nn_net_from_file(&file, &err);
    nn_file_free(&file);
    if (!net)
        return 0;
    uint32_t dim[3];
    int classes;
    vx_net_shape(net, dim, &classes, NULL);
    float *x = calloc((size_t)dim[0] * dim[1] * dim[2], sizeof *x), *p = calloc((size_t)classes, sizeof *p);
    if (x && p)
        vx_net_predict(net, x, 1, p, &err);
    free(x);
    free(p);
    vx_net_free(net);
    return 0;
}
