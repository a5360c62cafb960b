/* vx-topng — one record of a tensor stream written out as an image to look at: binary PGM/PPM,
 * or PNG with --png. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_io.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-topng";
static const char usage[] =
    "Usage: vx-topng [OPTION]... [STREAM]\n"
    "Write one record of a tensor stream (standard input when no STREAM or '-') as an image:\n"
    "binary PGM (one channel) or PPM (three), or PNG with --png. The record must have shape\n"
    "[H,W] or [1 or 3,H,W]. u8 values are written as they are; f32 values are mapped onto 0..255.\n"
    "\n"
    "  -i, --index N         the record at position N, counting from 0 (default 0)\n"
    "  -k, --key KEY         the first record whose key is KEY\n"
    "      --range LO,HI     map f32 LO..HI onto 0..255, clamping (default: the record's min..max)\n"
    "      --png             write PNG instead of PGM/PPM\n"
    "  -o, --output FILE     write to FILE, complete or not at all (default standard output)\n"
    "  -h, --help            show this help and exit\n"
    "      --version         show the version and exit\n";

struct cmdline {
    long index;
    int index_given;
    const char *key;
    vx_image_range range;
    enum vx_image_format format;
    const char *output;
    const char *input;
};

static int parse_range(const char *text, vx_image_range *range, vx_error *err)
{
    const char *comma = strchr(text, ',');
    char lo[64];
    if (!comma || (size_t)(comma - text) >= sizeof lo)
        return vx_fail(err, "--range: '%s' is not LO,HI", text);
    memcpy(lo, text, (size_t)(comma - text));
    lo[comma - text] = '\0';
    if (vx_parse_double(lo, "--range LO", -1e30, 1e30, &range->lo, err) < 0 ||
        vx_parse_double(comma + 1, "--range HI", -1e30, 1e30, &range->hi, err) < 0)
        return -1;
    if (!(range->lo < range->hi))
        return vx_fail(err, "--range: LO must be below HI in '%s'", text);
    range->auto_range = 0;
    return 0;
}

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { RANGE = 256, PNG };
    static const struct option longopts[] = {
        {"index", required_argument, NULL, 'i'}, {"key", required_argument, NULL, 'k'},
        {"range", required_argument, NULL, RANGE}, {"png", no_argument, NULL, PNG},
        {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    vx_error err;
    int c, bad = 0;
    memset(cmd, 0, sizeof *cmd);
    cmd->range.auto_range = 1;
    cmd->format = VX_IMAGE_PNM;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":i:k:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            bad = vx_parse_long(optarg, "--index", 0, LONG_MAX, &cmd->index, &err);
            cmd->index_given = 1;
            break;
        case 'k': cmd->key = optarg; break;
        case RANGE: bad = parse_range(optarg, &cmd->range, &err); break;
        case PNG: cmd->format = VX_IMAGE_PNG; break;
        case 'o': cmd->output = optarg; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
        if (bad)
            vx_die(prog, 2, "%s", err.msg);
    }
    if (cmd->key && cmd->index_given)
        vx_die(prog, 2, "--index and --key exclude each other");
    if (argc - optind > 1)
        vx_die(prog, 2, "one STREAM at most (see --help)");
    cmd->input = optind < argc ? argv[optind] : "-";
}

/* Reads up to the wanted record; 1 found, 0 not in the stream, -1 on a read error. */
static int find_record(vx_reader *rd, const struct cmdline *cmd, vx_record *r, vx_error *err)
{
    int got;
    while ((got = vx_reader_next(rd, r, err)) == 1)
        if (cmd->key ? strcmp(r->key, cmd->key) == 0 : rd->nrecords == (uint64_t)cmd->index + 1)
            return 1;
    return got;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    vx_error err;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);

    FILE *f = vx_open_input(cmd.input, &err);
    if (!f)
        vx_die(prog, 1, "%s", err.msg);
    vx_reader rd;
    vx_record r;
    vx_record_init(&r);
    vx_reader_init(&rd, f, vx_input_name(cmd.input));
    int got = find_record(&rd, &cmd, &r, &err);
    vx_close_input(f);
    if (got == 0) {
        if (cmd.key)
            vx_fail(&err, "%s: no record with key '%s'", rd.where, cmd.key);
        else
            vx_fail(&err, "%s: no record %ld (the stream holds %llu)", rd.where, cmd.index,
                    (unsigned long long)rd.nrecords);
    }
    vx_output out;
    if (got == 1 && vx_output_open(&out, cmd.output, &err) == 0) {
        if (vx_image_write(out.file, &r, cmd.format, &cmd.range, &err) == 0 && vx_output_commit(&out, &err) == 0) {
            vx_record_free(&r);
            return 0;
        }
        vx_output_abort(&out);
    }
    vx_record_free(&r);
    vx_die(prog, 1, "%s", err.msg);
}
