"""Jabber Search (XEP-0055) over vCards: off by default (as ejabberd's
mod_vcard {search: false}), and what it finds when an operator turns it
on."""

import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import Clients, Users
from test_vcard import make_vcard, vcard_set
from xmpp_util import TIMEOUT, connect_and_wait, send_iq_expect_error

NS = "jabber:iq:search"
XDATA = "jabber:x:data"
MATCHES = 2


def s(name):
    return "{%s}%s" % (NS, name)


def x(name):
    return "{%s}%s" % (XDATA, name)


async def login(clients, user):
    c = clients.new(user)
    for p in ("xep_0004", "xep_0054", "xep_0055"):
        c.register_plugin(p)
    await connect_and_wait(c, clients.srv.host, clients.srv.c2s_port)
    return c


def legacy_iq(c, domain, **fields):
    iq = c.Iq()
    iq["type"] = "set"
    iq["to"] = domain
    query = ET.Element(s("query"))
    for k, v in fields.items():
        ET.SubElement(query, s(k)).text = v
    iq.append(query)
    return iq


def form_iq(c, domain, **fields):
    iq = c["xep_0055"].make_search_iq(ito=domain)
    form = iq["search"]["form"]
    for k, v in fields.items():
        form.add_field(var=k, value=v)
    return iq


async def legacy_search(c, domain, **fields):
    res = await legacy_iq(c, domain, **fields).send(timeout=TIMEOUT)
    items = res.xml.find(s("query")).findall(s("item"))
    return {i.get("jid"): {ch.tag.split("}")[1]: ch.text or ""
                           for ch in i} for i in items}


async def form_search(c, domain, **fields):
    res = await form_iq(c, domain, **fields).send(timeout=TIMEOUT)
    xf = res.xml.find(s("query")).find(x("x"))
    assert xf is not None and xf.get("type") == "result", res
    reported = [f.get("var") for f in xf.find(x("reported")).findall(
        x("field"))]
    assert "jid" in reported
    out = {}
    for item in xf.findall(x("item")):
        row = {f.get("var"): (f.findtext(x("value")) or "")
               for f in item.findall(x("field"))}
        out[row["jid"]] = row
    return out


# -- off by default ---------------------------------------------------------


async def test_search_off_by_default(server, users, clients):
    c = await login(clients, users.new("so"))
    info = await c["xep_0030"].get_info(jid=server.domain, local=False,
                                        timeout=TIMEOUT)
    assert NS not in info["disco_info"]["features"]
    identities = {(cat, typ) for cat, typ, _l, _n in
                  info["disco_info"]["identities"]}
    assert ("directory", "user") not in identities
    get = c.Iq()
    get["type"] = "get"
    get["to"] = server.domain
    get.append(ET.Element(s("query")))
    assert await send_iq_expect_error(get) == "service-unavailable"
    assert await send_iq_expect_error(
        legacy_iq(c, server.domain, nick="x")) == "service-unavailable"


# -- on, on a private server ------------------------------------------------


@pytest.fixture
def search_server(start_xmppd):
    return start_xmppd("modules:\n  mod_vcard: {search: true, matches: %d}\n"
                       % MATCHES)


async def test_search_when_enabled(search_server, event_loop):
    srv = search_server
    users, clients = Users(srv), Clients(srv, event_loop)
    try:
        await search_checks(srv, users, clients)
    finally:
        await clients.close_all()
        users.cleanup()


async def test_search_identity(search_server, event_loop):
    srv = search_server
    users, clients = Users(srv), Clients(srv, event_loop)
    try:
        me = await login(clients, users.new("searcher"))
        info = await me["xep_0030"].get_info(jid=srv.domain, local=False,
                                             timeout=TIMEOUT)
        identities = {(cat, typ) for cat, typ, _l, _n in
                      info["disco_info"]["identities"]}
        assert ("server", "im") in identities
        assert ("directory", "user") in identities
    finally:
        await clients.close_all()
        users.cleanup()


