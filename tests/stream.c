/* stream.c — tensor stream round trips, concatenation, and every way a stream can be broken. */
#define _POSIX_C_SOURCE 200809L
#include "tap.h"
#include "vx.h"

#include <string.h>

/* Writes records into a memory buffer; returns its length. */
static size_t write_stream(const vx_record *recs, int n, unsigned char *buf, size_t cap)
{
    FILE *f = fmemopen(buf, cap, "wb");
    vx_error err;
    for (int i = 0; i < n; i++)
        if (vx_record_write(f, &recs[i], &err) < 0) {
            tap_diag("write failed: %s", err.msg);
            return 0;
        }
    long len = ftell(f);
    fclose(f);
    return (size_t)len;
}

/* Reads every record of buf; returns the count, or -1 with err set. */
static int read_stream(const unsigned char *buf, size_t len, vx_record *out, int max, vx_error *err)
{
    /* fmemopen of a zero-length buffer is not portable; an empty stream is simply no bytes. */
    if (len == 0)
        return 0;
    FILE *f = fmemopen((void *)buf, len, "rb");
    vx_reader rd;
    vx_reader_init(&rd, f, "memory");
    int n = 0, got;
    vx_record scratch;
    vx_record_init(&scratch);
    while ((got = vx_reader_next(&rd, n < max ? &out[n] : &scratch, err)) == 1)
        n++;
    vx_record_free(&scratch);
    fclose(f);
    return got < 0 ? -1 : n;
}

static int records_equal(const vx_record *a, const vx_record *b)
{
    return a->dtype == b->dtype && a->rank == b->rank && memcmp(a->dim, b->dim, sizeof a->dim) == 0 &&
           a->label == b->label && strcmp(a->key, b->key) == 0 && strcmp(a->meta ? a->meta : "", b->meta ? b->meta : "") == 0 &&
           a->nbytes == b->nbytes && memcmp(a->data, b->data, a->nbytes) == 0;
}

static void make_samples(vx_record rec[2])
{
    vx_error err;
    uint32_t img[3] = {1, 3, 5}, vec[1] = {7};
    vx_record_init(&rec[0]);
    vx_record_init(&rec[1]);
    vx_record_shape(&rec[0], VX_U8, 3, img, &err);
    for (int i = 0; i < 15; i++)
        ((unsigned char *)rec[0].data)[i] = (unsigned char)(i * 17);
    vx_record_set_key(&rec[0], "faces/happy/1.png", &err);
    rec[0].label = 3;
    vx_record_shape(&rec[1], VX_F32, 1, vec, &err);
    for (int i = 0; i < 7; i++)
        ((float *)rec[1].data)[i] = (float)i / 7.0f - 0.5f;
    vx_record_set_key(&rec[1], "song.mp3", &err);
    vx_record_set_meta(&rec[1], "rate", "22050", &err);
    vx_record_set_meta(&rec[1], "box", "1 2 3 4", &err);
}

/* Overwrites bytes of a one-record stream and returns the reader's verdict. */
static int read_patched(const unsigned char *good, size_t len, size_t at, const void *bytes, size_t n, vx_error *err)
{
    unsigned char buf[512];
    memcpy(buf, good, len);
    memcpy(buf + at, bytes, n);
    vx_record r[2];
    vx_record_init(&r[0]);
    vx_record_init(&r[1]);
    int got = read_stream(buf, len, r, 2, err);
    vx_record_free(&r[0]);
    vx_record_free(&r[1]);
    return got;
}

