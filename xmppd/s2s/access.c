/*
 * access.c: whether we federate with a remote domain.  The default is the
 * `s2s_access` access rule (ejabberd's option), evaluated with the remote
 * domain as the subject's server; block lists extend this file.
 */
#include "xmppd/s2s/s2s.h"

bool
xs_s2s_domain_allowed(const char *remote_domain)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct xs_acl_subject subj = { .server = remote_domain };

    if (remote_domain == NULL || *remote_domain == '\0')
        return false;
    if (conf->s2s_access == NULL)
        return true;            /* no rule configured: federate with all */
    return xs_access_eval(&conf->acl, conf->s2s_access, &subj) ==
        XS_ALLOW;
}
