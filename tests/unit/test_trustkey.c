/* tests/unit/test_trustkey.c: the per-domain key store (reputation/
 * trustkey.c): generation, file modes, refusal of readable or corrupt
 * files, reload, rotation in one and three steps, pruning, recovery from
 * a cut-short rotation; and the wire helpers (times, strict base64, key
 * ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/trustkey.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKEW    300
#define MAXVAL  86400
#define KEEP    (MAXVAL + SKEW)
#define T0      ((int64_t)1790000000)

struct fx {
    char dir[64];
    char err[512];
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    struct fx *f = xs_calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_trustkey.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    xs_free(f);
    return 0;
}

static xs_rc
load(struct fx *f, const char *domain, int64_t now,
    struct xs_trustkey_store **out)
{
    struct xs_trustkey_opts o = { f->dir, MAXVAL, SKEW };
    const char *domains[] = { domain };

    return xs_trustkey_store_load(&o, domains, 1, now, out, f->err,
        sizeof(f->err));
}

static void
key_path(const struct fx *f, const char *domain, const char *id, char *out,
    size_t n)
{
    snprintf(out, n, "%s/%s/%s.key", f->dir, domain, id);
}

static size_t
count_files(const struct fx *f, const char *domain)
{
    char path[256];
    struct dirent *e;
    size_t n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/%s", f->dir, domain);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static char *
slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = xs_calloc(1, 8192);
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, 8191, fp);
    assert_true(n > 0 && n < 8191);
    fclose(fp);
    return buf;
}

static void
spit(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* ---- Wire helpers ---- */

static void
times(void **state)
{
    static const struct {
        const char *s;
        int64_t     t;
    } good[] = {
        { "1970-01-01T00:00:00Z", 0 },
        { "2000-02-29T12:34:56Z", 951827696 },
        { "2026-11-27T10:00:00Z", 1795773600 },
        { "9999-12-31T23:59:59Z", INT64_C(253402300799) },
    };
    static const char *const bad[] = {
        "", "2026-11-27T10:00:00", "2026-11-27T10:00:00z",
        "2026-11-27T10:00:00.000Z", "2026-11-27T10:00:00+00:00",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-04-31T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-11-27T10:60:00Z", "1969-12-31T23:59:59Z",
        "+026-11-27T10:00:00Z", "2026-11-2710:00:00Z ", "２026-11-27T10:00Z",
    };
    char out[XS_TRUST_TIME_LEN + 1];
    int64_t t;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(good); i++) {
        assert_true(xs_trust_time_parse(good[i].s, &t));
        assert_int_equal(t, good[i].t);
        assert_true(xs_trust_time_format(good[i].t, out));
        assert_string_equal(out, good[i].s);
    }
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++)
        if (xs_trust_time_parse(bad[i], &t))
            fail_msg("accepted \"%s\"", bad[i]);
    assert_false(xs_trust_time_format(-1, out));
    assert_false(xs_trust_time_format(INT64_C(253402300800), out));
    /* Every day of a leap cycle goes there and back. */
    for (int64_t d = 0; d < 4 * 366 + 10; d++) {
        int64_t s = T0 + d * 86400 + d * 7;

        assert_true(xs_trust_time_format(s, out));
        assert_true(xs_trust_time_parse(out, &t));
        assert_int_equal(t, s);
    }
}

static void
base64_strict(void **state)
{
    uint8_t out[16];
    char enc[32];

    (void)state;
    for (int i = 0; i < 16; i++)
        out[i] = (uint8_t)(0xa0 + i);
    xs_trust_b64_encode(out, 16, true, enc, sizeof(enc));
    assert_string_equal(enc, "oKGio6SlpqeoqaqrrK2urw");
    assert_true(xs_trust_b64_decode("oKGio6SlpqeoqaqrrK2urw", true, out, 16));
    assert_false(xs_trust_b64_decode("oKGio6SlpqeoqaqrrK2urw==", true, out,
        16));
    assert_false(xs_trust_b64_decode("oKGio6SlpqeoqaqrrK2urx", true, out,
        16));                               /* non-zero spare bits */
    assert_false(xs_trust_b64_decode("oKGio6Slpqeo qaqrrK2ur", true, out,
        16));
    assert_false(xs_trust_b64_decode("oKGio6SlpqeoqaqrrK2urw", false, out,
        16));                               /* standard wants padding */
    xs_trust_b64_encode(out, 16, false, enc, sizeof(enc));
    assert_string_equal(enc, "oKGio6SlpqeoqaqrrK2urw==");
    assert_true(xs_trust_b64_decode(enc, false, out, 16));
    assert_false(xs_trust_b64_decode(enc, false, out, 15));
    assert_false(xs_trust_b64_decode("", false, out, 16));
}

