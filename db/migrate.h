/*
 * migrate.h: apply the compiled-in schema migrations at start.
 *
 * Migrations are the files db/migrations/NNN_name.sql, embedded into the
 * binary by db/embed-migrations.sh.  Each is applied at most once per
 * database, in version order, and recorded in schema_migrations.  Several
 * xmppd starting at once against one database are safe: every step holds
 * pg_advisory_xact_lock(PGQ_MIGRATE_LOCK), a migration and its
 * schema_migrations row commit together, and a process that finds a
 * version already recorded re-reads the state and goes on.
 *
 * Rules for migration files: plain SQL statements separated by ';', no
 * BEGIN/COMMIT (a migration runs inside one transaction with the others
 * pending at that start), nothing that cannot run in a transaction
 * (CREATE INDEX CONCURRENTLY, VACUUM), never edit one that has shipped:
 * add a new number.
 */
#ifndef XMPPD_DB_MIGRATE_H
#define XMPPD_DB_MIGRATE_H

#include "db/pgq.h"

/* "xmppdmig" in ASCII, as a bigint: the advisory lock key. */
#define PGQ_MIGRATE_LOCK "8677715685036353895"

struct pgq_migration {
    int         version;    /* NNN of the file name, > 0, increasing */
    const char *name;       /* "001_accounts" */
    const char *record;     /* the INSERT into schema_migrations */
    const char *sql;        /* the file's text */
};

/*
 * rc is XS_OK when the database is at the newest version this binary
 * knows (or newer: a newer xmppd migrated it; logged at WARN); version is
 * then the highest version recorded in the database.  Otherwise rc is the
 * pgq status of the step that failed (logged at ERR) and version is -1.
 */
typedef void pgq_migrate_cb(xs_rc rc, int version, void *udata);

/*
 * Apply the pending migrations asynchronously on the pool.  Same contract
 * as pgq_query: an error now and no callback (XS_ELIMIT, XS_EINVAL), or
 * XS_OK and cb exactly once, later.  Each applied version is logged at
 * INFO.
 */
xs_rc pgq_migrate(struct pgq *q, pgq_migrate_cb *cb, void *udata);

/* The embedded migrations, in version order. */
const struct pgq_migration *pgq_migrations(size_t *count);

#endif
