/*
 * test_xmppctl_args.c: the operator command table (xmppd/admin/commands.c)
 * as xmppctl and the admin API use it: lookup, positional arguments to a
 * JSON body (passwords from stdin), body checks, result printing.
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cmd_lookup_finds_every_verb),
        cmocka_unit_test(cmd_synopsis_upper_cases_args),
        cmocka_unit_test(cmd_body_from_argv_maps_positions),
        cmocka_unit_test(cmd_body_from_argv_wrong_count),
        cmocka_unit_test(cmd_secret_dash_reads_one_line),
        cmocka_unit_test(cmd_secret_dash_refuses_bad_input),
        cmocka_unit_test(cmd_secret_dash_eof_is_eio),
        cmocka_unit_test(cmd_dash_is_literal_for_non_secrets),
        cmocka_unit_test(cmd_args_check_names_the_bad_arg),
        cmocka_unit_test(cmd_args_check_refuses_embedded_nul),
        cmocka_unit_test(cmd_result_print_like_ejabberdctl),
        cmocka_unit_test(cmd_result_print_refuses_wrong_shape),
    };

    return cmocka_run_group_tests_name("xmppctl_args", tests, NULL, NULL);
}
