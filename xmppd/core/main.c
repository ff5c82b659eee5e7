/*
 * main.c: start xmppd: configuration, TLS, database and migrations,
 * modules, listeners; then the one event loop until SIGTERM or SIGINT.
 */
#include "xmppd/core/server.h"

#include "db/migrate.h"
#include "db/pgq.h"
#include "xmppd/admin/admin_http.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/c2s/session.h"
#include "xmppd/core/iq.h"
#include "xmppd/core/module.h"
#include "xmppd/core/workers.h"
#include "xmppd/net/listener.h"
#include "xmppd/net/tls.h"
#include "xmppd/s2s/s2s.h"

#include <event2/event.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static struct xs_server server;
static int exit_code;
static unsigned startup_holds;
static bool is_serving;
static struct event *sig_term_ev, *sig_int_ev;

struct xs_server *
xs_server(void)
{
    return &server;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: xmppd --config FILE [--test-clock]  run the server\n"
               "       xmppd --check-config FILE  validate FILE and exit\n"
               "       xmppd --version\n"
               "--test-clock (tests only) lets the admin verb "
               "debug_clock_advance move\nthe server's wall clock "
               "forward.\n");
}

/* Many idle clients need many descriptors: take what the hard limit allows. */
static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            xs_log(XS_LOG_WARN, "cannot raise the descriptor limit");
    }
}

/*
 * The loop, with libevent's precise timers: by default it reads the
 * coarse monotonic clock (4 ms steps here) and waits in whole
 * milliseconds, so every timer fires up to 4 ms late; the loop-lag metric
 * (metrics.c) would measure that rounding instead of the loop.  The price
 * is a clock_gettime per pass (vDSO) and a timerfd.
 */
static struct event_base *
main_base_new(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

/* Every session is closed: what they did is counted; the modules write
 * it out (core/drain.c), then the loop ends. */
static void
main_drained(void)
{
    event_base_loopexit(server.base, NULL);
}

static void
main_stopped(void)
{
    xs_shutdown_drain(server.base, main_drained);
}

static void
main_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what, (void)arg;
    if (server.is_stopping) {
        xs_log(XS_LOG_NOTICE, "second signal: exiting now");
        event_base_loopbreak(server.base);
        return;
    }
    xs_log(XS_LOG_NOTICE, "%s received: shutting down",
        sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server.is_stopping = true;
    xs_listeners_stop();
    xs_admin_http_stop();
    xs_s2s_close_all();
    xs_session_close_all(XS_STERR_SYSTEM_SHUTDOWN, main_stopped);
}

static void
main_fatal(const char *what)
{
    xs_log(XS_LOG_ERR, "cannot start: %s", what);
    exit_code = 1;
    event_base_loopbreak(server.base);
}

/* At start the database may still be coming up: retry for a while. */
#define MAIN_DB_START_TRIES 30

static void main_migrated(xs_rc rc, int version, void *udata);
static int schema_version;
static struct event *migrate_retry_ev;
static int migrate_tries;

static void
main_migrate_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (pgq_migrate(server.db, main_migrated, NULL) != XS_OK)
        main_fatal("migrations could not be queued");
}

static void
main_migrated(xs_rc rc, int version, void *udata)
{
    (void)udata;
    if (server.is_stopping)
        return;
    if (rc == XS_EIO && !pgq_is_ready(server.db) &&
        ++migrate_tries < MAIN_DB_START_TRIES) {
        struct timeval tv = { .tv_sec = 1 };

        xs_log(XS_LOG_NOTICE, "database not reachable yet, retrying");
        if (migrate_retry_ev == NULL)
            migrate_retry_ev = event_new(server.base, -1, 0,
                main_migrate_retry_cb, NULL);
        event_add(migrate_retry_ev, &tv);
        return;
    }
    if (rc != XS_OK) {
        main_fatal("database migrations failed (see above)");
        return;
    }
    schema_version = version;
    xs_startup_hold();              /* the modules' loads cannot finish us */
    if (xs_modules_load_all(server.conf) != XS_OK) {
        main_fatal("a module failed to load");
        return;
    }
    xs_startup_release(true);
}

static void
main_serve(void)
{
    if (xs_s2s_start(&server) != XS_OK) {
        main_fatal("cannot start federation (see above)");
        return;
    }
    if (xs_listeners_start(&server) != XS_OK ||
        xs_admin_http_start(&server) != XS_OK) {
        main_fatal("cannot open the listeners");
        return;
    }
    is_serving = true;
    xs_log(XS_LOG_NOTICE, "xmppd %s ready: schema version %d, %zu host(s)",
        XS_VERSION, schema_version, server.conf->nhosts);
}

