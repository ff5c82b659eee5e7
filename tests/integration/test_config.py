"""xmppd --check-config: the generated config passes; a mistake is named
in one line, file:line: key: reason, with exit 1."""

import os
import re
import subprocess

import pytest

from conftest import XMPPD


def check_config(path):
    return subprocess.run([XMPPD, "--check-config", path],
                          capture_output=True, text=True, timeout=20)


@pytest.fixture
def config_text(server):
    if server.config is None:
        pytest.skip("no config file of the external server")
    with open(server.config) as f:
        return f.read()


def write_beside(server, name, text):
    """Write a config next to the server's, so relative certfiles hold."""
    path = os.path.join(os.path.dirname(server.config), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_generated_config_is_valid(server, config_text):
    r = check_config(server.config)
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_unknown_key_names_file_line_and_key(server, config_text):
    lines_ = config_text.splitlines()
    # Put the mistake after the first few lines, at a known line number.
    at = 4
    lines_.insert(at - 1, "no_such_option: 42")
    path = write_beside(server, "bad-unknown-key.yml",
                        "\n".join(lines_) + "\n")
    try:
        r = check_config(path)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        out = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        assert len(out) == 1, out
        m = re.match(r"^(.*):(\d+): ([^:]+): (.+)$", out[0])
        assert m, out[0]
        assert m.group(1) == path or \
            os.path.abspath(m.group(1)) == path, out[0]
        assert int(m.group(2)) == at, out[0]
        assert "no_such_option" in m.group(3), out[0]
    finally:
        os.unlink(path)


def test_bad_value_is_rejected(server, config_text):
    text = re.sub(r"c2s_handshake_timeout: \d+",
                  "c2s_handshake_timeout: soon", config_text)
    assert text != config_text
    path = write_beside(server, "bad-value.yml", text)
    try:
        r = check_config(path)
        assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
        out = (r.stdout + r.stderr).strip()
        assert "c2s_handshake_timeout" in out, out
        line = text.splitlines().index("c2s_handshake_timeout: soon") + 1
        assert ":%d:" % line in out, out
    finally:
        os.unlink(path)


def test_missing_config_file(tmp_path):
    r = check_config(str(tmp_path / "nope.yml"))
    assert r.returncode != 0
    assert "nope.yml" in (r.stdout + r.stderr)


async def test_extra_server_restarts_on_same_database(start_xmppd,
                                                      event_loop):
    """The start_xmppd fixture: a second server with more config keeps its
    accounts across a kill -9 and a restart (PostgreSQL holds them)."""
    from conftest import Clients, Users
    srv = start_xmppd("modules:\n  mod_ping: {}\n")
    u = Users(srv).new("keep")
    srv.instance.restart(kill=True)
    clients = Clients(srv, event_loop)
    try:
        c = await clients.login(u)
        assert c.boundjid.bare == u.jid
    finally:
        await clients.close_all()
