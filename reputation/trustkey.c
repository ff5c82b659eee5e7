/*
 * trustkey.c: per-domain Ed25519 keys for trust flags, their files, and
 * the wire-format helpers (key ids, times, strict base64).
 *
 * Secrets only ever live in sodium_malloc'ed memory (guarded, locked,
 * wiped by sodium_free): the key itself, the seed it came from, and every
 * buffer that held the file's text.  Nothing here logs; errors are one
 * line for the caller to print, and never contain key material.
 */
#include "reputation/trustkey.h"

#include "xmppd/xml/jid.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define TRUSTKEY_SEED_LEN   crypto_sign_SEEDBYTES
#define TRUSTKEY_SK_LEN     crypto_sign_SECRETKEYBYTES
#define TRUSTKEY_PER_DOMAIN 64      /* key files in one domain's directory */
#define TRUSTKEY_PATH_MAX   4096
#define TRUSTKEY_SUFFIX     ".key"
#define TRUSTKEY_TMP_SUFFIX ".key.tmp"
#define TRUSTKEY_B64_PK     45      /* sodium_base64_ENCODED_LEN(32, orig) */

struct trustkey {
    struct xs_trust_pubkey pub;
    unsigned char         *sk;      /* owned (sodium_malloc); NULL once
                                       retired: it only verifies then */
};

struct trustkey_domain {
    char            *name;          /* owned: prepared domain */
    char            *path;          /* owned: <dir>/<domain> */
    struct trustkey *keys;          /* owned array, newest first: keys[0]
                                       is current */
    size_t           nkeys;
    bool             is_rotating;
};

struct xs_trustkey_store {
    int64_t                 keep_s;     /* max validity + skew */
    struct trustkey_domain *domains;    /* owned array */
    size_t                  ndomains;
};

struct xs_trustkey_rotation {
    char                  *domain;      /* owned */
    char                  *path;        /* owned: the domain's directory */
    int64_t                now;
    struct trustkey        fresh;       /* sk owned */
    bool                   has_old;
    struct xs_trust_pubkey old;         /* the current key, to retire */
    char                 (*expired)[XS_TRUSTKEY_ID_LEN + 1]; /* owned: ids
                                           whose files go */
    size_t                 nexpired;
    bool                   is_written;
    xs_rc                  rc;
    char                   err[512];
};

/* ---- Errors ---- */

/* One line for the operator; a cut line is still a useful line. */
__attribute__((format(printf, 3, 4)))
static void
trustkey_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Times (XEP-0082, UTC, whole seconds) ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no time zone, no libc state. */
static int64_t
trust_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
trust_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#define TRUST_TIME_MIN  0                       /* 1970-01-01T00:00:00Z */
#define TRUST_TIME_MAX  INT64_C(253402300799)   /* 9999-12-31T23:59:59Z */