void
xs_startup_hold(void)
{
    xs_assert(!is_serving);
    startup_holds++;
}

void
xs_startup_release(bool is_ok)
{
    xs_assert(startup_holds > 0);
    if (!is_ok) {
        main_fatal("a module could not load its state");
        return;
    }
    if (--startup_holds == 0 && !server.is_stopping && exit_code == 0)
        main_serve();
}

static int
check_config(const char *path)
{
    struct xs_conf *conf = NULL;
    char *err = NULL;

    if (xs_conf_load(path, &conf, &err) != XS_OK) {
        fprintf(stderr, "%s\n", err ? err : "configuration invalid");
        xs_free(err);
        return 1;
    }
    printf("%s: configuration ok\n", path);
    xs_conf_free(conf);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *conf_path = NULL;
    char *err = NULL, *conninfo;
    bool is_test_clock = false;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            conf_path = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0 && i + 1 < argc) {
            return check_config(argv[i + 1]);
        } else if (strcmp(argv[i], "--test-clock") == 0) {
            is_test_clock = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("xmppd %s\n", XS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (conf_path == NULL) {
        usage(stderr);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "xmppd: libsodium failed to initialize\n");
        return 1;
    }
    if (xs_conf_load(conf_path, &server.conf, &err) != XS_OK) {
        fprintf(stderr, "%s\n", err ? err : "configuration invalid");
        xs_free(err);
        return 1;
    }
    xs_log_min = server.conf->loglevel;
    server.conf_path = xs_strdup(conf_path);
    server.started_wall = xs_wall_s();
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);

    server.base = main_base_new();
    if (server.base == NULL) {
        xs_log(XS_LOG_ERR, "cannot create the event loop");
        return 1;
    }
    if (xs_metrics_start(server.base) != XS_OK) {
        xs_log(XS_LOG_ERR, "cannot start: the loop-lag timer");
        return 1;
    }
    if (is_test_clock) {
        xs_admin_http_test_clock_enable();
        xs_log(XS_LOG_WARN, "test clock enabled (--test-clock): the admin "
            "API can move the wall clock; never use this in production");
    }
    if (xs_workers_start(server.base, (unsigned)server.conf->worker_threads,
        server.conf->worker_queue_max) != XS_OK) {
        xs_log(XS_LOG_ERR, "cannot start: worker threads");
        return 1;
    }
    if (server.conf->ncertfiles > 0 &&
        xs_tls_server_ctx_new((const char *const *)server.conf->certfiles,
            server.conf->ncertfiles, &server.tls) != XS_OK) {
        xs_log(XS_LOG_ERR, "cannot start: certificates failed to load");
        return 1;
    }
    conninfo = xs_conf_pg_conninfo(server.conf);
    if (pgq_new(server.base, conninfo, server.conf->sql_pool_size,
        (size_t)server.conf->sql_queue_max, &server.db) != XS_OK) {
        xs_free(conninfo);
        xs_log(XS_LOG_ERR, "cannot start: bad database settings");
        return 1;
    }
    xs_free(conninfo);
    if (pgq_migrate(server.db, main_migrated, NULL) != XS_OK) {
        xs_log(XS_LOG_ERR, "cannot start: migrations could not be queued");
        return 1;
    }

    sig_term_ev = evsignal_new(server.base, SIGTERM, main_signal_cb, NULL);
    sig_int_ev = evsignal_new(server.base, SIGINT, main_signal_cb, NULL);
    event_add(sig_term_ev, NULL);
    event_add(sig_int_ev, NULL);

    xs_log(XS_LOG_INFO, "xmppd %s starting with %s", XS_VERSION, conf_path);
    event_base_dispatch(server.base);

    xs_workers_stop();              /* their done calls still see state */
    xs_listeners_stop();
    xs_admin_http_stop();
    xs_s2s_free();
    /* Pending queries end (their callbacks free what they hold) while the
     * modules they belong to are still loaded. */
    pgq_close(server.db);
    xs_modules_unload_all();
    xs_iq_requests_free();
    pgq_free(server.db);
    event_free(sig_term_ev);
    event_free(sig_int_ev);
    xs_shutdown_drain_free();
    if (migrate_retry_ev != NULL)
        event_free(migrate_retry_ev);
    SSL_CTX_free(server.tls);
    xs_metrics_stop();
    event_base_free(server.base);
    xs_conf_free(server.conf);
    xs_free(server.conf_path);
    if (exit_code == 0)
        xs_log(XS_LOG_NOTICE, "xmppd stopped");
    return exit_code;
}
