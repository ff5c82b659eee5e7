"""The operator's interfaces: xmppctl (every verb, exit codes 0/1/2/3) and
the admin HTTP API it talks to."""

import json
import os
import re
import secrets

import pytest

from xmpp_util import (LoginFailed, TIMEOUT, connect_and_wait, first_of,
                       unique)

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3


def lines(out):
    return [ln.strip() for ln in out.splitlines() if ln.strip()]


def check(r, code=OK):
    assert r.returncode == code, (
        "exit %d, want %d\nstdout: %s\nstderr: %s"
        % (r.returncode, code, r.stdout, r.stderr))
    return r


@pytest.fixture
def other_config(server, tmp_path):
    """Write a copy of the server's config with one value replaced, in the
    server's folder (relative certfiles keep working)."""
    made = []

    def make(old, new):
        if server.config is None:
            pytest.skip("no config file of the external server")
        with open(server.config) as f:
            text = f.read()
        assert old in text
        path = os.path.join(os.path.dirname(server.config),
                            "ctl-%s.yml" % secrets.token_hex(4))
        with open(path, "w") as f:
            f.write(text.replace(old, new))
        made.append(path)
        return path
    yield make
    for p in made:
        os.unlink(p)


# --------------------------------------------------------------------------
# xmppctl


def test_register_and_registered_users(server):
    name = unique("ctl")
    r = check(server.ctl("register", name, server.domain, "pw-" + name))
    assert "%s@%s" % (name, server.domain) in r.stdout
    assert "successfully registered" in r.stdout
    r = check(server.ctl("registered_users", server.domain))
    assert name in lines(r.stdout)
    # Registering again fails: exit 1, and says why on stderr.
    r = check(server.ctl("register", name, server.domain, "x"), FAILED)
    assert r.stderr.strip()
    check(server.ctl("unregister", name, server.domain))
    r = check(server.ctl("registered_users", server.domain))
    assert name not in lines(r.stdout)
    # Unregistering someone who does not exist fails.
    check(server.ctl("unregister", name, server.domain), FAILED)


def test_registered_users_sorted_json(server, users):
    made = sorted([users.new("zz").name, users.new("aa").name])
    r = check(server.ctl("--json", "registered_users", server.domain))
    listed = json.loads(r.stdout)
    assert isinstance(listed, list)
    assert listed == sorted(listed)
    assert set(made) <= set(listed)


async def test_register_password_from_stdin(server, clients):
    name = unique("stdin")
    password = "pw " + secrets.token_hex(8)     # spaces survive stdin
    check(server.ctl("register", name, server.domain, "-",
                     stdin=password + "\n"))
    try:
        c = await clients.login("%s@%s" % (name, server.domain),
                                password=password)
        assert c.boundjid.bare == "%s@%s" % (name, server.domain)
    finally:
        server.ctl("unregister", name, server.domain)


async def test_change_password(server, users, clients):
    u = users.new("chpw")
    new_pw = "new-" + secrets.token_hex(6)
    check(server.ctl("change_password", u.name, u.host, new_pw))
    bad = clients.new(u, mech="SCRAM-SHA-256")   # the old password
    with pytest.raises(LoginFailed):
        await connect_and_wait(bad, server.host, server.c2s_port)
    assert bad.auth_failures[:1] == ["not-authorized"]
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        c = await clients.login(u, password=new_pw, mech=mech)
        assert c.boundjid.bare == u.jid
    # And for a user who does not exist: exit 1.
    check(server.ctl("change_password", unique("none"), u.host, "x"), FAILED)


async def test_connected_users_and_kick(server, users, clients):
    u = users.new("kick")
    c = await clients.login(u, resource="desk")
    r = check(server.ctl("connected_users"))
    assert u.jid + "/desk" in lines(r.stdout)
    r = check(server.ctl("--json", "connected_users"))
    listed = json.loads(r.stdout)
    assert u.jid + "/desk" in listed and listed == sorted(listed)
    r = check(server.ctl("connected_users_number"))
    n = int(r.stdout.strip())
    assert n >= 1
    r = check(server.ctl("--json", "connected_users_number"))
    assert json.loads(r.stdout) >= 1

    r = check(server.ctl("kick_user", u.name, u.host))
    assert int(r.stdout.strip()) == 1
    got = await first_of(c.closed, timeout=TIMEOUT)
    assert got is c.closed, "kicked client's stream is still open"
    r = check(server.ctl("connected_users"))
    assert u.jid + "/desk" not in lines(r.stdout)
    # Nobody left to kick: 0 sessions, still a success.
    r = check(server.ctl("kick_user", u.name, u.host))
    assert int(r.stdout.strip()) == 0


