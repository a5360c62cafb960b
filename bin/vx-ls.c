/* vx-ls — list the records of tensor streams: key, label, dtype, shape and value statistics,
 * or with --count only the number of records per class. */
#include "vx.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-ls";
static const char usage[] =
    "Usage: vx-ls [OPTION]... [STREAM]...\n"
    "List the records of tensor streams (standard input when no STREAM or '-').\n"
    "One line per record: key, label, dtype, shape, min, max, mean (tab-separated).\n"
    "\n"
    "  -c, --count     print only per-class record counts and the total\n"
    "  -q, --no-stats  leave out min, max and mean\n"
    "  -h, --help      show this help and exit\n"
    "      --version   show the version and exit\n";

struct cmdline {
    int count_only;
    int no_stats;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    static const struct option longopts[] = {
        {"count", no_argument, NULL, 'c'}, {"no-stats", no_argument, NULL, 'q'}, {NULL, 0, NULL, 0}};
    int c;
    memset(cmd, 0, sizeof *cmd);
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":cq", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': cmd->count_only = 1; break;
        case 'q': cmd->no_stats = 1; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

/* A key as ls -b writes a name: backslash, tab, newline, carriage return and other control
 * bytes escaped (\\, \\t, \\n, \\r, \\ooo), so each record stays one line of tab-separated fields. */
static void print_key(const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\r')
            fputs("\\r", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\%03o", *p);
        else
            putchar(*p);
    }
}

static void print_record(const vx_record *r, int with_stats)
{
    char shape[64];
    vx_record_shape_text(r, shape, sizeof shape);
    char label[64];
    if (r->label == VX_NO_LABEL)
        strcpy(label, "-");
    else if (!vx_record_get_meta(r, "classes", NULL, 0) && vx_class_name(r->label))
        snprintf(label, sizeof label, "%s", vx_class_name(r->label));
    else
        snprintf(label, sizeof label, "%d", r->label);
    print_key(r->key);
    printf("\t%s\t%s\t%s", label, vx_dtype_name(r->dtype), shape);
    if (with_stats) {
        vx_stats s;
        vx_record_stats(r, &s);
        printf("\t%g\t%g\t%g", s.min, s.max, s.mean);
        if (s.nonfinite)
            printf("\t%zu non-finite", s.nonfinite);
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);

    char *stdin_only[] = {"-"};
    char **inputs = cmd.ninputs ? cmd.inputs : stdin_only;
    int ninputs = cmd.ninputs ? cmd.ninputs : 1;
    unsigned long long per_class[VX_NET_MAX_CLASSES] = {0}, unlabelled = 0, other = 0, total = 0;
    char classes[VX_MAX_TEXT] = ""; /* the first record's classes= list names the counts */
    int nclasses = VX_NCLASSES;
    vx_record r;
    vx_error err;
    vx_record_init(&r);
    for (int i = 0; i < ninputs; i++) {
        FILE *f = vx_open_input(inputs[i], &err);
        if (!f)
            vx_die(prog, 1, "%s", err.msg);
        vx_reader rd;
        vx_reader_init(&rd, f, vx_input_name(inputs[i]));
        int got;
        while ((got = vx_reader_next(&rd, &r, &err)) == 1) {
            if (total++ == 0 && vx_record_get_meta(&r, "classes", classes, sizeof classes))
                nclasses = vx_classes_count(classes) < VX_NET_MAX_CLASSES ? vx_classes_count(classes) : VX_NET_MAX_CLASSES;
            if (r.label == VX_NO_LABEL)
                unlabelled++;
            else if (r.label < nclasses)
                per_class[r.label]++;
            else
                other++;
            if (!cmd.count_only)
                print_record(&r, !cmd.no_stats);
        }
        if (got < 0)
            vx_die(prog, 1, "%s", err.msg);
        vx_close_input(f);
    }
    if (cmd.count_only) {
        char name[64];
        for (int c = 0; c < nclasses; c++)
            printf("%s\t%llu\n", vx_classes_name(classes[0] ? classes : NULL, c, name, sizeof name) ? name
                                                                                   : vx_class_name(c),
                   per_class[c]);
        if (other)
            printf("other\t%llu\n", other);
        printf("unlabelled\t%llu\ntotal\t%llu\n", unlabelled, total);
    }
    vx_record_free(&r);
    if (fflush(stdout) != 0 || ferror(stdout))
        vx_die(prog, 1, "error writing standard output");
    return 0;
}
