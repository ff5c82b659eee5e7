/*
 * tests/unit/support/fake_server.h: what main.c provides in the daemon,
 * for unit tests that link modules without it.
 *
 * The Makefile links tests/unit/support/fake_server.c into every unit test
 * binary, so a test never defines xs_server(), xs_startup_hold() or
 * xs_startup_release() itself (a second definition fails to link).
 *
 * xs_server() returns one zeroed struct xs_server for the whole program.
 * A test sets the fields the code under test borrows (base, conf, db) in
 * its setup and clears them in its teardown; the fake never frees them.
 * The startup barrier does nothing: no listener waits on it in a test.
 */
#ifndef TESTS_UNIT_SUPPORT_FAKE_SERVER_H
#define TESTS_UNIT_SUPPORT_FAKE_SERVER_H

#include "xmppd/core/server.h"

#endif
