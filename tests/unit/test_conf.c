/* tests/unit/test_conf.c: the YAML configuration: values, defaults, and one
 * clear line for every kind of mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct xs_conf *
conf_ok(const char *yaml)
{
    struct xs_conf *c = NULL;
    char *err = NULL;
    xs_rc rc = xs_conf_load_string(yaml, "/etc/xmppd/xmppd.yml", &c, &err);

    if (rc != XS_OK)
        fail_msg("unexpected error: %s", err);
    assert_null(err);
    assert_non_null(c);
    return c;
}

/* Loads yaml, expects failure, and returns the (one line) message. */
static char *
conf_bad(const char *yaml)
{
    struct xs_conf *c = NULL;
    char *err = NULL;
    xs_rc rc = xs_conf_load_string(yaml, "x.yml", &c, &err);

    assert_int_not_equal(rc, XS_OK);
    assert_null(c);
    assert_non_null(err);
    assert_null(strchr(err, '\n'));
    return err;
}

static void
expect_error(const char *yaml, const char *want)
{
    char *err = conf_bad(yaml);

    if (strcmp(err, want) != 0)
        fail_msg("got  \"%s\"\nwant \"%s\"", err, want);
    free(err);
}

static void
expect_error_prefix(const char *yaml, const char *want)
{
    char *err = conf_bad(yaml);

    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got  \"%s\"\nwant \"%s...\"", err, want);
    free(err);
}

static const char full_yaml[] =
    "# every key\n"
    "hosts:\n"
    "  - Example.ORG\n"
    "  - chat.example.net\n"
    "loglevel: debug\n"
    "certfiles:\n"
    "  - certs/example.pem\n"
    "  - /etc/ssl/other.pem\n"
    "state_dir: /var/lib/xmppd\n"
    "listen:\n"
    "  - port: 5222\n"
    "    ip: \"::\"\n"
    "    module: ejabberd_c2s\n"
    "    starttls: true\n"
    "    starttls_required: true\n"
    "    max_stanza_size: 65536\n"
    "    shaper: c2s_shaper\n"
    "    access: c2s\n"
    "  - port: 5223\n"
    "    ip: 0.0.0.0\n"
    "    module: c2s\n"
    "    tls: true\n"
    "  - port: 5269\n"
    "    module: ejabberd_s2s_in\n"
    "    shaper: fast\n"
    "  - port: 5280\n"
    "    ip: 127.0.0.1\n"
    "    module: admin_http\n"
    "    token: 0123456789abcdef-XYZ\n"
    "    access: none\n"
    "sql_type: pgsql\n"
    "sql_server: db.example.org\n"
    "sql_port: 5433\n"
    "sql_database: xmppd_prod\n"
    "sql_username: xmppd_user\n"
    "sql_password: \"s3cret'pw\"\n"
    "sql_pool_size: 8\n"
    "sql_queue_max: 5000\n"
    "max_stanza_size_preauth: 8192\n"
    "max_xml_depth: 16\n"
    "max_xml_attrs: 32\n"
    "c2s_handshake_timeout: 20\n"
    "c2s_idle_timeout: infinity\n"
    "c2s_max_connections: infinity\n"
    "c2s_out_soft_limit: 2097152\n"
    "c2s_out_hard_limit: 16777216\n"
    "c2s_out_soft_seconds: 10\n"
    "auth_failure_delay_ms: 500\n"
    "acl:\n"
    "  admin:\n"
    "    user:\n"
    "      - alice@example.org\n"
    "      - root\n"
    "  blocked:\n"
    "    server_glob: \"*.spam\"\n"
    "  loopback:\n"
    "    ip: [127.0.0.0/8, \"::1/128\"]\n"
    "access_rules:\n"
    "  c2s:\n"
    "    - deny: blocked\n"
    "    - allow: all\n"
    "  s2s:\n"
    "    allow: all\n"
    "shaper:\n"
    "  normal: 1000\n"
    "  fast: {rate: 50000, burst_size: 100000}\n"
    "shaper_rules:\n"
    "  c2s_shaper:\n"
    "    - none: admin\n"
    "    - normal: all\n"
    "s2s_access: s2s\n"
    "modules:\n"
    "  mod_ping: {}\n"
    "  mod_version:\n"
    "  mod_pres_counter:\n"
    "    count: 5\n"
    "    interval: 60\n"
    "  mod_vcard: {search: false}\n";