bool
xs_trust_time_format(int64_t t, char out[XS_TRUST_TIME_LEN + 1])
{
    int64_t days, secs, y;
    unsigned m, d;
    int n;

    if (t < TRUST_TIME_MIN || t > TRUST_TIME_MAX)
        return false;
    days = t / 86400;
    secs = t % 86400;
    trust_civil_from_days(days, &y, &m, &d);
    n = snprintf(out, XS_TRUST_TIME_LEN + 1,
        "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d,
        (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    return n == XS_TRUST_TIME_LEN;
}

static bool
trust_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

bool
xs_trust_time_parse(const char *s, int64_t *out)
{
    static const unsigned mdays[12] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    unsigned y, mo, d, h, mi, sec;

    *out = 0;
    if (strlen(s) != XS_TRUST_TIME_LEN || s[4] != '-' || s[7] != '-' ||
        s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z')
        return false;
    if (!trust_digits(s, 4, &y) || !trust_digits(s + 5, 2, &mo) ||
        !trust_digits(s + 8, 2, &d) || !trust_digits(s + 11, 2, &h) ||
        !trust_digits(s + 14, 2, &mi) || !trust_digits(s + 17, 2, &sec))
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        h > 23 || mi > 59 || sec > 59)
        return false;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    *out = trust_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    return true;
}

/* ---- Base64 ---- */

static int
trust_b64_variant(bool url)
{
    return url ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
               : sodium_base64_VARIANT_ORIGINAL;
}

void
xs_trust_b64_encode(const uint8_t *in, size_t n, bool url, char *out,
    size_t outlen)
{
    xs_assert(outlen >= sodium_base64_ENCODED_LEN(n, trust_b64_variant(url)));
    sodium_bin2base64(out, outlen, in, n, trust_b64_variant(url));
}

bool
xs_trust_b64_decode(const char *s, bool url, uint8_t *out, size_t n)
{
    int variant = trust_b64_variant(url);
    size_t len = strlen(s), got = 0;
    const char *end = NULL;

    /* The length decides everything else: one string per byte string
     * (libsodium also refuses non-zero padding bits). */
    if (len + 1 != sodium_base64_ENCODED_LEN(n, variant))
        return false;
    if (sodium_base642bin(out, n, s, len, NULL, &got, &end, variant) != 0 ||
        got != n || end != s + len)
        return false;
    return true;
}

/* ---- Key ids ---- */

void
xs_trustkey_id_of(const uint8_t pk[XS_TRUSTKEY_PK_LEN],
    char id[XS_TRUSTKEY_ID_LEN + 1])
{
    uint8_t h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, pk, XS_TRUSTKEY_PK_LEN);
    xs_trust_b64_encode(h, 9, true, id, XS_TRUSTKEY_ID_LEN + 1);
}

/* A key id as it may appear in a file name or on the wire. */
static bool
trustkey_id_valid(const char *id)
{
    uint8_t raw[9];

    return xs_trust_b64_decode(id, true, raw, sizeof(raw));
}

/* ---- Keys in memory ---- */

static void
trustkey_fini(struct trustkey *k)
{
    if (k->sk != NULL)
        sodium_free(k->sk);     /* wipes */
    k->sk = NULL;
}

/* A fresh key pair created at `created`. */
static xs_rc
trustkey_generate(struct trustkey *k, int64_t created)
{
    memset(k, 0, sizeof(*k));
    k->sk = sodium_malloc(TRUSTKEY_SK_LEN);
    if (k->sk == NULL)
        return XS_ENOMEM;
    if (crypto_sign_keypair(k->pub.pk, k->sk) != 0) {
        trustkey_fini(k);
        return XS_EIO;
    }
    xs_trustkey_id_of(k->pub.pk, k->pub.id);
    k->pub.created = created;
    return XS_OK;
}

/* Newest first; ties (same second) by id, so the order is stable. */
static int
trustkey_cmp(const void *a, const void *b)
{
    const struct trustkey *x = a, *y = b;

    if (x->pub.created != y->pub.created)
        return x->pub.created > y->pub.created ? -1 : 1;
    return strcmp(x->pub.id, y->pub.id);
}

static struct trustkey_domain *
trustkey_domain_find(const struct xs_trustkey_store *s, const char *domain)
{
    if (s == NULL || domain == NULL)
        return NULL;
    for (size_t i = 0; i < s->ndomains; i++)
        if (strcmp(s->domains[i].name, domain) == 0)
            return &s->domains[i];
    return NULL;
}

/* Whether k still verifies at now. */
static bool
trustkey_live(const struct trustkey *k, int64_t keep_s, int64_t now)
{
    return k->pub.retired == 0 || now <= k->pub.retired + keep_s;
}

/* ---- Files ---- */

static bool
trustkey_path(char *out, size_t outlen, const char *dir, const char *id,
    const char *suffix)
{
    int n = snprintf(out, outlen, "%s/%s%s", dir, id, suffix);

    return n > 0 && (size_t)n < outlen;
}

static xs_rc
trustkey_fsync_dir(const char *dir, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) != 0) {
        trustkey_err(err, errlen, "trust keys: cannot sync %s: %s", dir,
            strerror(errno));
        if (fd >= 0)
            close(fd);
        return XS_EIO;
    }
    close(fd);
    return XS_OK;
}

/*
 * Write k's file into dir: through <id>.key.tmp (O_EXCL, 0600 whatever
 * the umask), synced, then linked to <id>.key (refusing to replace one)
 * or renamed over it (replace: retiring an existing key).  A retired key
 * is written without its secret.
 */
