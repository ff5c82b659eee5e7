/* sm.c: the session manager: bound client sessions indexed by bare JID. */
#include "xmppd/c2s/sm.h"

#include "xmppd/c2s/session.h"
#include "xmppd/xml/jid.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

struct sm_user {
    char               *bare;       /* owned */
    struct xs_session **v;          /* owned array of borrowed sessions */
    size_t              n;
};

static void *users;                 /* tsearch tree of struct sm_user */
static size_t nbound;

static int
sm_user_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sm_user *)a)->bare,
        ((const struct sm_user *)b)->bare);
}

static struct sm_user *
sm_user_lookup(const char *bare)
{
    struct sm_user key = { .bare = (char *)bare };
    void *found = tfind(&key, &users, sm_user_cmp);

    return found ? *(struct sm_user **)found : NULL;
}

void
xs_sm_bind(struct xs_session *s)
{
    struct sm_user *u = sm_user_lookup(s->jid->bare);
    struct xs_session *old;

    if ((old = xs_sm_find(s->jid)) != NULL && old != s) {
        xs_slog(old, XS_LOG_INFO, "c2s: replaced by s=%" PRIu64
            " for the same resource", s->id);
        xs_session_close(old, XS_STERR_CONFLICT,
            "Replaced by new connection");
        u = sm_user_lookup(s->jid->bare);   /* old's unbind may free u */
    }
    if (u == NULL) {
        u = xs_calloc(1, sizeof(*u));
        u->bare = xs_strdup(s->jid->bare);
        tsearch(u, &users, sm_user_cmp);
    }
    u->v = xs_reallocarray(u->v, u->n + 1, sizeof(u->v[0]));
    u->v[u->n++] = s;
    nbound++;
}

void
xs_sm_unbind(struct xs_session *s)
{
    struct sm_user *u;

    if (s->jid == NULL || s->state != XS_C2S_BOUND)
        return;
    u = sm_user_lookup(s->jid->bare);
    if (u == NULL)
        return;
    for (size_t i = 0; i < u->n; i++) {
        if (u->v[i] != s)
            continue;
        u->v[i] = u->v[--u->n];
        nbound--;
        break;
    }
    if (u->n == 0) {
        tdelete(u, &users, sm_user_cmp);
        xs_free(u->v);
        xs_free(u->bare);
        xs_free(u);
    }
}

struct xs_session *
xs_sm_find(const struct xs_jid *full)
{
    struct sm_user *u;

    if (full->resource == NULL || (u = sm_user_lookup(full->bare)) == NULL)
        return NULL;
    for (size_t i = 0; i < u->n; i++) {
        if (strcmp(u->v[i]->jid->resource, full->resource) == 0)
            return u->v[i];
    }
    return NULL;
}

struct xs_session *const *
xs_sm_sessions(const char *bare, size_t *n)
{
    struct sm_user *u = sm_user_lookup(bare);

    *n = u ? u->n : 0;
    return u ? u->v : NULL;
}

uint64_t *
xs_sm_session_ids(const char *bare, size_t *n)
{
    struct xs_session *const *v = xs_sm_sessions(bare, n);
    uint64_t *ids;

    if (*n == 0)
        return NULL;
    ids = xs_calloc(*n, sizeof(ids[0]));
    for (size_t i = 0; i < *n; i++)
        ids[i] = v[i]->id;
    return ids;
}

size_t
xs_sm_count(void)
{
    return nbound;
}

/* twalk has no user pointer: collect through a file-static cursor. */
static char **list_out;
static size_t list_n;

static void
sm_list_visit(const void *node, VISIT which, int depth)
{
    const struct sm_user *u = *(struct sm_user *const *)node;

    (void)depth;
    if (which != postorder && which != leaf)
        return;
    for (size_t i = 0; i < u->n; i++)
        list_out[list_n++] = xs_strdup(u->v[i]->jid->full);
}

static int
sm_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
xs_sm_list(size_t *n)
{
    list_out = xs_calloc(nbound + 1, sizeof(char *));
    list_n = 0;
    twalk(users, sm_list_visit);
    qsort(list_out, list_n, sizeof(char *), sm_str_cmp);
    *n = list_n;
    return list_out;
}

static size_t
sm_close_user(const char *user, const char *host, enum xs_stream_err err,
    const char *text)
{
    char *bare = xs_asprintf("%s@%s", user, host);
    struct sm_user *u = sm_user_lookup(bare);
    size_t closed = 0;

    xs_free(bare);
    /* Closing unbinds, which shrinks u->v (and frees u with the last). */
    while (u != NULL && u->n > 0) {
        size_t before = u->n;

        xs_session_close(u->v[0], err, text);
        closed++;
        if (before == 1)
            break;
    }
    return closed;
}

size_t
xs_sm_kick_user(const char *user, const char *host)
{
    return sm_close_user(user, host, XS_STERR_POLICY_VIOLATION,
        "kicked by an operator");
}

size_t
xs_sm_close_account(const char *user, const char *host)
{
    return sm_close_user(user, host, XS_STERR_NOT_AUTHORIZED,
        "account removed");
}