static void
key_id_of_fixed_key(void **state)
{
    uint8_t seed[32], pk[32], sk[64];
    char id[XS_TRUSTKEY_ID_LEN + 1];

    (void)state;
    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)i;
    crypto_sign_seed_keypair(pk, sk, seed);
    xs_trustkey_id_of(pk, id);
    assert_string_equal(id, "Vkdap1RjR0wC");
    assert_int_equal(strlen(id), XS_TRUSTKEY_ID_LEN);
    sodium_memzero(sk, sizeof(sk));
}

/* ---- The store ---- */

static void
first_start_generates(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s, *s2;
    struct xs_trust_pubkey keys[4], pk;
    char id[13], id2[13], path[256], dpath[256], *text;
    uint8_t sig[64];
    struct stat st;
    mode_t old = umask(0);      /* modes must not depend on the umask */

    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    umask(old);
    assert_true(xs_trustkey_store_has(s, "a.example"));
    assert_false(xs_trustkey_store_has(s, "b.example"));
    assert_true(xs_trustkey_current(s, "a.example", id));
    assert_int_equal(strlen(id), XS_TRUSTKEY_ID_LEN);

    key_path(f, "a.example", id, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(dpath, sizeof(dpath), "%s/a.example", f->dir);
    assert_int_equal(stat(dpath, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(count_files(f, "a.example"), 1);
    text = slurp(path);
    assert_non_null(strstr(text, "version=1\ndomain=a.example\n"));
    assert_non_null(strstr(text, "created=2026-09-21T"));
    assert_non_null(strstr(text, "secret="));
    assert_null(strstr(text, "retired="));
    xs_free(text);

    assert_int_equal(xs_trustkey_list(s, "a.example", T0, keys, 4), 1);
    assert_string_equal(keys[0].id, id);
    assert_int_equal(keys[0].created, T0);
    assert_int_equal(keys[0].retired, 0);
    assert_int_equal(xs_trustkey_list(s, "b.example", T0, keys, 4), 0);

    /* Sign with it; verify with the listed public key. */
    assert_int_equal(xs_trustkey_sign(s, "a.example", id, "hello", 5, sig),
        XS_OK);
    assert_true(xs_trustkey_lookup(s, "a.example", id, T0 + 1000000, &pk));
    assert_int_equal(crypto_sign_verify_detached(sig,
        (const uint8_t *)"hello", 5, pk.pk), 0);
    assert_int_equal(xs_trustkey_sign(s, "b.example", id, "x", 1, sig),
        XS_ENOTFOUND);
    assert_int_equal(xs_trustkey_sign(s, "a.example", "AAAAAAAAAAAA", "x",
        1, sig), XS_ENOTFOUND);
    assert_false(xs_trustkey_lookup(s, "a.example", "AAAAAAAAAAAA", T0, &pk));

    /* A restart finds the same key, and it signs the same way. */
    assert_int_equal(load(f, "a.example", T0 + 3600, &s2), XS_OK);
    assert_true(xs_trustkey_current(s2, "a.example", id2));
    assert_string_equal(id, id2);
    {
        uint8_t sig2[64];

        assert_int_equal(xs_trustkey_sign(s2, "a.example", id2, "hello", 5,
            sig2), XS_OK);
        assert_memory_equal(sig, sig2, 64);     /* Ed25519: deterministic */
    }
    assert_int_equal(count_files(f, "a.example"), 1);
    xs_trustkey_store_free(s2);
    xs_trustkey_store_free(s);
    xs_trustkey_store_free(NULL);
}

static void
several_domains(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_opts o = { f->dir, MAXVAL, SKEW };
    const char *domains[] = { "a.example", "b.example", "a.example" };
    struct xs_trustkey_store *s;
    char a[13], b[13];

    assert_int_equal(xs_trustkey_store_load(&o, domains, 3, T0, &s, f->err,
        sizeof(f->err)), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", a));
    assert_true(xs_trustkey_current(s, "b.example", b));
    assert_string_not_equal(a, b);
    xs_trustkey_store_free(s);
}

static void
refuses_readable_key(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s;
    char id[13], path[256];

    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id));
    xs_trustkey_store_free(s);
    key_path(f, "a.example", id, path, sizeof(path));

    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_null(s);
    assert_non_null(strstr(f->err, path));
    assert_non_null(strstr(f->err, "permissions 0644 are too open"));
    assert_null(strchr(f->err, '\n'));

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_non_null(strstr(f->err, "0640"));

    assert_int_equal(chmod(path, 0400), 0);    /* read-only is fine */
    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    xs_trustkey_store_free(s);
    assert_int_equal(chmod(path, 0600), 0);

    /* A directory others may write is refused too. */
    {
        char dpath[256];

        snprintf(dpath, sizeof(dpath), "%s/a.example", f->dir);
        assert_int_equal(chmod(dpath, 0777), 0);
        assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
        assert_non_null(strstr(f->err, "too open"));
        assert_int_equal(chmod(dpath, 0700), 0);
    }
}

static void
refuses_corrupt_files(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s;
    char id[13], path[256], *good, *secret, *bad;
    static const struct {
        const char *from;   /* replace the first occurrence ... */
        const char *to;     /* ... with this */
        const char *want;   /* in the error */
    } cases[] = {
        { "version=1", "version=2", "unsupported version" },
        { "domain=a.example", "domain=b.example", "another domain" },
        { "created=", "created=x", "bad created time" },
        { "public=", "public=A", "bad public key" },
        { "secret=", "secret=A", "bad secret" },
        { "id=", "id=A", "bad id" },
        { "version=1\n", "version=1\nversion=1\n", "line 3: field given "
          "twice" },
        { "version=1\n", "color=blue\n", "line 2: unknown field" },
        { "version=1\n", "version 1\n", "line 2: not name=value" },
        { "version=1\n", "", "a required field is missing" },
    };

    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id));
    xs_trustkey_store_free(s);
    key_path(f, "a.example", id, path, sizeof(path));
    good = slurp(path);
    secret = strstr(good, "secret=");
    assert_non_null(secret);

    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        const char *at = strstr(good, cases[i].from);
        size_t pre;

        assert_non_null(at);
        pre = (size_t)(at - good);
        bad = xs_asprintf("%.*s%s%s", (int)pre, good, cases[i].to,
            at + strlen(cases[i].from));
        spit(path, bad, 0600);
        assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
        if (strstr(f->err, cases[i].want) == NULL ||
            strstr(f->err, "corrupt") == NULL)
            fail_msg("case %zu: \"%s\"", i, f->err);
        /* The secret never shows in an error. */
        assert_null(strstr(f->err, secret + 7));
        xs_free(bad);
    }

    /* Another key's secret under this public key. */
    {
        uint8_t seed[32] = { 9 };
        char b64[64];
        char *line_end = strchr(secret, '\n');

        xs_trust_b64_encode(seed, 32, false, b64, sizeof(b64));
        bad = xs_asprintf("%.*ssecret=%s%s", (int)(secret - good), good, b64,
            line_end);
        spit(path, bad, 0600);
        assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
        assert_non_null(strstr(f->err, "secret does not match"));
        xs_free(bad);
    }
    /* Garbage, truncation, an oversized file, a missing newline. */
    spit(path, "\x01\x02garbage", 0600);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_non_null(strstr(f->err, "corrupt"));
    bad = xs_strndup(good, (size_t)(secret - good) + 20);
    spit(path, bad, 0600);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_non_null(strstr(f->err, "corrupt"));
    xs_free(bad);
    bad = xs_calloc(1, XS_TRUSTKEY_FILE_MAX + 10);
    memset(bad, '#', XS_TRUSTKEY_FILE_MAX + 8);
    spit(path, bad, 0600);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_non_null(strstr(f->err, "longer than"));
    xs_free(bad);
    spit(path, "", 0600);
    assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
    assert_non_null(strstr(f->err, "missing"));

    /* A good file under another key's name. */
    spit(path, good, 0600);
    {
        char other[256];

        key_path(f, "a.example", "AAAAAAAAAAAA", other, sizeof(other));
        assert_int_equal(rename(path, other), 0);
        assert_int_equal(load(f, "a.example", T0, &s), XS_EINVAL);
        assert_non_null(strstr(f->err, "file name"));
        assert_int_equal(rename(other, path), 0);
    }
    /* Restored: fine again. */
    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    xs_trustkey_store_free(s);
    xs_free(good);
}