static xs_rc
trustkey_file_write(const char *dir, const char *domain,
    const struct trustkey *k, bool replace, char *err, size_t errlen)
{
    char tmp[TRUSTKEY_PATH_MAX], path[TRUSTKEY_PATH_MAX];
    char created[XS_TRUST_TIME_LEN + 1], retired[XS_TRUST_TIME_LEN + 1];
    char pub[TRUSTKEY_B64_PK];
    char *text = NULL, *seed64 = NULL;
    size_t len, off = 0;
    xs_rc rc = XS_EIO;
    int fd = -1, n;

    if (!trustkey_path(tmp, sizeof(tmp), dir, k->pub.id, TRUSTKEY_TMP_SUFFIX)
        || !trustkey_path(path, sizeof(path), dir, k->pub.id,
               TRUSTKEY_SUFFIX)) {
        trustkey_err(err, errlen, "trust keys: path too long under %s", dir);
        return XS_EINVAL;
    }
    if (!xs_trust_time_format(k->pub.created, created) ||
        (k->pub.retired != 0 &&
         !xs_trust_time_format(k->pub.retired, retired))) {
        trustkey_err(err, errlen, "trust key %s: time out of range", path);
        return XS_EINVAL;
    }
    xs_trust_b64_encode(k->pub.pk, XS_TRUSTKEY_PK_LEN, false, pub,
        sizeof(pub));

    text = sodium_malloc(XS_TRUSTKEY_FILE_MAX);
    seed64 = sodium_malloc(TRUSTKEY_B64_PK);
    if (text == NULL || seed64 == NULL) {
        trustkey_err(err, errlen, "trust key %s: out of secure memory",
            path);
        rc = XS_ENOMEM;
        goto done;
    }
    seed64[0] = '\0';
    if (k->pub.retired == 0) {
        xs_assert(k->sk != NULL);
        /* libsodium's secret key is seed || public key. */
        xs_trust_b64_encode(k->sk, TRUSTKEY_SEED_LEN, false, seed64,
            TRUSTKEY_B64_PK);
    }
    n = snprintf(text, XS_TRUSTKEY_FILE_MAX,
        "# xmppd trust key (urn:xmppd:trust:0): keep it private\n"
        "version=1\ndomain=%s\nid=%s\ncreated=%s\n%s%s%s"
        "public=%s\n%s%s%s",
        domain, k->pub.id, created,
        k->pub.retired != 0 ? "retired=" : "",
        k->pub.retired != 0 ? retired : "",
        k->pub.retired != 0 ? "\n" : "",
        pub,
        k->pub.retired == 0 ? "secret=" : "", seed64,
        k->pub.retired == 0 ? "\n" : "");
    if (n < 0 || n >= XS_TRUSTKEY_FILE_MAX) {
        trustkey_err(err, errlen, "trust key %s: file too long", path);
        rc = XS_EINVAL;
        goto done;
    }
    len = (size_t)n;

    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
        0600);
    if (fd < 0) {
        trustkey_err(err, errlen, "trust key %s: cannot create: %s", tmp,
            strerror(errno));
        goto done;
    }
    /* The umask only takes bits away, but be explicit: nobody else. */
    if (fchmod(fd, 0600) != 0) {
        trustkey_err(err, errlen, "trust key %s: cannot chmod: %s", tmp,
            strerror(errno));
        goto fail_unlink;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            trustkey_err(err, errlen, "trust key %s: cannot write: %s", tmp,
                w < 0 ? strerror(errno) : "short write");
            goto fail_unlink;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        trustkey_err(err, errlen, "trust key %s: cannot sync: %s", tmp,
            strerror(errno));
        goto fail_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        trustkey_err(err, errlen, "trust key %s: cannot close: %s", tmp,
            strerror(errno));
        goto fail_unlink;
    }
    fd = -1;
    if (replace) {
        if (rename(tmp, path) != 0) {
            trustkey_err(err, errlen, "trust key %s: cannot rename: %s",
                path, strerror(errno));
            goto fail_unlink;
        }
    } else {
        if (link(tmp, path) != 0) {
            trustkey_err(err, errlen, "trust key %s: cannot create: %s",
                path, strerror(errno));
            goto fail_unlink;
        }
        (void)unlink(tmp);
    }
    rc = trustkey_fsync_dir(dir, err, errlen);
    goto done;

fail_unlink:
    (void)unlink(tmp);
done:
    if (fd >= 0)
        close(fd);
    if (text != NULL)
        sodium_free(text);
    if (seed64 != NULL)
        sodium_free(seed64);
    return rc;
}

/* Read all of path (at most XS_TRUSTKEY_FILE_MAX bytes) into secure
 * memory, after checking who may read it. */
static xs_rc
trustkey_file_slurp(const char *path, char **out, size_t *outlen,
    char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int fd;

    *out = NULL;
    *outlen = 0;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        trustkey_err(err, errlen, "trust key %s: cannot open: %s", path,
            strerror(errno));
        return XS_EIO;
    }
    if (fstat(fd, &st) != 0) {
        trustkey_err(err, errlen, "trust key %s: cannot stat: %s", path,
            strerror(errno));
        goto fail_io;
    }
    if (!S_ISREG(st.st_mode)) {
        trustkey_err(err, errlen, "trust key %s: not a regular file", path);
        goto fail_inval;
    }
    if (st.st_uid != geteuid()) {
        trustkey_err(err, errlen, "trust key %s: owned by uid %u, not by "
            "the server's user (uid %u)", path, (unsigned)st.st_uid,
            (unsigned)geteuid());
        goto fail_inval;
    }
    if ((st.st_mode & 077) != 0) {
        trustkey_err(err, errlen, "trust key %s: permissions %04o are too "
            "open (group or others may access it; chmod 600 it)", path,
            (unsigned)(st.st_mode & 07777));
        goto fail_inval;
    }
    text = sodium_malloc(XS_TRUSTKEY_FILE_MAX + 1);
    if (text == NULL) {
        trustkey_err(err, errlen, "trust key %s: out of secure memory",
            path);
        close(fd);
        return XS_ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, text + len, XS_TRUSTKEY_FILE_MAX + 1 - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            trustkey_err(err, errlen, "trust key %s: cannot read: %s", path,
                strerror(errno));
            goto fail_io;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > XS_TRUSTKEY_FILE_MAX) {
            trustkey_err(err, errlen, "trust key %s: corrupt (longer than "
                "%d bytes)", path, XS_TRUSTKEY_FILE_MAX);
            goto fail_inval;
        }
    }
    close(fd);
    text[len] = '\0';
    *out = text;
    *outlen = len;
    return XS_OK;

