/*
 * explain_json.c: an explanation's lines (engine.h, xs_rep_explain) as
 * JSON objects, for the operator's reputation_explain (ops.c) and the
 * subscription gate's audit entries (gate.c): one writer, so the two
 * never drift apart on how a line reads.
 */
#include "reputation/mod_reputation.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

json_t *
xs_rep_json_points(double v)
{
    return json_real(round(v * 100.0) / 100.0);
}

json_t *
xs_rep_json_str(const char *s)
{
    size_t n;
    json_t *v;

    if (s == NULL)
        return json_string("");
    n = strlen(s);
    /* json_stringn refuses invalid UTF-8: drop up to three bytes of a
     * sequence cut at the end (notes are cut at XS_REP_NOTE_MAX bytes). */
    for (size_t cut = 0; cut < 4 && cut <= n; cut++) {
        if ((v = json_stringn(s, n - cut)) != NULL)
            return v;
    }
    return json_string("");
}

/* "3d 4h", "4h 12m", "12m 5s", "5s": the two largest units of an age. */
static void
explain_age_text(int64_t s, char *buf, size_t len)
{
    int n;

    if (s < 0)
        s = 0;
    if (s >= 86400)
        n = snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400,
            s % 86400 / 3600);
    else if (s >= 3600)
        n = snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600,
            s % 3600 / 60);
    else if (s >= 60)
        n = snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        n = snprintf(buf, len, "%" PRId64 "s", s);
    xs_assert(n > 0 && (size_t)n < len);
}

/* The line's age: features (age, contacts, ...) have no time, they are
 * the state now ("" for an operator, null in an audit entry). */
static json_t *
explain_age(const struct xs_rep_line *l, int64_t now,
    enum xs_rep_line_style style)
{
    char text[48] = "";

    if (style == XS_REP_LINE_AUDIT) {
        if (l->at == 0)
            return json_null();
        return json_integer(now > l->at ? (json_int_t)(now - l->at) : 0);
    }
    if (l->at != 0)
        explain_age_text(now - l->at, text, sizeof(text));
    return json_string(text);
}

json_t *
xs_rep_line_json(const struct xs_rep_line *l, int64_t now,
    enum xs_rep_line_style style)
{
    json_t *o = json_object();

    json_object_set_new(o, "what", xs_rep_json_str(l->what));
    json_object_set_new(o, "source_kind", xs_rep_json_str(l->source_kind));
    json_object_set_new(o, "source", xs_rep_json_str(l->source));
    if (style == XS_REP_LINE_OPERATOR)
        json_object_set_new(o, "weight", xs_rep_json_points(l->weight));
    json_object_set_new(o, "points", xs_rep_json_points(l->points));
    json_object_set_new(o, "age", explain_age(l, now, style));
    json_object_set_new(o, "note", xs_rep_json_str(l->note));
    return o;
}
