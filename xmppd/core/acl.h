/*
 * acl.h: ejabberd-style access control: named ACLs (who), access rules
 * (ordered allow/deny decisions over ACLs), shapers (byte rates) and
 * shaper rules (which shaper applies to whom).
 *
 * The configuration loader (conf.c) fills a struct xs_acl_conf from the
 * `acl`, `access_rules`, `shaper` and `shaper_rules` sections; the rest of
 * the server only evaluates.  Evaluation takes plain strings: the caller
 * passes the prepared (nodeprep'd, lowercased) parts of a JID.
 */
#ifndef XMPPD_CORE_ACL_H
#define XMPPD_CORE_ACL_H

#include "xmppd/core/xs.h"

#include <sys/socket.h>

struct xs_conf_node;
struct xs_acl;                  /* opaque: one named or inline ACL */
struct xs_access_rule;          /* opaque: ordered entries of a rule */

enum xs_access {
    XS_DENY = 0,
    XS_ALLOW = 1,
};

/* Who is asking.  Every field may be NULL: a condition on a missing part
 * never matches (an `ip:` ACL never matches a subject without address). */
struct xs_acl_subject {
    const char *user;           /* borrowed: localpart, NULL for a server */
    const char *server;         /* borrowed: domain, lowercase */
    const char *resource;       /* borrowed */
    const struct sockaddr *ip;  /* borrowed: AF_INET or AF_INET6 */
};

/* A token bucket definition: `rate` bytes per second, bursts up to
 * `burst_size` bytes (ejabberd's default burst is one second of rate). */
struct xs_shaper {
    char     *name;             /* owned */
    uint64_t  rate;
    uint64_t  burst_size;
};

struct xs_acl_conf {
    char  **hosts;              /* owned: copy of the local hosts, for
                                   `user: alice` (alice on any local host) */
    size_t  nhosts;
    struct xs_acl *acls;        /* owned: named ACLs, then inline ones */
    size_t  nacls;
    struct xs_access_rule *access_rules;    /* owned */
    size_t  naccess_rules;
    struct xs_shaper *shapers;  /* owned */
    size_t  nshapers;
    struct xs_access_rule *shaper_rules;    /* owned */
    size_t  nshaper_rules;
};

void  xs_acl_conf_init(struct xs_acl_conf *a);
void  xs_acl_conf_fini(struct xs_acl_conf *a);

/*
 * Parse the four sections (each may be NULL when absent) into a, which
 * must be freshly initialized.  hosts are the validated local hosts.
 * On failure *errmsg is one line "file:line: key: why" (caller frees) and
 * a holds whatever was parsed so far (xs_acl_conf_fini releases it).
 */
xs_rc xs_acl_conf_parse(struct xs_acl_conf *a, const char *file,
          char *const *hosts, size_t nhosts,
          const struct xs_conf_node *acl,
          const struct xs_conf_node *access_rules,
          const struct xs_conf_node *shaper,
          const struct xs_conf_node *shaper_rules, char **errmsg);

/* True if the subject is in the ACL; "all" and "none" are built in.  An
 * unknown name matches nobody. */
bool  xs_acl_match(const struct xs_acl_conf *a, const char *acl_name,
          const struct xs_acl_subject *s);

/* Evaluate an access rule: the first entry whose conditions all match
 * decides; no match (or an unknown rule) denies.  "all" (and NULL, the
 * "no rule configured" value of listener fields) allows, "none" denies. */
enum xs_access xs_access_eval(const struct xs_acl_conf *a, const char *rule,
          const struct xs_acl_subject *s);

/* The shaper for a subject.  `name` may be a shaper_rules name (evaluated
 * like an access rule, first match wins) or a shaper name (applies to
 * everyone).  NULL means "no shaping": the built-in shaper "none", no
 * matching entry, a NULL or unknown name. */
const struct xs_shaper *xs_shaper_for(const struct xs_acl_conf *a,
          const char *name, const struct xs_acl_subject *s);

/* Lookups for validating references (listeners, s2s_access, modules). */
bool  xs_acl_is_defined(const struct xs_acl_conf *a, const char *acl_name);
bool  xs_access_rule_is_defined(const struct xs_acl_conf *a,
          const char *rule);
const struct xs_shaper *xs_shaper_lookup(const struct xs_acl_conf *a,
          const char *name);
bool  xs_shaper_rule_is_defined(const struct xs_acl_conf *a,
          const char *name);

#endif
