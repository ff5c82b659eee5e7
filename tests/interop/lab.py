"""The federation lab: xmppd next to Prosody and ejabberd on loopback.

Everything here runs inside the loopback-only network namespace that
tests/run-interop.sh creates (TESTLAB.md): a dnsmasq answers the .test
names and the _xmpp-server._tcp SRV records, a private CA (or one per
domain) signs the certificates, and each server runs in the foreground
with its own config, data and log under one temporary folder.

Domains:  xmppd.test (xmppd), xmppd2.test (a second xmppd), peer.test
(Prosody 0.12), ejab.test (ejabberd 23.01).

Certificate modes (MODES):
  dialback  every domain has its own CA that nobody else trusts: the
            certificates are valid for their names but unverifiable by
            the other servers, so s2s falls back to Server Dialback.
  external  one test CA signs every certificate and every server trusts
            it: s2s authenticates with SASL EXTERNAL.

Nothing here waits without a deadline, and a server that does not come
up raises LabError with the tail of its log.
"""

import asyncio
import xml.etree.ElementTree as ET
import json
import os
import pwd
import random
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.error
import urllib.request
import sys
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
INTEGRATION_DIR = os.path.join(REPO, "tests", "integration")
BUILD_DIR = os.path.join(REPO, os.environ.get("XMPPD_BUILD")
                         or os.environ.get("BUILD") or "build")
XMPPD = os.path.join(BUILD_DIR, "xmppd")
GEN_CERT = os.path.join(REPO, "deploy", "gen-cert.sh")
PG_SH = os.path.join(REPO, "deploy", "pg.sh")

HOST = "127.0.0.1"
DNS_PORT = 5353
MODES = ("dialback", "external")

XMPPD_DOMAIN = "xmppd.test"
XMPPD2_DOMAIN = "xmppd2.test"
PROSODY_DOMAIN = "peer.test"
EJABBERD_DOMAIN = "ejab.test"
DOMAINS = (XMPPD_DOMAIN, PROSODY_DOMAIN, EJABBERD_DOMAIN, XMPPD2_DOMAIN)
NO_SUCH_DOMAIN = "nosuch.test"      # A record (wildcard) but no server

START_TIMEOUT = 30.0    # seconds for a server to accept connections
STOP_TIMEOUT = 10.0     # seconds for a server to exit after SIGTERM
LOG_TAIL_LINES = 60


class LabError(Exception):
    """A lab part failed to start or stop; the message says why and
    carries the log tail."""


# --------------------------------------------------------------------------
# Small tools


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def port_accepts(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def tail(path, lines=LOG_TAIL_LINES):
    if not path or not os.path.exists(path):
        return "(no log at %s)" % path
    with open(path, "rb") as f:
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:])


def run(argv, what, timeout=60, env=None, cwd=None):
    """Run a command to completion; LabError with its output on failure."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        raise LabError("%s: no exit within %.0f s (%s)"
                       % (what, timeout, e)) from None
    if r.returncode != 0:
        raise LabError("%s failed (exit %d):\n%s%s"
                       % (what, r.returncode, r.stdout, r.stderr))
    return r


def as_user(user):
    """argv prefix that runs a command as user without a fork (setpriv
    execs): the child's PID is the server's, and signals reach it."""
    return ["setpriv", "--reuid=" + user, "--regid=" + user,
            "--init-groups", "--"]


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def unique(prefix="u"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


def split_pem(path):
    """(certificates, key) PEM text of a gen-cert.sh HOST.pem."""
    with open(path) as f:
        text = f.read()
    certs, key, cur = [], [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("-----BEGIN "):
            cur = key if "PRIVATE KEY" in line else certs
        if cur is not None:
            cur.append(line)
        if line.startswith("-----END "):
            cur = None
    return "".join(certs), "".join(key)


def stop_process_group(proc, what, timeout=STOP_TIMEOUT):
    """SIGTERM the process group proc leads (start_new_session=True) and
    wait until no process of it is left; SIGKILL after timeout.  Returns
    proc's exit status."""
    if proc is None:
        return None
    pgid = proc.pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise LabError("%s (pid %d) survived SIGKILL" % (what, proc.pid)) \
            from None


# --------------------------------------------------------------------------
# DNS: a tiny client (no dig here) to check the lab's answers


