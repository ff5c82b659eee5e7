/* tests/unit/test_workers.c: jobs run off the loop; done runs on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/workers.h"

#include <event2/event.h>
#include <pthread.h>
#include <unistd.h>

struct job_state {
    pthread_t worker;           /* where work ran */
    bool      is_done;
    int      *ndone;
    struct event_base *base;
    int       want;
};

static pthread_t main_thread;

static void
job_work(void *arg)
{
    struct job_state *j = arg;

    j->worker = pthread_self();
    usleep(1000);
}

static void
job_done(void *arg)
{
    struct job_state *j = arg;

    /* Done functions run on the loop's thread, after the work. */
    assert_true(pthread_equal(pthread_self(), main_thread));
    assert_false(pthread_equal(j->worker, main_thread));
    j->is_done = true;
    if (++*j->ndone == j->want)
        event_base_loopbreak(j->base);
}

static void
workers_run_jobs_off_the_loop(void **state)
{
    struct event_base *base = event_base_new();
    struct job_state jobs[20];
    int ndone = 0;

    (void)state;
    main_thread = pthread_self();
    assert_int_equal(xs_workers_start(base, 3, 100), XS_OK);
    for (int i = 0; i < 20; i++) {
        jobs[i] = (struct job_state){ .ndone = &ndone, .base = base,
            .want = 20 };
        assert_int_equal(xs_work_submit(job_work, job_done, &jobs[i]),
            XS_OK);
    }
    event_base_dispatch(base);
    assert_int_equal(ndone, 20);
    xs_workers_stop();
    event_base_free(base);
}

static void
workers_refuse_beyond_the_queue_and_finish_at_stop(void **state)
{
    struct event_base *base = event_base_new();
    struct job_state jobs[64];
    int ndone = 0, accepted = 0;

    (void)state;
    main_thread = pthread_self();
    assert_int_equal(xs_workers_start(base, 1, 4), XS_OK);
    for (int i = 0; i < 64; i++) {
        jobs[i] = (struct job_state){ .ndone = &ndone, .base = base,
            .want = -1 };
        if (xs_work_submit(job_work, job_done, &jobs[i]) == XS_OK)
            accepted++;
        else
            assert_int_equal(xs_work_submit(job_work, job_done, &jobs[i]),
                XS_ELIMIT);
    }
    assert_true(accepted >= 4 && accepted < 64);
    /* Stop without running the loop: every accepted job still ends with
     * its done call, on this thread. */
    xs_workers_stop();
    assert_int_equal(ndone, accepted);
    assert_int_equal(xs_work_submit(job_work, job_done, &jobs[0]), XS_EIO);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workers_run_jobs_off_the_loop),
        cmocka_unit_test(workers_refuse_beyond_the_queue_and_finish_at_stop),
    };

    return cmocka_run_group_tests_name("workers", tests, NULL, NULL);
}
