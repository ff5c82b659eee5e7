/* modules.h: the static module registry (modules.c lists them). */
#ifndef XMPPD_CORE_MODULES_H
#define XMPPD_CORE_MODULES_H

#include "xmppd/core/module.h"

/* NULL-terminated, in load order. */
extern const struct xs_module *const xs_modules[];

#endif