fail_inval:
    close(fd);
    if (text != NULL)
        sodium_free(text);
    return XS_EINVAL;
fail_io:
    close(fd);
    if (text != NULL)
        sodium_free(text);
    return XS_EIO;
}

/* The file's fields, pointing into its text (secure memory). */
struct trustkey_fields {
    const char *version, *domain, *id, *created, *retired, *public, *secret;
};

/* Split text into lines and fields; a line number and reason on error. */
static const char *
trustkey_fields_parse(char *text, size_t len, struct trustkey_fields *f,
    unsigned *line)
{
    static const struct {
        const char *name;
        size_t      off;
    } names[] = {
        { "version", offsetof(struct trustkey_fields, version) },
        { "domain",  offsetof(struct trustkey_fields, domain) },
        { "id",      offsetof(struct trustkey_fields, id) },
        { "created", offsetof(struct trustkey_fields, created) },
        { "retired", offsetof(struct trustkey_fields, retired) },
        { "public",  offsetof(struct trustkey_fields, public) },
        { "secret",  offsetof(struct trustkey_fields, secret) },
    };
    char *p = text, *end = text + len;

    memset(f, 0, sizeof(*f));
    *line = 0;
    if (memchr(text, '\0', len) != NULL)
        return "contains a NUL byte";
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eq;
        size_t i;

        ++*line;
        if (nl == NULL)
            return "last line does not end with a newline";
        *nl = '\0';
        if (*p == '\0' || *p == '#') {
            p = nl + 1;
            continue;
        }
        eq = strchr(p, '=');
        if (eq == NULL)
            return "not name=value";
        *eq = '\0';
        for (i = 0; i < XS_ARRAY_LEN(names); i++)
            if (strcmp(p, names[i].name) == 0)
                break;
        if (i == XS_ARRAY_LEN(names))
            return "unknown field";
        {
            const char **slot = (const char **)((char *)f + names[i].off);

            if (*slot != NULL)
                return "field given twice";
            *slot = eq + 1;
        }
        p = nl + 1;
    }
    *line = 0;
    if (f->version == NULL || f->domain == NULL || f->id == NULL ||
        f->created == NULL || f->public == NULL)
        return "a required field is missing";
    return NULL;
}

/*
 * Load dir/name into *k; name must be <id>.key and the file must belong
 * to domain.  The secret is kept only for a key not marked retired.
 */
static xs_rc
trustkey_file_read(const char *dir, const char *name, const char *domain,
    struct trustkey *k, char *err, size_t errlen)
{
    char path[TRUSTKEY_PATH_MAX];
    struct trustkey_fields f;
    unsigned char *seed = NULL;
    uint8_t pk[XS_TRUSTKEY_PK_LEN];
    char id[XS_TRUSTKEY_ID_LEN + 1];
    char *text = NULL;
    const char *why;
    unsigned line;
    size_t len;
    xs_rc rc;
    int n;

    memset(k, 0, sizeof(*k));
    n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        trustkey_err(err, errlen, "trust keys: path too long under %s", dir);
        return XS_EINVAL;
    }
    rc = trustkey_file_slurp(path, &text, &len, err, errlen);
    if (rc != XS_OK)
        return rc;

    rc = XS_EINVAL;
    why = trustkey_fields_parse(text, len, &f, &line);
    if (why != NULL)
        goto corrupt;
    line = 0;
    if (strcmp(f.version, "1") != 0) {
        why = "unsupported version";
        goto corrupt;
    }
    if (strcmp(f.domain, domain) != 0) {
        why = "belongs to another domain";
        goto corrupt;
    }
    if (!trustkey_id_valid(f.id)) {
        why = "bad id";
        goto corrupt;
    }
    n = snprintf(id, sizeof(id), "%s", f.id);
    xs_assert(n == XS_TRUSTKEY_ID_LEN);
    if (strlen(name) != XS_TRUSTKEY_ID_LEN + strlen(TRUSTKEY_SUFFIX) ||
        strncmp(name, id, XS_TRUSTKEY_ID_LEN) != 0) {
        why = "file name is not <id>.key";
        goto corrupt;
    }
    if (!xs_trust_time_parse(f.created, &k->pub.created)) {
        why = "bad created time";
        goto corrupt;
    }
    if (f.retired != NULL &&
        (!xs_trust_time_parse(f.retired, &k->pub.retired) ||
         k->pub.retired < k->pub.created)) {
        why = "bad retired time";
        goto corrupt;
    }
    if (!xs_trust_b64_decode(f.public, false, k->pub.pk, XS_TRUSTKEY_PK_LEN)) {
        why = "bad public key";
        goto corrupt;
    }
    xs_trustkey_id_of(k->pub.pk, k->pub.id);
    if (strcmp(k->pub.id, id) != 0) {
        why = "id is not the public key's";
        goto corrupt;
    }
    if (f.secret == NULL) {
        if (f.retired == NULL) {
            why = "no secret in a key that is not retired";
            goto corrupt;
        }
    } else {
        seed = sodium_malloc(TRUSTKEY_SEED_LEN);
        k->sk = sodium_malloc(TRUSTKEY_SK_LEN);
        if (seed == NULL || k->sk == NULL) {
            trustkey_err(err, errlen, "trust key %s: out of secure memory",
                path);
            rc = XS_ENOMEM;
            goto fail;
        }
        if (!xs_trust_b64_decode(f.secret, false, seed, TRUSTKEY_SEED_LEN)) {
            why = "bad secret";
            goto corrupt;
        }
        if (crypto_sign_seed_keypair(pk, k->sk, seed) != 0 ||
            memcmp(pk, k->pub.pk, sizeof(pk)) != 0) {
            why = "secret does not match the public key";
            goto corrupt;
        }
        if (f.retired != NULL)
            trustkey_fini(k);   /* a retired key only verifies */
    }
    rc = XS_OK;
    goto done;

