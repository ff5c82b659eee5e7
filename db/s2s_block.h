/*
 * s2s_block.h: the federation block list in PostgreSQL (table
 * s2s_blocked_domains, db/migrations/007_s2s_blocks.sql), for
 * xmppd/s2s/blocklist.c, which keeps it in memory.
 *
 * Same contract as every db/ file: an error now and no callback
 * (XS_EINVAL for bad arguments, XS_ELIMIT when the pool's queue is full),
 * or XS_OK and exactly one callback later, from the event loop.  XS_EIO in
 * a callback is a database failure (pgq has logged it).
 */
#ifndef XMPPD_DB_S2S_BLOCK_H
#define XMPPD_DB_S2S_BLOCK_H

#include "db/pgq.h"

/* Rows per page when the table is read at start. */
#define XS_S2S_BLOCK_PAGE 5000
/* Longest domain (RFC 7622 3.2) and reason stored. */
#define XS_S2S_BLOCK_DOMAIN_MAX 1023
#define XS_S2S_BLOCK_REASON_MAX 1024

/* One row; the strings are borrowed from the result. */
struct xs_s2s_block_row {
    const char *domain;
    const char *reason;
    int64_t     created_at;     /* unix seconds */
    const char *created_by;
};

/* rows[0..n) valid during the callback only; n < limit: the last page. */
typedef void xs_s2s_block_page_cb(xs_rc rc,
    const struct xs_s2s_block_row *rows, size_t n, void *udata);
/* created_at: unix seconds of the (first) block of the domain. */
typedef void xs_s2s_block_put_cb(xs_rc rc, int64_t created_at,
    void *udata);
/* existed: a row was deleted. */
typedef void xs_s2s_block_del_cb(xs_rc rc, bool existed, void *udata);

/*
 * Rows with domain > after in domain order, at most limit (1..100000) of
 * them: keyset paging, "" for the first page.
 */
xs_rc xs_s2s_block_db_page(struct pgq *q, const char *after, size_t limit,
    xs_s2s_block_page_cb *cb, void *udata);

/*
 * Block domain: insert the row, or on a domain already blocked replace
 * its reason and created_by and keep its created_at.
 */
xs_rc xs_s2s_block_db_put(struct pgq *q, const char *domain,
    const char *reason, const char *created_by, xs_s2s_block_put_cb *cb,
    void *udata);

/* Remove the row of domain (absent: existed false). */
xs_rc xs_s2s_block_db_del(struct pgq *q, const char *domain,
    xs_s2s_block_del_cb *cb, void *udata);

#endif
