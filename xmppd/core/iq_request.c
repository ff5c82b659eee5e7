/*
 * iq_request.c: IQs the server sends and the answers it waits for
 * (iq.h, xs_iq_request).
 *
 * Requests are few (a key discovery per peer domain and hour, say), so
 * they sit in a small list; each has its own timer.  An answer is
 * accepted only from the entity asked and to the domain that asked, with
 * the request's random id: a third party cannot answer for a peer (its
 * stanzas arrive with its own authenticated domain), and guessing an id
 * means guessing 128 random bits.
 */
#include "xmppd/core/iq.h"

#include "xmppd/core/server.h"
#include "xmppd/router.h"
#include "xmppd/xml/elem.h"

#include <event2/event.h>
#include <string.h>

#define IQR_PENDING_MAX 4096    /* requests waiting at once */

struct iq_req {
    struct iq_req   *next;      /* owned by the list */
    uint64_t         handle;
    char            *id;        /* owned */
    struct xs_jid   *from;      /* owned: who asked (our domain) */
    struct xs_jid   *to;        /* owned: who was asked */
    struct event    *timer;     /* owned */
    xs_iq_answer_fn *cb;
    void            *ud;        /* borrowed, handed back */
};

static struct iq_req *reqs;     /* owned */
static size_t         nreqs;
static uint64_t       last_handle;

static void
iqr_free(struct iq_req *r)
{
    if (r->timer != NULL)
        event_free(r->timer);
    xs_jid_free(r->from);
    xs_jid_free(r->to);
    xs_free(r->id);
    xs_free(r);
}

/* Unlink r (it must be on the list). */
static void
iqr_unlink(struct iq_req *r)
{
    for (struct iq_req **p = &reqs; *p != NULL; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            nreqs--;
            return;
        }
    }
}

static void
iqr_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct iq_req *r = arg;

    (void)fd, (void)what;
    iqr_unlink(r);
    xs_log(XS_LOG_INFO, "iq: request id=%s to=%s timed out", r->id,
        r->to->full);
    r->cb(XS_ETIMEOUT, NULL, r->ud);
    iqr_free(r);
}

xs_rc
xs_iq_request(const char *from, const char *to, const char *type,
    struct xs_elem *payload, uint64_t timeout_ms, xs_iq_answer_fn *cb,
    void *ud, uint64_t *handle)
{
    struct timeval tv = {
        (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000
    };
    struct iq_req *r;
    struct xs_elem *iq;
    char id[33];

    if (from == NULL || to == NULL || payload == NULL || cb == NULL ||
        (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)) {
        xs_elem_free(payload);
        return XS_EINVAL;
    }
    if (nreqs >= IQR_PENDING_MAX) {
        xs_elem_free(payload);
        return XS_ELIMIT;
    }
    xs_iq_set_answer_matcher(xs_iq_request_answer);
    r = xs_calloc(1, sizeof(*r));
    if (xs_jid_new(from, &r->from) != XS_OK ||
        xs_jid_new(to, &r->to) != XS_OK) {
        xs_elem_free(payload);
        iqr_free(r);
        return XS_EINVAL;
    }
    r->timer = evtimer_new(xs_server()->base, iqr_on_timeout, r);
    if (r->timer == NULL) {
        xs_elem_free(payload);
        iqr_free(r);
        return XS_EIO;
    }
    xs_random_id(id);
    r->id = xs_strdup(id);
    r->cb = cb;
    r->ud = ud;
    r->handle = ++last_handle;
    r->next = reqs;
    reqs = r;
    nreqs++;
    evtimer_add(r->timer, &tv);
    if (handle != NULL)
        *handle = r->handle;

    iq = xs_elem_new(XS_NS_CLIENT, "iq");
    xs_elem_set_attr(iq, "type", type);
    xs_elem_set_attr(iq, "id", r->id);
    xs_elem_set_attr(iq, "from", r->from->full);
    xs_elem_set_attr(iq, "to", r->to->full);
    xs_elem_append(iq, payload);
    /* Routing may answer at once (an unknown domain bounces): the answer
     * finds r on the list, so r must be complete before this. */
    xs_router_route(xs_stanza_new(iq));
    return XS_OK;
}

void
xs_iq_request_cancel(uint64_t handle)
{
    for (struct iq_req *r = reqs; r != NULL; r = r->next) {
        if (r->handle == handle) {
            iqr_unlink(r);
            iqr_free(r);
            return;
        }
    }
}

bool
xs_iq_request_answer(const struct xs_stanza_ctx *ctx)
{
    const char *id = xs_stanza_attr(ctx->st, "id");
    bool is_error = xs_stanza_type_is(ctx->st, "error");

    if (id == NULL || ctx->to == NULL)
        return false;
    for (struct iq_req *r = reqs; r != NULL; r = r->next) {
        if (strcmp(r->id, id) != 0)
            continue;
        /* RFC 6120 8.1.2.1: a result comes from whom we asked.  An error
         * our own router generated (unroutable) comes from that JID too. */
        if (strcmp(ctx->from->full, r->to->full) != 0 ||
            strcmp(ctx->to->full, r->from->full) != 0) {
            xs_log(XS_LOG_INFO, "iq: answer id=%s from=%s ignored: "
                "we asked %s", id, ctx->from->full, r->to->full);
            return false;
        }
        iqr_unlink(r);
        r->cb(is_error ? XS_EIO : XS_OK, ctx->st, r->ud);
        iqr_free(r);
        return true;
    }
    return false;
}

size_t
xs_iq_requests_pending(void)
{
    return nreqs;
}

void
xs_iq_requests_free(void)
{
    while (reqs != NULL) {
        struct iq_req *r = reqs;

        reqs = r->next;
        iqr_free(r);
    }
    nreqs = 0;
}