async def search_checks(srv, users, clients):
    domain = srv.domain
    tag = uuid.uuid4().hex[:8]
    people = [
        ("Marie Curie", "mcurie" + tag, "Curie", "Marie",
         "marie%s@radium.example" % tag, "Paris"),
        ("Pierre Curie", "pcurie" + tag, "Curie", "Pierre",
         "pierre%s@radium.example" % tag, "Paris"),
        ("Irène Joliot-Curie", "ijc" + tag, "Joliot-Curie", "Irène",
         "irene%s@example.org" % tag, "Paris"),
        ("Percent Person", "100%off" + tag, "Per%cent", "P",
         "pp%s@example.org" % tag, "Lyon"),
    ]
    accounts = {}
    for fn, nick, family, given, email, loc in people:
        u = users.new("sr")
        c = await login(clients, u)
        await vcard_set(c, make_vcard(fn, nick, family=family, given=given,
                                      email=email, locality=loc))
        accounts[nick] = u
    me = await login(clients, users.new("searcher"))

    # Advertised (the directory identity: see test_search_identity).
    info = await me["xep_0030"].get_info(jid=domain, local=False,
                                         timeout=TIMEOUT)
    assert NS in info["disco_info"]["features"]

    # The form: legacy fields and a data form with FORM_TYPE.
    get = me.Iq()
    get["type"] = "get"
    get["to"] = domain
    get.append(ET.Element(s("query")))
    res = await get.send(timeout=TIMEOUT)
    qe = res.xml.find(s("query"))
    for f in ("first", "last", "nick", "email"):
        assert qe.find(s(f)) is not None, f
    vars_ = {f.get("var") for f in qe.find(x("x")).findall(x("field"))}
    assert {"FORM_TYPE", "user", "fn", "first", "last", "nick", "email",
            "locality"} <= vars_

    # By nick (legacy), ignoring case, substring.
    hits = await legacy_search(me, domain, nick="MCURIE" + tag.upper())
    assert set(hits) == {accounts["mcurie" + tag].jid}
    row = hits[accounts["mcurie" + tag].jid]
    assert row["first"] == "Marie" and row["last"] == "Curie"
    assert row["email"] == "marie%s@radium.example" % tag

    # By email (form), substring.
    hits = await form_search(me, domain, email="%s@radium" % tag)
    assert set(hits) == {accounts["mcurie" + tag].jid,
                         accounts["pcurie" + tag].jid}
    assert hits[accounts["pcurie" + tag].jid]["fn"] == "Pierre Curie"

    # By fn (form), case-insensitive, non-ASCII, several fields ANDed.
    hits = await form_search(me, domain, fn="irène joliot",
                             locality="PARIS")
    assert set(hits) == {accounts["ijc" + tag].jid}
    hits = await form_search(me, domain, fn="irène", locality="lyon")
    assert hits == {}

    # '%' and '_' are literal, not wildcards.
    hits = await legacy_search(me, domain, nick="100%off" + tag)
    assert set(hits) == {accounts["100%off" + tag].jid}
    assert await legacy_search(me, domain, nick="%" + tag) == {}
    assert await legacy_search(me, domain, nick="_curie" + tag) == {}
    hits = await form_search(me, domain, last="per%c")
    assert accounts["100%off" + tag].jid in hits
    assert all(r["last"].lower().startswith("per%c")
               for r in hits.values())

    # At most `matches` hits.
    hits = await form_search(me, domain, locality="paris")
    assert len(hits) == MATCHES

    # A trailing '*' (ejabberd's wildcard) is accepted.
    hits = await legacy_search(me, domain, last="joliot*")
    assert accounts["ijc" + tag].jid in hits

    # Empty queries are refused: they would list everyone.
    assert await send_iq_expect_error(
        legacy_iq(me, domain)) == "not-acceptable"
    assert await send_iq_expect_error(
        legacy_iq(me, domain, nick="  ")) == "not-acceptable"
    assert await send_iq_expect_error(
        form_iq(me, domain, fn="")) == "not-acceptable"
    # A form of another type is a bad request.
    bad = me.Iq()
    bad["type"] = "set"
    bad["to"] = domain
    query = ET.SubElement(ET.Element("dummy"), s("query"))
    xf = ET.SubElement(query, x("x"), type="submit")
    ft = ET.SubElement(xf, x("field"), var="FORM_TYPE")
    ET.SubElement(ft, x("value")).text = "urn:example:other"
    bad.append(query)
    assert await send_iq_expect_error(bad) == "bad-request"