corrupt:
    if (line != 0)
        trustkey_err(err, errlen, "trust key %s: corrupt (line %u: %s)",
            path, line, why);
    else
        trustkey_err(err, errlen, "trust key %s: corrupt (%s)", path, why);
fail:
    trustkey_fini(k);
done:
    if (seed != NULL)
        sodium_free(seed);
    sodium_free(text);
    return rc;
}

/* Delete dir/<id>.key; a file already gone is fine. */
static void
trustkey_file_unlink(const char *dir, const char *id)
{
    char path[TRUSTKEY_PATH_MAX];

    if (trustkey_path(path, sizeof(path), dir, id, TRUSTKEY_SUFFIX))
        (void)unlink(path);
}

/* mkdir -p path; the directories made here are 0700. */
static xs_rc
trustkey_mkdirs(const char *path, char *err, size_t errlen)
{
    char buf[TRUSTKEY_PATH_MAX];
    int n = snprintf(buf, sizeof(buf), "%s", path);

    if (n <= 0 || (size_t)n >= sizeof(buf)) {
        trustkey_err(err, errlen, "trust keys: bad directory %s", path);
        return XS_EINVAL;
    }
    for (char *p = buf + 1; ; p++) {
        bool last = *p == '\0';

        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            trustkey_err(err, errlen, "trust keys: cannot create %s: %s",
                buf, strerror(errno));
            return XS_EIO;
        }
        if (last)
            break;
        *p = '/';
    }
    return XS_OK;
}

/* The domain's directory: created 0700 if missing; refused if it is not
 * ours or others may write it (they could swap keys). */
static xs_rc
trustkey_dir_open(const char *path, char *err, size_t errlen)
{
    struct stat st;
    xs_rc rc;

    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            trustkey_err(err, errlen, "trust keys: cannot stat %s: %s",
                path, strerror(errno));
            return XS_EIO;
        }
        rc = trustkey_mkdirs(path, err, errlen);
        if (rc != XS_OK)
            return rc;
        /* mkdir's mode went through the umask: set it exactly. */
        if (chmod(path, 0700) != 0 || stat(path, &st) != 0) {
            trustkey_err(err, errlen, "trust keys: cannot chmod %s: %s",
                path, strerror(errno));
            return XS_EIO;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        trustkey_err(err, errlen, "trust keys: %s is not a directory", path);
        return XS_EINVAL;
    }
    if (st.st_uid != geteuid()) {
        trustkey_err(err, errlen, "trust keys: %s is owned by uid %u, not "
            "by the server's user (uid %u)", path, (unsigned)st.st_uid,
            (unsigned)geteuid());
        return XS_EINVAL;
    }
    if ((st.st_mode & 022) != 0) {
        trustkey_err(err, errlen, "trust keys: permissions %04o on %s are "
            "too open (group or others may write it; chmod 700 it)",
            (unsigned)(st.st_mode & 07777), path);
        return XS_EINVAL;
    }
    return XS_OK;
}

static bool
trustkey_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A hosted domain's name as a directory name: prepared, and nothing that
 * walks the file system. */
static bool
trustkey_domain_valid(const char *domain)
{
    char *prepared = NULL;
    bool ok;

    if (domain == NULL || domain[0] == '\0' || domain[0] == '.' ||
        strlen(domain) > XS_TRUST_DOMAIN_MAX || strchr(domain, '/') != NULL)
        return false;
    if (xs_jid_domainprep(domain, &prepared) != XS_OK)
        return false;
    ok = strcmp(prepared, domain) == 0;
    xs_free(prepared);
    return ok;
}

