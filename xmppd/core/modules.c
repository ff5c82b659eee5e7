/* modules.c: every module linked into xmppd, in load order. */
#include "xmppd/core/modules.h"

extern const struct xs_module xs_mod_presence;
extern const struct xs_module xs_mod_roster;
extern const struct xs_module xs_mod_disco;
extern const struct xs_module xs_mod_ping;
extern const struct xs_module xs_mod_version;
extern const struct xs_module xs_mod_vcard;
extern const struct xs_module xs_mod_search;
extern const struct xs_module xs_mod_last;
extern const struct xs_module xs_mod_activity;
extern const struct xs_module xs_mod_offline;
extern const struct xs_module xs_mod_blocking;
extern const struct xs_module xs_mod_s2s_block;
extern const struct xs_module xs_mod_reputation;
extern const struct xs_module xs_mod_trust;
extern const struct xs_module xs_mod_audit;
extern const struct xs_module xs_mod_gate;

const struct xs_module *const xs_modules[] = {
    &xs_mod_presence,
    &xs_mod_roster,
    &xs_mod_disco,
    &xs_mod_ping,
    &xs_mod_version,
    &xs_mod_vcard,
    &xs_mod_search,
    &xs_mod_last,
    &xs_mod_activity,
    &xs_mod_offline,
    &xs_mod_blocking,
    &xs_mod_s2s_block,
    &xs_mod_reputation,
    &xs_mod_trust,
    &xs_mod_audit,
    &xs_mod_gate,
    NULL
};
