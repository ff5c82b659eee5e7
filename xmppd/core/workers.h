/*
 * workers.h: a small thread pool for rare, CPU-heavy work (PBKDF2) that
 * must not stall the event loop.  A job's work function runs on a worker
 * thread and touches only what its argument owns: no libevent, no
 * sessions, no logging.  Its done function runs later on the loop, in
 * submission order per worker, exactly once (also at shutdown, where
 * remaining jobs run before their done functions are called).
 */
#ifndef XMPPD_CORE_WORKERS_H
#define XMPPD_CORE_WORKERS_H

#include "xmppd/core/xs.h"

struct event_base;

typedef void xs_work_fn(void *arg);         /* on a worker thread */
typedef void xs_work_done_fn(void *arg);    /* on the loop, afterwards */

xs_rc xs_workers_start(struct event_base *base, unsigned nthreads,
          size_t max_queue);
/* Finish every queued job, join the threads, run the done functions. */
void  xs_workers_stop(void);

/* XS_ELIMIT when max_queue jobs wait already (nothing runs then), XS_EIO
 * when the pool is not running. */
xs_rc xs_work_submit(xs_work_fn *work, xs_work_done_fn *done, void *arg);

#endif
