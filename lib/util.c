/* util.c — the small services every program needs: errors, checked sizes, option parsing,
 * atomic output files and progress lines. */
#define _GNU_SOURCE /* madvise, F_SETPIPE_SZ */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int vx_fail(vx_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void vx_die(const char *prog, int status, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(status);
}

int vx_size_mul(size_t a, size_t b, size_t *out, vx_error *err)
{
    if (a != 0 && b > SIZE_MAX / a)
        return vx_fail(err, "size %zu x %zu overflows", a, b);
    *out = a * b;
    return 0;
}

void *vx_malloc(size_t n, vx_error *err)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        vx_fail(err, "out of memory allocating %zu bytes", n);
    return p;
}

void *vx_calloc(size_t count, size_t size, vx_error *err)
{
    size_t n = 0;
    if (vx_size_mul(count, size, &n, err) < 0)
        return NULL;
    void *p = calloc(n ? count : 1, n ? size : 1);
    if (!p)
        vx_fail(err, "out of memory allocating %zu bytes", n);
    return p;
}

void *vx_alloc_large(size_t nbytes, size_t *capacity, vx_error *err)
{
    const size_t huge = (size_t)2 << 20;
    size_t align = nbytes >= huge ? huge : 64;
    if (nbytes > SIZE_MAX - align) {
        vx_fail(err, "out of memory allocating %zu bytes", nbytes);
        return NULL;
    }
    size_t rounded = nbytes ? (nbytes + align - 1) / align * align : align;
    void *p = NULL;
    if (posix_memalign(&p, align, rounded) != 0) {
        vx_fail(err, "out of memory allocating %zu bytes", rounded);
        return NULL;
    }
    if (align == huge)
        madvise(p, rounded, MADV_HUGEPAGE);
    if (capacity)
        *capacity = rounded;
    return p;
}

int vx_parse_long(const char *text, const char *option, long lo, long hi, long *out, vx_error *err)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0')
        return vx_fail(err, "%s: '%s' is not an integer", option, text);
    if (errno == ERANGE || v < lo || v > hi)
        return vx_fail(err, "%s: %s is out of range [%ld, %ld]", option, text, lo, hi);
    *out = v;
    return 0;
}

int vx_parse_double(const char *text, const char *option, double lo, double hi, double *out, vx_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0')
        return vx_fail(err, "%s: '%s' is not a number", option, text);
    if (errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return vx_fail(err, "%s: %s is out of range [%g, %g]", option, text, lo, hi);
    *out = v;
    return 0;
}

int vx_parse_choice(const char *text, const char *option, const char *const *words, int n, vx_error *err)
{
    char list[256] = "";
    for (int i = 0; i < n; i++) {
        if (strcmp(text, words[i]) == 0)
            return i;
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i == 0 ? "" : i + 1 < n ? ", " : " or ", words[i]);
    }
    return vx_fail(err, "%s: '%s' is not %s", option, text, list);
}

int vx_cli_standard(int argc, char **argv, const char *prog, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s (VibeluX) %s\n", prog, VX_VERSION);
            return 1;
        }
    }
    return 0;
}

const char *vx_cli_option_error(int c, char **argv, int optind_now, int optopt_now, char *buf, size_t size)
{
    const char *arg = optind_now > 0 ? argv[optind_now - 1] : "";
    int is_long = strncmp(arg, "--", 2) == 0;
    if (is_long) {
        /* getopt_long names the option in optopt when it is known but takes no value. */
        size_t len = strcspn(arg, "=");
        const char *form = c == ':'                                ? "option '%.*s' needs a value"
                           : arg[len] == '=' && optopt_now != 0 ? "option '%.*s' takes no value"
                                                                  : "unknown option '%.*s'";
        snprintf(buf, size, form, (int)len, arg);
    } else if (optopt_now > 0 && optopt_now < 256) {
        snprintf(buf, size, c == ':' ? "option '-%c' needs a value" : "unknown option '-%c'", optopt_now);
    } else {
        snprintf(buf, size, "unknown option '%s'", arg);
    }
    return buf;
}

_Noreturn void vx_cli_bad_option(const char *prog, int c, char **argv, int optind_now, int optopt_now)
{
    char msg[128];
    vx_die(prog, 2, "%s (see --help)", vx_cli_option_error(c, argv, optind_now, optopt_now, msg, sizeof msg));
}

int vx_is_stdin(const char *path) { return !path || strcmp(path, "-") == 0; }

const char *vx_input_name(const char *path) { return vx_is_stdin(path) ? "stdin" : path; }

