"""vCard-temp (XEP-0054): a user's own vCard, another user's, the size
limit, and the operator's get_vcard."""

import uuid
import xml.etree.ElementTree as ET

from slixmpp.exceptions import IqError

from xmpp_util import TIMEOUT, connect_and_wait, send_iq_expect_error

NS = "vcard-temp"
MAX_SIZE = 65536            # mod_vcard max_size default


def q(name):
    return "{%s}%s" % (NS, name)


def make_vcard(fn, nick, family="", given="", email="", locality="",
               desc=None):
    v = ET.Element(q("vCard"))
    ET.SubElement(v, q("FN")).text = fn
    n = ET.SubElement(v, q("N"))
    ET.SubElement(n, q("FAMILY")).text = family
    ET.SubElement(n, q("GIVEN")).text = given
    ET.SubElement(v, q("NICKNAME")).text = nick
    if email:
        e = ET.SubElement(v, q("EMAIL"))
        ET.SubElement(e, q("INTERNET"))
        ET.SubElement(e, q("USERID")).text = email
    if locality:
        a = ET.SubElement(v, q("ADR"))
        ET.SubElement(a, q("HOME"))
        ET.SubElement(a, q("LOCALITY")).text = locality
    if desc is not None:
        ET.SubElement(v, q("DESC")).text = desc
    return v


async def login(clients, user, priority=None):
    c = clients.new(user)
    for p in ("xep_0054",):
        c.register_plugin(p)
    await connect_and_wait(c, clients.srv.host, clients.srv.c2s_port)
    if priority is not None:
        c.send_presence(ppriority=priority)
    return c


async def vcard_set(c, vcard, to=None):
    iq = c.Iq()
    iq["type"] = "set"
    if to:
        iq["to"] = to
    iq.append(vcard)
    return await iq.send(timeout=TIMEOUT)


def vcard_get_iq(c, to=None):
    iq = c.Iq()
    iq["type"] = "get"
    if to:
        iq["to"] = to
    iq.append(ET.Element(q("vCard")))
    return iq


async def vcard_get(c, to=None):
    """The <vCard/> element of the result."""
    res = await vcard_get_iq(c, to).send(timeout=TIMEOUT)
    v = res.xml.find(q("vCard"))
    assert v is not None, res
    return v


def text(v, path):
    e = v.find("/".join(q(p) for p in path.split("/")))
    return None if e is None else (e.text or "")


async def test_set_and_get_own_vcard(server, users, clients):
    u = users.new("vc")
    c = await login(clients, u)
    # No vCard yet: an empty element (XEP-0054 4.1 allows it).
    v = await vcard_get(c)
    assert len(list(v)) == 0
    await vcard_set(c, make_vcard("Ada Lovelace", "ada", family="Lovelace",
                                  given="Ada", email="ada@example.org",
                                  locality="London"))
    # The set was committed before its result: a get right after sees it.
    v = await vcard_get(c)
    assert text(v, "FN") == "Ada Lovelace"
    assert text(v, "NICKNAME") == "ada"
    assert text(v, "N/FAMILY") == "Lovelace"
    assert text(v, "EMAIL/USERID") == "ada@example.org"
    # Replacing it replaces every field.
    await vcard_set(c, make_vcard("Ada King", "countess"))
    v = await vcard_get(c, to=u.jid)        # to the own bare JID: the same
    assert text(v, "FN") == "Ada King"
    assert text(v, "NICKNAME") == "countess"
    assert text(v, "EMAIL/USERID") is None