static void
conf_full_every_key(void **state)
{
    struct xs_conf *c;
    char *ci;

    (void)state;
    c = conf_ok(full_yaml);

    assert_int_equal(c->nhosts, 2);
    assert_string_equal(c->hosts[0], "example.org");    /* lowercased */
    assert_string_equal(c->hosts[1], "chat.example.net");
    assert_true(xs_conf_is_local_host(c, "EXAMPLE.org"));
    assert_false(xs_conf_is_local_host(c, "example.com"));
    assert_int_equal(c->loglevel, XS_LOG_DEBUG);
    assert_int_equal(c->ncertfiles, 2);
    assert_string_equal(c->certfiles[0], "/etc/xmppd/certs/example.pem");
    assert_string_equal(c->certfiles[1], "/etc/ssl/other.pem");
    assert_string_equal(c->state_dir, "/var/lib/xmppd");

    assert_int_equal(c->nlisten, 4);
    assert_int_equal(c->listen[0].module, XS_LISTEN_C2S);
    assert_string_equal(c->listen[0].ip, "::");
    assert_int_equal(c->listen[0].port, 5222);
    assert_true(c->listen[0].has_starttls);
    assert_true(c->listen[0].is_starttls_required);
    assert_false(c->listen[0].is_tls);
    assert_int_equal(c->listen[0].max_stanza_size, 65536);
    assert_string_equal(c->listen[0].shaper, "c2s_shaper");
    assert_string_equal(c->listen[0].access, "c2s");
    assert_null(c->listen[0].token);
    assert_true(c->listen[1].is_tls);
    assert_int_equal(c->listen[1].max_stanza_size, 262144);
    assert_null(c->listen[1].shaper);
    assert_null(c->listen[1].access);
    assert_int_equal(c->listen[2].module, XS_LISTEN_S2S);
    assert_string_equal(c->listen[2].ip, "127.0.0.1");
    assert_string_equal(c->listen[2].shaper, "fast");
    assert_int_equal(c->listen[3].module, XS_LISTEN_ADMIN_HTTP);
    assert_string_equal(c->listen[3].token, "0123456789abcdef-XYZ");
    assert_false(c->listen[3].has_starttls);
    assert_false(c->listen[3].is_starttls_required);
    assert_string_equal(c->listen[3].access, "none");

    assert_string_equal(c->sql_server, "db.example.org");
    assert_int_equal(c->sql_port, 5433);
    assert_string_equal(c->sql_database, "xmppd_prod");
    assert_string_equal(c->sql_username, "xmppd_user");
    assert_string_equal(c->sql_password, "s3cret'pw");
    assert_null(c->sql_dsn);
    assert_int_equal(c->sql_pool_size, 8);
    assert_int_equal(c->sql_queue_max, 5000);
    assert_int_equal(c->max_stanza_size_preauth, 8192);
    assert_int_equal(c->max_xml_depth, 16);
    assert_int_equal(c->max_xml_attrs, 32);
    assert_int_equal(c->c2s_handshake_timeout, 20);
    assert_int_equal(c->c2s_idle_timeout, 0);           /* infinity */
    assert_true(c->c2s_max_connections == SIZE_MAX);    /* infinity */
    assert_int_equal(c->c2s_out_soft_limit, 2097152);
    assert_int_equal(c->c2s_out_hard_limit, 16777216);
    assert_int_equal(c->c2s_out_soft_seconds, 10);
    assert_int_equal(c->auth_failure_delay_ms, 500);
    assert_string_equal(c->s2s_access, "s2s");

    assert_true(xs_acl_is_defined(&c->acl, "admin"));
    assert_true(xs_acl_is_defined(&c->acl, "loopback"));
    assert_true(xs_access_rule_is_defined(&c->acl, "c2s"));
    assert_non_null(xs_shaper_lookup(&c->acl, "fast"));
    assert_true(xs_shaper_rule_is_defined(&c->acl, "c2s_shaper"));

    ci = xs_conf_pg_conninfo(c);
    assert_string_equal(ci, "host='db.example.org' port='5433' "
        "dbname='xmppd_prod' user='xmppd_user' password='s3cret\\'pw'");
    xs_free(ci);

    {
        const struct xs_conf_node *pc, *n;
        long long v;
        bool b;

        assert_non_null(xs_conf_module_opts(c, "mod_ping"));
        assert_int_equal(xs_conf_module_opts(c, "mod_ping")->kind,
            XS_CONF_MAP);
        /* A module with an empty value is enabled with default options. */
        n = xs_conf_module_opts(c, "mod_version");
        assert_non_null(n);
        assert_int_equal(n->kind, XS_CONF_MAP);
        assert_int_equal(n->nitems, 0);
        assert_null(xs_conf_module_opts(c, "mod_muc"));
        pc = xs_conf_module_opts(c, "mod_pres_counter");
        assert_non_null(pc);
        assert_int_equal(xs_conf_node_int(xs_conf_node_get(pc, "count"), 1,
            100, &v), XS_OK);
        assert_int_equal(v, 5);
        assert_int_equal(xs_conf_node_get(pc, "interval")->line, 77);
        assert_int_equal(xs_conf_node_int(xs_conf_node_get(pc, "interval"),
            1, 10, &v), XS_ELIMIT);
        assert_int_equal(xs_conf_node_bool(xs_conf_node_get(
            xs_conf_module_opts(c, "mod_vcard"), "search"), &b), XS_OK);
        assert_false(b);
    }
    xs_conf_free(c);
}

