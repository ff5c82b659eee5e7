/* module.c: loading and unloading the static module registry. */
#include "xmppd/core/module.h"

#include "xmppd/admin/admin.h"
#include "xmppd/core/modules.h"

struct loaded {
    const struct xs_module *m;          /* borrowed: static descriptor */
    void                   *state;      /* owned by the module */
};

static struct loaded loaded[XS_MODULES_MAX];
static size_t nloaded;

static void
module_unregister(const struct xs_module *m)
{
    xs_iq_remove_owner(m);
    xs_hook_remove_owner(m);
    xs_event_remove_owner(m);
    xs_admin_cmd_remove_owner(m);
}

static xs_rc
module_load(const struct xs_module *m, const struct xs_conf *conf)
{
    void *state = NULL;
    xs_rc rc = XS_OK;

    if (m->abi != XS_MODULE_ABI || nloaded >= XS_MODULES_MAX)
        return XS_EINVAL;
    if (m->init != NULL && (rc = m->init(conf, &state)) != XS_OK)
        goto fail;
    for (const struct xs_hook_spec *h = m->hooks; h && h->fn; h++) {
        if ((rc = xs_hook_add(h, m, state)) != XS_OK)
            goto fail;
    }
    for (const struct xs_iq_spec *q = m->iqs; q && q->fn; q++) {
        if ((rc = xs_iq_add(q, m, state)) != XS_OK)
            goto fail;
    }
    for (const struct xs_event_spec *e = m->events; e && e->fn; e++) {
        if ((rc = xs_event_add(e, m, state)) != XS_OK)
            goto fail;
    }
    for (const struct xs_admin_cmd *c = m->commands; c && c->name; c++) {
        if ((rc = xs_admin_cmd_add(c, m, state)) != XS_OK)
            goto fail;
    }
    loaded[nloaded++] = (struct loaded){ .m = m, .state = state };
    xs_log(XS_LOG_DEBUG, "module %s loaded", m->name);
    return XS_OK;

fail:
    xs_log(XS_LOG_ERR, "module %s: %s", m->name, xs_rc_str(rc));
    module_unregister(m);               /* undo whatever was registered */
    if (m->fini != NULL)
        m->fini(state);
    return rc;
}

xs_rc
xs_modules_load_all(const struct xs_conf *conf)
{
    for (size_t i = 0; xs_modules[i] != NULL; i++) {
        xs_rc rc = module_load(xs_modules[i], conf);

        if (rc != XS_OK) {
            xs_modules_unload_all();
            return rc;
        }
    }
    return XS_OK;
}

void
xs_modules_unload_all(void)
{
    while (nloaded > 0) {
        struct loaded *l = &loaded[--nloaded];

        module_unregister(l->m);
        if (l->m->fini != NULL)
            l->m->fini(l->state);
    }
}

static bool
module_is_advertised(const struct loaded *l)
{
    return l->m->is_advertised == NULL || l->m->is_advertised(l->state);
}

void
xs_modules_each_feature(void (*fn)(const char *feature, void *ud), void *ud)
{
    for (size_t i = 0; i < nloaded; i++) {
        if (!module_is_advertised(&loaded[i]))
            continue;
        for (const char *const *f = loaded[i].m->features; f && *f; f++)
            fn(*f, ud);
    }
}

void
xs_modules_each_identity(
    void (*fn)(const struct xs_disco_identity *id, void *ud), void *ud)
{
    for (size_t i = 0; i < nloaded; i++) {
        const struct xs_disco_identity *id = loaded[i].m->identities;

        if (!module_is_advertised(&loaded[i]))
            continue;
        for (; id != NULL && id->category != NULL; id++)
            fn(id, ud);
    }
}

void
xs_modules_each_metrics(struct evbuffer *out)
{
    for (size_t i = 0; i < nloaded; i++) {
        if (loaded[i].m->metrics != NULL)
            loaded[i].m->metrics(out, loaded[i].state);
    }
}
