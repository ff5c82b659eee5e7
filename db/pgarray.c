/*
 * pgarray.c: PostgreSQL array literals, text format (see pgarray.h).
 */
#include "db/pgarray.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PGARR_FIRST_CAP 256

static void
pgarr_add(struct pgq_array *a, const char *p, size_t n)
{
    if (a->cap - a->len < n + 1) {
        size_t cap = a->cap != 0 ? a->cap : PGARR_FIRST_CAP;

        while (cap - a->len < n + 1) {
            xs_assert(cap <= SIZE_MAX / 2);
            cap *= 2;
        }
        a->p = xs_realloc(a->p, cap);
        a->cap = cap;
    }
    memcpy(a->p + a->len, p, n);
    a->len += n;
    a->p[a->len] = '\0';
}

/* The opening brace before the first element, a comma before the others. */
static void
pgarr_sep(struct pgq_array *a)
{
    xs_assert(!a->is_ended);
    pgarr_add(a, a->n == 0 ? "{" : ",", 1);
    a->n++;
}

void
pgq_array_text(struct pgq_array *a, const char *v)
{
    const char *p = v, *run;

    if (v == NULL) {
        pgq_array_null(a);
        return;
    }
    pgarr_sep(a);
    pgarr_add(a, "\"", 1);
    /* Runs without '"' or '\' go in whole: long texts are mostly that. */
    for (;;) {
        run = p;
        p += strcspn(p, "\"\\");
        pgarr_add(a, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        pgarr_add(a, "\\", 1);
        pgarr_add(a, p, 1);
        p++;
    }
    pgarr_add(a, "\"", 1);
}

void
pgq_array_int(struct pgq_array *a, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);

    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    pgarr_sep(a);
    pgarr_add(a, buf, (size_t)n);
}

void
pgq_array_double(struct pgq_array *a, double v)
{
    char buf[40];
    int n;

    /* printf's "nan" and "inf" are not what float8in documents. */
    if (isnan(v))
        n = snprintf(buf, sizeof(buf), "NaN");
    else if (isinf(v))
        n = snprintf(buf, sizeof(buf), "%sInfinity", v < 0 ? "-" : "");
    else
        n = snprintf(buf, sizeof(buf), "%.17g", v);    /* round trips */
    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    pgarr_sep(a);
    pgarr_add(a, buf, (size_t)n);
}

void
pgq_array_null(struct pgq_array *a)
{
    pgarr_sep(a);
    pgarr_add(a, "NULL", 4);
}

const char *
pgq_array_end(struct pgq_array *a)
{
    if (!a->is_ended) {
        if (a->n == 0)
            pgarr_add(a, "{", 1);
        pgarr_add(a, "}", 1);
        a->is_ended = true;
    }
    return a->p;
}

char *
pgq_array_take(struct pgq_array *a)
{
    char *p;

    pgq_array_end(a);
    p = a->p;
    memset(a, 0, sizeof(*a));
    return p;
}

void
pgq_array_fini(struct pgq_array *a)
{
    xs_free(a->p);
    memset(a, 0, sizeof(*a));
}