static void
conf_defaults(void **state)
{
    struct xs_conf *c;
    char *ci;

    (void)state;
    c = conf_ok("hosts: [example.org]\n");
    assert_int_equal(c->nhosts, 1);
    assert_int_equal(c->loglevel, XS_LOG_INFO);
    assert_int_equal(c->ncertfiles, 0);
    assert_string_equal(c->state_dir, "/etc/xmppd");    /* file's folder */
    assert_int_equal(c->nlisten, 0);
    assert_null(c->sql_server);
    assert_int_equal(c->sql_port, 0);
    assert_int_equal(c->sql_pool_size, 4);
    assert_int_equal(c->sql_queue_max, 1024);
    assert_int_equal(c->max_stanza_size_preauth, 16384);
    assert_int_equal(c->max_xml_depth, 32);
    assert_int_equal(c->max_xml_attrs, 64);
    assert_int_equal(c->c2s_handshake_timeout, 30);
    assert_int_equal(c->c2s_idle_timeout, 600);
    assert_int_equal(c->c2s_max_connections, 10000);
    assert_int_equal(c->c2s_out_soft_limit, 1024 * 1024);
    assert_int_equal(c->c2s_out_hard_limit, 8 * 1024 * 1024);
    assert_int_equal(c->c2s_out_soft_seconds, 30);
    assert_int_equal(c->auth_failure_delay_ms, 1000);
    assert_null(c->s2s_access);
    assert_non_null(c->modules);
    assert_null(xs_conf_module_opts(c, "mod_ping"));
    ci = xs_conf_pg_conninfo(c);
    assert_string_equal(ci,
        "host='/etc/xmppd/pg' dbname='xmppd' user='xmppd'");
    xs_free(ci);
    xs_conf_free(c);

    /* A listener's own defaults. */
    c = conf_ok("hosts: [example.org]\ncertfiles: [a.pem]\n"
        "listen:\n  - {port: 5222, module: c2s}\n"
        "  - {port: 5269, module: s2s, starttls: false}\n");
    assert_string_equal(c->listen[0].ip, "127.0.0.1");
    assert_true(c->listen[0].has_starttls);
    assert_true(c->listen[0].is_starttls_required);
    assert_false(c->listen[0].is_tls);
    assert_int_equal(c->listen[0].max_stanza_size, 262144);
    /* starttls: false alone turns the requirement off too. */
    assert_false(c->listen[1].has_starttls);
    assert_false(c->listen[1].is_starttls_required);
    xs_conf_free(c);
}