async def test_get_other_users_vcard(server, users, clients):
    a_user, b_user, c_user = users.new("vca"), users.new("vcb"), \
        users.new("vcc")
    a = await login(clients, a_user)
    b = await login(clients, b_user, priority=0)
    await vcard_set(a, make_vcard("Alan Turing", "alan"))
    res = await vcard_get_iq(b, to=a_user.jid).send(timeout=TIMEOUT)
    # The server answers for the account, from its bare JID, and the
    # request never reaches a's client.
    assert res["from"].full == a_user.jid
    v = res.xml.find(q("vCard"))
    assert text(v, "FN") == "Alan Turing"
    # An account without a vCard: an empty one.
    v = await vcard_get(b, to=c_user.jid)
    assert len(list(v)) == 0
    # An account that does not exist: service-unavailable (XEP-0054 4.3).
    cond = await send_iq_expect_error(
        vcard_get_iq(b, to="nobody%s@%s" % (uuid.uuid4().hex[:8],
                                           server.domain)))
    assert cond == "service-unavailable"


async def test_set_for_another_user_is_forbidden(server, users, clients):
    a_user, b_user = users.new("vca"), users.new("vcb")
    a = await login(clients, a_user)
    b = await login(clients, b_user)
    await vcard_set(a, make_vcard("Original", "orig"))
    iq = b.Iq()
    iq["type"] = "set"
    iq["to"] = a_user.jid
    iq.append(make_vcard("Hijacked", "evil"))
    assert await send_iq_expect_error(iq) == "forbidden"
    v = await vcard_get(b, to=a_user.jid)
    assert text(v, "FN") == "Original"


async def test_oversized_vcard_refused_nothing_stored(server, users,
                                                      clients):
    u = users.new("vcbig")
    c = await login(clients, u)
    await vcard_set(c, make_vcard("Small", "small"))
    big = make_vcard("Big", "big", desc="x" * (MAX_SIZE + 100))
    iq = c.Iq()
    iq["type"] = "set"
    iq.append(big)
    try:
        await iq.send(timeout=TIMEOUT)
        raise AssertionError("an oversized vCard was accepted")
    except IqError as e:
        assert e.iq["error"]["condition"] == "not-acceptable"
        assert e.iq["error"]["type"] == "modify"
    v = await vcard_get(c)
    assert text(v, "FN") == "Small"
    assert text(v, "DESC") is None
    # The stream survives; a vCard just under the limit is fine.
    await vcard_set(c, make_vcard("Fits", "fits", desc="y" * (MAX_SIZE - 600)))
    assert text(await vcard_get(c), "FN") == "Fits"


async def test_vcard_feature_advertised(server, users, clients):
    c = await login(clients, users.new("vcd"))
    res = await c["xep_0030"].get_info(jid=server.domain, local=False,
                                       timeout=TIMEOUT)
    assert "vcard-temp" in res["disco_info"]["features"]


async def test_vcard_special_characters_round_trip(server, users, clients):
    u = users.new("vcx")
    c = await login(clients, u)
    fn = "Zoë <&> \"quotes\" 'apos' 🙂"
    await vcard_set(c, make_vcard(fn, "n%_\\"))
    v = await vcard_get(c)
    assert text(v, "FN") == fn
    assert text(v, "NICKNAME") == "n%_\\"


async def test_admin_get_vcard(server, users, clients):
    u = users.new("vcadm")
    c = await login(clients, u)
    await vcard_set(c, make_vcard("Grace Hopper", "amazing", family="Hopper",
                                  given="Grace", email="grace@example.org"))
    r = server.ctl("get_vcard", u.name, u.host, "FN")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Grace Hopper"
    for name, want in (("NICKNAME", "amazing"), ("N.FAMILY", "Hopper"),
                       ("n given", "Grace"),
                       ("EMAIL.USERID", "grace@example.org")):
        assert server.api("get_vcard", user=u.name, host=u.host,
                          name=name) == want, name
    r = server.ctl("get_vcard", u.name, u.host, "TITLE")
    assert r.returncode != 0
    r = server.ctl("get_vcard", u.name, u.host, "FN;DROP")
    assert r.returncode != 0
    r = server.ctl("get_vcard", "nobody" + uuid.uuid4().hex[:8], u.host, "FN")
    assert r.returncode != 0
