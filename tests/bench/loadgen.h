/*
 * loadgen.h: the XMPP load generator behind `make bench`.
 *
 * One process, one libevent loop, many client connections, each doing the
 * real protocol (TCP, stream header, STARTTLS, TLS handshake, restart,
 * SASL, restart, bind, initial presence).  Five scenarios: idle (memory
 * per held session), chat (routed message rate and latency; with --port2
 * the receivers are on a second server, across s2s), login (a login
 * storm), roster-login (a login storm of users with rosters, half of
 * their contacts online) and fanout (presence broadcast to online
 * contacts).  Results are one "RESULT key=value ..." line each (and a
 * JSON object per line with --json), plus "# " lines for people.
 *
 * Pieces: setup.c (process set-up, option defaults, the context),
 * client.c (one connection's state machine), batch.c (log many clients in
 * with bounded concurrency), crowd.c (a fixed set of sessions an
 * open-loop sender drives: rep/evgen, trust/subflood), stats.c (latency
 * samples, CPU and memory probes, result lines), idle.c, chat.c, login.c
 * (login and roster-login), fanout.c (the scenarios), loadgen.c (options
 * and main).  rep/evgen and trust/subflood are built from setup.c,
 * client.c, batch.c, crowd.c and stats.c.
 */
#ifndef XMPPD_TESTS_BENCH_LOADGEN_H
#define XMPPD_TESTS_BENCH_LOADGEN_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/elem.h"

#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/types.h>

struct event_base;
struct xs_scram_cache;

enum lg_mech {
    LG_MECH_SCRAM_SHA1,
    LG_MECH_SCRAM_SHA256,
    LG_MECH_PLAIN,
    LG_MECH__COUNT
};

#define LG_AUX_MAX 32

enum lg_mode {
    LG_MODE_IDLE,
    LG_MODE_CHAT,
    LG_MODE_LOGIN,
    LG_MODE_ROSTER_LOGIN,
    LG_MODE_FANOUT,
};

struct lg_opts {
    const char  *label;         /* borrowed: server name in results */
    const char  *host;          /* borrowed: a 127.0.0.0/8 address */
    int          port;
    const char  *domain;        /* borrowed: stream 'to', SNI */
    const char  *user_prefix;   /* borrowed: accounts are PREFIX<n> */
    unsigned     user_first;    /* first account number */
    unsigned     nusers;        /* accounts available from user_first */
    const char  *password;      /* borrowed: the same for every account */
    enum lg_mech mech;
    bool         use_tls;       /* STARTTLS (the normal case) */
    const char  *cafile;        /* borrowed: verify the server; NULL: no */
    pid_t        server_pid;    /* 0: no RSS or CPU probe */
    pid_t        aux_pids[LG_AUX_MAX];  /* the server's helpers (its
                                   database): CPU reported as aux_cpu */
    unsigned     naux;
    int          server_core;   /* -1: no core busy probe */
    bool         json;
    enum lg_mode mode;
    unsigned     sessions;      /* idle: N */
    unsigned     pairs;         /* chat: P */
    double       rate;          /* chat msgs/s or login logins/s; start
                                   rate with find_max */
    double       rate_max;      /* find_max: never offer more */
    double       duration;      /* measured seconds (per step) */
    double       warmup;        /* seconds before measuring (per step) */
    double       hold;          /* idle: seconds to hold the sessions */
    bool         find_max;
    double       p99_limit_ms;  /* find_max: pass only below this */
    unsigned     concurrency;   /* logins in flight (set-up, idle) */
    unsigned     max_inflight;  /* login storm: connections open at once */
    double       timeout;       /* seconds for one login */
    unsigned     contacts;      /* roster-login, fanout: roster size */
    int          port2;         /* 0, or a second server: the odd
                                   clients of a batch (chat: the
                                   receivers) log in there */
    const char  *domain2;       /* borrowed: its domain */
    pid_t        server2_pid;   /* 0: no CPU probe of the second server */
};