static void
conf_conninfo_quoting(void **state)
{
    struct xs_conf *c;
    char *ci;

    (void)state;
    c = conf_ok("hosts: [example.org]\n"
        "sql_server: /run/pg sock\n"
        "sql_password: 'it''s a \\ test'\n");
    ci = xs_conf_pg_conninfo(c);
    assert_string_equal(ci, "host='/run/pg sock' dbname='xmppd' "
        "user='xmppd' password='it\\'s a \\\\ test'");
    xs_free(ci);
    xs_conf_free(c);

    c = conf_ok("hosts: [example.org]\n"
        "sql_dsn: \"postgresql://u@db/x?sslmode=require\"\n");
    ci = xs_conf_pg_conninfo(c);
    assert_string_equal(ci, "postgresql://u@db/x?sslmode=require");
    xs_free(ci);
    xs_conf_free(c);

    c = conf_ok("hosts: [example.org]\nstate_dir: \"var/it's\"\n");
    ci = xs_conf_pg_conninfo(c);
    assert_string_equal(ci, "host='/etc/xmppd/var/it\\'s/pg' "
        "dbname='xmppd' user='xmppd'");
    xs_free(ci);
    xs_conf_free(c);
}

static void
conf_error_unknown_key_line(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\n\nlogleve: info\n",
        "x.yml:3: logleve: unknown key");
    expect_error("hosts: [example.org]\ncertfiles: [a.pem]\nlisten:\n"
        "  - port: 5222\n    module: c2s\n    starttsl: true\n",
        "x.yml:6: listen[0].starttsl: unknown key");
    /* The key's line, even when its value starts on the next one. */
    expect_error("hosts: [example.org]\nsql_pool:\n  - 3\n",
        "x.yml:2: sql_pool: unknown key");
    expect_error("hosts: [example.org]\nshaper:\n  fast:\n    rate: 1\n"
        "    brust_size: 2\n",
        "x.yml:5: shaper.fast.brust_size: unknown key (known: rate, "
        "burst_size)");
}

static void
conf_error_bad_port(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\ncertfiles: [a.pem]\nlisten:\n"
        "  - {port: 5222, module: c2s}\n"
        "  - port: 70000\n    module: s2s\n",
        "x.yml:5: listen[1].port: must be 1..65535");
    expect_error("hosts: [example.org]\nlisten:\n  - port: '0x50'\n"
        "    module: c2s\n", "x.yml:3: listen[0].port: must be 1..65535");
    expect_error("hosts: [example.org]\nlisten:\n  - module: c2s\n",
        "x.yml:3: listen[0].port: missing");
    expect_error("hosts: [example.org]\nlisten:\n  - port: 1\n",
        "x.yml:3: listen[0].module: missing (c2s, s2s or admin_http)");
}