def test_status(server):
    r = check(server.ctl("status"))
    assert re.search(r"xmppd 0\.1\.0 is running", r.stdout), r.stdout
    r = check(server.ctl("--json", "status"))
    assert "is running" in json.loads(r.stdout)


def test_help(server):
    r = check(server.ctl("help"))
    text = r.stdout + r.stderr
    for verb in ("register", "unregister", "registered_users",
                 "change_password", "connected_users",
                 "connected_users_number", "kick_user", "status"):
        assert verb in text, verb


@pytest.mark.parametrize("args", [
    [],                                         # no verb
    ["no_such_verb"],
    ["register", "onlyuser"],                   # too few arguments
    ["register", "a", "b", "c", "d"],           # too many
    ["unregister"],
    ["kick_user", "x"],
    ["--no-such-flag", "status"],
])
def test_usage_errors(server, args):
    r = check(server.ctl(*args), USAGE)
    assert r.stderr.strip(), "usage error without a message"


def test_config_from_environment(server):
    r = check(server.ctl("status", config=None,
                         env={"XMPPD_CONFIG": server.config}))
    assert "is running" in r.stdout


def test_wrong_token_exit_3(server, other_config):
    cfg = other_config('token: "%s"' % server.token,
                       'token: "%s"' % secrets.token_hex(16))
    r = check(server.ctl("status", config=cfg), UNREACHABLE)
    assert r.stderr.strip()
    check(server.ctl("registered_users", server.domain, config=cfg),
          UNREACHABLE)


def test_server_unreachable_exit_3(server, other_config):
    # A port nobody listens on (just freed by the kernel).
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = other_config("port: %d," % server.admin_port, "port: %d," % port)
    r = check(server.ctl("status", config=cfg), UNREACHABLE)
    assert r.stderr.strip()


# --------------------------------------------------------------------------
# The admin HTTP API directly


def test_api_health(server):
    status, _ = server.http("GET", "/health", token=None)
    assert status == 200


@pytest.mark.parametrize("token", [None, "wrong-token-0123456789abcdef"])
def test_api_needs_token(server, token):
    status, body = server.http("POST", "/api/status", {}, token=token)
    assert status == 401, (status, body)
    status, _ = server.http("POST", "/api/registered_users",
                            {"host": server.domain}, token=token)
    assert status == 401


def test_api_unknown_command(server):
    status, body = server.http("POST", "/api/no_such_command", {})
    assert status == 404, (status, body)
    err = json.loads(body)
    assert err["status"] == "error" and err["code"] and err["message"]


def test_api_bad_json(server):
    status, body = server.http("POST", "/api/register", b"{not json")
    assert status == 400, (status, body)
    assert json.loads(body)["status"] == "error"


def test_api_register_conflict_and_unregister_missing(server):
    name = unique("api")
    res = server.api("register", user=name, host=server.domain,
                     password="secret-" + name)
    assert res == "User %s@%s successfully registered" % (name,
                                                          server.domain)
    status, body = server.http("POST", "/api/register", {
        "user": name, "host": server.domain, "password": "x"})
    assert status == 409, (status, body)
    assert json.loads(body)["status"] == "error"
    assert server.api("unregister", user=name, host=server.domain) == 0
    status, body = server.http("POST", "/api/unregister", {
        "user": name, "host": server.domain})
    assert status == 404, (status, body)


def test_api_missing_argument(server):
    status, body = server.http("POST", "/api/register",
                               {"user": unique("half")})
    assert 400 <= status < 500 and status not in (401, 404), (status, body)
    assert json.loads(body)["status"] == "error"


async def test_api_connected_users(server, users, clients):
    u = users.new("apic")
    await clients.login(u, resource="api")
    listed = server.api("connected_users")
    assert u.jid + "/api" in listed and listed == sorted(listed)
    assert server.api("connected_users_number") >= 1
    status = server.api("status")
    assert status.startswith("xmppd 0.1.0 is running")
    users_ = server.api("registered_users", host=server.domain)
    assert u.name in users_ and users_ == sorted(users_)
