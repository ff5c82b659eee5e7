/*
 * roster.h: what other modules may ask of the roster module (RFC 6121).
 *
 * Rosters live in memory while their owner has a bound session (loaded at
 * bind, before the session reads on), and in PostgreSQL always.  These
 * lookups read memory only: they never block and never touch the
 * database, so they answer only for owners who are online.
 */
#ifndef XMPPD_IM_ROSTER_H
#define XMPPD_IM_ROSTER_H

#include "xmppd/core/xs.h"

enum xs_sub {
    XS_SUB_NONE,
    XS_SUB_TO,          /* the owner sees the contact's presence */
    XS_SUB_FROM,        /* the contact sees the owner's presence */
    XS_SUB_BOTH,
};

struct xs_roster_item {
    char        *contact;   /* owned: prepared bare JID */
    char        *name;      /* owned; "" when none */
    enum xs_sub  sub;
    bool         ask_out;   /* the owner asked, no answer yet */
    bool         ask_in;    /* the contact asked, no answer yet */
    bool         approved;  /* pre-approved by the owner */
    bool         is_item;   /* false: only a pending inbound request */
    char       **groups;    /* owned */
    size_t       ngroups;
};

struct xs_roster;

/* The loaded roster of owner_bare, or NULL (owner offline or loading). */
const struct xs_roster *xs_roster_loaded(const char *owner_bare);

/* The item for contact_bare in r, or NULL. */
const struct xs_roster_item *xs_roster_item(const struct xs_roster *r,
                                 const char *contact_bare);

/*
 * Whether contact_bare is a contact of owner_bare: a roster item with a
 * subscription in either direction.  false when the roster is not loaded.
 */
bool xs_roster_is_contact(const char *owner_bare, const char *contact_bare);

/*
 * Observers of subscription changes (the reputation engine): called once
 * a change of owner_bare's entry for contact_bare is committed, whenever
 * its subscription state differs from before (a removed item: after is
 * XS_SUB_NONE).  Each roster is its own: between two local accounts, the
 * change on either side is reported by that side's own call.  Pending
 * flags (ask_in, ask_out) alone do not call; read them from
 * xs_roster_item().  At most a few observers (XS_ELIMIT); register from
 * a module's init, remove in its fini.
 */
typedef void xs_roster_change_fn(const char *owner_bare,
    const char *contact_bare, enum xs_sub before, enum xs_sub after,
    void *ud);

xs_rc xs_roster_observe(xs_roster_change_fn *fn, void *ud);
void  xs_roster_unobserve(xs_roster_change_fn *fn, void *ud);

/* ---- For the presence code of xmppd/im/ (presence.c) ---- */

typedef void xs_roster_each_fn(const struct xs_roster_item *it, void *ud);

/*
 * Call fn for every entry of r, pending-only ones included (check
 * is_item).  fn must not send or route anything (a send may close a
 * session and free the roster): collect, then act.
 */
void xs_roster_each(const struct xs_roster *r, xs_roster_each_fn *fn,
         void *ud);

#endif