static void
trustkey_domain_fini(struct trustkey_domain *d)
{
    for (size_t i = 0; i < d->nkeys; i++)
        trustkey_fini(&d->keys[i]);
    xs_free(d->keys);
    xs_free(d->name);
    xs_free(d->path);
    memset(d, 0, sizeof(*d));
}

/* Drop retired keys past their window (and their files). */
static size_t
trustkey_domain_prune(struct trustkey_domain *d, int64_t keep_s, int64_t now)
{
    size_t kept = 0, gone = 0;

    for (size_t i = 0; i < d->nkeys; i++) {
        if (trustkey_live(&d->keys[i], keep_s, now)) {
            d->keys[kept++] = d->keys[i];
            continue;
        }
        trustkey_file_unlink(d->path, d->keys[i].pub.id);
        trustkey_fini(&d->keys[i]);
        gone++;
    }
    d->nkeys = kept;
    return gone;
}

static xs_rc
trustkey_domain_load(struct trustkey_domain *d, const char *dir,
    const char *domain, int64_t keep_s, int64_t now, char *err,
    size_t errlen)
{
    struct dirent *ent;
    DIR *dh = NULL;
    xs_rc rc;

    d->name = xs_strdup(domain);
    d->path = xs_asprintf("%s/%s", dir, domain);
    if (strlen(d->path) >= TRUSTKEY_PATH_MAX - 32) {
        trustkey_err(err, errlen, "trust keys: path too long: %s", d->path);
        return XS_EINVAL;
    }
    rc = trustkey_dir_open(d->path, err, errlen);
    if (rc != XS_OK)
        return rc;
    dh = opendir(d->path);
    if (dh == NULL) {
        trustkey_err(err, errlen, "trust keys: cannot read %s: %s", d->path,
            strerror(errno));
        return XS_EIO;
    }
    d->keys = xs_calloc(TRUSTKEY_PER_DOMAIN, sizeof(*d->keys));
    while ((errno = 0, ent = readdir(dh)) != NULL) {
        if (trustkey_ends_with(ent->d_name, TRUSTKEY_TMP_SUFFIX)) {
            /* An unfinished write: it never became a key. */
            char path[TRUSTKEY_PATH_MAX];
            int n = snprintf(path, sizeof(path), "%s/%s", d->path,
                        ent->d_name);

            if (n > 0 && (size_t)n < sizeof(path))
                (void)unlink(path);
            continue;
        }
        if (!trustkey_ends_with(ent->d_name, TRUSTKEY_SUFFIX))
            continue;
        if (d->nkeys == TRUSTKEY_PER_DOMAIN) {
            trustkey_err(err, errlen, "trust keys: more than %d key files "
                "in %s", TRUSTKEY_PER_DOMAIN, d->path);
            rc = XS_EINVAL;
            goto fail;
        }
        rc = trustkey_file_read(d->path, ent->d_name, domain,
                 &d->keys[d->nkeys], err, errlen);
        if (rc != XS_OK)
            goto fail;
        d->nkeys++;
    }
    if (errno != 0) {
        trustkey_err(err, errlen, "trust keys: cannot read %s: %s", d->path,
            strerror(errno));
        rc = XS_EIO;
        goto fail;
    }
    closedir(dh);
    dh = NULL;

    qsort(d->keys, d->nkeys, sizeof(*d->keys), trustkey_cmp);
    /* A newer key retires every older one (a rotation cut short between
     * writing the new key and marking the old). */
    for (size_t i = 1; i < d->nkeys; i++) {
        if (d->keys[i].pub.retired == 0)
            d->keys[i].pub.retired = d->keys[i - 1].pub.created;
        trustkey_fini(&d->keys[i]);
    }
    for (size_t i = 0; i < d->nkeys; i++)
        if (d->keys[i].pub.retired != 0)
            d->keys[i].pub.valid_until = d->keys[i].pub.retired + keep_s;
    (void)trustkey_domain_prune(d, keep_s, now);

    if (d->nkeys == 0 || d->keys[0].pub.retired != 0) {
        struct trustkey k;

        if (d->nkeys == TRUSTKEY_PER_DOMAIN) {
            trustkey_err(err, errlen, "trust keys: too many keys in %s",
                d->path);
            return XS_EINVAL;
        }
        rc = trustkey_generate(&k, now);
        if (rc != XS_OK) {
            trustkey_err(err, errlen, "trust keys: cannot generate a key "
                "for %s", domain);
            return rc;
        }
        rc = trustkey_file_write(d->path, domain, &k, false, err, errlen);
        if (rc != XS_OK) {
            trustkey_fini(&k);
            return rc;
        }
        memmove(&d->keys[1], &d->keys[0], d->nkeys * sizeof(*d->keys));
        d->keys[0] = k;
        d->nkeys++;
    }
    return XS_OK;

fail:
    if (dh != NULL)
        closedir(dh);
    return rc;
}

