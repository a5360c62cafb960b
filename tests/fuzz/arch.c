/* fuzz/arch.c — libFuzzer target for the architecture parser: any text must build a network or
 * be refused with a message, never crash, overflow a size or allocate past the memory limit
 * (4 MiB here, so that each run stays fast); a network that builds is checked for training and run forward and backward on
 * one batch of two zero images. Built by `make fuzz-arch` (tests/fuzz.mk). */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    vx_net_set_memory_limit((size_t)4 << 20);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    vx_error err;
    vx_net *net = vx_net_check_arch(text, 2, 1, &err) == 0 ? vx_net_create(text, 1, &err) : NULL;
    free(text);
    if (!net)
        return 0;
    vx_train_opts o;
    vx_train_defaults(&o);
    o.epochs = 1;
    o.batch = 2;
    vx_trainer *t = vx_trainer_create(net, &o, &err);
    if (t) {
        uint32_t dim[3];
        int classes;
        vx_net_shape(net, dim, &classes, NULL);
        size_t per = (size_t)dim[0] * dim[1] * dim[2];
        float *x = calloc(per, sizeof *x);
        for (int i = 0; x && i < 2; i++)
            nn_net_set_input(net, 2, i, x);
        if (x) {
            nn_net_forward(net, 2, 1, 1);
            nn_net_backward(net, 2);
        }
        free(x);
    }
    vx_trainer_free(t);
    vx_net_free(net);
    return 0;
}
