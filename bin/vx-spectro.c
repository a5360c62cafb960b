/* vx-spectro — mono audio records in, log-mel spectrogram records out (librosa's, center=False),
 * whole or cut into fixed segments, streaming: chunks of one song (vx-decode --chunk) are joined. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_audio.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-spectro";
static const char usage[] =
    "Usage: vx-spectro [OPTION]... [STREAM]...\n"
    "Log-mel spectrograms of mono f32 audio records (vx-decode --rate 22050), as f32 records\n"
    "[1, mels, frames] in dB: frames not centred, periodic Hann window, power, Slaney mel\n"
    "filters of unit area, 10 log10(max(P, 1e-10)). Consecutive chunks of one song\n"
    "(vx-decode --chunk) are joined into one signal.\n"
    "\n"
    "      --n-fft N          FFT length, even, 16..65536 (default 2048)\n"
    "      --hop N            samples between frames, 1..n_fft (default 512)\n"
    "      --mels N           mel bands, 1..1024 (default 96)\n"
    "      --fmin HZ          lowest filter edge (default 0)\n"
    "      --fmax HZ          highest filter edge (default rate/2)\n"
    "      --segment SEC      segments of round(SEC*rate/hop) frames, keyed KEY#0, KEY#1, ...;\n"
    "                         without it, one spectrogram of each whole song\n"
    "      --segment-hop SEC  from one segment's start to the next (default SEC)\n"
    "  -o, --output FILE      write the stream to FILE, complete or not at all\n"
    "  -h, --help             show this help and exit\n"
    "      --version          show the version and exit\n";

struct cmdline {
    vx_spectro_opts spectro;
    const char *output;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { NFFT = 256, HOP, MELS, FMIN, FMAX, SEGMENT, SEGMENT_HOP };
    static const struct option longopts[] = {
        {"n-fft", required_argument, NULL, NFFT},     {"hop", required_argument, NULL, HOP},
        {"mels", required_argument, NULL, MELS},      {"fmin", required_argument, NULL, FMIN},
        {"fmax", required_argument, NULL, FMAX},      {"segment", required_argument, NULL, SEGMENT},
        {"segment-hop", required_argument, NULL, SEGMENT_HOP}, {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    vx_spectro_opts *o = &cmd->spectro;
    vx_error err;
    int c, bad = 0;
    memset(cmd, 0, sizeof *cmd);
    vx_spectro_opts_init(o);
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":o:", longopts, NULL)) != -1) {
        switch (c) {
        case NFFT: bad = vx_parse_long(optarg, "--n-fft", 16, 65536, &o->n_fft, &err); break;
        case HOP: bad = vx_parse_long(optarg, "--hop", 1, 65536, &o->hop, &err); break;
        case MELS: bad = vx_parse_long(optarg, "--mels", 1, 1024, &o->mels, &err); break;
        case FMIN: bad = vx_parse_double(optarg, "--fmin", 0, 192000, &o->fmin, &err); break;
        case FMAX: bad = vx_parse_double(optarg, "--fmax", 1e-3, 192000, &o->fmax, &err); break;
        case SEGMENT: bad = vx_parse_double(optarg, "--segment", 1e-3, 1e6, &o->segment, &err); break;
        case SEGMENT_HOP: bad = vx_parse_double(optarg, "--segment-hop", 1e-3, 1e6, &o->segment_hop, &err); break;
        case 'o': cmd->output = optarg; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
        if (bad)
            vx_die(prog, 2, "%s", err.msg);
    }
    /* What depends on the rate (fmax, segment frames, empty bands) is checked on the first
     * record, as an error of that record. */
    if (o->n_fft % 2)
        vx_die(prog, 2, "--n-fft %ld must be even", o->n_fft);
    if (o->hop > o->n_fft)
        vx_die(prog, 2, "--hop %ld out of range (1..n_fft = %ld)", o->hop, o->n_fft);
    if (o->fmax > 0 && o->fmin >= o->fmax)
        vx_die(prog, 2, "--fmin %g must be below --fmax %g", o->fmin, o->fmax);
    if (o->segment_hop > 0 && o->segment == 0)
        vx_die(prog, 2, "--segment-hop needs --segment");
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

/* Samples read at a time: 64 KB, which stay in the cache while they are transformed. */
#define SPECTRO_PIECE 16384

/* One song at a time: its maker, where its next chunk must start, what its records carry. */
struct run {
    const struct cmdline *cmd;
    vx_output out;
    vx_spectro *maker; /* made for maker_rate; remade when a song has another rate */
    long maker_rate;
    vx_record in, rec;
    int open;          /* a song is being made */
    char *key;         /* its key, label and classes= */
    int label;
    char *classes;
    long next_chunk;   /* the chunk= that may continue it */
    int short_songs;   /* songs that gave no record: exit status 1 at the end */
    float piece[SPECTRO_PIECE]; /* the samples being fed */
};

static int drain(struct run *run, vx_error *err)
{
    int got;
    while ((got = vx_spectro_next(run->maker, &run->rec, err)) == 1) {
        run->rec.label = run->label;
        if (run->classes && vx_record_set_meta(&run->rec, "classes", run->classes, err) < 0)
            return -1;
        if (vx_record_write(run->out.file, &run->rec, err) < 0)
            return -1;
    }
    return got;
}