/* ---- The store ---- */

xs_rc
xs_trustkey_store_load(const struct xs_trustkey_opts *opts,
    const char *const *domains, size_t ndomains, int64_t now,
    struct xs_trustkey_store **out, char *err, size_t errlen)
{
    struct xs_trustkey_store *s;
    xs_rc rc = XS_EINVAL;

    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (sodium_init() < 0) {
        trustkey_err(err, errlen, "trust keys: libsodium failed to start");
        return XS_EIO;
    }
    if (opts->dir == NULL || opts->dir[0] == '\0' ||
        opts->max_validity_s <= 0 || opts->skew_s < 0) {
        trustkey_err(err, errlen, "trust keys: bad options (directory, "
            "validity, skew)");
        return XS_EINVAL;
    }
    s = xs_calloc(1, sizeof(*s));
    s->keep_s = opts->max_validity_s + opts->skew_s;
    s->domains = xs_calloc(ndomains, sizeof(*s->domains));
    for (size_t i = 0; i < ndomains; i++) {
        if (!trustkey_domain_valid(domains[i])) {
            trustkey_err(err, errlen, "trust keys: bad domain name \"%s\"",
                domains[i] != NULL ? domains[i] : "");
            goto fail;
        }
        if (trustkey_domain_find(s, domains[i]) != NULL)
            continue;           /* listed twice: once is enough */
        rc = trustkey_domain_load(&s->domains[s->ndomains++], opts->dir,
                 domains[i], s->keep_s, now, err, errlen);
        if (rc != XS_OK)
            goto fail;
    }
    *out = s;
    return XS_OK;

fail:
    xs_trustkey_store_free(s);
    return rc;
}

void
xs_trustkey_store_free(struct xs_trustkey_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ndomains; i++)
        trustkey_domain_fini(&s->domains[i]);
    xs_free(s->domains);
    xs_free(s);
}

bool
xs_trustkey_store_has(const struct xs_trustkey_store *s, const char *domain)
{
    return trustkey_domain_find(s, domain) != NULL;
}

bool
xs_trustkey_current(const struct xs_trustkey_store *s, const char *domain,
    char id[XS_TRUSTKEY_ID_LEN + 1])
{
    const struct trustkey_domain *d = trustkey_domain_find(s, domain);

    id[0] = '\0';
    if (d == NULL || d->nkeys == 0)
        return false;
    memcpy(id, d->keys[0].pub.id, XS_TRUSTKEY_ID_LEN + 1);
    return true;
}

xs_rc
xs_trustkey_sign(const struct xs_trustkey_store *s, const char *domain,
    const char *key_id, const void *msg, size_t len,
    uint8_t sig[XS_TRUSTKEY_SIG_LEN])
{
    const struct trustkey_domain *d = trustkey_domain_find(s, domain);

    if (d == NULL || d->nkeys == 0 || key_id == NULL ||
        strcmp(d->keys[0].pub.id, key_id) != 0)
        return XS_ENOTFOUND;
    xs_assert(d->keys[0].sk != NULL && d->keys[0].pub.retired == 0);
    crypto_sign_detached(sig, NULL, msg, len, d->keys[0].sk);
    return XS_OK;
}

bool
xs_trustkey_lookup(const struct xs_trustkey_store *s, const char *domain,
    const char *id, int64_t now, struct xs_trust_pubkey *out)
{
    const struct trustkey_domain *d = trustkey_domain_find(s, domain);

    if (d == NULL || id == NULL)
        return false;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (strcmp(d->keys[i].pub.id, id) != 0)
            continue;
        if (!trustkey_live(&d->keys[i], s->keep_s, now))
            return false;
        *out = d->keys[i].pub;
        return true;
    }
    return false;
}

size_t
xs_trustkey_list(const struct xs_trustkey_store *s, const char *domain,
    int64_t now, struct xs_trust_pubkey *out, size_t max)
{
    const struct trustkey_domain *d = trustkey_domain_find(s, domain);
    size_t n = 0;

    if (d == NULL)
        return 0;
    for (size_t i = 0; i < d->nkeys && n < max; i++)
        if (trustkey_live(&d->keys[i], s->keep_s, now))
            out[n++] = d->keys[i].pub;
    return n;
}

size_t
xs_trustkey_prune(struct xs_trustkey_store *s, int64_t now)
{
    size_t gone = 0;

    for (size_t i = 0; i < s->ndomains; i++)
        gone += trustkey_domain_prune(&s->domains[i], s->keep_s, now);
    return gone;
}

/* ---- Rotation ---- */

