/*
 * drain.c: the shutdown drain (server.h).  Kept out of main.c so that
 * modules, linked into unit tests without main.c, can hold the exit.
 */
#include "xmppd/core/server.h"

#include "xmppd/core/hooks.h"

#include <event2/event.h>

static unsigned       drain_holds;
static bool           is_draining;
static struct event  *drain_deadline;   /* owned */
static void         (*drain_done)(void);

static void
drain_finish(void)
{
    void (*done)(void) = drain_done;

    is_draining = false;
    drain_done = NULL;
    if (drain_deadline != NULL)
        event_del(drain_deadline);
    if (done != NULL)
        done();
}

static void
drain_expired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    xs_log(XS_LOG_WARN, "shutdown: %u module(s) still writing after %d ms: "
        "exiting without them", drain_holds, XS_SHUTDOWN_DRAIN_MS);
    drain_finish();
}

void
xs_shutdown_hold(void)
{
    drain_holds++;
}

void
xs_shutdown_release(void)
{
    xs_assert(drain_holds > 0);
    if (--drain_holds == 0 && is_draining)
        drain_finish();
}

void
xs_shutdown_drain(struct event_base *base, void (*done)(void))
{
    struct timeval tv = {
        XS_SHUTDOWN_DRAIN_MS / 1000, (XS_SHUTDOWN_DRAIN_MS % 1000) * 1000
    };

    drain_done = done;
    if (drain_deadline == NULL)
        drain_deadline = evtimer_new(base, drain_expired, NULL);
    if (drain_deadline != NULL)
        evtimer_add(drain_deadline, &tv);
    /* Handlers may hold (and even release at once): decide after all of
     * them ran. */
    xs_event_fire(XS_EV_SERVER_DRAINING, NULL);
    is_draining = true;
    if (drain_holds == 0)
        drain_finish();
}

void
xs_shutdown_drain_free(void)
{
    if (drain_deadline != NULL)
        event_free(drain_deadline);
    drain_deadline = NULL;
}
