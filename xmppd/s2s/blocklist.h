/*
 * blocklist.h: the operator's run-time federation block list (ejabberd's
 * add_blocked_domain, Prosody's s2s_blacklist, but live), on top of the
 * `s2s_access` rule, and the access decision with its direction.
 *
 * A block of example.org covers example.org and every subdomain of it
 * (chat.example.org, a.b.example.org): whoever controls a domain can make
 * subdomains at will, so an exact-name block would be evaded in a minute.
 * Both directions are refused, exactly like an s2s_access denial.
 *
 * The set lives in memory (lookups never touch the database); the module
 * xs_mod_s2s_block (blocklist.c) loads it from PostgreSQL before the
 * listeners open, changes it only after PostgreSQL has committed, and
 * serves the verbs block_domain, unblock_domain, blocked_domains and
 * s2s_connections.
 */
#ifndef XMPPD_S2S_BLOCKLIST_H
#define XMPPD_S2S_BLOCKLIST_H

#include "xmppd/s2s/s2s.h"

/* One blocked domain. */
struct xs_s2s_block {
    char    *domain;            /* owned: prepared (lowercase, A-labels) */
    char    *reason;            /* owned: the operator's words ("" none) */
    int64_t  since;             /* unix seconds of the first block */
    char    *created_by;        /* owned: who asked ("admin_api") */
};

/*
 * The block covering domain (its own entry, else the nearest parent's),
 * or NULL.  domain must be prepared (lowercase); memory only.
 */
const struct xs_s2s_block *xs_s2s_block_match(const char *domain);

/* The entry of exactly domain, or NULL. */
const struct xs_s2s_block *xs_s2s_block_lookup(const char *domain);

/* Add domain, or replace its reason and created_by (since is kept). */
void   xs_s2s_block_mem_put(const char *domain, const char *reason,
           int64_t since, const char *created_by);
/* Remove exactly domain; false when it was not blocked. */
bool   xs_s2s_block_mem_del(const char *domain);
/* Forget every block. */
void   xs_s2s_block_mem_reset(void);
size_t xs_s2s_block_count(void);
/* Call fn for every block, in no particular order; fn must not change
 * the set. */
void   xs_s2s_block_each(void (*fn)(const struct xs_s2s_block *b,
           void *udata), void *udata);

/*
 * Whether we federate with remote in direction dir: the block list, then
 * the `s2s_access` rule (subject server = remote).  A refusal is logged
 * at NOTICE, rate limited: `s2s: refused domain=D rule=R dir=in|out`
 * (R: block_domain or s2s_access).  Must not block.  Defined in
 * access.c; xs_s2s_domain_allowed() is this with dir=in (see access.c).
 */
bool   xs_s2s_access_check(const char *remote, enum xs_s2s_dir dir);

#endif