static void
refuses_bad_domains_and_options(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s;
    struct xs_trustkey_opts o = { f->dir, 0, SKEW };
    const char *domains[] = { "a.example" };
    static const char *const bad[] = {
        "", "../etc", ".hidden", "a/b", "A.EXAMPLE", "a.example.",
    };

    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        assert_int_equal(load(f, bad[i], T0, &s), XS_EINVAL);
        assert_non_null(strstr(f->err, "bad domain name"));
    }
    assert_int_equal(xs_trustkey_store_load(&o, domains, 1, T0, &s, f->err,
        sizeof(f->err)), XS_EINVAL);
}

static void
rotation(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s, *s2;
    struct xs_trust_pubkey keys[4], pk;
    struct xs_trustkey_rotation *rot, *rot2;
    char id1[13], id2[13], id3[13], path[256], *text;
    int64_t r1 = T0 + 1000, r2 = T0 + 2000;
    uint8_t sig[64];

    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id1));

    /* Three steps, as the server runs them (write on a worker). */
    assert_int_equal(xs_trustkey_rotate_begin(s, "a.example", r1, &rot),
        XS_OK);
    assert_int_equal(xs_trustkey_rotate_begin(s, "a.example", r1, &rot2),
        XS_ELIMIT);
    assert_int_equal(xs_trustkey_rotate_begin(s, "b.example", r1, &rot2),
        XS_ENOTFOUND);
    /* Until finish, the old key still signs. */
    assert_true(xs_trustkey_current(s, "a.example", id2));
    assert_string_equal(id1, id2);
    snprintf(id2, sizeof(id2), "%s", xs_trustkey_rotation_id(rot));
    xs_trustkey_rotation_write(rot);
    assert_int_equal(xs_trustkey_rotate_finish(s, rot, f->err,
        sizeof(f->err)), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id3));
    assert_string_equal(id2, id3);
    assert_string_not_equal(id1, id2);
    assert_int_equal(xs_trustkey_sign(s, "a.example", id1, "x", 1, sig),
        XS_ENOTFOUND);
    assert_int_equal(xs_trustkey_sign(s, "a.example", id2, "x", 1, sig),
        XS_OK);

    /* The old file: retired, and without its secret now. */
    key_path(f, "a.example", id1, path, sizeof(path));
    text = slurp(path);
    assert_non_null(strstr(text, "retired="));
    assert_null(strstr(text, "secret="));
    xs_free(text);
    assert_int_equal(count_files(f, "a.example"), 2);

    assert_int_equal(xs_trustkey_list(s, "a.example", r1, keys, 4), 2);
    assert_string_equal(keys[0].id, id2);
    assert_int_equal(keys[0].retired, 0);
    assert_string_equal(keys[1].id, id1);
    assert_int_equal(keys[1].retired, r1);
    assert_int_equal(keys[1].valid_until, r1 + KEEP);
    assert_int_equal(xs_trustkey_list(s, "a.example", r1, keys, 1), 1);

    /* A second rotation: two retired keys, each with its own window. */
    assert_int_equal(xs_trustkey_rotate(s, "a.example", r2, f->err,
        sizeof(f->err)), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id3));
    assert_int_equal(xs_trustkey_list(s, "a.example", r2, keys, 4), 3);
    assert_int_equal(keys[1].retired, r2);
    assert_int_equal(xs_trustkey_list(s, "a.example", r1 + KEEP + 1, keys,
        4), 2);

    /* A restart sees the same thing, secrets only for the current key. */
    assert_int_equal(load(f, "a.example", r2 + 10, &s2), XS_OK);
    assert_int_equal(xs_trustkey_list(s2, "a.example", r2 + 10, keys, 4), 3);
    assert_string_equal(keys[0].id, id3);
    assert_int_equal(keys[2].retired, r1);
    assert_true(xs_trustkey_lookup(s2, "a.example", id1, r1 + KEEP, &pk));
    assert_false(xs_trustkey_lookup(s2, "a.example", id1, r1 + KEEP + 1,
        &pk));
    xs_trustkey_store_free(s2);

    /* Prune: the first key's window is over, its file goes. */
    assert_int_equal(xs_trustkey_prune(s, r1 + KEEP), 0);
    assert_int_equal(xs_trustkey_prune(s, r1 + KEEP + 1), 1);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(count_files(f, "a.example"), 2);
    /* A load after the second window deletes that file as well. */
    assert_int_equal(load(f, "a.example", r2 + KEEP + 1, &s2), XS_OK);
    assert_int_equal(count_files(f, "a.example"), 1);
    assert_int_equal(xs_trustkey_list(s2, "a.example", r2 + KEEP + 1, keys,
        4), 1);
    xs_trustkey_store_free(s2);

    /* A clock that went back still makes the new key the newest. */
    assert_int_equal(xs_trustkey_rotate(s, "a.example", T0, f->err,
        sizeof(f->err)), XS_OK);
    assert_int_equal(xs_trustkey_list(s, "a.example", T0, keys, 4), 3);
    assert_true(keys[0].created > keys[1].created);
    assert_int_equal(keys[0].created, r2 + 1);
    assert_int_equal(xs_trustkey_rotate(s, "nowhere.example", T0, f->err,
        sizeof(f->err)), XS_ENOTFOUND);
    assert_non_null(strstr(f->err, "not a hosted domain"));
    xs_trustkey_store_free(s);
}