static void
conf_error_bad_type(void **state)
{
    (void)state;
    expect_error("hosts:\n  a: b\n", "x.yml:2: hosts: must be a list");
    expect_error("hosts: [example.org]\nlisten:\n  - [5222, c2s]\n",
        "x.yml:3: listen[0]: must be a map");
    expect_error("hosts: [example.org]\nlisten:\n  port: 5222\n",
        "x.yml:3: listen: must be a list");
    expect_error("hosts: [example.org]\nsql_server: [a, b]\n",
        "x.yml:2: sql_server: must be a string, not a list");
    expect_error("hosts: [example.org]\nmax_xml_depth: deep\n",
        "x.yml:2: max_xml_depth: must be an integer 4..1024");
    expect_error("hosts: [example.org]\nmax_xml_depth: infinity\n",
        "x.yml:2: max_xml_depth: must be an integer 4..1024");
    expect_error("hosts: [example.org]\nc2s_idle_timeout: forever\n",
        "x.yml:2: c2s_idle_timeout: must be an integer 1..604800 or "
        "infinity");
    expect_error("hosts: [example.org]\ncertfiles: [a.pem]\nlisten:\n"
        "  - {port: 1, module: c2s, tls: yes}\n",
        "x.yml:4: listen[0].tls: must be true or false");
    expect_error("hosts: [example.org]\nloglevel: verbose\n",
        "x.yml:2: loglevel: must be one of debug, info, notice, warning, "
        "error");
    expect_error("hosts: [example.org]\nsql_type: mysql\n",
        "x.yml:2: sql_type: only pgsql is supported");
    expect_error("- hosts\n", "x.yml:1: (top): must be a map of options");
    expect_error("hosts: [example.org]\nmodules:\n  mod_ping: [a]\n",
        "x.yml:3: modules.mod_ping: must be a map of options ({} for the "
        "defaults)");
    expect_error("hosts: [example.org]\nlisten:\n  - {port: 1, module: xmpp}\n",
        "x.yml:3: listen[0].module: must be c2s, s2s or admin_http "
        "(ejabberd_c2s and ejabberd_s2s_in are accepted too)");
}

static void
conf_error_unknown_acl_in_rule(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\nacl:\n  admin:\n    user: alice\n"
        "access_rules:\n  c2s:\n    - allow: admins\n    - deny: all\n",
        "x.yml:7: access_rules.c2s[0].allow: unknown acl 'admins'");
    expect_error("hosts: [example.org]\naccess_rules:\n  c2s:\n"
        "    - permit: all\n",
        "x.yml:4: access_rules.c2s[0].permit: 'permit' is not allow or "
        "deny");
    expect_error("hosts: [example.org]\nshaper_rules:\n  s: [{slow: all}]\n",
        "x.yml:3: shaper_rules.s[0].slow: unknown shaper 'slow'");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 1, module: c2s, starttls: false, access: c2s}\n",
        "x.yml:3: listen[0].access: unknown access rule 'c2s' (define it "
        "under access_rules:, or use all or none)");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 1, module: c2s, starttls: false, shaper: fast}\n",
        "x.yml:3: listen[0].shaper: unknown shaper 'fast' (define it under "
        "shaper: or shaper_rules:)");
    expect_error("hosts: [example.org]\ns2s_access: s2s\n",
        "x.yml:2: s2s_access: unknown access rule 's2s'");
    expect_error("hosts: [example.org]\nacl:\n  all: {user: a}\n",
        "x.yml:3: acl.all: 'all' and 'none' are built in");
    expect_error("hosts: [example.org]\nacl:\n  a: {group: x}\n",
        "x.yml:3: acl.a.group: unknown acl type (known: user, server, "
        "resource, user_regexp, server_regexp, resource_regexp, "
        "node_regexp, user_glob, server_glob, resource_glob, node_glob, "
        "ip)");
    expect_error("hosts: [example.org]\nacl:\n  a:\n    ip:\n"
        "      - 10.0.0.0/8\n      - 10.0.0.0/33\n",
        "x.yml:6: acl.a.ip[1]: '10.0.0.0/33' is not an IPv4/IPv6 address "
        "or CIDR network");
}

