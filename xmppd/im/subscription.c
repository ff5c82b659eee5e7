/*
 * subscription.c: the presence subscription state machine (RFC 6121
 * section 3, Appendix A) and pre-approval (3.4).
 *
 * A state is two directions (the owner sees the contact: 'to'; the
 * contact sees the owner: 'from') and two pending flags.  The nine rows
 * of each table in Appendix A reduce to four rules, because each stanza
 * touches one direction only:
 *   subscribe:    pending on the asking side, unless already subscribed
 *   subscribed:   pending on the asking side becomes a subscription
 *   unsubscribe:  the asking side's subscription, else its pending request,
 *                 is cancelled
 *   unsubscribed: the same, for the approving side
 * Outbound subscribe/unsubscribe and inbound subscribed/unsubscribed act
 * on 'to' (the owner's own subscription to the contact); the others act
 * on 'from'.  tests/unit/test_subscription.c checks every row.
 */
#include "xmppd/im/subscription.h"

#include <string.h>

static const char *const sub_type_names[XS_SUBT__COUNT] = {
    [XS_SUBT_SUBSCRIBE] = "subscribe",
    [XS_SUBT_SUBSCRIBED] = "subscribed",
    [XS_SUBT_UNSUBSCRIBE] = "unsubscribe",
    [XS_SUBT_UNSUBSCRIBED] = "unsubscribed",
};

bool
xs_sub_type_parse(const char *type, enum xs_sub_type *out)
{
    if (type == NULL)
        return false;
    for (int i = 0; i < XS_SUBT__COUNT; i++) {
        if (strcmp(type, sub_type_names[i]) == 0) {
            *out = (enum xs_sub_type)i;
            return true;
        }
    }
    return false;
}

const char *
xs_sub_type_name(enum xs_sub_type t)
{
    return (unsigned)t < XS_SUBT__COUNT ? sub_type_names[t] : "?";
}

static const char *const sub_names[] = {
    [XS_SUB_NONE] = "none", [XS_SUB_TO] = "to", [XS_SUB_FROM] = "from",
    [XS_SUB_BOTH] = "both",
};

const char *
xs_sub_name(enum xs_sub s)
{
    return (unsigned)s < XS_ARRAY_LEN(sub_names) ? sub_names[s] : "none";
}

bool
xs_sub_parse(const char *name, enum xs_sub *out)
{
    for (size_t i = 0; name != NULL && i < XS_ARRAY_LEN(sub_names); i++) {
        if (strcmp(name, sub_names[i]) == 0) {
            *out = (enum xs_sub)i;
            return true;
        }
    }
    return false;
}

static bool
sub_has_to(enum xs_sub s)
{
    return s == XS_SUB_TO || s == XS_SUB_BOTH;
}

static bool
sub_has_from(enum xs_sub s)
{
    return s == XS_SUB_FROM || s == XS_SUB_BOTH;
}

static enum xs_sub
sub_make(bool to, bool from)
{
    if (to && from)
        return XS_SUB_BOTH;
    if (to)
        return XS_SUB_TO;
    return from ? XS_SUB_FROM : XS_SUB_NONE;
}

/*
 * One direction of a state: has (subscribed) and pending.  The four
 * rules of the header comment, each returning whether it changed.
 */
static bool
dir_request(bool *has, bool *pending)
{
    if (*has || *pending)
        return false;
    *pending = true;
    return true;
}

static bool
dir_approve(bool *has, bool *pending)
{
    if (*has || !*pending)
        return false;
    *has = true;
    *pending = false;
    return true;
}

static bool
dir_cancel(bool *has, bool *pending)
{
    if (*has) {
        *has = false;           /* has and pending never hold together */
        *pending = false;
        return true;
    }
    if (*pending) {
        *pending = false;
        return true;
    }
    return false;
}

