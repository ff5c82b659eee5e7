/* clock.c: monotonic time for timers, wall time for stored timestamps. */
#include "xmppd/core/xs.h"

#include <time.h>

/* Shifted only by tests (admin API, test mode) to move the clock forward. */
static int64_t clock_wall_shift;

uint64_t
xs_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t
xs_wall_s(void)
{
    return (int64_t)time(NULL) + clock_wall_shift;
}

void
xs_wall_shift(int64_t seconds)
{
    clock_wall_shift += seconds;
}
