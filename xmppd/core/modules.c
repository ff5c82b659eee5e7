/* modules.c: every module linked into xmppd, in load order. */
#include "xmppd/core/modules.h"

extern const struct xs_module xs_mod_presence;
extern const struct xs_module xs_mod_disco;
extern const struct xs_module xs_mod_ping;
extern const struct xs_module xs_mod_version;

const struct xs_module *const xs_modules[] = {
    &xs_mod_presence,
    &xs_mod_disco,
    &xs_mod_ping,
    &xs_mod_version,
    NULL
};