unsigned
xs_sub_apply(struct xs_sub_state *st, enum xs_sub_dir dir,
    enum xs_sub_type type, bool has_preapproval)
{
    bool to = sub_has_to(st->sub), from = sub_has_from(st->sub);
    bool had_from = from, had_to = to;
    bool changed = false;
    unsigned act = 0;

    /* Which direction the stanza is about (see the header comment). */
    bool is_to_side = (dir == XS_SUB_OUTBOUND) ==
        (type == XS_SUBT_SUBSCRIBE || type == XS_SUBT_UNSUBSCRIBE);

    switch (type) {
    case XS_SUBT_SUBSCRIBE:
        if (is_to_side) {
            changed = dir_request(&to, &st->ask_out);
        } else if (from) {
            /* 3.1.3: already approved: answer for the owner, and let the
             * contact see the owner again (its side had lost track). */
            act |= XS_SUBA_AUTOREPLY | XS_SUBA_SEND_PRESENCE;
        } else if (has_preapproval && st->approved && !st->ask_in) {
            /* 3.4: approved in advance: no request reaches the owner. */
            from = true;
            st->approved = false;
            changed = true;
            act |= XS_SUBA_AUTOREPLY;
        } else {
            changed = dir_request(&from, &st->ask_in);
        }
        break;
    case XS_SUBT_SUBSCRIBED:
        if (is_to_side) {
            changed = dir_approve(&to, &st->ask_out);
        } else {
            changed = dir_approve(&from, &st->ask_in);
            if (!changed && has_preapproval && !from && !st->ask_in &&
                !st->approved) {
                st->approved = true;        /* 3.4: pre-approval */
                act |= XS_SUBA_PREAPPROVE | XS_SUBA_PUSH | XS_SUBA_CHANGED;
            }
        }
        break;
    case XS_SUBT_UNSUBSCRIBE:
    case XS_SUBT_UNSUBSCRIBED:
        if (is_to_side) {
            changed = dir_cancel(&to, &st->ask_out);
        } else {
            changed = dir_cancel(&from, &st->ask_in);
            if (!changed && dir == XS_SUB_OUTBOUND && st->approved) {
                st->approved = false;       /* 3.4: cancel a pre-approval */
                act |= XS_SUBA_PUSH | XS_SUBA_CHANGED;
            }
        }
        break;
    default:
        return 0;
    }
    if (from)
        st->approved = false;       /* nothing left to pre-approve */
    st->sub = sub_make(to, from);
    /* 3.1.2, 3.3.2: the owner's own requests and cancellations always go
     * out (the contact's server decides what reaches the contact);
     * approvals and refusals only when they change something (3.1.5,
     * 3.2.2). */
    if (dir == XS_SUB_OUTBOUND &&
        (type == XS_SUBT_SUBSCRIBE || type == XS_SUBT_UNSUBSCRIBE))
        act |= XS_SUBA_ROUTE;
    if (!changed)
        return act;

    act |= XS_SUBA_CHANGED;
    act |= dir == XS_SUB_OUTBOUND ? XS_SUBA_ROUTE : XS_SUBA_DELIVER;
    /* Pending In alone is not part of the item the owner sees (3.1.3):
     * the request itself is what the owner gets. */
    if (!(dir == XS_SUB_INBOUND && type == XS_SUBT_SUBSCRIBE &&
          !(act & XS_SUBA_AUTOREPLY)))
        act |= XS_SUBA_PUSH;
    if (act & XS_SUBA_AUTOREPLY)
        act &= ~(unsigned)XS_SUBA_DELIVER;   /* 3.4: never delivered */
    if (!had_from && from)
        act |= XS_SUBA_SEND_PRESENCE;
    if (had_from && !from)
        act |= XS_SUBA_SEND_UNAVAILABLE;
    if (!had_to && to)
        act |= XS_SUBA_GAINED_TO;
    if (had_to && !to)
        act |= XS_SUBA_LOST_TO;
    return act;
}
