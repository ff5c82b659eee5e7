/* tests/unit/test_acl.c: ACL matching, access rules and shaper rules, as
 * loaded from the YAML an operator writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/acl.h"
#include "xmppd/core/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static struct xs_conf *
load(const char *yaml)
{
    struct xs_conf *c = NULL;
    char *err = NULL;

    if (xs_conf_load_string(yaml, "acl.yml", &c, &err) != XS_OK)
        fail_msg("unexpected error: %s", err);
    return c;
}

static struct xs_acl_subject
jid(const char *user, const char *server, const char *resource)
{
    return (struct xs_acl_subject){ .user = user, .server = server,
        .resource = resource, .ip = NULL };
}

static bool
match(const struct xs_conf *c, const char *acl, const char *user,
    const char *server, const char *resource)
{
    struct xs_acl_subject s = jid(user, server, resource);

    return xs_acl_match(&c->acl, acl, &s);
}

static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
    }
    return ss;
}

static bool
match_ip(const struct xs_conf *c, const char *acl, const char *ip)
{
    struct sockaddr_storage ss = addr(ip);
    struct xs_acl_subject s = { .ip = (const struct sockaddr *)&ss };

    return xs_acl_match(&c->acl, acl, &s);
}

static void
acl_user_forms(void **state)
{
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org, chat.example.org]\n"
        "acl:\n"
        "  admin:\n"
        "    user:\n"
        "      - Alice@Example.org\n"      /* case does not matter */
        "      - bob\n"                     /* bob on any local host */
        "      - {carol: other.net}\n");
    assert_true(match(c, "admin", "alice", "example.org", NULL));
    assert_true(match(c, "admin", "alice", "example.org", "phone"));
    assert_false(match(c, "admin", "alice", "chat.example.org", NULL));
    assert_true(match(c, "admin", "bob", "example.org", NULL));
    assert_true(match(c, "admin", "bob", "chat.example.org", NULL));
    assert_false(match(c, "admin", "bob", "evil.example", NULL));
    assert_true(match(c, "admin", "carol", "other.net", NULL));
    assert_false(match(c, "admin", "carol", "example.org", NULL));
    assert_false(match(c, "admin", "mallory", "example.org", NULL));
    /* A server (no user part) is never a user. */
    assert_false(match(c, "admin", NULL, "example.org", NULL));
    assert_false(match(c, "admin", "bob", NULL, NULL));
    xs_conf_free(c);
}

static void
acl_server_regexp_glob(void **state)
{
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n"
        "acl:\n"
        "  partners: {server: [partner.net, friend.org]}\n"
        "  spammy:\n"
        "    server_regexp: '\\.(xyz|top)$'\n"
        "    server_glob: '*.spam.example'\n"
        "  bots:\n"
        "    user_regexp: '^bot[0-9]+$'\n"
        "    user_glob: {'test-*': partner.net}\n"
        "  phones: {resource: Phone, resource_glob: 'conv-*'}\n"
        "  nodes: {node_glob: {'admin*': '*.example.org'}}\n");
    assert_true(match(c, "partners", "x", "partner.net", NULL));
    assert_true(match(c, "partners", NULL, "friend.org", NULL));
    assert_false(match(c, "partners", "x", "partner.net.evil", NULL));

    assert_true(match(c, "spammy", NULL, "cheap.xyz", NULL));
    assert_true(match(c, "spammy", "u", "a.b.top", NULL));
    assert_false(match(c, "spammy", "u", "xyz.org", NULL));
    assert_true(match(c, "spammy", NULL, "x.spam.example", NULL));
    assert_false(match(c, "spammy", NULL, "spam.example", NULL));

    assert_true(match(c, "bots", "bot42", "example.org", NULL));
    assert_false(match(c, "bots", "bot42", "partner.net", NULL));
    assert_false(match(c, "bots", "robot42", "example.org", NULL));
    assert_true(match(c, "bots", "test-1", "partner.net", NULL));
    assert_false(match(c, "bots", "test-1", "example.org", NULL));

    assert_true(match(c, "phones", "a", "b.org", "Phone"));
    assert_false(match(c, "phones", "a", "b.org", "phone"));   /* exact */
    assert_true(match(c, "phones", "a", "b.org", "conv-7"));
    assert_false(match(c, "phones", "a", "b.org", NULL));

    assert_true(match(c, "nodes", "admin2", "muc.example.org", NULL));
    assert_false(match(c, "nodes", "admin2", "example.org", NULL));
    assert_false(match(c, "nodes", "user", "muc.example.org", NULL));
    xs_conf_free(c);
}

