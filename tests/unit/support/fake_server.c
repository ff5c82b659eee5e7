/*
 * tests/unit/support/fake_server.c: xs_server() and the startup barrier
 * for unit tests, in place of main.c (see fake_server.h).
 */
#include "tests/unit/support/fake_server.h"

/* Every field starts zeroed; the tests fill in what they lend. */
static struct xs_server fake_server;

struct xs_server *
xs_server(void)
{
    return &fake_server;
}

void
xs_startup_hold(void)
{
}

void
xs_startup_release(bool is_ok)
{
    (void)is_ok;
}