FILE *vx_open_input(const char *path, vx_error *err)
{
    if (vx_is_stdin(path))
        return stdin;
    FILE *f = fopen(path, "rb");
    if (!f)
        vx_fail(err, "cannot open %s: %s", path, strerror(errno));
    return f;
}

void vx_close_input(FILE *f)
{
    if (f && f != stdin)
        fclose(f);
}

/* ---------------------------------------------------------------- output */

/* Temp files being written, removed by the handler of a fatal signal before the process dies
 * of it. Slots are claimed and released by the main thread; the handler only reads them. */
#define VX_MAX_TEMPS 16
static char *volatile temps[VX_MAX_TEMPS];
static const int fatal_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGXCPU, SIGXFSZ};

static void remove_temps_and_die(int sig)
{
    for (int i = 0; i < VX_MAX_TEMPS; i++)
        if (temps[i])
            unlink(temps[i]); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig); /* the status a shell expects of a death by this signal */
}

/* Handlers go in once, and never over a signal that was ignored (nohup, a shell's & for SIGINT). */
static void catch_fatal_signals(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(fatal_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = remove_temps_and_die;
        sigemptyset(&sa.sa_mask);
        for (size_t j = 0; j < sizeof fatal_signals / sizeof fatal_signals[0]; j++)
            sigaddset(&sa.sa_mask, fatal_signals[j]);
        sigaction(fatal_signals[i], &sa, NULL);
    }
}

static void temp_register(char *path)
{
    for (int i = 0; i < VX_MAX_TEMPS; i++)
        if (!temps[i]) {
            temps[i] = path;
            return;
        }
}

static void temp_unregister(const char *path)
{
    for (int i = 0; i < VX_MAX_TEMPS; i++)
        if (temps[i] == path)
            temps[i] = NULL;
}

/* Temp files are named FINAL.vxtmp.PID.XXXXXX. One left by a process that no longer exists
 * (killed with SIGKILL, or by a power cut) is removed by the next output to the same path. */
static void remove_stale_temps(const char *final)
{
    const char *slash = strrchr(final, '/');
    const char *base = slash ? slash + 1 : final;
    size_t dirlen = slash ? (size_t)(slash - final) + 1 : 0, baselen = strlen(base);
    char dir[4096];
    if (dirlen + 1 > sizeof dir)
        return;
    memcpy(dir, final, dirlen);
    dir[dirlen] = '\0';
    DIR *d = opendir(dirlen ? dir : ".");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        const char *n = e->d_name;
        if (strncmp(n, base, baselen) != 0 || strncmp(n + baselen, ".vxtmp.", 7) != 0)
            continue;
        char *end;
        long pid = strtol(n + baselen + 7, &end, 10);
        if (pid <= 0 || *end != '.' || strlen(end) != 7 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* its writer may still be at work */
        unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

/* A pipe of 1 MiB instead of 64 KiB: the programs of a pipeline sharing one core then take turns
 * sixteen times less often. Where Linux refuses (a lower pipe-max-size), the pipe stays as it is. */
static void widen_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < (1 << 20))
        (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#else
    (void)fd;
#endif
}

int vx_output_open(vx_output *out, const char *path, vx_error *err)
{
    memset(out, 0, sizeof *out);
    if (!path || strcmp(path, "-") == 0) { /* "-" is standard output here */
        out->file = stdout;
        widen_pipe(STDOUT_FILENO);
        return 0;
    }
    /* Anything but a regular file (a device, a FIFO, a terminal) is written through, never
     * replaced; a symbolic link is followed, and its target replaced atomically. */
    struct stat st, lst;
    int exists = stat(path, &st) == 0;
    if (!exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
        return vx_fail(err, "%s is a symbolic link to a file that does not exist", path);
    if (exists && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            return vx_fail(err, "%s is a directory", path);
        int fd = open(path, O_WRONLY | O_NOCTTY);
        out->file = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!out->file) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return vx_fail(err, "cannot open %s: %s", path, strerror(e));
        }
        out->direct = 1;
        return 0;
    }
    char *target = exists && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) ? realpath(path, NULL) : NULL;
    const char *final = target ? target : path;
    size_t n = strlen(final) + 48;
    out->final_path = target ? target : strdup(path);
    out->temp_path = malloc(n);
    if (!out->final_path || !out->temp_path) {
        vx_output_abort(out);
        return vx_fail(err, "out of memory");
    }
    remove_stale_temps(final);
    catch_fatal_signals();
    snprintf(out->temp_path, n, "%s.vxtmp.%ld.XXXXXX", final, (long)getpid());
    int fd = mkstemp(out->temp_path);
    if (fd < 0) {
        int e = errno;
        free(out->temp_path);
        out->temp_path = NULL;
        vx_output_abort(out);
        return vx_fail(err, "cannot create a temporary file beside %s: %s", path, strerror(e));
    }
    temp_register(out->temp_path);
    /* mkstemp creates 0600; give the result the permissions a plain fopen would. */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    out->file = fdopen(fd, "wb");
    if (!out->file) {
        close(fd);
        vx_output_abort(out);
        return vx_fail(err, "cannot open %s: %s", path, strerror(errno));
    }
    return 0;
}