static void
acl_ip_cidr(void **state)
{
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n"
        "acl:\n"
        "  lan: {ip: [10.0.0.0/8, '192.168.1.77/24', 'fd00::/8']}\n"
        "  loopback: {ip: [127.0.0.1, '::1/128']}\n"
        "  everything: {ip: [0.0.0.0/0]}\n");
    assert_true(match_ip(c, "lan", "10.200.3.4"));
    assert_false(match_ip(c, "lan", "11.0.0.1"));
    assert_true(match_ip(c, "lan", "192.168.1.5"));    /* host bits masked */
    assert_false(match_ip(c, "lan", "192.168.2.5"));
    assert_true(match_ip(c, "lan", "fd12:3456::1"));
    assert_false(match_ip(c, "lan", "fe80::1"));
    /* A v4 client on a dual-stack socket. */
    assert_true(match_ip(c, "lan", "::ffff:10.1.2.3"));
    assert_true(match_ip(c, "loopback", "127.0.0.1"));
    assert_false(match_ip(c, "loopback", "127.0.0.2"));
    assert_true(match_ip(c, "loopback", "::1"));
    assert_true(match_ip(c, "everything", "8.8.8.8"));
    assert_false(match_ip(c, "everything", "2001:db8::1"));
    /* No address known: an ip ACL matches nobody. */
    assert_false(match(c, "loopback", "a", "example.org", NULL));
    xs_conf_free(c);
}

static void
acl_builtins_and_unknown(void **state)
{
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n");
    assert_true(match(c, "all", NULL, NULL, NULL));
    assert_false(match(c, "none", "a", "example.org", NULL));
    assert_false(match(c, "nosuchacl", "a", "example.org", NULL));
    assert_false(match(c, NULL, "a", "example.org", NULL));
    assert_true(xs_acl_is_defined(&c->acl, "all"));
    assert_false(xs_acl_is_defined(&c->acl, "nosuchacl"));
    xs_conf_free(c);
}

static enum xs_access
eval(const struct xs_conf *c, const char *rule, const char *user,
    const char *server)
{
    struct xs_acl_subject s = jid(user, server, NULL);

    return xs_access_eval(&c->acl, rule, &s);
}