static void
conf_error_invalid_regexp(void **state)
{
    (void)state;
    expect_error_prefix("hosts: [example.org]\nacl:\n  bots:\n"
        "    server_regexp:\n      - '^ok$'\n      - '(unclosed'\n",
        "x.yml:6: acl.bots.server_regexp[1]: invalid regexp: ");
    expect_error_prefix("hosts: [example.org]\naccess_rules:\n  r:\n"
        "    - allow: [{user_regexp: '[a-'}]\n",
        "x.yml:4: access_rules.r[0].allow[0].user_regexp: invalid regexp: ");
}

static void
conf_error_duplicate_listener(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5222, module: c2s, starttls: false}\n"
        "  - {port: 5222, module: s2s, ip: 127.0.0.1, starttls: false}\n",
        "x.yml:4: listen[1]: 127.0.0.1 port 5222 is already used by "
        "listen[0] (127.0.0.1)");
    /* Same address written differently, and the wildcard. */
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5222, module: c2s, ip: '::1', starttls: false}\n"
        "  - {port: 5222, module: c2s, ip: '0:0::1', starttls: false}\n",
        "x.yml:4: listen[1]: 0:0::1 port 5222 is already used by "
        "listen[0] (::1)");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5222, module: c2s, ip: 0.0.0.0, starttls: false}\n"
        "  - {port: 5222, module: c2s, ip: 10.1.1.1, starttls: false}\n",
        "x.yml:4: listen[1]: 10.1.1.1 port 5222 is already used by "
        "listen[0] (0.0.0.0)");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5222, module: c2s, ip: 'localhost'}\n",
        "x.yml:3: listen[0].ip: 'localhost' is not an IPv4 or IPv6 address");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5222, module: c2s}\n",
        "x.yml:3: listen[0]: starttls_required: true needs certfiles");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 5223, module: c2s, tls: true}\n",
        "x.yml:3: listen[0]: tls: true needs certfiles");
}

static void
conf_error_alias_refused(void **state)
{
    (void)state;
    expect_error("hosts: &h [example.org]\nlisten: *h\n",
        "x.yml:2: listen: YAML aliases (*name) are not allowed");
    expect_error("a: &a [x, x, x]\nb: &b [*a, *a, *a]\nhosts: [example.org]\n",
        "x.yml:2: b[0]: YAML aliases (*name) are not allowed");
    expect_error("hosts: [example.org]\nacl:\n  base: &b {user: a}\n"
        "  <<: *b\n", "x.yml:4: acl.<<: YAML aliases (*name) are not "
        "allowed");
}

static void
conf_error_missing_hosts(void **state)
{
    (void)state;
    expect_error("loglevel: info\n",
        "x.yml:1: hosts: missing (at least one host is required)");
    expect_error("", "x.yml:1: hosts: missing (the file is empty)");
    expect_error("hosts: []\n",
        "x.yml:1: hosts: at least one host is required");
    expect_error("hosts: ['exa mple.org']\n", "x.yml:1: hosts[0]: "
        "'exa mple.org' is not a valid domain name (letters, digits, '-', "
        "'.'; IDNs as xn--)");
    expect_error("hosts: [a.org, -b.org]\n", "x.yml:1: hosts[1]: '-b.org' "
        "is not a valid domain name (letters, digits, '-', '.'; IDNs as "
        "xn--)");
    expect_error("hosts:\n  - a.org\n  - A.org\n",
        "x.yml:3: hosts[1]: 'a.org' is listed twice");
}