int main(void)
{
    tap t;
    vx_error err;
    vx_record rec[2], back[4];
    unsigned char buf[1024], two[2048];
    tap_plan(&t, 25);

    make_samples(rec);
    size_t len = write_stream(rec, 2, buf, sizeof buf);
    tap_ok(&t, len == 2 * 32 + 17 + 15 + 8 + 23 + 28, "two records take %zu bytes (header, key, meta, payload)", len);
    for (int i = 0; i < 4; i++)
        vx_record_init(&back[i]);
    int n = read_stream(buf, len, back, 4, &err);
    tap_ok(&t, n == 2, "both records read back");
    tap_ok(&t, n == 2 && records_equal(&rec[0], &back[0]) && records_equal(&rec[1], &back[1]),
           "round trip is exact: key, label, metadata, shape, payload");

    char value[32];
    tap_ok(&t, vx_record_get_meta(&back[1], "box", value, sizeof value) && strcmp(value, "1 2 3 4") == 0,
           "metadata value found by name");
    vx_record_set_meta(&back[1], "rate", "44100", &err);
    tap_ok(&t, vx_record_get_meta(&back[1], "rate", value, sizeof value) && strcmp(value, "44100") == 0 &&
                   strstr(back[1].meta, "box=1 2 3 4\n") != NULL,
           "setting a metadata name replaces it and keeps the others");

    memcpy(two, buf, len);
    memcpy(two + len, buf, len);
    n = read_stream(two, 2 * len, back, 4, &err);
    tap_ok(&t, n == 4 && records_equal(&rec[1], &back[3]), "two concatenated streams are one stream of 4 records");

    tap_ok(&t, read_stream(buf, 0, back, 4, &err) == 0, "an empty input is an empty stream");

    /* Every cut inside the stream except at record boundaries must be an error naming the input. */
    int cut_errors = 0, cut_ok = 0;
    for (size_t cut = 1; cut < len; cut++) {
        int got = read_stream(buf, cut, back, 4, &err);
        if (cut == 32 + 17 + 15)
            cut_ok += got == 1;
        else
            cut_errors += got < 0 && strstr(err.msg, "memory: record") != NULL;
    }
    tap_ok(&t, cut_errors == (int)len - 2 && cut_ok == 1, "a stream cut at each of %zu offsets fails cleanly (%d errors)",
           len - 1, cut_errors);

    size_t one = 32 + 17 + 15;
    tap_ok(&t, read_patched(buf, one, 0, "PNG", 3, &err) < 0 && strstr(err.msg, "bad magic"), "bad magic: %s", err.msg);
    unsigned char v2[2] = {2, 0};
    tap_ok(&t, read_patched(buf, one, 4, v2, 2, &err) < 0 && strstr(err.msg, "version"), "unknown version: %s", err.msg);
    unsigned char dt = 9;
    tap_ok(&t, read_patched(buf, one, 8, &dt, 1, &err) < 0 && strstr(err.msg, "dtype"), "unknown dtype: %s", err.msg);
    unsigned char rk = 5;
    tap_ok(&t, read_patched(buf, one, 9, &rk, 1, &err) < 0 && strstr(err.msg, "rank"), "rank above 4: %s", err.msg);
    unsigned char huge[4] = {0x01, 0x00, 0x00, 0x04};
    tap_ok(&t, read_patched(buf, one, 16, huge, 4, &err) < 0 && strstr(err.msg, "dimension"), "absurd dimension: %s", err.msg);
    unsigned char big[4] = {0x00, 0x00, 0x00, 0x02};
    unsigned char bufbig[512];
    memcpy(bufbig, buf, one);
    memcpy(bufbig + 12, big, 4);
    memcpy(bufbig + 16, big, 4);
    memcpy(bufbig + 20, big, 4);
    tap_ok(&t, read_patched(bufbig, one, 0, "VXTS", 4, &err) < 0 && strstr(err.msg, "too large"),
           "dimensions whose product overflows are refused before allocating: %s", err.msg);
    unsigned char zero[4] = {0, 0, 0, 0};
    tap_ok(&t, read_patched(buf, one, 16, zero, 4, &err) < 0 && strstr(err.msg, "dimension"), "zero dimension: %s", err.msg);
    unsigned char extra[4] = {9, 0, 0, 0};
    tap_ok(&t, read_patched(buf, one, 24, extra, 4, &err) < 0 && strstr(err.msg, "beyond rank"), "dimension beyond rank: %s",
           err.msg);
    unsigned char hl[2] = {0xff, 0xff};
    tap_ok(&t, read_patched(buf, one, 6, hl, 2, &err) < 0 && strstr(err.msg, "header length"), "oversized header: %s", err.msg);
    unsigned char kl[2] = {0xff, 0x7f};
    tap_ok(&t, read_patched(buf, one, 28, kl, 2, &err) < 0 && strstr(err.msg, "longer"), "oversized key: %s", err.msg);

    /* A later version's longer fixed header is skipped by this reader. */
    unsigned char longer[512];
    memcpy(longer, buf, 32);
    longer[6] = 40;
    memset(longer + 32, 0xab, 8);
    memcpy(longer + 40, buf + 32, one - 32);
    n = read_stream(longer, one + 8, back, 4, &err);
    tap_ok(&t, n == 1 && records_equal(&rec[0], &back[0]), "unknown header fields of a longer header are skipped");

    /* The two-step read: header first, payload in pieces. buf holds a u8 [1,3,5] record, then an
     * f32 [7] one. */
    FILE *f = fmemopen(buf, len, "rb");
    vx_reader rd;
    vx_reader_init(&rd, f, "memory");
    vx_record head;
    vx_record_init(&head);
    int skipped = vx_reader_head(&rd, &head, &err) == 1 && head.nbytes == 15 && head.label == 3 &&
                  strcmp(head.key, "faces/happy/1.png") == 0;
    /* The u8 payload is left unread: the next header is found all the same. */
    float pieces[7];
    int stepwise = vx_reader_head(&rd, &head, &err) == 1 && head.dtype == VX_F32 && head.nbytes == 28 &&
                   strcmp(head.key, "song.mp3") == 0 && vx_reader_payload(&rd, pieces, 12, &err) == 0 &&
                   rd.nrecords == 1 && vx_reader_payload(&rd, pieces + 3, 16, &err) == 0 && rd.nrecords == 2 &&
                   memcmp(pieces, rec[1].data, 28) == 0;
    tap_ok(&t, skipped, "the header alone: shape, label and key, the payload not read");
    tap_ok(&t, stepwise, "an unread payload is skipped; a payload read in pieces is the record's");
    tap_ok(&t, vx_reader_payload(&rd, pieces, 4, &err) < 0 && strstr(err.msg, "left"), "more than the payload holds: %s",
           err.msg);
    tap_ok(&t, vx_reader_head(&rd, &head, &err) == 0, "then the clean end of the stream");
    fclose(f);
    f = fmemopen(buf, len - 6, "rb");
    vx_reader_init(&rd, f, "memory");
    int cut = vx_reader_head(&rd, &head, &err) == 1 && vx_reader_head(&rd, &head, &err) == 1 &&
              vx_reader_payload(&rd, pieces, 8, &err) == 0 && vx_reader_payload(&rd, pieces, 2, &err) < 0 &&
              strstr(err.msg, "elements") && vx_reader_payload(&rd, pieces, 20, &err) < 0 &&
              strstr(err.msg, "memory: record 2 at byte 64: truncated payload (22 of 28 bytes)");
    tap_ok(&t, cut, "a piece of half an element, and a payload cut short: %s", err.msg);
    fclose(f);
    vx_record_free(&head);

    float nan_value = NAN;
    memcpy(back[1].data, &nan_value, 4);
    tap_ok(&t, vx_record_require_finite(&back[1], &err) < 0 && strstr(err.msg, "NaN"), "NaN found: %s", err.msg);

    for (int i = 0; i < 4; i++)
        vx_record_free(&back[i]);
    vx_record_free(&rec[0]);
    vx_record_free(&rec[1]);
    return tap_done(&t);
}
