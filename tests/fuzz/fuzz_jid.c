/*
 * tests/fuzz/fuzz_jid.c: JID parsing and preparation.
 *
 * A JID we accept, written back out and parsed again, is the same JID
 * (preparation is idempotent), and building it from its parts agrees.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmppd/xml/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xs_strndup((const char *)data, size);
    struct xs_jid *a = NULL, *b = NULL, *c = NULL;

    if (xs_jid_new(s, &a) == XS_OK) {
        if (xs_jid_new(a->full, &b) != XS_OK || !xs_jid_equal(a, b))
            abort();
        if (xs_jid_from_parts(a->local, a->domain, a->resource, &c) !=
            XS_OK || !xs_jid_equal(a, c))
            abort();
        if (strlen(a->domain) > XS_JID_PART_MAX ||
            (a->local != NULL && strlen(a->local) > XS_JID_PART_MAX) ||
            (a->resource != NULL && strlen(a->resource) > XS_JID_PART_MAX))
            abort();
    } else if (a != NULL) {
        abort();
    }
    xs_jid_free(a);
    xs_jid_free(b);
    xs_jid_free(c);
    xs_free(s);
    return 0;
}