/* Everything a scenario shares. */
struct lg_ctx {
    const struct lg_opts  *opts;        /* borrowed */
    struct event_base     *base;        /* owned */
    SSL_CTX               *ssl_ctx;     /* owned; NULL without TLS */
    struct xs_scram_cache *cache;       /* owned */
    struct sockaddr_in     addr;        /* the server */
    struct sockaddr_in     addr2;       /* the second server (port2) */
    uint64_t               nclients;    /* made so far: resource names */
    char                   tls_info[64];    /* version/cipher seen */
    bool                   is_disturbed;    /* the last step's server
                                               core was busy elsewhere */
};

/* Monotonic nanoseconds. */
uint64_t lg_now_ns(void);

/* ---- setup.c: what every generator does first ------------------------ */

/* xmppd's log at warnings only, libsodium, SIGPIPE ignored; false (after
 * a message naming prog) when libsodium does not start. */
bool lg_process_init(const char *prog);
/* loadgen's defaults for every option (zero for what has none). */
void lg_opts_defaults(struct lg_opts *o);
/*
 * The context for o: a base with precise timers (a 1 ms send schedule),
 * STARTTLS unless !o->use_tls, the server not verified unless o->cafile
 * (and then an empty store), no session resumption (every login a full
 * handshake), a SCRAM cache of cache_per_user slots per account.  false
 * (after a message naming prog) on a --host that is not loopback or a
 * failure; call lg_ctx_fini either way.
 */
bool lg_ctx_init(struct lg_ctx *ctx, const struct lg_opts *o,
    const char *prog, unsigned cache_per_user);
void lg_ctx_fini(struct lg_ctx *ctx);

/* ---- client.c: one connection -------------------------------------- */

enum lg_end {
    LG_END_OK,          /* a close we asked for completed */
    LG_END_FAILED,      /* anything else: see why */
};

struct lg_client;

struct lg_client_ops {
    /* Bound, initial presence sent.  May close the client, never free
     * it. */
    void (*on_bound)(struct lg_client *c);
    /* A stanza once bound (el borrowed; valid during the call): every
     * message and presence, and IQ results and errors (requests are
     * answered by client.c).  May close the client, never free it. */
    void (*on_stanza)(struct lg_client *c, const struct xs_elem *el);
    /* The connection is gone; called once.  The callee usually frees the
     * client; the client code touches nothing after this call. */
    void (*on_end)(struct lg_client *c, enum lg_end how, const char *why);
};

struct lg_client {
    struct lg_ctx              *ctx;    /* borrowed */
    const struct lg_client_ops *ops;    /* borrowed */
    void                       *udata;  /* borrowed: the scenario's */
    unsigned                    idx;    /* the scenario's index */
    char                       *user;   /* owned: localpart */
    char                       *jid;    /* owned: bound full JID, or NULL */
    uint64_t                    t_start;    /* ns: connect started */
    uint64_t                    t_bound;    /* ns: bind result, or 0 */
    uint64_t                    t_done;     /* ns: the scenario's own
                                               end of a login, or 0 */
    unsigned                    npres;      /* the scenario's counter */
    bool                        no_presence;    /* set before start: no
                                               initial presence at bind,
                                               the scenario sends it */
    bool                        on_peer;    /* set before start: log in
                                               to the second server */
    int                         state;      /* client.c's enum */
    bool                        is_tls;
    bool                        is_authed;
    bool                        got_close;  /* peer sent </stream:stream> */
    int                         sasl_step;  /* client.c's enum */
    int                         fd;         /* -1 once closed */
    struct bufferevent         *bev;        /* owned */
    struct xs_xml              *xml;        /* owned */
    struct xs_scram_client     *scram;      /* owned */
};

/* A new, unconnected client for account number user_no. */
struct lg_client *lg_client_new(struct lg_ctx *ctx, unsigned user_no,
    const struct lg_client_ops *ops, void *udata);
/* Connect and log in; failures arrive through on_end (also when this
 * returns XS_EIO: then on_end has already run). */