int vx_output_commit(vx_output *out, vx_error *err)
{
    if (!out->final_path && !out->direct) {
        if (fflush(out->file) != 0 || ferror(out->file))
            return vx_fail(err, "error writing standard output: %s", strerror(errno));
        return 0;
    }
    if (out->direct) {
        int bad = fflush(out->file) != 0 || ferror(out->file);
        int e = errno;
        if (fclose(out->file) != 0 && !bad) {
            bad = 1;
            e = errno;
        }
        out->file = NULL;
        out->direct = 0;
        return bad ? vx_fail(err, "error writing the output: %s", strerror(e)) : 0;
    }
    int bad = fflush(out->file) != 0 || ferror(out->file) || fsync(fileno(out->file)) != 0;
    int e = errno;
    if (fclose(out->file) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    out->file = NULL;
    if (bad) {
        vx_fail(err, "error writing %s: %s", out->final_path, strerror(e));
        vx_output_abort(out);
        return -1;
    }
    if (rename(out->temp_path, out->final_path) != 0) {
        vx_fail(err, "cannot rename into %s: %s", out->final_path, strerror(errno));
        vx_output_abort(out);
        return -1;
    }
    temp_unregister(out->temp_path);
    free(out->temp_path);
    free(out->final_path);
    out->temp_path = out->final_path = NULL;
    return 0;
}

void vx_output_abort(vx_output *out)
{
    if (out->file && (out->final_path || out->direct))
        fclose(out->file);
    out->file = NULL;
    out->direct = 0;
    if (out->temp_path) {
        unlink(out->temp_path);
        temp_unregister(out->temp_path);
    }
    free(out->temp_path);
    free(out->final_path);
    out->temp_path = out->final_path = NULL;
}

/* -------------------------------------------------------------- progress */

double vx_seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void vx_progress_init(vx_progress *p, const char *prog, int force)
{
    p->terminal = isatty(STDERR_FILENO);
    p->enabled = force || p->terminal;
    p->prog = prog;
    p->start_seconds = p->last_seconds = vx_seconds_now();
}

void vx_progress_update(vx_progress *p, const char *what, size_t done, size_t total)
{
    if (!p->enabled)
        return;
    double now = vx_seconds_now();
    /* A terminal line is redrawn in place; a log gets a full line now and then. */
    double interval = p->terminal ? 0.25 : 5.0;
    if (now - p->last_seconds < interval && (total == 0 || done < total))
        return;
    p->last_seconds = now;
    double elapsed = now - p->start_seconds;
    if (total)
        fprintf(stderr, "%s%s: %s %zu/%zu (%.0f%%) %.1fs", p->terminal ? "\r" : "", p->prog, what, done, total,
                100.0 * (double)done / (double)total, elapsed);
    else
        fprintf(stderr, "%s%s: %s %zu %.1fs", p->terminal ? "\r" : "", p->prog, what, done, elapsed);
    fputs(p->terminal ? "\033[K" : "\n", stderr);
}

void vx_progress_done(vx_progress *p)
{
    if (p->enabled && p->terminal)
        fputc('\n', stderr);
}

int vx_read_file(const char *path, size_t max, const char *kind, char **data, size_t *len, vx_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vx_fail(err, "cannot open %s%s%s: %s", kind ? kind : "", kind ? " " : "", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    int too_big = 0;
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || ferror(f))
            break;
        if (cap > max) {
            too_big = 1;
            break;
        }
        char *p = realloc(buf, 2 * cap + 1);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (!buf || bad || too_big || n > max) {
        free(buf);
        if (too_big || (buf && n > max))
            return vx_fail(err, "%s: larger than %zu MiB: not a%s %s", path, max >> 20,
                           kind && strchr("aeiou", kind[0]) ? "n" : "", kind ? kind : "file this reads");
        if (bad)
            return vx_fail(err, "error reading %s: %s", path, strerror(e));
        return vx_fail(err, "out of memory reading %s", path);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}