/* A rotation abandoned (shutdown) and one cut short by a crash. */
static void
rotation_interrupted(void **state)
{
    struct fx *f = *state;
    struct xs_trustkey_store *s;
    struct xs_trustkey_rotation *rot;
    struct xs_trust_pubkey keys[4];
    char id1[13], id2[13], path[256], *old_text, tmp[256];

    assert_int_equal(load(f, "a.example", T0, &s), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id1));
    key_path(f, "a.example", id1, path, sizeof(path));
    old_text = slurp(path);

    /* Begun, never written, finished: nothing changes, and the domain
     * may rotate again. */
    assert_int_equal(xs_trustkey_rotate_begin(s, "a.example", T0 + 5, &rot),
        XS_OK);
    assert_int_equal(xs_trustkey_rotate_finish(s, rot, f->err,
        sizeof(f->err)), XS_EIO);
    assert_non_null(strstr(f->err, "not written"));
    assert_true(xs_trustkey_current(s, "a.example", id2));
    assert_string_equal(id1, id2);
    assert_int_equal(count_files(f, "a.example"), 1);
    /* Begun, then the store goes (shutdown): the rotation is dropped. */
    {
        struct xs_trustkey_store *gone;

        assert_int_equal(load(f, "a.example", T0, &gone), XS_OK);
        assert_int_equal(xs_trustkey_rotate_begin(gone, "a.example", T0 + 5,
            &rot), XS_OK);
        xs_trustkey_store_free(gone);
        xs_trustkey_rotation_free(rot);
        xs_trustkey_rotation_free(NULL);
        assert_int_equal(count_files(f, "a.example"), 1);
    }

    /* Rotated, then the old file restored to its unretired self, as if
     * the crash came between the two writes; plus a stale .tmp. */
    assert_int_equal(xs_trustkey_rotate(s, "a.example", T0 + 10, f->err,
        sizeof(f->err)), XS_OK);
    assert_true(xs_trustkey_current(s, "a.example", id2));
    xs_trustkey_store_free(s);
    spit(path, old_text, 0600);
    snprintf(tmp, sizeof(tmp), "%s/a.example/AAAAAAAAAAAA.key.tmp", f->dir);
    spit(tmp, "half a key", 0600);

    assert_int_equal(load(f, "a.example", T0 + 20, &s), XS_OK);
    assert_int_not_equal(access(tmp, F_OK), 0);
    assert_int_equal(xs_trustkey_list(s, "a.example", T0 + 20, keys, 4), 2);
    assert_string_equal(keys[0].id, id2);
    assert_string_equal(keys[1].id, id1);
    assert_int_equal(keys[1].retired, T0 + 10);     /* the newer's birth */
    xs_trustkey_store_free(s);
    xs_free(old_text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(times),
        cmocka_unit_test(base64_strict),
        cmocka_unit_test(key_id_of_fixed_key),
        cmocka_unit_test_setup_teardown(first_start_generates, setup,
            teardown),
        cmocka_unit_test_setup_teardown(several_domains, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_readable_key, setup,
            teardown),
        cmocka_unit_test_setup_teardown(refuses_corrupt_files, setup,
            teardown),
        cmocka_unit_test_setup_teardown(refuses_bad_domains_and_options,
            setup, teardown),
        cmocka_unit_test_setup_teardown(rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_interrupted, setup,
            teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("trustkey", tests, NULL, NULL);
}
