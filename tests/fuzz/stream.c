/* fuzz/stream.c — libFuzzer target: any bytes fed to the stream reader must give records or a
 * clean error, never a crash, a leak or a huge allocation. Built by `make fuzz` (tests/fuzz.mk). */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    if (size == 0)
        return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    vx_reader rd;
    vx_record r;
    vx_error err;
    vx_reader_init(&rd, f, "fuzz");
    vx_record_init(&r);
    while (vx_reader_next(&rd, &r, &err) == 1) {
        vx_stats s;
        vx_record_stats(&r, &s);
        /* Whatever was read must write back out as a valid record. */
        FILE *sink = fopen("/dev/null", "wb");
        if (sink) {
            if (vx_record_write(sink, &r, &err) < 0)
                __builtin_trap();
            fclose(sink);
        }
    }
    /* Again in two steps, as vx-spectro reads songs: headers, then payloads in pieces of a size
     * the input's first byte chooses, some of them left unread. */
    rewind(f);
    vx_reader_init(&rd, f, "fuzz");
    size_t piece = 4 * (size_t)(data[0] % 16 + 1);
    unsigned char buf[64];
    for (long i = 0; vx_reader_head(&rd, &r, &err) == 1; i++) {
        if (i % 3 == 2)
            continue;
        size_t esize = vx_dtype_size(r.dtype), step = piece / esize * esize;
        for (size_t left = r.nbytes; left > 0; left -= step) {
            step = step < left ? step : left;
            if (vx_reader_payload(&rd, buf, step, &err) < 0)
                break;
        }
    }
    vx_record_free(&r);
    fclose(f);
    return 0;
}