static void
access_first_match_wins_default_deny(void **state)
{
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n"
        "acl:\n"
        "  admin: {user: [root@example.org]}\n"
        "  blocked: {user: [root@example.org, eve@example.org]}\n"
        "  local: {server: example.org}\n"
        "access_rules:\n"
        "  c2s:\n"
        "    - allow: admin\n"      /* before the deny: root gets in */
        "    - deny: blocked\n"
        "    - allow: local\n"
        "  register:\n"
        "    - allow: local\n"     /* no catch-all: others are denied */
        "  map_form:\n"
        "    deny: blocked\n"
        "    allow: all\n"
        "  scalar_form: allow\n"
        "  both:\n"
        "    - allow: [local, {user_glob: 'r*'}]\n"     /* all must match */
        "    - deny\n"
        "  inline:\n"
        "    - allow: {server: partner.net}\n");
    assert_int_equal(eval(c, "c2s", "root", "example.org"), XS_ALLOW);
    assert_int_equal(eval(c, "c2s", "eve", "example.org"), XS_DENY);
    assert_int_equal(eval(c, "c2s", "bob", "example.org"), XS_ALLOW);
    assert_int_equal(eval(c, "c2s", "bob", "other.net"), XS_DENY);

    assert_int_equal(eval(c, "register", "bob", "example.org"), XS_ALLOW);
    assert_int_equal(eval(c, "register", "bob", "other.net"), XS_DENY);

    assert_int_equal(eval(c, "map_form", "eve", "example.org"), XS_DENY);
    assert_int_equal(eval(c, "map_form", "bob", "other.net"), XS_ALLOW);
    assert_int_equal(eval(c, "scalar_form", "x", "y.net"), XS_ALLOW);

    assert_int_equal(eval(c, "both", "root", "example.org"), XS_ALLOW);
    assert_int_equal(eval(c, "both", "bob", "example.org"), XS_DENY);
    assert_int_equal(eval(c, "both", "rita", "other.net"), XS_DENY);

    assert_int_equal(eval(c, "inline", "a", "partner.net"), XS_ALLOW);
    assert_int_equal(eval(c, "inline", "a", "example.org"), XS_DENY);

    /* Built-ins, the "no rule configured" NULL, and unknown names. */
    assert_int_equal(eval(c, "all", NULL, NULL), XS_ALLOW);
    assert_int_equal(eval(c, NULL, NULL, NULL), XS_ALLOW);
    assert_int_equal(eval(c, "none", "root", "example.org"), XS_DENY);
    assert_int_equal(eval(c, "nosuchrule", "root", "example.org"), XS_DENY);
    xs_conf_free(c);
}

static void
access_by_ip(void **state)
{
    struct sockaddr_storage lo = addr("127.0.0.1"), far = addr("203.0.113.9");
    struct xs_acl_subject s = { .server = "example.org" };
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n"
        "acl: {loopback: {ip: 127.0.0.0/8}}\n"
        "access_rules: {admin_api: [{allow: loopback}]}\n");
    s.ip = (const struct sockaddr *)&lo;
    assert_int_equal(xs_access_eval(&c->acl, "admin_api", &s), XS_ALLOW);
    s.ip = (const struct sockaddr *)&far;
    assert_int_equal(xs_access_eval(&c->acl, "admin_api", &s), XS_DENY);
    s.ip = NULL;
    assert_int_equal(xs_access_eval(&c->acl, "admin_api", &s), XS_DENY);
    xs_conf_free(c);
}

static void
shaper_rules_eval(void **state)
{
    struct xs_acl_subject s;
    const struct xs_shaper *sh;
    struct xs_conf *c;

    (void)state;
    c = load("hosts: [example.org]\n"
        "acl: {admin: {user: [root@example.org]}}\n"
        "shaper:\n"
        "  normal: 1000\n"
        "  fast: {rate: 50000, burst_size: 200000}\n"
        "shaper_rules:\n"
        "  c2s_shaper:\n"
        "    - none: admin\n"
        "    - normal: all\n"
        "  s2s_shaper: fast\n"
        "  map_shaper: {fast: admin}\n");
    s = jid("root", "example.org", NULL);
    assert_null(xs_shaper_for(&c->acl, "c2s_shaper", &s));   /* none */
    s = jid("bob", "example.org", NULL);
    sh = xs_shaper_for(&c->acl, "c2s_shaper", &s);
    assert_non_null(sh);
    assert_string_equal(sh->name, "normal");
    assert_int_equal(sh->rate, 1000);
    assert_int_equal(sh->burst_size, 1000);     /* one second of rate */

    sh = xs_shaper_for(&c->acl, "s2s_shaper", &s);
    assert_non_null(sh);
    assert_string_equal(sh->name, "fast");
    assert_int_equal(sh->rate, 50000);
    assert_int_equal(sh->burst_size, 200000);

    /* No entry matches: no shaping. */
    assert_null(xs_shaper_for(&c->acl, "map_shaper", &s));
    s = jid("root", "example.org", NULL);
    assert_string_equal(xs_shaper_for(&c->acl, "map_shaper", &s)->name,
        "fast");

    /* A shaper name applies to everyone; none/unknown/NULL: no shaping. */
    assert_string_equal(xs_shaper_for(&c->acl, "normal", &s)->name,
        "normal");
    assert_null(xs_shaper_for(&c->acl, "none", &s));
    assert_null(xs_shaper_for(&c->acl, "nosuch", &s));
    assert_null(xs_shaper_for(&c->acl, NULL, &s));
    xs_conf_free(c);
}

