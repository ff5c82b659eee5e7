/*
 * test_xmppctl_args.c: the operator command table (xmppd/admin/commands.c)
 * as xmppctl and the admin API use it: lookup, positional arguments and
 * --options to a JSON body (passwords from stdin), body checks, result
 * printing (tables of rows, explanations).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/admin/commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
cmd_lookup_finds_every_verb(void **state)
{
    (void)state;
    for (size_t i = 0; i < XS_CMD__COUNT; i++) {
        const struct xs_cmd_spec *s = &xs_cmd_specs[i];

        assert_non_null(s->name);
        assert_non_null(s->help);
        assert_true(s->nargs <= XS_CMD_MAX_ARGS);
        assert_ptr_equal(xs_cmd_lookup(s->name), s);
        assert_int_equal(xs_cmd_id_of(s), i);
        /* Required arguments first, then the optional ones. */
        for (size_t a = xs_cmd_nrequired(s); a < s->nargs; a++)
            assert_true(s->args[a].is_optional);
        /* A table needs columns; rows only explain an object. */
        if (s->result == XS_CMD_RES_ROWS || s->result == XS_CMD_RES_OBJECT)
            assert_non_null(s->columns[0]);
        if (s->rows_member != NULL) {
            assert_int_equal(s->result, XS_CMD_RES_OBJECT);
            assert_non_null(s->row_columns[0]);
        }
    }
    assert_null(xs_cmd_lookup("nope"));
    assert_null(xs_cmd_lookup(""));
    assert_null(xs_cmd_lookup("Register"));     /* names are exact */
    assert_null(xs_cmd_lookup(NULL));
    assert_int_equal(xs_cmd_lookup("register")->nargs, 3);
    assert_true(xs_cmd_lookup("register")->args[2].is_secret);
    assert_true(xs_cmd_lookup("change_password")->args[2].is_secret);
    assert_string_equal(xs_cmd_lookup("change_password")->args[2].name,
        "newpass");
}

static void
cmd_synopsis_upper_cases_args(void **state)
{
    char *s;

    (void)state;
    s = xs_cmd_synopsis(xs_cmd_lookup("register"));
    assert_string_equal(s, "register USER HOST PASSWORD");
    xs_free(s);
    s = xs_cmd_synopsis(xs_cmd_lookup("status"));
    assert_string_equal(s, "status");
    xs_free(s);
    s = xs_cmd_synopsis(xs_cmd_lookup("reputation_set"));
    assert_string_equal(s, "reputation_set JID SCORE [--reason REASON] "
        "[--expires WHEN]");
    xs_free(s);
    s = xs_cmd_synopsis(xs_cmd_lookup("reputation_list"));
    assert_string_equal(s, "reputation_list [--below SCORE] [--max COUNT]");
    xs_free(s);
}

static void
cmd_reputation_verbs_have_their_shapes(void **state)
{
    const struct xs_cmd_spec *s;

    (void)state;
    s = xs_cmd_lookup("reputation");
    assert_int_equal(s->result, XS_CMD_RES_OBJECT);
    assert_int_equal(xs_cmd_nrequired(s), 1);
    s = xs_cmd_lookup("reputation_explain");
    assert_int_equal(s->result, XS_CMD_RES_OBJECT);
    assert_string_equal(s->rows_member, "items");
    s = xs_cmd_lookup("reputation_set");
    assert_int_equal(s->result, XS_CMD_RES_RESCODE);
    assert_int_equal(s->nargs, 4);
    assert_int_equal(xs_cmd_nrequired(s), 2);
    s = xs_cmd_lookup("reputation_clear");
    assert_int_equal(s->result, XS_CMD_RES_RESCODE);
    s = xs_cmd_lookup("reputation_list");
    assert_int_equal(s->result, XS_CMD_RES_ROWS);
    assert_int_equal(xs_cmd_nrequired(s), 0);
    s = xs_cmd_lookup("debug_clock_advance");
    assert_int_equal(s->result, XS_CMD_RES_INTEGER);
    assert_int_equal(xs_cmd_nrequired(s), 1);
}

