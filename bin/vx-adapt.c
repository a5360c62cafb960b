/* vx-adapt — a model's batch-norm statistics estimated again on a stream of the inputs it is to
 * run on (AdaBN), its weights kept: the music model adapted to a user's song library. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_nn.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-adapt";
static const char usage[] =
    "Usage: vx-adapt -m MODEL -o OUT [OPTION]... [STREAM]...\n"
    "Write MODEL as OUT with every batch-norm layer's running mean and variance taken from the\n"
    "records of STREAM (standard input when absent or '-'), inputs of the model's shape such as\n"
    "vx-spectro's segments of a song library. Labels are not needed and weights do not change.\n"
    "\n"
    "  -m, --model FILE     the model to adapt\n"
    "  -o, --output OUT     the adapted model, written complete or not at all\n"
    "  -n, --sample N       at most N records, a random sample of the stream (2048)\n"
    "      --seed N         the sample's random seed (1)\n"
    "  -j, --threads N      threads (default: all cores)\n"
    "      --max-memory MB  refuse a sample and network above MB (default 4096)\n"
    "      --progress       count records on stderr even when it is not a terminal\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show the version and exit\n";

struct cmdline {
    const char *model, *output;
    long sample, seed, threads;
    int progress;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { OPT_SEED = 256, OPT_PROGRESS, OPT_MEMORY };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'},   {"output", required_argument, NULL, 'o'},
        {"sample", required_argument, NULL, 'n'},  {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, 'j'}, {"max-memory", required_argument, NULL, OPT_MEMORY},
        {"progress", no_argument, NULL, OPT_PROGRESS}, {NULL, 0, NULL, 0}};
    int c;
    long v;
    vx_error err;
    memset(cmd, 0, sizeof *cmd);
    cmd->sample = 2048;
    cmd->seed = 1;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":m:o:n:j:", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': cmd->model = optarg; break;
        case 'o': cmd->output = optarg; break;
        case 'n':
            if (vx_parse_long(optarg, "--sample", 2, 1L << 24, &cmd->sample, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            break;
        case OPT_SEED:
            if (vx_parse_long(optarg, "--seed", 0, 0x7fffffffL, &cmd->seed, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            break;
        case 'j':
            if (vx_parse_long(optarg, "--threads", 1, 4096, &cmd->threads, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            break;
        case OPT_MEMORY:
            if (vx_parse_long(optarg, "--max-memory", 1, 1L << 20, &v, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            vx_net_set_memory_limit((size_t)v << 20);
            break;
        case OPT_PROGRESS: cmd->progress = 1; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    if (!cmd->model || !cmd->output)
        vx_die(prog, 2, "-m MODEL and -o OUT are both needed (see --help)");
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

/* Every record of one input into the sample. */
static void read_input(vx_adapt *a, const char *path, vx_progress *progress)
{
    vx_error err;
    FILE *f = vx_open_input(path, &err);
    if (!f)
        vx_die(prog, 1, "%s", err.msg);
    vx_reader rd;
    vx_record r;
    vx_reader_init(&rd, f, vx_input_name(path));
    vx_record_init(&r);
    int got;
    while ((got = vx_reader_next(&rd, &r, &err)) == 1) {
        if (vx_adapt_add(a, &r, &err) < 0)
            vx_die(prog, 1, "%s: %s", vx_input_name(path), err.msg);
        vx_progress_update(progress, "records", vx_adapt_seen(a), 0);
    }
    if (got < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_record_free(&r);
    vx_close_input(f);
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_set_threads((int)cmd.threads);
    vx_error err;
    vx_net *net = vx_net_load(cmd.model, &err);
    if (!net)
        vx_die(prog, 1, "%s", err.msg);
    vx_adapt *a = vx_adapt_create(net, (size_t)cmd.sample, (uint64_t)cmd.seed, &err);
    if (!a)
        vx_die(prog, 1, "%s", err.msg);
    vx_progress progress;
    vx_progress_init(&progress, prog, cmd.progress);
    for (int i = 0; i < (cmd.ninputs ? cmd.ninputs : 1); i++)
        read_input(a, cmd.ninputs ? cmd.inputs[i] : NULL, &progress);
    vx_progress_done(&progress);
    if (vx_adapt_finish(a, &err) < 0 || vx_net_save(net, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_adapt_free(a);
    vx_net_free(net);
    return 0;
}