def dns_query(name, qtype, server=(HOST, DNS_PORT), timeout=2.0):
    """Ask server one question over UDP.  Returns (rcode, answers): A
    answers as dotted quads, SRV answers as (priority, weight, port,
    target)."""
    types = {"A": 1, "SRV": 33, "AAAA": 28}
    qid = random.randrange(1 << 16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", types[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q, server)
        data, _ = s.recvfrom(4096)
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        raise LabError("DNS answer id mismatch")

    def read_name(off):
        labels, jumped, end = [], False, None
        while True:
            n = data[off]
            if n & 0xC0 == 0xC0:
                if not jumped:
                    end = off + 2
                off = ((n & 0x3F) << 8) | data[off + 1]
                jumped = True
                continue
            off += 1
            if n == 0:
                break
            labels.append(data[off:off + n].decode())
            off += n
        return ".".join(labels), (end if jumped else off)

    off = 12
    for _ in range(qd):
        _, off = read_name(off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = read_name(off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[off:off + 10])
        off += 10
        rdata = data[off:off + rdlen]
        if rtype == 1:
            answers.append(socket.inet_ntoa(rdata))
        elif rtype == 33:
            prio, weight, port = struct.unpack(">HHH", rdata[:6])
            target, _ = read_name(off + 6)
            answers.append((prio, weight, port, target))
        off += rdlen
    return flags & 0xF, answers


# --------------------------------------------------------------------------
# Certificates


class Certs:
    """The certificates of one mode, made with deploy/gen-cert.sh.

    pem(domain): the domain's certificate and key in one file.
    ca(domain): the CA that signed it (what its clients trust, and what
    the server itself trusts for s2s: in dialback mode that CA signs no
    other domain, so peers stay unverifiable)."""

    def __init__(self, base, mode):
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        self.mode = mode
        self.dirs = {}
        if mode == "external":
            d = os.path.join(base, "certs-shared")
            run([GEN_CERT, d] + list(DOMAINS), "deploy/gen-cert.sh")
            for dom in DOMAINS:
                self.dirs[dom] = d
        else:
            for dom in DOMAINS:
                d = os.path.join(base, "certs-" + dom)
                run([GEN_CERT, d, dom], "deploy/gen-cert.sh")
                self.dirs[dom] = d

    def pem(self, domain):
        return os.path.join(self.dirs[domain], domain + ".pem")

    def ca(self, domain):
        return os.path.join(self.dirs[domain], "ca.pem")


# --------------------------------------------------------------------------
# dnsmasq


DNSMASQ_TEMPLATE = """\
# Written by tests/interop/lab.py: loopback only, nothing upstream.
port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
local=/test/
# A for every .test name (nosuch.test too: it has no server, no SRV)
address=/test/127.0.0.1
# SRV targets stay "localhost" (ejabberd resolves targets through libc,
# TESTLAB.md); answer it here too for resolvers without /etc/hosts.
host-record=localhost,127.0.0.1
{srv}
log-queries
log-facility={log}
"""


class Dnsmasq:
    def __init__(self, base, s2s_ports, port=DNS_PORT):
        """s2s_ports: {domain: port} for the _xmpp-server._tcp records."""
        self.dir = os.path.join(base, "dnsmasq")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.conf = os.path.join(self.dir, "dnsmasq.conf")
        self.log = os.path.join(self.dir, "dnsmasq.log")
        self.pidfile = os.path.join(self.dir, "dnsmasq.pid")
        self.s2s_ports = dict(s2s_ports)
        self.proc = None
        srv = "\n".join("srv-host=_xmpp-server._tcp.%s,localhost,%d,0,0"
                        % (d, p) for d, p in sorted(s2s_ports.items()))
        write(self.conf, DNSMASQ_TEMPLATE.format(port=port, srv=srv,
                                                 log=self.log))

    def log_tail(self):
        return tail(self.log)

    def start(self):
        self.proc = subprocess.Popen(
            ["dnsmasq", "--conf-file=" + self.conf, "--keep-in-foreground",
             "--pid-file=" + self.pidfile, "--user=root"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace")
                raise LabError("dnsmasq exited with %d: %s\n%s"
                               % (self.proc.returncode, out,
                                  self.log_tail()))
            try:
                rcode, ans = dns_query(PROSODY_DOMAIN, "A",
                                       (HOST, self.port), timeout=0.5)
                if rcode == 0 and ans:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise LabError("dnsmasq does not answer on 127.0.0.1:%d; log:\n%s"
                       % (self.port, self.log_tail()))

    def stop(self):
        proc, self.proc = self.proc, None
        return stop_process_group(proc, "dnsmasq")


# --------------------------------------------------------------------------
# Servers


class User:
    def __init__(self, name, domain, password):
        self.name = name
        self.domain = domain
        self.host = domain
        self.password = password
        self.jid = "%s@%s" % (name, domain)

    def __repr__(self):
        return "User(%s)" % self.jid


class Server:
    """What every server of the lab offers the tests."""

    kind = "?"

    def __init__(self, base, domain, certs, c2s_port, s2s_port):
        self.domain = domain
        self.certs = certs
        self.host = HOST
        self.c2s_port = c2s_port
        self.s2s_port = s2s_port
        self.dir = os.path.join(base, "%s-%s" % (self.kind, domain))
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.log = None
        self.proc = None

    @property
    def ca(self):
        """The CA file a client of this server trusts."""
        return self.certs.ca(self.domain)

    def log_tail(self, lines=LOG_TAIL_LINES):
        return tail(self.log, lines)

    def log_text(self):
        if not self.log or not os.path.exists(self.log):
            return ""
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def fail(self, why):
        raise LabError("%s (%s) %s; log tail (%s):\n%s"
                       % (self.kind, self.domain, why, self.log,
                          self.log_tail()))

    def wait_ports(self, ports, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                self.fail("exited with %d during start"
                          % self.proc.returncode)
            if all(port_accepts(p) for p in ports):
                return
            time.sleep(0.05)
        self.fail("did not accept on ports %s within %.0f s"
                  % (ports, timeout))

    def __repr__(self):
        return "<%s %s c2s=%d s2s=%d>" % (self.kind, self.domain,
                                          self.c2s_port, self.s2s_port)


PROSODY_TEMPLATE = """\
-- Written by tests/interop/lab.py
local base = "{base}"
pidfile = base .. "/prosody.pid"
data_path = base .. "/data"
log = {{ {{ levels = {{ min = "debug" }}, to = "file",
          filename = base .. "/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
s2s_ports = {{ {s2s} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
use_ipv6 = false
unbound = {{ resolvconf = false; hoststxt = false;
            forward = {{ "127.0.0.1@{dns}" }};
            options = {{ ["local-zone"] = "test. transparent" }} }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "dialback"; "disco";
                    "ping"; "posix"; "blocklist"; "s2s_bidi" }}
modules_disabled = {{ "http" }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
-- Unverifiable certificates fall back to dialback (dialback mode).
s2s_secure_auth = false
certificates = base .. "/certs"
ssl = {{ cafile = base .. "/certs/ca.pem" }}
VirtualHost "{domain}"
"""


class Prosody(Server):
    kind = "prosody"

    def __init__(self, base, certs, c2s_port, s2s_port,
                 domain=PROSODY_DOMAIN, dns_port=DNS_PORT):
        super().__init__(base, domain, certs, c2s_port, s2s_port)
        self.config = os.path.join(self.dir, "prosody.cfg.lua")
        self.log = os.path.join(self.dir, "prosody.log")
        self.out = os.path.join(self.dir, "prosody.out")
        certdir = os.path.join(self.dir, "certs")
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(certdir, exist_ok=True)
        crt, key = split_pem(certs.pem(domain))
        write(os.path.join(certdir, domain + ".crt"), crt)
        write(os.path.join(certdir, domain + ".key"), key, 0o600)
        shutil.copy(certs.ca(domain), os.path.join(certdir, "ca.pem"))
        write(self.config, PROSODY_TEMPLATE.format(
            base=self.dir, c2s=c2s_port, s2s=s2s_port, dns=dns_port,
            domain=domain))
        chown_tree(self.dir, "prosody")

    def log_tail(self, lines=LOG_TAIL_LINES):
        out = tail(self.out, 20) if os.path.exists(self.out) else ""
        return tail(self.log, lines) + ("\n-- stdout/stderr:\n" + out
                                        if out.strip() else "")

    def start(self):
        with open(self.out, "ab") as outf:
            self.proc = subprocess.Popen(
                as_user("prosody") + ["prosody", "-F", "--config",
                                      self.config],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=outf,
                stderr=outf, start_new_session=True)
        self.wait_ports([self.c2s_port, self.s2s_port])
        return self

    def stop(self):
        proc, self.proc = self.proc, None
        return stop_process_group(proc, "prosody")

    async def new_user(self, prefix="p"):
        """A fresh account (prosodyctl register, about 0.06 s)."""
        user = User(unique(prefix), self.domain, secrets.token_urlsafe(12))
        p = await asyncio.create_subprocess_exec(
            *(as_user("prosody") + ["prosodyctl", "--config", self.config,
                                    "register", user.name, self.domain,
                                    user.password]),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=self.dir)
        out, _ = await asyncio.wait_for(p.communicate(), 20)
        if p.returncode != 0:
            raise LabError("prosodyctl register %s failed (%d): %s"
                           % (user.jid, p.returncode, out.decode()))
        return user


EJABBERD_YML = """\
# Written by tests/interop/lab.py
hosts: [{domain}]
loglevel: info
log_rotate_count: 0
certfiles: ["{conf}/{domain}.pem"]
ca_file: "{conf}/ca.pem"
define_macro: {{}}
listen:
  - {{port: {c2s}, ip: "127.0.0.1", module: ejabberd_c2s,
     starttls: true, starttls_required: true}}
  - {{port: {s2s}, ip: "127.0.0.1", module: ejabberd_s2s_in}}
s2s_use_starttls: required
s2s_access: all
outgoing_s2s_families: [ipv4]
auth_password_format: scram
registration_timeout: infinity
acl:
  local:
    user_regexp: ""
access_rules:
  register:
    allow: all
  local:
    allow: local
modules:
  mod_disco: {{}}
  mod_roster: {{}}
  mod_s2s_dialback: {{}}
  mod_ping: {{}}
  mod_privacy: {{}}
  mod_blocking: {{}}
  mod_register:
    access: register
    ip_access: all
"""

# ERL_DIST_PORT: epmd-less Erlang distribution (the node listens on that
# port, ejabberdctl's control node connects to it), so no epmd daemon is
# started at all: nothing escapes our process group (TESTLAB's epmd trap).
EJABBERDCTL_CFG = """\
# Written by tests/interop/lab.py
ERLANG_NODE=ejab@localhost
ERL_EPMD_ADDRESS=127.0.0.1
ERL_DIST_PORT={dist}
ERL_OPTIONS="-kernel inet_dist_use_interface {{127,0,0,1}}"
EJABBERD_PID_PATH={spool}/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
"""

EJABBERD_INETRC = """\
{{resolv_conf, ""}}.
{{hosts_file, ""}}.
{{nameserver, {{127,0,0,1}}, {dns}}}.
{{host, {{127,0,0,1}}, ["localhost"]}}.
{{lookup, [file, dns]}}.
"""


class Ejabberd(Server):
    kind = "ejabberd"

    def __init__(self, base, certs, c2s_port, s2s_port, dist_port,
                 domain=EJABBERD_DOMAIN, dns_port=DNS_PORT):
        super().__init__(base, domain, certs, c2s_port, s2s_port)
        self.conf = os.path.join(self.dir, "conf")
        self.spool = os.path.join(self.dir, "spool")
        self.logs = os.path.join(self.dir, "logs")
        self.log = os.path.join(self.logs, "ejabberd.log")
        self.out = os.path.join(self.dir, "ejabberd.out")
        self.dist_port = dist_port
        for d in (self.conf, self.spool, self.logs):
            os.makedirs(d, exist_ok=True)
        shutil.copy(certs.pem(domain),
                    os.path.join(self.conf, domain + ".pem"))
        shutil.copy(certs.ca(domain), os.path.join(self.conf, "ca.pem"))
        write(os.path.join(self.conf, "ejabberd.yml"), EJABBERD_YML.format(
            domain=domain, conf=self.conf, c2s=c2s_port, s2s=s2s_port))
        write(os.path.join(self.conf, "ejabberdctl.cfg"),
              EJABBERDCTL_CFG.format(dist=dist_port, spool=self.spool))
        write(os.path.join(self.conf, "inetrc"),
              EJABBERD_INETRC.format(dns=dns_port))
        chown_tree(self.dir, "ejabberd")

    def log_tail(self, lines=LOG_TAIL_LINES):
        parts = [tail(self.log, lines)]
        err = os.path.join(self.logs, "error.log")
        if os.path.exists(err) and os.path.getsize(err):
            parts.append("-- error.log:\n" + tail(err, 30))
        if os.path.exists(self.out) and os.path.getsize(self.out):
            parts.append("-- stdout/stderr:\n" + tail(self.out, 30))
        return "\n".join(parts)

    def ctl_argv(self, *args):
        return as_user("ejabberd") + [
            "ejabberdctl", "--config-dir", self.conf, "--logs", self.logs,
            "--spool", self.spool] + list(args)

    def env(self):
        e = dict(os.environ)
        e["HOME"] = self.spool          # .erlang.cookie lives there
        return e

    def ctl(self, *args, timeout=30):
        return run(self.ctl_argv(*args), "ejabberdctl " + " ".join(args),
                   timeout=timeout, env=self.env(), cwd=self.spool)

    def start(self):
        with open(self.out, "ab") as outf:
            self.proc = subprocess.Popen(
                self.ctl_argv("foreground"), cwd=self.spool, env=self.env(),
                stdin=subprocess.DEVNULL, stdout=outf, stderr=outf,
                start_new_session=True)
        # Poll the ports, not `ejabberdctl started` (TESTLAB.md).
        self.wait_ports([self.c2s_port, self.s2s_port])
        return self

    def stop(self):
        # SIGTERM to the group: the VM shuts down cleanly (init:stop) and
        # its port programs go with it.
        proc, self.proc = self.proc, None
        return stop_process_group(proc, "ejabberd", timeout=15)

    async def new_user(self, prefix="e"):
        """A fresh account, registered in-band (XEP-0077, mod_register):
        far cheaper than `ejabberdctl register` (0.7 s a call)."""
        user = User(unique(prefix), self.domain, secrets.token_urlsafe(12))
        await register_inband(self, user)
        return user


XMPPD_TEMPLATE = """\
# Written by tests/interop/lab.py
hosts: [{domain}]
loglevel: debug
certfiles: [certs/{domain}.pem]
state_dir: .
sql_server: {pgdir}
sql_database: xmppd
sql_username: xmppd
listen:
  - {{port: {c2s}, ip: 127.0.0.1, module: c2s, starttls: true, starttls_required: true}}
  - {{port: {s2s}, ip: 127.0.0.1, module: s2s}}
  - {{port: {admin}, ip: 127.0.0.1, module: admin_http, token: "{token}"}}
s2s_use_starttls: required
s2s_dialback: true
s2s_cafile: certs/ca.pem
dns_nameservers: [{nameservers}]
"""


class Xmppd(Server):
    kind = "xmppd"

    def __init__(self, base, certs, c2s_port, s2s_port, admin_port, pgdir,
                 domain=XMPPD_DOMAIN, nameservers=("127.0.0.1:%d" % DNS_PORT,),
                 routes=None, extra_yaml=""):
        """routes: {domain: "host:port"} for s2s_routes (the static route
        table), None for none."""
        super().__init__(base, domain, certs, c2s_port, s2s_port)
        self.admin_port = admin_port
        self.pgdir = pgdir
        self.token = secrets.token_hex(16)
        self.config = os.path.join(self.dir, "xmppd.yml")
        self.log = os.path.join(self.dir, "xmppd.log")
        certdir = os.path.join(self.dir, "certs")
        os.makedirs(certdir, exist_ok=True)
        shutil.copy(certs.pem(domain), os.path.join(certdir, domain + ".pem"))
        os.chmod(os.path.join(certdir, domain + ".pem"), 0o600)
        shutil.copy(certs.ca(domain), os.path.join(certdir, "ca.pem"))
        text = XMPPD_TEMPLATE.format(
            domain=domain, pgdir=pgdir, c2s=c2s_port, s2s=s2s_port,
            admin=admin_port, token=self.token,
            nameservers=", ".join('"%s"' % n for n in nameservers))
        if routes:
            text += "s2s_routes:\n" + "".join(
                '  %s: "%s"\n' % (d, r) for d, r in sorted(routes.items()))
        write(self.config, text + extra_yaml)
        self.logf = None

    def check_config(self):
        """(ok, message) of `xmppd --check-config`."""
        r = subprocess.run([XMPPD, "--check-config", self.config],
                           capture_output=True, text=True, timeout=20,
                           cwd=self.dir)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def start(self):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [XMPPD, "--config", self.config], cwd=self.dir,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf,
            start_new_session=True)
        self.wait_ports([self.c2s_port, self.s2s_port, self.admin_port])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.http("GET", "/health", token=None,
                             timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("GET /health did not answer 200")

    def stop(self):
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return "killed after %.0f s" % STOP_TIMEOUT
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        return proc.returncode

    def sanitizer_report(self):
        data = self.log_text()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:"):
            i = data.find(mark)
            if i >= 0:
                return data[max(0, i - 200):i + 3000]
        return ""

    def http(self, method, path, body=None, token="default", timeout=10):
        if token == "default":
            token = self.token
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            "http://%s:%d%s" % (HOST, self.admin_port, path), data=data,
            method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def api(self, cmd, **args):
        status, data = self.http("POST", "/api/" + cmd, args)
        if not 200 <= status < 300:
            raise LabError("admin API %s: HTTP %d %r" % (cmd, status, data))
        return json.loads(data) if data else None

    async def new_user(self, prefix="x"):
        user = User(unique(prefix), self.domain, secrets.token_urlsafe(12))
        res = await asyncio.get_running_loop().run_in_executor(
            None, lambda: self.api("register", user=user.name,
                                   host=self.domain,
                                   password=user.password))
        if "successfully registered" not in str(res):
            raise LabError("register %s: %r" % (user.jid, res))
        return user


class Postgres:
    """A private PostgreSQL for one xmppd (deploy/pg.sh --fast)."""

    def __init__(self, base, name="pg"):
        self.dir = os.path.join(base, name)
        self.started = False

    def start(self):
        run([PG_SH, "start", self.dir, "--fast"], "deploy/pg.sh start",
            timeout=120)
        self.started = True
        return self

    def stop(self):
        if self.started:
            subprocess.run([PG_SH, "stop", self.dir], capture_output=True,
                           timeout=60)
            self.started = False


# --------------------------------------------------------------------------
# How a peer authenticated s2s, from its log


EJABBERD_AUTH_RE = re.compile(
    r"Accepted (inbound|outbound) s2s (\S+) authentication (\S+) -> (\S+)")


def s2s_auth(server, remote):
    """How server's s2s streams with remote were authenticated, from its
    log: a set of (direction, method), direction 'in' (remote -> server)
    or 'out', method 'external' (SASL EXTERNAL) or 'dialback'."""
    seen = set()
    text = server.log_text()
    if isinstance(server, Ejabberd):
        for m in EJABBERD_AUTH_RE.finditer(text):
            way, method, frm, to = m.groups()
            other = frm if way == "inbound" else to
            if other == remote:
                seen.add(("in" if way == "inbound" else "out",
                          method.lower()))
        return seen
    if not isinstance(server, Prosody):
        raise TypeError("s2s_auth: no log parser for %r" % server)
    # Prosody (debug level): group the lines by session id; a session
    # that says "connection A->B is now authenticated" used SASL
    # EXTERNAL if a <success> crossed it, else dialback if a
    # jabber:server:dialback result did.
    sessions = {}
    for line in text.splitlines():
        head, _, rest = line.partition("\t")
        sid = head.rsplit(" ", 1)[-1]
        if sid.startswith("s2s"):
            sessions.setdefault(sid, []).append(rest)
    for sid, lines in sessions.items():
        body = "\n".join(lines)
        way = "out" if sid.startswith("s2sout") else "in"
        pair = ("%s->%s" % (server.domain, remote) if way == "out"
                else "%s->%s" % (remote, server.domain))
        if "connection %s is now authenticated" % pair not in body:
            continue
        if re.search(r"(Received|Sending)\[s2s(in|out)_unauthed\]: "
                     r"<success", body):
            seen.add((way, "external"))
        elif re.search(r"<(db:)?result[^>]*(jabber:server:dialback|"
                       r"type='valid')|<db:result", body):
            seen.add((way, "dialback"))
    return seen


# --------------------------------------------------------------------------
# Clients (slixmpp, through tests/integration/xmpp_util.py)

if INTEGRATION_DIR not in sys.path:
    sys.path.insert(0, INTEGRATION_DIR)

from slixmpp.exceptions import IqError, IqTimeout      # noqa: E402

from xmpp_util import (TIMEOUT, connect_and_wait,  # noqa: E402
                       hard_close, make_client, next_item)


async def register_inband(server, user, timeout=TIMEOUT):
    """Create user's account on server with XEP-0077 in-band
    registration, then close the stream."""
    c = make_client(user.jid, user.password, server.host, server.c2s_port,
                    server.ca, plugins=("xep_0030", "xep_0077"))
    c["xep_0077"].force_registration = True
    # slixmpp 1.8 holds back every IQ until the session starts, the
    # registration IQs too (they come before SASL): let them through.
    c._always_send_everything = True
    result = {}

    async def on_register(_form):
        iq = c.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = user.name
        iq["register"]["password"] = user.password
        try:
            await iq.send(timeout=timeout)
            result["ok"] = True
        except IqError as e:
            result["error"] = e.iq["error"]["condition"]
        except IqTimeout:
            result["error"] = "timeout"

    c.add_event_handler("register", on_register)
    try:
        await connect_and_wait(c, server.host, server.c2s_port, timeout)
    except AssertionError as e:
        raise LabError("in-band registration of %s failed (%s): %s"
                       % (user.jid, result.get("error"), e)) from None
    finally:
        await hard_close(c)
    if not result.get("ok"):
        raise LabError("in-band registration of %s: %r" % (user.jid, result))


class Clients:
    """slixmpp clients of any lab server; all closed at the end of the
    test (the conftest fixture `clients`)."""

    def __init__(self):
        self.all = []

    async def login(self, server, user, resource=None, presence=True,
                    timeout=TIMEOUT):
        """Log user in on server, with slixmpp's automatic subscription
        answers off, roster pushes queued on c.pushes, the roster fetched
        and (presence=True) initial presence sent: an available,
        interested resource (RFC 6121 1.5)."""
        jid = user.jid + ("/" + resource if resource else "")
        c = make_client(jid, user.password, server.host, server.c2s_port,
                        server.ca)
        c.lab_server = server
        c.auto_authorize = None
        c.auto_subscribe = False
        c.pushes = asyncio.Queue()

        def on_roster(iq):
            if iq["type"] == "set":
                c.pushes.put_nowait(iq)

        c.add_event_handler("roster_update", on_roster)
        self.all.append(c)
        await connect_and_wait(c, server.host, server.c2s_port, timeout)
        await roster_get(c)
        if presence:
            c.send_presence()
            await barrier(c)
        return c

    async def close_all(self):
        await asyncio.gather(*(hard_close(c) for c in self.all),
                             return_exceptions=True)


async def barrier(c, timeout=TIMEOUT):
    """Everything c sent before has been handled by its server."""
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = c.boundjid.host
    iq.enable("ping")
    await iq.send(timeout=timeout)


async def roster_get(c, timeout=TIMEOUT):
    iq = c.Iq()
    iq["type"] = "get"
    iq.enable("roster")
    return await iq.send(timeout=timeout)


def roster_items(res):
    return {str(j): dict(item) for j, item in res["roster"]["items"].items()}


def presence_matches(p, ptype, frm):
    if ptype == "available":
        if p["type"] not in ("available",) + tuple(p.showtypes):
            return False
    elif ptype is not None and p["type"] != ptype:
        return False
    if frm is not None:
        if "/" in frm:
            return p["from"].full == frm
        return p["from"].bare == frm
    return True


async def expect_presence(c, ptype, frm, timeout=TIMEOUT):
    """The next presence on c of ptype ('available' for any available)
    from frm (full JID, or bare JID for any resource); others skipped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("no presence type=%s from %s on %s"
                                 % (ptype, frm, c.boundjid))
        p = await next_item(c.presences, left,
                            "presence type=%s from %s on %s"
                            % (ptype, frm, c.boundjid))
        if presence_matches(p, ptype, frm):
            return p


async def wait_roster(c, jid, subscription, timeout=TIMEOUT):
    """Poll c's roster until jid's item has that subscription state;
    returns the item.  (Roster pushes and s2s deliveries race; the
    roster itself is what RFC 6121 defines.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    item = None
    while loop.time() < deadline:
        item = roster_items(await roster_get(c)).get(jid)
        if item is not None and item.get("subscription") == subscription:
            return item
        await asyncio.sleep(0.1)
    raise AssertionError("roster of %s: %s is %r, wanted subscription=%s"
                         % (c.boundjid.bare, jid, item, subscription))


async def subscribe(a, b, timeout=TIMEOUT):
    """a asks b for a subscription (RFC 6121 3.1) and b approves: b's
    client must see the request, a's the approval."""
    a_bare, b_bare = a.boundjid.bare, b.boundjid.bare
    a.send_presence(pto=b_bare, ptype="subscribe")
    req = await expect_presence(b, "subscribe", a_bare, timeout)
    assert req["to"].bare == b_bare, req
    b.send_presence(pto=a_bare, ptype="subscribed")
    ok = await expect_presence(a, "subscribed", b_bare, timeout)
    assert ok["from"].resource == "", \
        "RFC 6121 3.1.5: 'subscribed' is stamped with the bare JID: %s" % ok
    return req


async def make_contacts(a, b, timeout=TIMEOUT):
    """Both ways subscribed: a -> b first, then b -> a."""
    await subscribe(a, b, timeout)
    await subscribe(b, a, timeout)
    await wait_roster(a, b.boundjid.bare, "both", timeout)
    await wait_roster(b, a.boundjid.bare, "both", timeout)


async def iq_result(iq, timeout=TIMEOUT):
    try:
        return await iq.send(timeout=timeout)
    except IqError as e:
        raise AssertionError("IQ to %s failed: %s" % (iq["to"], e.iq)) \
            from None
    except IqTimeout:
        raise AssertionError("no answer to IQ %s to %s within %.0f s"
                             % (iq["id"], iq["to"], timeout)) from None


async def iq_error(iq, timeout=TIMEOUT):
    """Send an IQ that must fail; returns the error IQ."""
    try:
        res = await iq.send(timeout=timeout)
    except IqError as e:
        return e.iq
    except IqTimeout:
        raise AssertionError("no answer to IQ %s to %s within %.0f s"
                             % (iq["id"], iq["to"], timeout)) from None
    raise AssertionError("expected an IQ error from %s, got %s"
                         % (iq["to"], res))


def ping_iq(c, to):
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = to
    iq.enable("ping")
    return iq


NS_UNKNOWN = "urn:xmppd:interop:no-such-feature"


def unknown_iq(c, to):
    """An IQ get whose payload no server or client handles (RFC 6120
    8.4: its answer is <service-unavailable/>)."""
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = to
    iq.append(ET.Element("{%s}query" % NS_UNKNOWN))
    return iq


def disco_info_iq(c, to):
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = to
    iq.enable("disco_info")
    return iq


async def send_chat(a, b_jid, b, timeout=TIMEOUT):
    """a sends a chat message with a unique body to b_jid; b (a client)
    must receive it from a's full JID.  Returns the received stanza."""
    body = "interop " + uuid.uuid4().hex
    a.send_message(mto=b_jid, mbody=body, mtype="chat")
    while True:
        msg = await next_item(b.inbox, timeout, "message to %s" % b.boundjid)
        if msg["body"] == body:
            assert msg["from"].full == a.boundjid.full, msg
            assert msg["type"] == "chat", msg
            return msg


# --------------------------------------------------------------------------
# The federation cases, shared by the peer pairs (test_lab.py runs them
# between Prosody and ejabberd, test_peers.py between xmppd and each
# peer).  x: the server of the user who starts,
# y: the other one.  Assertions are what RFC 6120/6121 require.


async def case_subscription(clients, x, y):
    """RFC 6121 3.1 across s2s: a@x subscribes to b@y, b approves, then
    the other way; both rosters end with subscription='both'.  (xmppd
    adds its signed trust flag to outgoing requests: a peer that ignores
    it must see an ordinary request.)"""
    ua, ub = await x.new_user("a"), await y.new_user("b")
    a = await clients.login(x, ua)
    b = await clients.login(y, ub)
    req = await subscribe(a, b)
    assert req["from"].full == ua.jid, \
        "RFC 6121 3.1.2: a request is stamped with the bare JID: %s" % req
    await wait_roster(a, ub.jid, "to")
    await wait_roster(b, ua.jid, "from")
    await subscribe(b, a)
    item_a = await wait_roster(a, ub.jid, "both")
    item_b = await wait_roster(b, ua.jid, "both")
    assert not item_a.get("pending_out") and not item_b.get("pending_out")


async def case_presence(clients, x, y):
    """RFC 6121 4: with a@x and b@y subscribed both ways, a new resource
    of b coming online is seen by a (4.2.2), and gets a's presence
    through the probe its server sends (4.3); its unavailable presence
    reaches a too (4.5)."""
    ua, ub = await x.new_user("a"), await y.new_user("b")
    a = await clients.login(x, ua)
    b = await clients.login(y, ub)
    await make_contacts(a, b)
    b2 = await clients.login(y, ub, resource="second", presence=False)
    b2.send_presence(pstatus="here")
    p = await expect_presence(a, "available", b2.boundjid.full)
    assert p["status"] == "here", p
    await expect_presence(b2, "available", a.boundjid.full)
    await hard_close(b2)
    await expect_presence(a, "unavailable", b2.boundjid.full)


async def case_message(clients, x, y):
    """RFC 6121 5: a@x sends a chat message to b@y's bare JID (delivered
    to b's available resource), b answers a's full JID; neither is in
    the other's roster."""
    ua, ub = await x.new_user("a"), await y.new_user("b")
    a = await clients.login(x, ua)
    b = await clients.login(y, ub)
    await send_chat(a, ub.jid, b)
    await send_chat(b, a.boundjid.full, a)


async def case_iq(clients, x, y):
    """IQs across s2s: XEP-0199 ping of y's domain, XEP-0030 disco#info
    of y's domain (a server: identity server/im), and a ping routed to
    a client's full JID (answered by the client)."""
    ua, ub = await x.new_user("a"), await y.new_user("b")
    a = await clients.login(x, ua)
    b = await clients.login(y, ub)
    res = await iq_result(ping_iq(a, y.domain))
    assert res["from"].full == y.domain, res
    assert res["type"] == "result", res
    info = await iq_result(disco_info_iq(a, y.domain))
    assert info["from"].full == y.domain, info
    identities = {(i[0], i[1]) for i in info["disco_info"]["identities"]}
    assert ("server", "im") in identities, info
    assert "http://jabber.org/protocol/disco#info" in \
        info["disco_info"]["features"], info
    res = await iq_result(ping_iq(a, b.boundjid.full))
    assert res["from"].full == b.boundjid.full, res


def _check_iq_error(err, to, condition):
    assert err["type"] == "error", err
    assert err["error"]["condition"] == condition, \
        "IQ to %s: wanted <%s/>, got %s" % (to, condition, err)
    # RFC 6120 8.3.1: the error comes from the addressed entity (or its
    # server) back to the sender.
    assert err["from"].full in (to, to.split("/")[0],
                                to.split("@")[-1].split("/")[0]), err


async def case_iq_errors(clients, x, y):
    """IQ errors across s2s (RFC 6121 8.5): an IQ for a JID without an
    account (bare: 8.5.1; full: 8.5.1) and for a resource that is not
    online (8.5.3.2.1) must come back as <service-unavailable/>.  (A
    ping to a bare JID is answered by the server for the account on
    both peers, so the bare case uses a namespace nobody serves.)"""
    ua, ub = await x.new_user("a"), await y.new_user("b")
    a = await clients.login(x, ua)
    await clients.login(y, ub)
    nobody = "nobody%s@%s" % (uuid.uuid4().hex[:8], y.domain)
    for to, make in ((nobody, unknown_iq),
                     (nobody + "/gone", ping_iq),
                     (ub.jid + "/gone", ping_iq)):
        err = await iq_error(make(a, to))
        _check_iq_error(err, to, "service-unavailable")


async def case_no_such_server(clients, x):
    """An IQ to a domain with no server (nosuch.test resolves, nothing
    listens): RFC 6120 8.3.3.16 <remote-server-not-found/> (or, 8.3.3.17,
    <remote-server-timeout/>), from that domain or x's."""
    ua = await x.new_user("a")
    a = await clients.login(x, ua)
    err = await iq_error(ping_iq(a, NO_SUCH_DOMAIN), timeout=30)
    assert err["error"]["condition"] in ("remote-server-not-found",
                                         "remote-server-timeout"), err


def s2s_streams(xmppd, remote):
    """An xmppd's authenticated s2s streams with remote (rows of the admin
    verb s2s_connections; dialback's verification streams never
    authenticate, so they are left out)."""
    return [r for r in xmppd.api("s2s_connections")
            if r["remote"] == remote and r["auth"] != "none"]


def check_s2s_auth(server, remote, mode, one_stream=False):
    """server's log shows its streams with remote (both ways) were
    authenticated the way the certificate mode requires, and only so.
    one_stream: a single XEP-0288 stream carries both directions, so it
    was authenticated once, in the direction it was opened."""
    want = "external" if mode == "external" else "dialback"
    need = 1 if one_stream else 2
    # A peer may write its log a moment after the stanzas went through
    # (ejabberd's logger is asynchronous): look again for a few seconds.
    deadline = time.monotonic() + 10.0
    seen = s2s_auth(server, remote)
    while (len({w for w, m in seen if m == want}) < need
           and time.monotonic() < deadline):
        time.sleep(0.2)
        seen = s2s_auth(server, remote)
    assert len({w for w, m in seen if m == want}) >= need, \
        "%s <-> %s in %s mode: authenticated %s; log tail:\n%s" % (
            server.domain, remote, mode, sorted(seen), server.log_tail())
    assert {m for _, m in seen} == {want}, seen


CASES = {
    "subscription": case_subscription,
    "presence": case_presence,
    "message": case_message,
    "iq": case_iq,
    "iq_errors": case_iq_errors,
}


async def exchange_both_ways(clients, x, y):
    """One message each way between fresh users of x and y: both s2s
    streams (x -> y and y -> x) are up afterwards."""
    await case_message(clients, x, y)