/* xs_cmd_argv_split of verb over the NULL-ended words; vals gets the
 * result, err the message. */
static xs_rc
split(const char *verb, char **words, const char **vals, char *err,
    size_t errlen)
{
    int n = 0;

    while (words[n] != NULL)
        n++;
    err[0] = '\0';
    return xs_cmd_argv_split(xs_cmd_lookup(verb), n, words, vals, err,
        errlen);
}

static void
cmd_argv_split_options_anywhere(void **state)
{
    char *w1[] = { "--reason", "spam wave", "bob@example.org", "-50",
                   "--expires=30d", NULL };
    char *w2[] = { "bob@example.org", "7", NULL };
    char *w3[] = { "--max", "5", NULL };
    char *w4[] = { NULL };
    const char *vals[XS_CMD_MAX_ARGS];
    char err[160];

    (void)state;
    assert_int_equal(split("reputation_set", w1, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[0], "bob@example.org");
    assert_string_equal(vals[1], "-50");        /* a value, not an option */
    assert_string_equal(vals[2], "spam wave");
    assert_string_equal(vals[3], "30d");

    assert_int_equal(split("reputation_set", w2, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[1], "7");
    assert_null(vals[2]);                       /* options not given */
    assert_null(vals[3]);

    assert_int_equal(split("reputation_list", w3, vals, err, sizeof(err)),
        XS_OK);
    assert_null(vals[0]);
    assert_string_equal(vals[1], "5");
    assert_int_equal(split("reputation_list", w4, vals, err, sizeof(err)),
        XS_OK);
    assert_null(vals[0]);
    assert_null(vals[1]);
}

static void
cmd_argv_split_values_that_look_like_options(void **state)
{
    /* An option's value is taken as it is; after "--" every word is
     * positional. */
    char *w1[] = { "j@x", "1", "--reason", "--expires", NULL };
    char *w2[] = { "--", "--odd", "1", NULL };
    char *w3[] = { "j@x", "1", "--reason=", NULL };
    const char *vals[XS_CMD_MAX_ARGS];
    char err[160];

    (void)state;
    assert_int_equal(split("reputation_set", w1, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[2], "--expires");
    assert_null(vals[3]);
    assert_int_equal(split("reputation_set", w2, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[0], "--odd");
    assert_string_equal(vals[1], "1");
    assert_int_equal(split("reputation_set", w3, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[2], "");           /* given, and empty */
}

static void
cmd_argv_split_says_what_is_wrong(void **state)
{
    char *unknown[] = { "j@x", "1", "--reasn", "r", NULL };
    char *unknown_eq[] = { "--below=3", "--colour=red", NULL };
    char *required_as_opt[] = { "--jid", "j@x", "1", NULL };
    char *no_value[] = { "j@x", "1", "--reason", NULL };
    char *twice[] = { "--max", "1", "--max=2", NULL };
    char *too_many[] = { "j@x", "1", "2", NULL };
    char *too_few[] = { "j@x", "--reason", "r", NULL };
    char *positional[] = { "5", NULL };
    const char *vals[XS_CMD_MAX_ARGS];
    char err[160];

    (void)state;
    assert_int_equal(split("reputation_set", unknown, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_set has no option --reasn");
    assert_int_equal(split("reputation_list", unknown_eq, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_list has no option --colour");
    assert_int_equal(split("reputation_set", required_as_opt, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_set has no option --jid");
    assert_int_equal(split("reputation_set", no_value, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "--reason needs a value");
    assert_int_equal(split("reputation_list", twice, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "--max given twice");
    assert_int_equal(split("reputation_set", too_many, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_set takes 2 arguments, and one "
        "more was given: 2");
    assert_int_equal(split("reputation_set", too_few, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_set takes 2 arguments, 1 given");
    assert_int_equal(split("reputation_list", positional, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "reputation_list takes 0 arguments, and one "
        "more was given: 5");
    /* Verbs without options refuse --anything. */
    assert_int_equal(split("status", (char *[]){ "--x", NULL }, vals, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "status has no option --x");
}

static void
cmd_body_from_argv_with_options(void **state)
{
    char *argv[] = { "bob@example.org", "--expires", "12h", "-20" };
    char *bad[] = { "bob@example.org", "--nope", "1", "-20" };
    json_t *body = (json_t *)1;

    (void)state;
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("reputation_set"),
        4, argv, NULL, NULL, &body), XS_OK);
    assert_int_equal(json_object_size(body), 3);    /* no "reason" */
    assert_string_equal(xs_cmd_arg_str(body, "jid"), "bob@example.org");
    assert_string_equal(xs_cmd_arg_str(body, "score"), "-20");
    assert_string_equal(xs_cmd_arg_str(body, "expires"), "12h");
    assert_null(xs_cmd_arg_str(body, "reason"));
    json_decref(body);

    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("reputation_set"),
        4, bad, NULL, NULL, &body), XS_EINVAL);
    assert_null(body);
}

static void
cmd_body_from_argv_maps_positions(void **state)
{
    char *argv[] = { "bob", "localhost", "pw" };
    json_t *body;

    (void)state;
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("register"), 3,
        argv, stdin, NULL, &body), XS_OK);
    assert_string_equal(xs_cmd_arg_str(body, "user"), "bob");
    assert_string_equal(xs_cmd_arg_str(body, "host"), "localhost");
    assert_string_equal(xs_cmd_arg_str(body, "password"), "pw");
    assert_int_equal(json_object_size(body), 3);
    json_decref(body);

    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("status"), 0,
        argv, stdin, NULL, &body), XS_OK);
    assert_int_equal(json_object_size(body), 0);
    json_decref(body);
}

static void
cmd_body_from_argv_wrong_count(void **state)
{
    char *argv[] = { "bob", "localhost", "pw", "extra" };
    json_t *body = (json_t *)1;

    (void)state;
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("register"), 2,
        argv, stdin, NULL, &body), XS_EINVAL);
    assert_null(body);
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("register"), 4,
        argv, stdin, NULL, &body), XS_EINVAL);
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("status"), 1,
        argv, stdin, NULL, &body), XS_EINVAL);
}

/* Run body_from_argv for "register bob localhost -" with stdin = input. */
static xs_rc
register_with_stdin(const char *input, size_t len, json_t **body)
{
    char *argv[] = { "bob", "localhost", "-" };
    FILE *in = fmemopen((void *)input, len, "r");
    xs_rc rc;

    assert_non_null(in);
    rc = xs_cmd_body_from_argv(xs_cmd_lookup("register"), 3, argv, in, NULL,
        body);
    fclose(in);
    return rc;
}

static void
cmd_secret_dash_reads_one_line(void **state)
{
    static const char crlf[] = "p4ss w0rd\r\nsecond line\n";
    static const char noeol[] = "tail";
    json_t *body;

    (void)state;
    assert_int_equal(register_with_stdin(crlf, sizeof(crlf) - 1, &body),
        XS_OK);
    assert_string_equal(xs_cmd_arg_str(body, "password"), "p4ss w0rd");
    json_decref(body);

    assert_int_equal(register_with_stdin(noeol, sizeof(noeol) - 1, &body),
        XS_OK);
    assert_string_equal(xs_cmd_arg_str(body, "password"), "tail");
    json_decref(body);
}

static void
cmd_secret_dash_refuses_bad_input(void **state)
{
    static const char nul[] = "ab\0cd\n";
    static const char bad_utf8[] = "\xff\xfe\n";
    char *big;
    json_t *body = NULL;

    (void)state;
    /* An empty line is an empty password: the server refuses it. */
    assert_int_equal(register_with_stdin("\n", 1, &body), XS_OK);
    assert_string_equal(xs_cmd_arg_str(body, "password"), "");
    json_decref(body);

    assert_int_equal(register_with_stdin(nul, sizeof(nul) - 1, &body),
        XS_EINVAL);
    assert_null(body);
    assert_int_equal(register_with_stdin(bad_utf8, sizeof(bad_utf8) - 1,
        &body), XS_EINVAL);
    assert_null(body);

    big = malloc(10000);
    assert_non_null(big);
    memset(big, 'a', 9999);
    big[9999] = '\n';
    assert_int_equal(register_with_stdin(big, 10000, &body), XS_ELIMIT);
    free(big);
}

static void
cmd_secret_dash_eof_is_eio(void **state)
{
    char *argv[] = { "bob", "localhost", "-" };
    FILE *in = tmpfile();
    json_t *body = NULL;

    (void)state;
    assert_non_null(in);                        /* empty: EOF at once */
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("register"), 3,
        argv, in, NULL, &body), XS_EIO);
    assert_null(body);
    fclose(in);
}

static void
cmd_dash_is_literal_for_non_secrets(void **state)
{
    char *argv[] = { "-", "-" };
    json_t *body;

    (void)state;
    assert_int_equal(xs_cmd_body_from_argv(xs_cmd_lookup("kick_user"), 2,
        argv, NULL, NULL, &body), XS_OK);
    assert_string_equal(xs_cmd_arg_str(body, "user"), "-");
    json_decref(body);
}

static void
cmd_args_check_names_the_bad_arg(void **state)
{
    const struct xs_cmd_spec *reg = xs_cmd_lookup("register");
    char err[160];
    json_t *b;

    (void)state;
    b = json_pack("[s]", "x");
    assert_int_equal(xs_cmd_args_check(reg, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Request body must be a JSON object");
    json_decref(b);

    b = json_pack("{s:s, s:s}", "user", "bob", "host", "localhost");
    assert_int_equal(xs_cmd_args_check(reg, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Missing argument 'password'");
    json_decref(b);

    b = json_pack("{s:s, s:s, s:i}", "user", "bob", "host", "localhost",
        "password", 1234567);
    assert_int_equal(xs_cmd_args_check(reg, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Argument 'password' must be a string");
    assert_null(strstr(err, "1234567"));
    json_decref(b);

    /* Members the command does not know are ignored. */
    b = json_pack("{s:s, s:s, s:s, s:b}", "user", "bob", "host",
        "localhost", "password", "pw", "extra", 1);
    assert_int_equal(xs_cmd_args_check(reg, b, err, sizeof(err)), XS_OK);
    json_decref(b);

    b = json_object();
    assert_int_equal(xs_cmd_args_check(xs_cmd_lookup("status"), b, err,
        sizeof(err)), XS_OK);
    json_decref(b);
}

static void
cmd_args_check_optional_may_be_absent(void **state)
{
    const struct xs_cmd_spec *set = xs_cmd_lookup("reputation_set");
    char err[160];
    json_t *b;

    (void)state;
    b = json_pack("{s:s, s:s}", "jid", "a@b", "score", "3");
    assert_int_equal(xs_cmd_args_check(set, b, err, sizeof(err)), XS_OK);
    assert_null(xs_cmd_arg_str(b, "reason"));
    json_decref(b);

    b = json_pack("{s:s, s:s, s:n, s:s}", "jid", "a@b", "score", "3",
        "reason", "expires", "1h");
    assert_int_equal(xs_cmd_args_check(set, b, err, sizeof(err)), XS_OK);
    assert_null(xs_cmd_arg_str(b, "reason"));   /* null: not given */
    json_decref(b);

    b = json_pack("{s:s, s:s, s:i}", "jid", "a@b", "score", "3", "expires",
        3600);
    assert_int_equal(xs_cmd_args_check(set, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Argument 'expires' must be a string");
    json_decref(b);

    /* Required ones stay required. */
    b = json_pack("{s:s, s:s}", "jid", "a@b", "reason", "r");
    assert_int_equal(xs_cmd_args_check(set, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Missing argument 'score'");
    json_decref(b);
    b = json_pack("{s:s, s:n}", "jid", "a@b", "score");
    assert_int_equal(xs_cmd_args_check(set, b, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "Argument 'score' must be a string");
    json_decref(b);

    b = json_object();
    assert_int_equal(xs_cmd_args_check(xs_cmd_lookup("reputation_list"), b,
        err, sizeof(err)), XS_OK);
    json_decref(b);
}

static void
cmd_args_check_refuses_embedded_nul(void **state)
{
    static const char text[] =
        "{\"user\":\"bo\\u0000b\",\"host\":\"h\",\"password\":\"p\"}";
    json_error_t jerr;
    char err[160];
    json_t *b;

    (void)state;
    b = json_loads(text, JSON_ALLOW_NUL, &jerr);
    assert_non_null(b);
    assert_int_equal(xs_cmd_args_check(xs_cmd_lookup("register"), b, err,
        sizeof(err)), XS_EINVAL);
    assert_string_equal(err, "Argument 'user' holds a NUL byte");
    json_decref(b);
}

/* What xs_cmd_result_print writes for result, as a new string. */
static char *
print_result(const char *verb, const char *json, xs_rc *rc)
{
    json_error_t jerr;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &jerr);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(v);
    assert_non_null(out);
    *rc = xs_cmd_result_print(xs_cmd_lookup(verb), v, out);
    fclose(out);
    json_decref(v);
    return text;
}

static void
cmd_result_print_like_ejabberdctl(void **state)
{
    char *s;
    xs_rc rc;

    (void)state;
    s = print_result("unregister", "0", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "");                 /* rescode: nothing */
    free(s);
    s = print_result("kick_user", "2", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "2\n");
    free(s);
    s = print_result("register", "\"User bob@localhost successfully "
        "registered\"", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "User bob@localhost successfully registered\n");
    free(s);
    s = print_result("registered_users", "[\"alice\",\"bob\"]", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "alice\nbob\n");
    free(s);
    s = print_result("connected_users", "[]", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "");
    free(s);
}

static void
cmd_result_print_refuses_wrong_shape(void **state)
{
    char *s;
    xs_rc rc;

    (void)state;
    s = print_result("registered_users", "[\"alice\", 3]", &rc);
    assert_int_equal(rc, XS_EINVAL);
    assert_string_equal(s, "");                 /* nothing half-printed */
    free(s);
    s = print_result("status", "3", &rc);
    assert_int_equal(rc, XS_EINVAL);
    free(s);
    s = print_result("connected_users_number", "\"3\"", &rc);
    assert_int_equal(rc, XS_EINVAL);
    free(s);
}

static void
cmd_result_print_explain_table(void **state)
{
    char *s;
    xs_rc rc;

    (void)state;
    s = print_result("reputation_explain",
        "{\"jid\":\"spam@example.org\",\"score\":-23,"
        "\"level\":\"suspicious\",\"raw\":-23.456,\"pinned\":false,"
        "\"probation\":null,\"items\":["
        "{\"what\":\"report_spam\",\"source_kind\":\"user\","
        "\"source\":\"a@localhost\",\"weight\":-10,\"points\":-9.5,"
        "\"age\":\"2d\",\"note\":\"\"},"
        "{\"what\":\"block\",\"source_kind\":\"user\","
        "\"source\":\"b@localhost\",\"weight\":-5.0,"
        "\"points\":-0.004,\"age\":\"90d\"}]}", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s,
        "jid: spam@example.org\n"
        "score: -23\n"
        "level: suspicious\n"
        "raw: -23.46\n"
        "pinned: false\n"
        "probation: \n"
        "\n"
        "what\tsource_kind\tsource\tweight\tpoints\tage\tnote\n"
        "report_spam\tuser\ta@localhost\t-10\t-9.5\t2d\t\n"
        "block\tuser\tb@localhost\t-5\t0\t90d\t\n");
    free(s);

    /* Nothing known: the header alone says the table is empty. */
    s = print_result("reputation_explain",
        "{\"jid\":\"x@y\",\"score\":0,\"level\":\"unknown\","
        "\"items\":[]}", &rc);
    assert_int_equal(rc, XS_OK);
    assert_non_null(strstr(s, "level: unknown\n"));
    assert_non_null(strstr(s, "\n\nwhat\tsource_kind\t"));
    assert_true(s[strlen(s) - 1] == '\n');
    assert_string_equal(strstr(s, "\n\n") + 2,
        "what\tsource_kind\tsource\tweight\tpoints\tage\tnote\n");
    free(s);

    /* The object without its rows is not an explanation. */
    s = print_result("reputation_explain", "{\"jid\":\"x@y\"}", &rc);
    assert_int_equal(rc, XS_EINVAL);
    assert_string_equal(s, "");
    free(s);
    s = print_result("reputation_explain",
        "{\"jid\":\"x@y\",\"items\":[1]}", &rc);
    assert_int_equal(rc, XS_EINVAL);
    free(s);
}

static void
cmd_result_print_rows_and_objects(void **state)
{
    char *s;
    xs_rc rc;

    (void)state;
    s = print_result("reputation_list",
        "[{\"jid\":\"a@localhost\",\"score\":-12,\"level\":\"suspicious\","
        "\"pinned\":true,\"probation\":false},"
        "{\"jid\":\"b@localhost\",\"score\":4.25,\"level\":\"probation\","
        "\"pinned\":false,\"probation\":true}]", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s,
        "a@localhost\t-12\tsuspicious\ttrue\tfalse\n"
        "b@localhost\t4.25\tprobation\tfalse\ttrue\n");
    free(s);

    /* An object value prints as compact JSON, not as nothing. */
    s = print_result("reputation",
        "{\"jid\":\"a@localhost\",\"score\":50,\"level\":\"trusted\","
        "\"local\":true,\"pinned\":{\"score\":50,\"reason\":\"ok\"},"
        "\"probation\":false}", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s,
        "jid: a@localhost\nscore: 50\nlevel: trusted\nlocal: true\n"
        "pinned: {\"reason\":\"ok\",\"score\":50}\nprobation: false\n");
    free(s);

    s = print_result("debug_clock_advance", "1700000000", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "1700000000\n");
    free(s);
}

/* Issue 6's verbs: trust_key_rotate, audit_tail, audit, gate_stats. */
static void
cmd_audit_and_gate_verbs(void **state)
{
    char *words_tail[] = { "--kind", "subscription_gate", "--n=5", NULL };
    char *words_audit[] = { "--n", "3", "bot@spam.example", NULL };
    char *words_bad[] = { "bot@spam.example", "--kind", "x", NULL };
    const char *vals[XS_CMD_MAX_ARGS];
    char err[160];
    char *s;
    xs_rc rc;

    (void)state;
    s = xs_cmd_synopsis(xs_cmd_lookup("trust_key_rotate"));
    assert_string_equal(s, "trust_key_rotate HOST");
    xs_free(s);
    assert_int_equal(xs_cmd_lookup("trust_key_rotate")->args[0].kind,
        XS_ARG_LOCAL_HOST);
    assert_int_equal(xs_cmd_lookup("trust_key_rotate")->result,
        XS_CMD_RES_STRING);
    s = xs_cmd_synopsis(xs_cmd_lookup("audit_tail"));
    assert_string_equal(s, "audit_tail [--n N] [--kind KIND]");
    xs_free(s);
    s = xs_cmd_synopsis(xs_cmd_lookup("audit"));
    assert_string_equal(s, "audit JID [--n N]");
    xs_free(s);
    s = xs_cmd_synopsis(xs_cmd_lookup("gate_stats"));
    assert_string_equal(s, "gate_stats");
    xs_free(s);

    assert_int_equal(split("audit_tail", words_tail, vals, err,
        sizeof(err)), XS_OK);
    assert_string_equal(vals[0], "5");
    assert_string_equal(vals[1], "subscription_gate");
    assert_int_equal(split("audit", words_audit, vals, err, sizeof(err)),
        XS_OK);
    assert_string_equal(vals[0], "bot@spam.example");
    assert_string_equal(vals[1], "3");
    assert_int_equal(split("audit", words_bad, vals, err, sizeof(err)),
        XS_EINVAL);
    assert_string_equal(err, "audit has no option --kind");

    /* null prints as an empty cell, the explanation's lines as compact
     * JSON joined with ';'. */
    s = print_result("audit_tail",
        "[{\"id\":7,\"at\":\"2026-11-27T10:02:11Z\","
        "\"kind\":\"subscription_gate\",\"subject\":\"bot@spam.example\","
        "\"recipient\":\"alice@localhost\",\"decision\":\"reject\","
        "\"reason\":\"score_below\",\"score\":-45,\"domain_score\":3,"
        "\"flag\":\"absent\",\"explanation\":[{\"what\":\"block\","
        "\"points\":-4.9},{\"what\":\"flag\",\"note\":\"a;b\"}]},"
        "{\"at\":\"2026-11-27T10:02:10Z\",\"kind\":\"pinned_key_mismatch\","
        "\"subject\":\"spam.example\",\"recipient\":null,"
        "\"decision\":\"ignored\",\"reason\":\"pinned_key_mismatch\","
        "\"score\":null,\"domain_score\":null,\"flag\":null,"
        "\"explanation\":[]}]", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s,
        "2026-11-27T10:02:11Z\tsubscription_gate\tbot@spam.example\t"
        "alice@localhost\treject\tscore_below\t-45\t3\tabsent\t"
        "{\"points\":-4.9,\"what\":\"block\"};"
        "{\"note\":\"a;b\",\"what\":\"flag\"}\n"
        "2026-11-27T10:02:10Z\tpinned_key_mismatch\tspam.example\t\t"
        "ignored\tpinned_key_mismatch\t\t\t\t\n");
    free(s);

    s = print_result("gate_stats",
        "{\"since\":\"2026-11-27T09:00:00Z\",\"decided\":3,"
        "\"delivered\":2,\"rejected\":1,\"pending\":0,"
        "\"reasons\":{\"score_below\":1,\"ok\":2}}", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s,
        "since: 2026-11-27T09:00:00Z\ndecided: 3\ndelivered: 2\n"
        "rejected: 1\npending: 0\n"
        "reasons: {\"ok\":2,\"score_below\":1}\n");
    free(s);

    s = print_result("trust_key_rotate", "\"k2026-11-27-1\"", &rc);
    assert_int_equal(rc, XS_OK);
    assert_string_equal(s, "k2026-11-27-1\n");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cmd_lookup_finds_every_verb),
        cmocka_unit_test(cmd_synopsis_upper_cases_args),
        cmocka_unit_test(cmd_body_from_argv_maps_positions),
        cmocka_unit_test(cmd_body_from_argv_wrong_count),
        cmocka_unit_test(cmd_reputation_verbs_have_their_shapes),
        cmocka_unit_test(cmd_argv_split_options_anywhere),
        cmocka_unit_test(cmd_argv_split_values_that_look_like_options),
        cmocka_unit_test(cmd_argv_split_says_what_is_wrong),
        cmocka_unit_test(cmd_body_from_argv_with_options),
        cmocka_unit_test(cmd_secret_dash_reads_one_line),
        cmocka_unit_test(cmd_secret_dash_refuses_bad_input),
        cmocka_unit_test(cmd_secret_dash_eof_is_eio),
        cmocka_unit_test(cmd_dash_is_literal_for_non_secrets),
        cmocka_unit_test(cmd_args_check_names_the_bad_arg),
        cmocka_unit_test(cmd_args_check_optional_may_be_absent),
        cmocka_unit_test(cmd_args_check_refuses_embedded_nul),
        cmocka_unit_test(cmd_result_print_like_ejabberdctl),
        cmocka_unit_test(cmd_result_print_refuses_wrong_shape),
        cmocka_unit_test(cmd_result_print_explain_table),
        cmocka_unit_test(cmd_result_print_rows_and_objects),
        cmocka_unit_test(cmd_audit_and_gate_verbs),
    };

    return cmocka_run_group_tests_name("xmppctl_args", tests, NULL, NULL);
}
