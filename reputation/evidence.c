/*
 * evidence.c: the names of evidence kinds and sources, and decay.
 *
 * The names are stored in PostgreSQL and shown to operators: never rename
 * one, only add at the end (evidence.h).
 */
#include "reputation/evidence.h"

#include <math.h>
#include <string.h>

static const char *const ev_kind_names[XS_EVK__COUNT] = {
    [XS_EVK_BLOCK]          = "block",
    [XS_EVK_REPORT_SPAM]    = "report_spam",
    [XS_EVK_REPORT_ABUSE]   = "report_abuse",
    [XS_EVK_SUB_REFUSED]    = "sub_refused",
    [XS_EVK_CONVERSED]      = "conversed",
    [XS_EVK_RATE_LIMITED]   = "rate_limited",
    [XS_EVK_S2S_REFUSED]    = "s2s_refused",
    [XS_EVK_CAPTCHA_PASSED] = "captcha_passed",
    [XS_EVK_OPERATOR]       = "operator",
    [XS_EVK_TRUST_FLAG]     = "trust_flag",
    [XS_EVK_FLAG_INVALID]   = "flag_invalid",
};

static const char *const ev_src_names[XS_EVSRC__COUNT] = {
    [XS_EVSRC_USER]   = "user",
    [XS_EVSRC_ADMIN]  = "admin",
    [XS_EVSRC_SYSTEM] = "system",
    [XS_EVSRC_BUDDY]  = "buddy",
};

const char *
xs_evk_name(enum xs_evk k)
{
    if ((unsigned)k >= XS_EVK__COUNT)
        return NULL;
    return ev_kind_names[k];
}

const char *
xs_evsrc_name(enum xs_evsrc s)
{
    if ((unsigned)s >= XS_EVSRC__COUNT)
        return NULL;
    return ev_src_names[s];
}

xs_rc
xs_evk_from_name(const char *name, enum xs_evk *out)
{
    *out = XS_EVK_BLOCK;
    if (name == NULL)
        return XS_ENOTFOUND;
    for (size_t i = 0; i < XS_EVK__COUNT; i++) {
        if (strcmp(name, ev_kind_names[i]) == 0) {
            *out = (enum xs_evk)i;
            return XS_OK;
        }
    }
    return XS_ENOTFOUND;
}

xs_rc
xs_evsrc_from_name(const char *name, enum xs_evsrc *out)
{
    *out = XS_EVSRC_USER;
    if (name == NULL)
        return XS_ENOTFOUND;
    for (size_t i = 0; i < XS_EVSRC__COUNT; i++) {
        if (strcmp(name, ev_src_names[i]) == 0) {
            *out = (enum xs_evsrc)i;
            return XS_OK;
        }
    }
    return XS_ENOTFOUND;
}

bool
xs_evk_weight_is_given(enum xs_evk k)
{
    /* An operator weighs each note; a trust flag's weight comes from the
     * flag's trust and the issuing domain's standing (gate.c). */
    return k == XS_EVK_OPERATOR || k == XS_EVK_TRUST_FLAG;
}

double
xs_evidence_decay(double weight, int64_t at, int64_t now,
    int64_t half_life_s)
{
    /* An item "from the future" (a clock stepped back) counts in full
     * rather than growing: 2^(positive) would inflate it. */
    if (half_life_s <= 0 || now <= at)
        return weight;
    return weight * exp2(-(double)(now - at) / (double)half_life_s);
}
