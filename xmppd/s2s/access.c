/*
 * access.c: whether we federate with a remote domain: the operator's
 * run-time block list (blocklist.c) first, then the `s2s_access` access
 * rule (ejabberd's option), evaluated with the remote domain as the
 * subject's server.  Both a whitelist (`[{allow: trusted}, {deny: all}]`)
 * and a blacklist (`[{deny: spammers}, {allow: all}]`) are plain access
 * rules.  Memory only: this runs for every outbound stanza and every
 * inbound authentication.
 *
 * Direction: outbound refusals are made by xs_mod_s2s_block's ROUTE hook
 * (xs_s2s_access_check with dir=out), which runs before the router's s2s
 * branch; so the only refusals xs_s2s_domain_allowed() still meets come
 * from inbound authentication (in.c), and it logs them as dir=in.
 */
#include "xmppd/s2s/blocklist.h"

/* Refusal lines: a peer retrying in a loop, or a local user writing to a
 * refused domain, must not flood the log.  A token bucket of lines. */
#define ACCESS_LOG_RATE  20             /* lines per second */
#define ACCESS_LOG_BURST 40

static double   log_tokens = ACCESS_LOG_BURST;
static uint64_t log_ms;
static uint64_t log_suppressed;

static void
access_log_refusal(const char *remote, const char *rule,
    const char *detail_key, const char *detail, enum xs_s2s_dir dir)
{
    uint64_t now = xs_now_ms();

    log_tokens += (double)(now - log_ms) * ACCESS_LOG_RATE / 1000.0;
    if (log_tokens > ACCESS_LOG_BURST)
        log_tokens = ACCESS_LOG_BURST;
    log_ms = now;
    if (log_tokens < 1.0) {
        log_suppressed++;
        return;
    }
    log_tokens -= 1.0;
    /* suppressed: refusals not logged since the previous line. */
    xs_log(XS_LOG_NOTICE, "s2s: refused domain=%s rule=%s dir=%s %s=%s "
        "suppressed=%" PRIu64, remote, rule, dir == XS_S2S_IN ? "in" : "out",
        detail_key, detail, log_suppressed);
    log_suppressed = 0;
}

bool
xs_s2s_access_check(const char *remote, enum xs_s2s_dir dir)
{
    const struct xs_conf *conf = xs_server()->conf;
    const struct xs_s2s_block *b;
    struct xs_acl_subject subj = { .server = remote };

    if (remote == NULL || *remote == '\0')
        return false;
    if ((b = xs_s2s_block_match(remote)) != NULL) {
        access_log_refusal(remote, "block_domain", "blocked", b->domain,
            dir);
        return false;
    }
    if (conf->s2s_access == NULL)
        return true;            /* no rule configured: federate with all */
    if (xs_access_eval(&conf->acl, conf->s2s_access, &subj) == XS_ALLOW)
        return true;
    access_log_refusal(remote, "s2s_access", "access", conf->s2s_access,
        dir);
    return false;
}

bool
xs_s2s_domain_allowed(const char *remote_domain)
{
    return xs_s2s_access_check(remote_domain, XS_S2S_IN);
}
