/*
 * workers.c: the thread pool.  Jobs go in a mutex-protected FIFO; a
 * finished job goes on a done list and an eventfd wakes the loop, which
 * runs the done functions.  The loop never waits on the mutex for long:
 * the lock only guards list splices.
 */
#include "xmppd/core/workers.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job {
    xs_work_fn      *work;
    xs_work_done_fn *done;
    void            *arg;      /* owned by the job's submitter */
    struct job      *next;
};

static struct {
    pthread_mutex_t  mu;
    pthread_cond_t   cv;
    pthread_t       *threads;   /* owned */
    unsigned         nthreads;
    struct job      *todo, *todo_tail;  /* owned FIFO */
    struct job      *finished, *finished_tail;
    size_t           nwaiting, max_queue;
    bool             is_stopping;
    int              efd;
    struct event    *ev;        /* owned: reads efd on the loop */
} pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER,
    .efd = -1,
};

static void *
workers_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        struct job *j;
        uint64_t one = 1;

        while (pool.todo == NULL && !pool.is_stopping)
            pthread_cond_wait(&pool.cv, &pool.mu);
        if (pool.todo == NULL)
            break;                      /* stopping and nothing left */
        j = pool.todo;
        pool.todo = j->next;
        if (pool.todo == NULL)
            pool.todo_tail = NULL;
        pool.nwaiting--;
        pthread_mutex_unlock(&pool.mu);

        j->work(j->arg);

        pthread_mutex_lock(&pool.mu);
        j->next = NULL;
        if (pool.finished_tail != NULL)
            pool.finished_tail->next = j;
        else
            pool.finished = j;
        pool.finished_tail = j;
        /* Wake the loop; a full counter cannot happen (it is read often). */
        if (write(pool.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            break;
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void
workers_run_finished(void)
{
    struct job *j;

    pthread_mutex_lock(&pool.mu);
    j = pool.finished;
    pool.finished = pool.finished_tail = NULL;
    pthread_mutex_unlock(&pool.mu);
    while (j != NULL) {
        struct job *next = j->next;

        j->done(j->arg);
        xs_free(j);
        j = next;
    }
}

static void
workers_on_wake(evutil_socket_t fd, short what, void *unused)
{
    uint64_t n;

    (void)what, (void)unused;
    if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        xs_log(XS_LOG_WARN, "workers: eventfd read: %s", strerror(errno));
    workers_run_finished();
}

xs_rc
xs_workers_start(struct event_base *base, unsigned nthreads, size_t max_queue)
{
    xs_assert(pool.threads == NULL && nthreads > 0);
    pool.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pool.efd < 0) {
        xs_log(XS_LOG_ERR, "workers: eventfd: %s", strerror(errno));
        return XS_EIO;
    }
    pool.ev = event_new(base, pool.efd, EV_READ | EV_PERSIST,
        workers_on_wake, NULL);
    event_add(pool.ev, NULL);
    pool.max_queue = max_queue;
    pool.is_stopping = false;
    pool.threads = xs_calloc(nthreads, sizeof(pool.threads[0]));
    for (unsigned i = 0; i < nthreads; i++) {
        if (pthread_create(&pool.threads[i], NULL, workers_main, NULL) != 0) {
            xs_log(XS_LOG_ERR, "workers: cannot start thread %u", i);
            pool.nthreads = i;
            xs_workers_stop();
            return XS_EIO;
        }
    }
    pool.nthreads = nthreads;
    return XS_OK;
}

void
xs_workers_stop(void)
{
    if (pool.threads == NULL)
        return;
    pthread_mutex_lock(&pool.mu);
    pool.is_stopping = true;
    pthread_cond_broadcast(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    for (unsigned i = 0; i < pool.nthreads; i++)
        pthread_join(pool.threads[i], NULL);
    xs_free(pool.threads);
    pool.threads = NULL;
    pool.nthreads = 0;
    workers_run_finished();             /* every job gets its done call */
    event_free(pool.ev);
    pool.ev = NULL;
    close(pool.efd);
    pool.efd = -1;
}

xs_rc
xs_work_submit(xs_work_fn *work, xs_work_done_fn *done, void *arg)
{
    struct job *j;

    if (pool.threads == NULL || pool.is_stopping)
        return XS_EIO;
    pthread_mutex_lock(&pool.mu);
    if (pool.nwaiting >= pool.max_queue) {
        pthread_mutex_unlock(&pool.mu);
        return XS_ELIMIT;
    }
    pthread_mutex_unlock(&pool.mu);
    j = xs_calloc(1, sizeof(*j));       /* outside the lock: it may abort */
    j->work = work;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&pool.mu);
    if (pool.todo_tail != NULL)
        pool.todo_tail->next = j;
    else
        pool.todo = j;
    pool.todo_tail = j;
    pool.nwaiting++;
    pthread_cond_signal(&pool.cv);
    pthread_mutex_unlock(&pool.mu);
    return XS_OK;
}
