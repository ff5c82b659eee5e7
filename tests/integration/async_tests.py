"""Async tests without plugins, for the integration and interop suites
(their conftest.py files import these two names): each async test runs on
a fresh event loop, with a hard time limit."""

import asyncio
import inspect

import pytest

TEST_TIMEOUT = 90.0         # seconds for one async test, whatever happens


@pytest.fixture(autouse=True)
def event_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    try:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            loop.run_until_complete(
                asyncio.wait(pending, timeout=2.0))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    loop = pyfuncitem.funcargs["event_loop"]
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {n: pyfuncitem.funcargs[n] for n in names}
    coro = pyfuncitem.obj(**kwargs)
    try:
        loop.run_until_complete(asyncio.wait_for(coro, TEST_TIMEOUT))
    except asyncio.TimeoutError:
        pytest.fail("test did not finish within %.0f s" % TEST_TIMEOUT)
    return True