static void
conf_error_yaml_level(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\nloglevel: info\nloglevel: debug\n",
        "x.yml:3: loglevel: duplicate key");
    expect_error("hosts: [example.org]\nmodules:\n  mod_ping: {}\n"
        "  mod_pong: {}\n", "x.yml:4: modules.mod_pong: unknown module");
    expect_error_prefix("hosts: [example.org\nloglevel: info\n",
        "x.yml:");
    expect_error("hosts: [example.org]\n---\nhosts: [b.org]\n",
        "x.yml:2: yaml: only one YAML document is allowed (remove the "
        "second '---')");
    expect_error("hosts: [example.org]\n? [a, b]\n: c\n",
        "x.yml:2: (top): keys must be plain strings, not lists or maps");
    expect_error("hosts: [example.org]\nsql_server: \"a\\0b\"\n",
        "x.yml:2: sql_server: contains a NUL character");
    {
        /* 100 nested lists. */
        char yaml[512];
        size_t n = 0;

        n += (size_t)snprintf(yaml, sizeof(yaml), "hosts: ");
        for (int i = 0; i < 100; i++)
            yaml[n++] = '[';
        for (int i = 0; i < 100; i++)
            yaml[n++] = ']';
        yaml[n++] = '\n';
        yaml[n] = '\0';
        expect_error_prefix(yaml, "x.yml:1: hosts");
    }
}

static void
conf_error_secrets_never_printed(void **state)
{
    char *err;

    (void)state;
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 8080, module: admin_http, token: hunter2}\n",
        "x.yml:3: listen[0].token: must be 16..512 characters of A-Z a-z "
        "0-9 - . _ ~ + / =");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 8080, module: admin_http}\n",
        "x.yml:3: listen[0].token: missing (admin_http needs a bearer "
        "token)");
    expect_error("hosts: [example.org]\ncertfiles: [a.pem]\nlisten:\n"
        "  - {port: 5222, module: c2s, token: 0123456789abcdefgh}\n",
        "x.yml:4: listen[0].token: only valid for module admin_http");
    expect_error("hosts: [example.org]\nlisten:\n"
        "  - {port: 8080, module: admin_http, token: CHANGE-ME-0123456789}\n",
        "x.yml:3: listen[0].token: still the example placeholder: generate "
        "one (openssl rand -hex 32)");
    err = conf_bad("hosts: [example.org]\nsql_password: {topsecret: 1}\n");
    assert_null(strstr(err, "topsecret"));
    free(err);
    err = conf_bad("hosts: [example.org]\nlisten:\n"
        "  - {port: 8080, module: admin_http, token: 'sw0rdfish sw0rdfish'}\n");
    assert_null(strstr(err, "sw0rdfish"));
    free(err);
    expect_error("hosts: [example.org]\nsql_dsn: host=db\nsql_server: db\n",
        "x.yml:2: sql_dsn: cannot be combined with sql_server (put "
        "everything in the DSN)");
}

static void
conf_error_limits(void **state)
{
    (void)state;
    expect_error("hosts: [example.org]\nc2s_out_soft_limit: 9000000\n",
        "x.yml:2: c2s_out_soft_limit: must not exceed c2s_out_hard_limit "
        "(8388608)");
    expect_error("hosts: [example.org]\nsql_pool_size: 65\n",
        "x.yml:2: sql_pool_size: must be an integer 1..64");
    expect_error("hosts: [example.org]\ncertfiles: [a.pem]\nlisten:\n"
        "  - {port: 5222, module: c2s, max_stanza_size: 1000}\n",
        "x.yml:4: listen[0].max_stanza_size: must be an integer "
        "1024..67108864");
    expect_error("hosts: [example.org]\nlisten:\n  - port: 5222\n"
        "    module: c2s\n    starttls: false\n    starttls_required: true\n",
        "x.yml:6: listen[0].starttls_required: needs starttls: true");
    expect_error("hosts: [example.org]\nlisten:\n  - port: 5280\n"
        "    module: admin_http\n    starttls: true\n",
        "x.yml:5: listen[0].starttls: not valid for admin_http (use tls: "
        "true)");
}