xs_rc lg_client_start(struct lg_client *c);
/* Queue raw XML on a bound client. */
void  lg_client_send(struct lg_client *c, const char *xml, size_t len);
/* The same, formatted (at most 1023 bytes). */
void  lg_client_sendf(struct lg_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Close the stream cleanly: </stream:stream>, wait for the server's. */
void  lg_client_close(struct lg_client *c);
/* Drop the connection at once (no on_end) and free; NULL is a no-op. */
void  lg_client_free(struct lg_client *c);
bool  lg_client_is_bound(const struct lg_client *c);
/* The domain the client logs in to (domain or domain2). */
const char *lg_client_domain(const struct lg_client *c);

/* ---- batch.c: log many in ------------------------------------------ */

/* Log in n clients (accounts first, first+1, ... wrapping over nusers)
 * with at most `concurrency` handshakes in flight.  With --port2, the
 * clients with an odd index go to the second server.  With
 * close_after, each is closed cleanly once bound and freed; otherwise
 * out[i] holds client i (NULL if it failed).  Returns XS_OK when every
 * login succeeded within the deadline; *failed counts the others. */
struct lg_samples;
xs_rc lg_batch_login(struct lg_ctx *ctx, unsigned n, unsigned first,
    unsigned concurrency, bool close_after, struct lg_client **out,
    struct lg_samples *login_ms, unsigned *failed);
/* The same over accounts first, first+stride, first+2*stride, ... */
xs_rc lg_batch_login_stride(struct lg_ctx *ctx, unsigned n, unsigned first,
    unsigned stride, unsigned concurrency, bool close_after,
    struct lg_client **out, struct lg_samples *login_ms, unsigned *failed);
/* Close every non-NULL client cleanly, wait (at most timeout_s), free. */
void  lg_batch_close(struct lg_ctx *ctx, struct lg_client **v, unsigned n,
    double timeout_s);
/* Run the loop for s seconds. */
void  lg_sleep(struct lg_ctx *ctx, double s);
/* Run the loop until *flag is true or s seconds have passed; true when
 * the flag was set. */
bool  lg_run_until(struct lg_ctx *ctx, const bool *flag, double s);

/* ---- crowd.c: sessions an open-loop sender drives ------------------- */

/* A stanza one of the crowd's sessions received (el borrowed). */
typedef void lg_crowd_stanza_fn(void *udata, struct lg_client *c,
    const struct xs_elem *el);

struct lg_crowd {
    struct lg_ctx       *ctx;       /* borrowed */
    struct lg_client   **v;         /* owned array; clients owned; NULL
                                       once dropped */
    unsigned             n;
    unsigned             next;      /* round-robin position */
    unsigned             dropped;   /* sessions that ended on their own */
    char                 first_drop[128];
    uint64_t             errors;    /* counted by lg_crowd_error */
    char                 first_err[128];    /* the first one's condition */
    lg_crowd_stanza_fn  *on_stanza; /* the scenario's, or NULL */
    void                *udata;     /* borrowed: the scenario's */
};

/* Log in n sessions (accounts user_first.., at most concurrency
 * handshakes in flight) and keep them; what they receive goes to
 * on_stanza(udata, ...), a session that ends is counted and freed.  XS_OK
 * when every login succeeded; *failed counts the others.  The crowd must
 * not move while it has sessions (they point to it); lg_crowd_close it
 * either way. */
xs_rc lg_crowd_login(struct lg_crowd *cr, struct lg_ctx *ctx, unsigned n,
    lg_crowd_stanza_fn *on_stanza, void *udata, unsigned *failed);
/* The next bound session, round-robin; NULL when none is left. */
struct lg_client *lg_crowd_next(struct lg_crowd *cr);
/* Close every session cleanly (wait at most timeout_s), free them. */
void lg_crowd_close(struct lg_crowd *cr, double timeout_s);
/* Count a stanza error (type='error') a session received; the first
 * one's condition (<error/>'s first child, or "?") is kept. */
void lg_crowd_error(struct lg_crowd *cr, const struct xs_elem *el);

/* ---- stats.c -------------------------------------------------------- */

struct lg_samples {
    uint32_t *v;        /* owned: microseconds */
    size_t    n, cap;
};

void   lg_samples_init(struct lg_samples *s);
void   lg_samples_fini(struct lg_samples *s);
void   lg_samples_reset(struct lg_samples *s);
void   lg_samples_add_ns(struct lg_samples *s, uint64_t ns);
/* Nearest-rank percentile (0..100) in milliseconds; 0 when empty.  Sorts
 * the samples in place. */
double lg_samples_pct_ms(struct lg_samples *s, double pct);

/* Resident set of a process in KiB; -1 when unreadable. */
long   lg_rss_kb(pid_t pid);
/* CPU seconds (user + system) of a process; -1 when unreadable. */
double lg_proc_cpu_s(pid_t pid);
/* CPU seconds used by this process. */
double lg_self_cpu_s(void);

/* Busy fraction of one core between two readings. */
struct lg_core_snap {
    unsigned long long busy, total;
};
bool   lg_core_snap(int core, struct lg_core_snap *out);
double lg_core_busy(const struct lg_core_snap *a,
    const struct lg_core_snap *b);

/* CPU use of the generator, the server and its core over a window. */
struct lg_cpu_window {
    uint64_t            t;      /* ns */
    double              self_s, server_s, aux_s, server2_s;
    struct lg_core_snap core;
    bool                has_core;
};
void lg_cpu_window_start(const struct lg_ctx *ctx, struct lg_cpu_window *w);
/* Fractions of one core over the window; -1 when unknown. */
struct lg_cpu_use {
    double gen;         /* this process */
    double server;      /* --server-pid */
    double aux;         /* the --aux-pid processes together */
    double server2;     /* --server2-pid */
    double core;        /* --server-core, from /proc/stat (tick-sampled:
                           may alias with a 1 ms send schedule) */
};
void lg_cpu_window_end(const struct lg_ctx *ctx,
    const struct lg_cpu_window *w, struct lg_cpu_use *use);
/* Server core time not used by the server or its aux processes (other
 * work on the machine, or interrupts); -1 when unknown. */
double lg_cpu_other(const struct lg_cpu_use *use);
/* Warn ("# warning: ...") when other work took more than LG_OTHER_WARN of
 * the server's core, or the generator more than LG_GEN_WARN of its own. */
#define LG_OTHER_WARN 0.15
#define LG_GEN_WARN   0.95
void lg_cpu_warn(struct lg_ctx *ctx, const struct lg_cpu_use *use);
/* Run the loop until the server uses less than 10% of a core over half a
 * second (it may still be working off an overload), at most max_s. */
void lg_settle(struct lg_ctx *ctx, double max_s);

/* One result line: RESULT key=value ... (and JSON with --json). */
struct lg_result {
    char   text[2048];
    size_t tlen;
    char   json[3072];
    size_t jlen;
    bool   is_full;
    bool   is_json;
};

void lg_result_init(struct lg_result *r, const struct lg_ctx *ctx,
    const char *scenario);
void lg_result_str(struct lg_result *r, const char *key, const char *val);
void lg_result_int(struct lg_result *r, const char *key, long long val);
void lg_result_num(struct lg_result *r, const char *key, double val,
    int decimals);
void lg_result_emit(struct lg_result *r);

/* "42%" for a fraction of a core, "-" when unknown (negative). */
const char *lg_pct(double v, char *buf, size_t n);

/* A human line ("# ...") on stdout. */
void lg_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the scenarios -------------------------------------------------- */

/* One step of a scenario at `rate`; true when it passed. */
typedef bool lg_step_fn(struct lg_ctx *ctx, void *arg, double rate);

/*
 * The highest passing rate: from opts->rate, double until a step fails
 * (or rate_max is reached), then bisect until the passing and the failing
 * rate are within 10%.  At most LG_FIND_MAX_STEPS steps; 0 when none
 * passed.  A step that fails while other work took more than
 * LG_OTHER_WARN of the server's core is run again, at most
 * LG_FIND_MAX_RETRIES times a search: on a shared machine one disturbed
 * step would otherwise end the doubling early.
 */
#define LG_FIND_MAX_STEPS 14
#define LG_FIND_MAX_RETRIES 3
double lg_find_max(struct lg_ctx *ctx, lg_step_fn *fn, void *arg);

int lg_run_idle(struct lg_ctx *ctx);
int lg_run_chat(struct lg_ctx *ctx);
int lg_run_login(struct lg_ctx *ctx);
int lg_run_roster_login(struct lg_ctx *ctx);
int lg_run_fanout(struct lg_ctx *ctx);

/* "lg STEP SEQ TIME" in a body or status: the generator's stamp. */
bool lg_stamp_parse(const struct xs_elem *el, const char *ns,
    const char *name, unsigned *step, uint64_t *seq, uint64_t *ts);

#endif
