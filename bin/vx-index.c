/* vx-index — song indexes (vx-index(5)) as text, checked, or merged, with songs removed or the
 * songs whose files vanished dropped, into a new index written complete or not at all. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_song.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char prog[] = "vx-index";
static const char usage[] =
    "Usage: vx-index [--text] INDEX...\n"
    "       vx-index --check INDEX...\n"
    "       vx-index [--merge] [--remove FILE] [--drop-missing] -o OUT INDEX...\n"
    "List song indexes as text (the default), check them, or write one index OUT from them:\n"
    "later INDEX files win for equal paths.\n"
    "Text lines: path, duration, size, mtime, top class, class probabilities, 7-vector, valence, arousal.\n"
    "\n"
    "  -t, --text           one tab-separated line per song (paths escaped as ls -b does)\n"
    "  -c, --check          check every entry; print the number of songs of each index\n"
    "  -m, --merge          join the INDEX files into OUT\n"
    "  -r, --remove FILE    leave out the paths listed in FILE, one per line\n"
    "  -D, --drop-missing   leave out songs whose file no longer exists\n"
    "  -o, --output OUT     the index to write, complete or not at all ('-' for standard output)\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show the version and exit\n";

struct cmdline {
    int text, check, merge, drop_missing;
    const char *remove, *output;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    static const struct option longopts[] = {
        {"text", no_argument, NULL, 't'},   {"check", no_argument, NULL, 'c'},
        {"merge", no_argument, NULL, 'm'},  {"remove", required_argument, NULL, 'r'},
        {"drop-missing", no_argument, NULL, 'D'}, {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    int c;
    memset(cmd, 0, sizeof *cmd);
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":tcmr:Do:", longopts, NULL)) != -1) {
        switch (c) {
        case 't': cmd->text = 1; break;
        case 'c': cmd->check = 1; break;
        case 'm': cmd->merge = 1; break;
        case 'r': cmd->remove = optarg; break;
        case 'D': cmd->drop_missing = 1; break;
        case 'o': cmd->output = optarg; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
    int writes = cmd->merge || cmd->remove || cmd->drop_missing;
    if (cmd->ninputs == 0)
        vx_die(prog, 2, "no INDEX (see --help)");
    if (cmd->text + cmd->check + (writes || cmd->output) > 1)
        vx_die(prog, 2, "--text, --check and writing an index exclude each other");
    if (writes && !cmd->output)
        vx_die(prog, 2, "writing an index needs -o OUT");
    if (!cmd->check && !writes && !cmd->output)
        cmd->text = 1;
}

static void list(vx_index *ix, FILE *f)
{
    const vx_index_space *sp = vx_index_space_of(ix);
    int k = sp->set.nclasses;
    vx_error err;
    vx_song s;
    for (size_t i = 0; i < vx_index_count(ix); i++) {
        if (vx_index_get(ix, i, &s, &err) < 0)
            vx_die(prog, 1, "%s", err.msg);
        int top = 0;
        for (int c = 1; c < k; c++)
            top = s.probs[c] > s.probs[top] ? c : top;
        vx_song_put_escaped(f, s.path);
        long long sec = s.mtime_ns / 1000000000, ns = s.mtime_ns % 1000000000;
        if (ns < 0) {
            sec--;
            ns += 1000000000;
        }
        fprintf(f, "\t%.3f\t%llu\t%lld.%09lld\t%s", s.duration, (unsigned long long)s.size, sec, ns,
                sp->set.names[top]);
        for (int c = 0; c < k; c++)
            fprintf(f, "\t%.4f", s.probs[c]);
        for (int e = 0; e < VX_NCLASSES; e++)
            fprintf(f, "\t%.4f", s.vec[e]);
        fprintf(f, "\t%.4f\t%.4f\n", s.va[0], s.va[1]);
    }
}

/* Removals: the listed paths, then the songs whose files are gone. */
static void remove_songs(vx_index_builder *b, const struct cmdline *cmd, vx_index **ixs)
{
    vx_error err;
    if (cmd->remove) {
        FILE *f = vx_open_input(cmd->remove, &err);
        if (!f)
            vx_die(prog, 1, "%s", err.msg);
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n')
                line[--len] = 0;
            if (len && vx_index_builder_remove(b, line, &err) < 0)
                vx_die(prog, 1, "%s: %s", cmd->remove, err.msg);
        }
        free(line);
        if (ferror(f))
            vx_die(prog, 1, "cannot read %s", cmd->remove);
        vx_close_input(f);
    }
    for (int i = 0; cmd->drop_missing && i < cmd->ninputs; i++) {
        vx_song s;
        struct stat st;
        for (size_t j = 0; j < vx_index_count(ixs[i]); j++)
            if (vx_index_get(ixs[i], j, &s, &err) == 0 && stat(s.path, &st) != 0 &&
                vx_index_builder_remove(b, s.path, &err) < 0)
                vx_die(prog, 1, "%s", err.msg);
    }
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_error err;
    vx_index **ixs = vx_calloc((size_t)cmd.ninputs, sizeof *ixs, &err);
    if (!ixs)
        vx_die(prog, 1, "%s", err.msg);
    for (int i = 0; i < cmd.ninputs; i++)
        if (!(ixs[i] = vx_index_open(cmd.inputs[i], &err)) || ((cmd.check || cmd.output) && vx_index_check(ixs[i], &err) < 0))
            vx_die(prog, 1, "%s", err.msg);
    if (cmd.text || cmd.check) {
        for (int i = 0; i < cmd.ninputs; i++) {
            if (cmd.text)
                list(ixs[i], stdout);
            else
                printf("%s\t%zu songs\n", cmd.inputs[i], vx_index_count(ixs[i]));
        }
        if (fflush(stdout) != 0 || ferror(stdout))
            vx_die(prog, 1, "error writing standard output");
    } else {
        vx_index_builder *b = vx_index_builder_create(vx_index_space_of(ixs[0]), &err);
        if (!b)
            vx_die(prog, 1, "%s", err.msg);
        for (int i = 0; i < cmd.ninputs; i++)
            if (vx_index_builder_add_index(b, ixs[i], cmd.inputs[i], &err) < 0)
                vx_die(prog, 1, "%s", err.msg);
        remove_songs(b, &cmd, ixs);
        size_t n;
        if (vx_index_builder_write(b, cmd.output, &n, &err) < 0)
            vx_die(prog, 1, "%s", err.msg);
        vx_index_builder_free(b);
    }
    for (int i = 0; i < cmd.ninputs; i++)
        vx_index_close(ixs[i]);
    free(ixs);
    return 0;
}