/* xs_conf_load from a real file: relative paths follow the file. */
static void
conf_load_file(void **state)
{
    char dir[] = "/tmp/xs_conf_test_XXXXXX";
    char path[128], *err = NULL;
    struct xs_conf *c = NULL;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_true(snprintf(path, sizeof(path), "%s/xmppd.yml", dir)
        < (int)sizeof(path));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("hosts: [example.org]\ncertfiles: [tls/server.pem]\n", f);
    fclose(f);
    assert_int_equal(xs_conf_load(path, &c, &err), XS_OK);
    assert_null(err);
    assert_string_equal(c->state_dir, dir);
    assert_string_equal(c->path, path);
    {
        char *want = xs_asprintf("%s/tls/server.pem", dir);

        assert_string_equal(c->certfiles[0], want);
        xs_free(want);
    }
    xs_conf_free(c);
    unlink(path);
    rmdir(dir);

    assert_int_equal(xs_conf_load(path, &c, &err), XS_EIO);
    assert_null(c);
    assert_non_null(strstr(err, "cannot open"));
    free(err);
}

static void
conf_module_option_helpers(void **state)
{
    static const char *const known[] = { "count", "interval", NULL };
    struct xs_conf *c;
    char *err = NULL;

    (void)state;
    c = conf_ok("hosts: [example.org]\nmodules:\n  mod_pres_counter:\n"
        "    count: 5\n    intreval: 60\n");
    assert_int_equal(xs_conf_node_check_keys(c,
        xs_conf_module_opts(c, "mod_pres_counter"),
        "modules.mod_pres_counter", known, &err), XS_EINVAL);
    assert_string_equal(err, "/etc/xmppd/xmppd.yml:5: "
        "modules.mod_pres_counter.intreval: unknown key");
    xs_free(err);
    err = xs_conf_errmsg(c, xs_conf_node_get(xs_conf_module_opts(c,
        "mod_pres_counter"), "count"), "modules.mod_pres_counter.count",
        "must be at least %d", 10);
    assert_string_equal(err, "/etc/xmppd/xmppd.yml:4: "
        "modules.mod_pres_counter.count: must be at least 10");
    xs_free(err);
    xs_conf_free(c);
    xs_conf_free(NULL);
}

/* The shipped example must stay loadable (once its token is changed). */
static void
conf_example_file_loads(void **state)
{
    struct xs_conf *c = NULL;
    char *text, *p, *err = NULL;
    FILE *f;
    long len;

    (void)state;
    f = fopen("deploy/xmppd.example.yml", "rb");
    if (f == NULL)
        fail_msg("run from the repository root: deploy/xmppd.example.yml");
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    text = xs_calloc(1, (size_t)len + 1);
    assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
    fclose(f);

    assert_int_equal(xs_conf_load_string(text, "deploy/xmppd.example.yml",
        &c, &err), XS_EINVAL);
    assert_non_null(strstr(err, "token: still the example placeholder"));
    free(err);
    err = NULL;
    p = strstr(text, "CHANGE-ME");
    assert_non_null(p);
    memcpy(p, "changed--", 9);
    if (xs_conf_load_string(text, "deploy/xmppd.example.yml", &c, &err)
        != XS_OK)
        fail_msg("example: %s", err);
    assert_int_equal(c->nlisten, 4);
    assert_non_null(xs_conf_module_opts(c, "mod_reputation"));
    xs_conf_free(c);
    xs_free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conf_full_every_key),
        cmocka_unit_test(conf_defaults),
        cmocka_unit_test(conf_conninfo_quoting),
        cmocka_unit_test(conf_error_unknown_key_line),
        cmocka_unit_test(conf_error_bad_port),
        cmocka_unit_test(conf_error_bad_type),
        cmocka_unit_test(conf_error_unknown_acl_in_rule),
        cmocka_unit_test(conf_error_invalid_regexp),
        cmocka_unit_test(conf_error_duplicate_listener),
        cmocka_unit_test(conf_error_alias_refused),
        cmocka_unit_test(conf_error_missing_hosts),
        cmocka_unit_test(conf_error_yaml_level),
        cmocka_unit_test(conf_error_secrets_never_printed),
        cmocka_unit_test(conf_error_limits),
        cmocka_unit_test(conf_load_file),
        cmocka_unit_test(conf_module_option_helpers),
        cmocka_unit_test(conf_example_file_loads),
    };

    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
