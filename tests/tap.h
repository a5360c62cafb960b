/* tap.h — a minimal TAP producer for the C tests run by prove. */
#ifndef TAP_H
#define TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct tap {
    int planned;
    int run;
    int failed;
} tap;

static inline void tap_plan(tap *t, int n)
{
    t->planned = n;
    t->run = t->failed = 0;
    printf("1..%d\n", n);
}

static inline int tap_ok(tap *t, int cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int tap_ok(tap *t, int cond, const char *fmt, ...)
{
    va_list ap;
    t->run++;
    if (!cond)
        t->failed++;
    printf("%sok %d - ", cond ? "" : "not ", t->run);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

static inline void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void tap_diag(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static inline void tap_skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

static inline int tap_done(tap *t)
{
    if (t->run != t->planned)
        printf("# planned %d tests but ran %d\n", t->planned, t->run);
    return t->failed || t->run != t->planned;
}

#endif