static int end_song(struct run *run, vx_error *err)
{
    if (!run->open)
        return 0;
    run->open = 0;
    if (vx_spectro_finish(run->maker, err) < 0 || drain(run, err) < 0)
        return -1;
    if (vx_spectro_records(run->maker) == 0) {
        const vx_spectro_opts *o = &run->cmd->spectro;
        vx_spectro_opts at = *o;
        long frames = 0;
        at.rate = run->maker_rate;
        if (o->segment > 0 && vx_spectro_check(&at, &frames, NULL, err) == 0)
            fprintf(stderr, "%s: %s: %zu frames, less than half a segment of %ld: no segment\n", prog, run->key,
                    vx_spectro_frames(run->maker), frames);
        else
            fprintf(stderr, "%s: %s: %zu samples, shorter than one frame of %ld: no spectrogram\n", prog, run->key,
                    vx_spectro_samples(run->maker), o->n_fft);
        run->short_songs++;
    }
    return 0;
}

static int start_song(struct run *run, const vx_audio_info *info, vx_error *err)
{
    const vx_record *r = &run->in;
    if (!run->maker || run->maker_rate != info->rate) {
        vx_spectro_opts o = run->cmd->spectro;
        o.rate = info->rate;
        vx_spectro_free(run->maker);
        run->maker = NULL;
        vx_error why;
        if (vx_spectro_new(&run->maker, &o, &why) < 0)
            return vx_fail(err, "%s: %s", r->key, why.msg);
        run->maker_rate = info->rate;
    }
    char classes[VX_MAX_TEXT];
    free(run->key);
    free(run->classes);
    run->key = strdup(r->key);
    run->classes = vx_record_get_meta(r, "classes", classes, sizeof classes) ? strdup(classes) : NULL;
    if (!run->key || (vx_record_get_meta(r, "classes", NULL, 0) && !run->classes))
        return vx_fail(err, "out of memory");
    run->label = r->label;
    run->next_chunk = 1;
    run->open = 1;
    return vx_spectro_reset(run->maker, r->key, err);
}

static int take_record(struct run *run, vx_reader *rd, vx_error *err)
{
    const vx_record *r = &run->in;
    vx_audio_info info;
    if (vx_audio_record_info(r, &info, err) < 0)
        return -1;
    if (info.chunk > 0) {
        /* A later chunk continues the song before it, exactly where it stopped. */
        if (!run->open || strcmp(run->key, r->key) != 0 || info.chunk != run->next_chunk)
            return vx_fail(err, "%s: chunk=%ld does not follow %s%s (chunks of one song must come in order)",
                           r->key, info.chunk, run->open ? "the chunk before it, of " : "any chunk",
                           run->open ? run->key : "");
        if (info.offset != vx_spectro_samples(run->maker) || info.rate != run->maker_rate)
            return vx_fail(err, "%s: chunk=%ld at offset=%zu rate=%ld, but the song is at sample %zu, rate %ld",
                           r->key, info.chunk, info.offset, info.rate, vx_spectro_samples(run->maker),
                           run->maker_rate);
        run->next_chunk++;
    } else if (end_song(run, err) < 0 || start_song(run, &info, err) < 0) {
        return -1;
    }
    /* The samples go in pieces, so that a song never needs to be in memory whole. */
    for (size_t left = vx_record_count(r); left > 0;) {
        size_t n = left < SPECTRO_PIECE ? left : SPECTRO_PIECE;
        if (vx_reader_payload(rd, run->piece, n * sizeof *run->piece, err) < 0 ||
            vx_spectro_feed(run->maker, run->piece, n, err) < 0 || drain(run, err) < 0)
            return -1;
        left -= n;
    }
    return 0;
}

static int spectro_all(struct run *run, vx_error *err)
{
    char *stdin_only[] = {"-"};
    char **inputs = run->cmd->ninputs ? run->cmd->inputs : stdin_only;
    int ninputs = run->cmd->ninputs ? run->cmd->ninputs : 1;
    for (int i = 0; i < ninputs; i++) {
        FILE *f = vx_open_input(inputs[i], err);
        if (!f)
            return -1;
        vx_reader rd;
        vx_reader_init(&rd, f, vx_input_name(inputs[i]));
        int got;
        while ((got = vx_reader_head(&rd, &run->in, err)) == 1)
            if (take_record(run, &rd, err) < 0) {
                got = -1;
                break;
            }
        vx_close_input(f);
        if (got < 0)
            return -1;
    }
    return end_song(run, err);
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    struct run run = {.cmd = &cmd};
    vx_error err;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    if (vx_output_open(&run.out, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_record_init(&run.in);
    vx_record_init(&run.rec);

    int rc = spectro_all(&run, &err);
    vx_spectro_free(run.maker);
    vx_record_free(&run.in);
    vx_record_free(&run.rec);
    free(run.key);
    free(run.classes);
    if (rc < 0 || vx_output_commit(&run.out, &err) < 0) {
        vx_output_abort(&run.out);
        vx_die(prog, 1, "%s", err.msg);
    }
    return run.short_songs ? 1 : 0;
}
