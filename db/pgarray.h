/*
 * pgarray.h: PostgreSQL array literals in text format ("{...}"), for
 * statements that carry a whole batch as one array parameter per column
 * and expand it with unnest() ($1::text[], $2::float8[], ...).
 *
 * Text elements are always double-quoted, with '"' and '\' escaped:
 * inside quotes everything else (braces, commas, spaces, the word NULL,
 * the empty string) is literal, so no value can change the array's shape.
 * A NULL element is the bare word NULL.  Numbers are written in full
 * (a double with 17 significant digits reads back as the same double;
 * NaN and the infinities in the spelling float8 accepts).
 *
 * The literal grows in memory that aborts on OOM (xs_realloc); bound the
 * batch, not the builder.
 */
#ifndef XMPPD_DB_PGARRAY_H
#define XMPPD_DB_PGARRAY_H

#include "xmppd/core/xs.h"

/* One literal being built.  Zero it (or PGQ_ARRAY_INIT) to start. */
struct pgq_array {
    char  *p;           /* owned: the text so far, NUL-terminated */
    size_t len;
    size_t cap;
    size_t n;           /* elements added */
    bool   is_ended;
};

#define PGQ_ARRAY_INIT { NULL, 0, 0, 0, false }

/* Add one element: text v (NULL: an SQL NULL element). */
void pgq_array_text(struct pgq_array *a, const char *v);
/* Add an integer element. */
void pgq_array_int(struct pgq_array *a, int64_t v);
/* Add a float8 element. */
void pgq_array_double(struct pgq_array *a, double v);
/* Add a NULL element (of any element type). */
void pgq_array_null(struct pgq_array *a);

/*
 * Close the literal ("{}" when nothing was added) and return it, owned by
 * a until pgq_array_fini.  Nothing may be added after; ending again
 * returns the same text.
 */
const char *pgq_array_end(struct pgq_array *a);
/* pgq_array_end, then hand the text over (the caller frees it with
 * xs_free); a is empty again. */
char *pgq_array_take(struct pgq_array *a);
/* Free the text; a is empty again.  Safe on a zeroed one. */
void pgq_array_fini(struct pgq_array *a);

#endif