xs_rc
xs_trustkey_rotate_begin(struct xs_trustkey_store *s, const char *domain,
    int64_t now, struct xs_trustkey_rotation **out)
{
    struct trustkey_domain *d = trustkey_domain_find(s, domain);
    struct xs_trustkey_rotation *rot;
    int64_t created = now;
    xs_rc rc;

    *out = NULL;
    if (d == NULL)
        return XS_ENOTFOUND;
    if (d->is_rotating || d->nkeys >= TRUSTKEY_PER_DOMAIN)
        return XS_ELIMIT;
    rot = xs_calloc(1, sizeof(*rot));
    if (d->nkeys > 0) {
        rot->has_old = true;
        rot->old = d->keys[0].pub;
        /* Creation order is what makes a key current: keep it strict even
         * if the clock went back. */
        if (created <= rot->old.created)
            created = rot->old.created + 1;
        rot->old.retired = created;
    }
    rc = trustkey_generate(&rot->fresh, created);
    if (rc != XS_OK) {
        xs_free(rot);
        return rc;
    }
    rot->domain = xs_strdup(d->name);
    rot->path = xs_strdup(d->path);
    rot->now = now;
    rot->rc = XS_EIO;
    trustkey_err(rot->err, sizeof(rot->err), "trust keys: the rotation of "
        "%s was not written", d->name);
    rot->expired = xs_calloc(d->nkeys + 1, sizeof(*rot->expired));
    for (size_t i = 0; i < d->nkeys; i++)
        if (!trustkey_live(&d->keys[i], s->keep_s, now))
            memcpy(rot->expired[rot->nexpired++], d->keys[i].pub.id,
                XS_TRUSTKEY_ID_LEN + 1);
    d->is_rotating = true;
    *out = rot;
    return XS_OK;
}

void
xs_trustkey_rotation_write(struct xs_trustkey_rotation *rot)
{
    struct trustkey old;

    rot->rc = trustkey_file_write(rot->path, rot->domain, &rot->fresh, false,
                  rot->err, sizeof(rot->err));
    if (rot->rc != XS_OK)
        return;
    rot->is_written = true;
    if (rot->has_old) {
        /* Without its secret: from now on it only verifies.  If this
         * fails, the next load still retires it (a newer key exists). */
        memset(&old, 0, sizeof(old));
        old.pub = rot->old;
        rot->rc = trustkey_file_write(rot->path, rot->domain, &old, true,
                      rot->err, sizeof(rot->err));
    }
    for (size_t i = 0; i < rot->nexpired; i++)
        trustkey_file_unlink(rot->path, rot->expired[i]);
}

const char *
xs_trustkey_rotation_id(const struct xs_trustkey_rotation *rot)
{
    return rot->fresh.pub.id;
}

void
xs_trustkey_rotation_free(struct xs_trustkey_rotation *rot)
{
    if (rot == NULL)
        return;
    trustkey_fini(&rot->fresh);
    xs_free(rot->expired);
    xs_free(rot->domain);
    xs_free(rot->path);
    xs_free(rot);
}

xs_rc
xs_trustkey_rotate_finish(struct xs_trustkey_store *s,
    struct xs_trustkey_rotation *rot, char *err, size_t errlen)
{
    struct trustkey_domain *d = trustkey_domain_find(s, rot->domain);
    xs_rc rc = rot->rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (rc != XS_OK)
        trustkey_err(err, errlen, "%s", rot->err);
    if (d == NULL) {
        xs_trustkey_rotation_free(rot);
        return rc != XS_OK ? rc : XS_ENOTFOUND;
    }
    d->is_rotating = false;
    /* The new key file exists: it is current now, even if retiring the
     * old file failed (the next load would decide the same way). */
    if (rot->is_written) {
        xs_assert(d->nkeys < TRUSTKEY_PER_DOMAIN);
        for (size_t i = 0; i < d->nkeys; i++) {
            if (d->keys[i].pub.retired != 0)
                continue;
            d->keys[i].pub.retired = rot->fresh.pub.created;
            d->keys[i].pub.valid_until = d->keys[i].pub.retired + s->keep_s;
            trustkey_fini(&d->keys[i]);
        }
        memmove(&d->keys[1], &d->keys[0], d->nkeys * sizeof(*d->keys));
        d->keys[0] = rot->fresh;
        d->nkeys++;
        rot->fresh.sk = NULL;       /* moved */
        (void)trustkey_domain_prune(d, s->keep_s, rot->now);
    }
    xs_trustkey_rotation_free(rot);
    return rc;
}

xs_rc
xs_trustkey_rotate(struct xs_trustkey_store *s, const char *domain,
    int64_t now, char *err, size_t errlen)
{
    struct xs_trustkey_rotation *rot;
    xs_rc rc = xs_trustkey_rotate_begin(s, domain, now, &rot);

    if (rc != XS_OK) {
        trustkey_err(err, errlen, "trust keys: cannot rotate %s: %s",
            domain, rc == XS_ENOTFOUND ? "not a hosted domain"
                  : rc == XS_ELIMIT ? "a rotation is already running"
                  : xs_rc_str(rc));
        return rc;
    }
    xs_trustkey_rotation_write(rot);
    return xs_trustkey_rotate_finish(s, rot, err, errlen);
}
