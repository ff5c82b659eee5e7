/*
 * setup.c: what every program built from the load generator's client
 * pieces does first (loadgen, and rep/evgen and trust/subflood): the
 * process set-up, the options' defaults, the shared context.
 */
#include "tests/bench/loadgen.h"

#include "xmppd/c2s/scram.h"
#include "xmppd/net/tls.h"

#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

bool
lg_process_init(const char *prog)
{
    xs_log_min = XS_LOG_WARN;
    if (sodium_init() < 0) {
        fprintf(stderr, "%s: sodium_init failed\n", prog);
        return false;
    }
    /* A peer that closes while we write is an event, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    return true;
}

void
lg_opts_defaults(struct lg_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->label = "server";
    o->host = "127.0.0.1";
    o->domain = "localhost";
    o->user_prefix = "bench";
    o->user_first = 1;
    o->nusers = 1000;
    o->password = "benchpw";
    o->mech = LG_MECH_SCRAM_SHA1;
    o->use_tls = true;
    o->server_core = -1;
    o->sessions = 1000;
    o->hold = 5;
    o->pairs = 50;
    o->rate_max = 1e6;
    o->duration = 5;
    o->warmup = 1;
    o->concurrency = 100;
    o->max_inflight = 2000;
    o->timeout = 15;
    o->contacts = 50;
}

bool
lg_ctx_init(struct lg_ctx *ctx, const struct lg_opts *o, const char *prog,
    unsigned cache_per_user)
{
    struct event_config *cfg;

    memset(ctx, 0, sizeof(*ctx));
    ctx->opts = o;
    ctx->addr.sin_family = AF_INET;
    ctx->addr.sin_port = htons((uint16_t)o->port);
    ctx->addr2 = ctx->addr;
    ctx->addr2.sin_port = htons((uint16_t)(o->port2 != 0 ? o->port2 :
        o->port));
    /* Load is only ever sent to this machine's loopback. */
    if (inet_pton(AF_INET, o->host, &ctx->addr.sin_addr) != 1 ||
        (ntohl(ctx->addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "%s: --host must be an IPv4 loopback address "
            "(127.0.0.0/8): %s\n", prog, o->host);
        return false;
    }
    ctx->addr2.sin_addr = ctx->addr.sin_addr;
    /* Precise timers: the coarse monotonic clock ticks every 4 ms, too
     * slow for a 1 ms send schedule. */
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    ctx->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (ctx->base == NULL) {
        fprintf(stderr, "%s: event_base_new failed\n", prog);
        return false;
    }
    if (o->use_tls) {
        if (xs_tls_client_ctx_new(o->cafile, &ctx->ssl_ctx) != XS_OK) {
            fprintf(stderr, "%s: cannot make the TLS context\n", prog);
            return false;
        }
        if (o->cafile == NULL) {
            /* Even unverified, OpenSSL still builds the chain against the
             * store, and the system store scans /etc/ssl/certs on every
             * handshake: an empty store keeps that off our CPU budget. */
            SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
            SSL_CTX_set_cert_store(ctx->ssl_ctx, X509_STORE_new());
        }
        /* Every login is a full handshake, as for a new client. */
        SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
    }
    ctx->cache = xs_scram_cache_new((size_t)o->nusers * cache_per_user);
    return true;
}

void
lg_ctx_fini(struct lg_ctx *ctx)
{
    xs_scram_cache_free(ctx->cache);
    SSL_CTX_free(ctx->ssl_ctx);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
    memset(ctx, 0, sizeof(*ctx));
}