static void
acl_parse_direct(void **state)
{
    struct xs_acl_conf a;
    char *hosts[] = { "example.org" };
    char *err = NULL;
    struct xs_acl_subject s = jid("u", "example.org", NULL);

    (void)state;
    /* No sections at all: only the built-ins. */
    xs_acl_conf_init(&a);
    assert_int_equal(xs_acl_conf_parse(&a, "f.yml", hosts, 1, NULL, NULL,
        NULL, NULL, &err), XS_OK);
    assert_null(err);
    assert_int_equal(xs_access_eval(&a, "all", &s), XS_ALLOW);
    assert_int_equal(xs_access_eval(&a, "x", &s), XS_DENY);
    assert_null(xs_shaper_for(&a, "x", &s));
    xs_acl_conf_fini(&a);
    xs_acl_conf_fini(NULL);
}

static void
acl_errors(void **state)
{
    static const struct {
        const char *yaml;
        const char *want;
    } cases[] = {
        { "hosts: [a.org]\nshaper: {none: 5}\n",
          "acl.yml:2: shaper.none: 'none' is built in (no shaping)" },
        { "hosts: [a.org]\nshaper: {slow: 0}\n",
          "acl.yml:2: shaper.slow: must be a rate in bytes/second, "
          "1..1099511627776" },
        { "hosts: [a.org]\nshaper: {slow: {burst_size: 5}}\n",
          "acl.yml:2: shaper.slow: rate is required" },
        { "hosts: [a.org]\nshaper: {slow: 5}\nshaper_rules: {slow: slow}\n",
          "acl.yml:3: shaper_rules.slow: 'slow' is already a shaper name" },
        { "hosts: [a.org]\naccess_rules: {all: allow}\n",
          "acl.yml:2: access_rules.all: 'all' and 'none' are built in" },
        { "hosts: [a.org]\naccess_rules:\n  r:\n"
          "    - {allow: all, deny: all}\n",
          "acl.yml:4: access_rules.r[0]: each entry must be one pair like "
          "'allow: ACL'" },
        { "hosts: [a.org]\naccess_rules: {r: []}\n",
          "acl.yml:2: access_rules.r: must not be empty" },
        { "hosts: [a.org]\nacl: {a: {user: 'x@'}}\n",
          "acl.yml:2: acl.a.user: 'x@' is not user@host or user" },
        { "hosts: [a.org]\nacl: {a: [user, x]}\n",
          "acl.yml:2: acl.a: must be a map of acl types (user, server, ip, "
          "...)" },
        { "hosts: [a.org]\nacl: {a: {node_regexp: x}}\n",
          "acl.yml:2: acl.a.node_regexp: must be a map {user_pattern: "
          "server_pattern}" },
        { "hosts: [a.org]\nacl: {a: {server: ''}}\n",
          "acl.yml:2: acl.a.server: must not be empty" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xs_conf *c = NULL;
        char *err = NULL;

        assert_int_not_equal(xs_conf_load_string(cases[i].yaml, "acl.yml",
            &c, &err), XS_OK);
        assert_null(c);
        if (err == NULL || strcmp(err, cases[i].want) != 0)
            fail_msg("case %zu:\ngot  \"%s\"\nwant \"%s\"", i,
                err != NULL ? err : "(null)", cases[i].want);
        free(err);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acl_user_forms),
        cmocka_unit_test(acl_server_regexp_glob),
        cmocka_unit_test(acl_ip_cidr),
        cmocka_unit_test(acl_builtins_and_unknown),
        cmocka_unit_test(access_first_match_wins_default_deny),
        cmocka_unit_test(access_by_ip),
        cmocka_unit_test(shaper_rules_eval),
        cmocka_unit_test(acl_parse_direct),
        cmocka_unit_test(acl_errors),
    };

    return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
