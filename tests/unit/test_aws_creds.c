/* Unit tests: sources/aws/creds (shared-file parsing, profile loading,
 * environment, token file with a stand-in STS: one refresh for many
 * threads, backoff after failures, invalidation, no secret in errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <pthread.h>

#include "core/util.h"
#include "sources/aws/creds.h"

/* ---- shared files ------------------------------------------------------- */

static void test_profile_parse(void **state)
{
    (void)state;
    static const char config[] = "\xef\xbb\xbf# comment\n"
                                 "[default]\n"
                                 "region = eu-west-1\n"
                                 "aws_access_key_id = AKIDDEFAULTCFG\n"
                                 "\n"
                                 "[profile prod]\r\n"
                                 "AWS_ACCESS_KEY_ID=AKIDPROD\r\n"
                                 "aws_secret_access_key : sec=ret:with#chars \r\n"
                                 "s3 =\n"
                                 "  max_concurrent_requests = 20\n"
                                 "; another comment\n"
                                 "[profile  spaced ]\n"
                                 "aws_access_key_id = AKIDSPACED\n"
                                 "[prod]\n"
                                 "aws_access_key_id = NOT-IN-CONFIG\n"
                                 "[profile role]\n"
                                 "role_arn = arn:aws:iam::1:role/x\n"
                                 "source_profile = default\n";
    static const struct {
        const char *profile;
        int found;
        const char *akid, *secret, *unsupported;
    } rows[] = {
        {"default", 1, "AKIDDEFAULTCFG", NULL, NULL},
        {"prod", 1, "AKIDPROD", "sec=ret:with#chars", NULL},
        {"spaced", 1, "AKIDSPACED", NULL, NULL},
        {"role", 1, NULL, NULL, "role_arn"},
        {"missing", 0, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct aws_profile p = {0};
        struct buf err;
        buf_init(&err, 1024);
        int rc =
            aws_profile_parse(config, strlen(config), "config", true, rows[i].profile, &p, &err);
        if (rc != rows[i].found)
            fail_msg("row %zu: rc %d (%s)", i, rc, buf_str(&err));
        if (rows[i].akid)
            assert_string_equal(p.access_key_id, rows[i].akid);
        else
            assert_null(p.access_key_id);
        if (rows[i].secret)
            assert_string_equal(p.secret_access_key, rows[i].secret);
        else
            assert_null(p.secret_access_key);
        if (rows[i].unsupported)
            assert_string_equal(p.unsupported, rows[i].unsupported);
        else
            assert_null(p.unsupported);
        aws_profile_release(&p);
        buf_release(&err);
    }

    /* A credentials file names sections without "profile "; its keys
     * override the config file's. */
    static const char creds[] = "[default]\n"
                                "aws_access_key_id = AKIDCREDS\n"
                                "aws_secret_access_key = s3cr3t\n"
                                "aws_session_token = tok\n"
                                "[profile prod]\n"
                                "aws_access_key_id = WRONG\n";
    struct aws_profile p = {0};
    struct buf err;
    buf_init(&err, 1024);
    assert_int_equal(aws_profile_parse(config, strlen(config), "c", true, "default", &p, &err), 1);
    assert_int_equal(aws_profile_parse(creds, strlen(creds), "k", false, "default", &p, &err), 1);
    assert_string_equal(p.access_key_id, "AKIDCREDS");
    assert_string_equal(p.secret_access_key, "s3cr3t");
    assert_string_equal(p.session_token, "tok");
    aws_profile_release(&p);
    assert_int_equal(aws_profile_parse(creds, strlen(creds), "k", false, "prod", &p, &err), 0);
    assert_int_equal(aws_profile_parse(creds, strlen(creds), "k", false, "profile prod", &p, &err),
                     1);
    aws_profile_release(&p);
    buf_release(&err);
}

static void test_profile_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } rows[] = {
        {"key = v\n[default]\n", "f:1: a setting before the first [section]"},
        {"[default]\njust words\n", "f:2: expected \"key = value\""},
        {"[default]\n= v\n", "f:2: expected \"key = value\""},
        {"[default\n", "f:1: malformed section header"},
        {"[]\n", "f:1: malformed section header"},
        {"[default]\na = b\n\nx\n", "f:4: expected \"key = value\""},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct aws_profile p = {0};
        struct buf err;
        buf_init(&err, 1024);
        assert_int_equal(
            aws_profile_parse(rows[i].text, strlen(rows[i].text), "f", true, "default", &p, &err),
            -1);
        if (strcmp(buf_str(&err), rows[i].err) != 0)
            fail_msg("row %zu: got %s, want %s", i, buf_str(&err), rows[i].err);
        aws_profile_release(&p);
        buf_release(&err);
    }
    /* A NUL byte is refused, never read past. */
    static const char nul[] = "[default]\naws_access_key_id = A\0B\n";
    struct aws_profile p = {0};
    struct buf err;
    buf_init(&err, 1024);
    assert_int_equal(aws_profile_parse(nul, sizeof(nul) - 1, "f", true, "default", &p, &err), -1);
    assert_string_equal(buf_str(&err), "f:2: NUL byte");
    aws_profile_release(&p);
    buf_release(&err);
}

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void set_files(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/config", tmpdir);
    setenv("AWS_CONFIG_FILE", path, 1);
    snprintf(path, sizeof(path), "%s/credentials", tmpdir);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
}

static void test_profile_load(void **state)
{
    (void)state;
    struct aws_profile p;
    struct buf err;
    buf_init(&err, 2048);
    set_files();
    write_file("config", "[profile a]\naws_access_key_id = AKIDA\n"
                         "[profile r]\nrole_arn = arn:x\naws_access_key_id = K\n"
                         "aws_secret_access_key = S\n"
                         "[profile nokey]\nregion = x\n");
    write_file("credentials", "[a]\naws_secret_access_key = SECRETA\n");
    assert_int_equal(aws_profile_load("a", &p, &err), 0);
    assert_string_equal(p.access_key_id, "AKIDA");
    assert_string_equal(p.secret_access_key, "SECRETA");
    assert_null(p.session_token);
    aws_profile_release(&p);

    assert_int_equal(aws_profile_load("zz", &p, &err), -1);
    assert_non_null(strstr(buf_str(&err), "profile \"zz\" not found in "));
    assert_int_equal(aws_profile_load("r", &p, &err), -1);
    assert_string_equal(buf_str(&err), "profile \"r\" uses role_arn, which inventory does not "
                                       "support (use static keys or provider token_file)");
    assert_int_equal(aws_profile_load("nokey", &p, &err), -1);
    assert_non_null(strstr(buf_str(&err), "profile \"nokey\" has no aws_access_key_id"));

    /* Missing files are only "not found"; ~ expands to $HOME. */
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    assert_int_equal(aws_profile_load("a", &p, &err), -1);
    assert_string_equal(buf_str(&err), "profile \"a\" not found in /nonexistent/config or "
                                       "/nonexistent/credentials");
    unsetenv("AWS_CONFIG_FILE");
    setenv("HOME", "/home/x", 1);
    char *path = aws_profile_config_path();
    assert_string_equal(path, "/home/x/.aws/config");
    free(path);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/c", 1);
    path = aws_profile_credentials_path();
    assert_string_equal(path, "/home/x/c");
    free(path);
    buf_release(&err);
}

static void test_parse_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t ms; /* -1: malformed */
    } rows[] = {
        {"2024-01-01T00:00:00Z", 1704067200000LL},
        {"2024-01-01T00:00:00.5Z", 1704067200500LL},
        {"2024-01-01T00:00:00.123456Z", 1704067200123LL},
        {"2024-01-01T01:00:00+01:00", 1704067200000LL},
        {"2023-12-31T23:00:00-01:00", 1704067200000LL},
        {"2024-01-01 00:00:00Z", -1},
        {"2024-01-01T00:00:00", -1},
        {"2024-13-01T00:00:00Z", -1},
        {"2024-01-01T00:00:00.Z", -1},
        {"2024-01-01T00:00:00Zx", -1},
        {"", -1},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        int64_t ms = 0;
        int rc = aws_parse_time(rows[i].s, &ms);
        if (rows[i].ms < 0)
            assert_int_equal(rc, -1);
        else if (rc != 0 || ms != rows[i].ms)
            fail_msg("row %zu: rc %d ms %lld", i, rc, (long long)ms);
    }
    assert_int_equal(aws_parse_time(NULL, &(int64_t){0}), -1);
}

/* ---- providers ----------------------------------------------------------- */

static struct config_aws_cred cred_of(enum config_aws_provider kind, const char *token_path)
{
    struct config_aws_cred c = {0};
    c.name = "c1";
    c.provider = kind;
    c.profile = "default";
    c.token_path = (char *)token_path;
    c.role_arn = "arn:aws:iam::123456789012:role/r";
    c.role_session_name = "inventory";
    c.duration_ms = 3600000;
    return c;
}

static void test_env(void **state)
{
    (void)state;
    struct config_aws_cred c = cred_of(CONFIG_AWS_ENV, NULL);
    struct aws_cred_provider *p = aws_creds_new(&c, NULL, NULL);
    struct aws_creds_snap *s;
    struct aws_error e;

    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_int_equal(e.kind, AWS_ERR_CLIENT);
    assert_string_equal(e.message, "credential c1 (env): AWS_ACCESS_KEY_ID is not set");
    /* Backed off: the same error again without looking. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    aws_creds_free(p);

    p = aws_creds_new(&c, NULL, NULL);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.access_key_id, "AKIDENV");
    assert_string_equal(s->c.secret_access_key, "envsecret");
    assert_string_equal(s->c.session_token, "envtoken");
    assert_int_equal(s->expires_ms, 0);
    aws_creds_put(s);
    assert_string_equal(aws_creds_provider_name(p), "env");
    aws_creds_free(p);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
}

static void test_profile_provider(void **state)
{
    (void)state;
    struct config_aws_cred c = cred_of(CONFIG_AWS_PROFILE, NULL);
    struct aws_creds_snap *s;
    struct aws_error e;

    set_files();
    write_file("config", "");
    write_file("credentials", "[default]\naws_access_key_id = K1\naws_secret_access_key = S1\n");
    struct aws_cred_provider *p = aws_creds_new(&c, NULL, NULL);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.access_key_id, "K1");
    assert_null(s->c.session_token);
    /* A rewritten file is picked up after invalidation (or within 10 s). */
    write_file("credentials", "[default]\naws_access_key_id = K22\naws_secret_access_key = S2\n");
    aws_creds_invalidate(p, s);
    aws_creds_put(s);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.access_key_id, "K22");
    aws_creds_put(s);
    aws_creds_free(p);

    write_file("credentials", "[default]\naws_access_key_id = K1\n");
    p = aws_creds_new(&c, NULL, NULL);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_int_equal(e.kind, AWS_ERR_CLIENT);
    assert_non_null(strstr(e.message, "credential c1 (profile): profile \"default\" has no "
                                      "aws_secret_access_key"));
    aws_creds_free(p);
}

/* A stand-in STS for the token_file provider. */
struct fake_sts {
    pthread_mutex_t lock;
    int calls;
    int fail;        /* answer with an error while > 0 (decremented) */
    int64_t life_ms; /* lifetime of the credentials handed out */
    int delay_ms;    /* per call, so that threads pile up */
    char last_token[64];
    char last_role[128];
};

static int sts(void *arg, const char *action, const struct sigv4_kv *params, size_t n,
               const atomic_bool *cancel, xmlDocPtr *doc, struct aws_error *e)
{
    struct fake_sts *f = arg;
    (void)cancel;
    assert_string_equal(action, "AssumeRoleWithWebIdentity");
    pthread_mutex_lock(&f->lock);
    int call = ++f->calls;
    bool fail = f->fail > 0;
    if (fail)
        f->fail--;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].name, "WebIdentityToken") == 0)
            snprintf(f->last_token, sizeof(f->last_token), "%s", params[i].value);
        if (strcmp(params[i].name, "RoleArn") == 0)
            snprintf(f->last_role, sizeof(f->last_role), "%s", params[i].value);
        if (strcmp(params[i].name, "DurationSeconds") == 0)
            assert_string_equal(params[i].value, "3600");
        if (strcmp(params[i].name, "RoleSessionName") == 0)
            assert_string_equal(params[i].value, "inventory");
    }
    int64_t life = f->life_ms;
    int delay = f->delay_ms;
    pthread_mutex_unlock(&f->lock);
    if (delay)
        usleep((useconds_t)delay * 1000);
    if (fail) {
        memset(e, 0, sizeof(*e));
        e->kind = AWS_ERR_CLIENT;
        e->status = 400;
        snprintf(e->code, sizeof(e->code), "InvalidIdentityToken");
        snprintf(e->message, sizeof(e->message), "Incorrect token audience");
        return -1;
    }
    time_t exp = (time_t)((now_ms() + life) / 1000);
    struct tm tm;
    char when[32], body[1024];
    gmtime_r(&exp, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(body, sizeof(body),
             "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
             "<AccessKeyId>ASIA%04d</AccessKeyId><SecretAccessKey>secret%d</SecretAccessKey>"
             "<SessionToken>token%d</SessionToken><Expiration>%s</Expiration></Credentials>"
             "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>",
             call, call, call, when);
    *doc = xmlReadMemory(body, (int)strlen(body), "x.xml", NULL, XML_PARSE_NONET);
    return *doc ? 0 : -1;
}

struct getter {
    struct aws_cred_provider *p;
    int rc;
    char akid[32];
};

static void *get_thread(void *arg)
{
    struct getter *g = arg;
    struct aws_creds_snap *s;
    struct aws_error e;
    g->rc = aws_creds_get(g->p, NULL, &s, &e);
    if (g->rc == 0) {
        snprintf(g->akid, sizeof(g->akid), "%s", s->c.access_key_id);
        aws_creds_put(s);
    }
    return NULL;
}

static void test_token_file(void **state)
{
    (void)state;
    char path[128];
    struct fake_sts f = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 3600000, 200, "", ""};
    struct aws_creds_snap *s;
    struct aws_error e;

    snprintf(path, sizeof(path), "%s/token", tmpdir);
    write_file("token", "  tok-one\n");
    struct config_aws_cred c = cred_of(CONFIG_AWS_TOKEN_FILE, path);
    struct aws_cred_provider *p = aws_creds_new(&c, sts, &f);

    /* Sixteen threads at once: one STS call, everybody gets its answer. */
    pthread_t th[16];
    struct getter g[16];
    for (int i = 0; i < 16; i++) {
        g[i] = (struct getter){p, -1, ""};
        pthread_create(&th[i], NULL, get_thread, &g[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(g[i].rc, 0);
        assert_string_equal(g[i].akid, "ASIA0001");
    }
    assert_int_equal(f.calls, 1);
    assert_string_equal(f.last_token, "tok-one");
    assert_string_equal(f.last_role, "arn:aws:iam::123456789012:role/r");

    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.secret_access_key, "secret1");
    assert_string_equal(s->c.session_token, "token1");
    /* Refresh 5 minutes before expiry for a 1 h lifetime. */
    int64_t ahead = s->expires_ms - s->refresh_ms;
    assert_true(ahead == 300000);
    assert_true(s->expires_ms > now_ms() + 3500000);

    /* AWS says expired: the next get refreshes, reading the file again. */
    write_file("token", "tok-two");
    aws_creds_invalidate(p, s);
    struct aws_creds_snap *old = s;
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.access_key_id, "ASIA0002");
    assert_string_equal(f.last_token, "tok-two");
    /* The old snapshot stays valid for its holder. */
    assert_string_equal(old->c.access_key_id, "ASIA0001");
    aws_creds_put(old);
    /* Invalidating a snapshot that was replaced already does nothing. */
    aws_creds_invalidate(p, old == s ? NULL : (struct aws_creds_snap *)1);
    aws_creds_put(s);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_string_equal(s->c.access_key_id, "ASIA0002");
    aws_creds_put(s);
    assert_int_equal(f.calls, 2);
    aws_creds_free(p);

    /* 30 min lifetime: 10 % = 3 min ahead. */
    f.life_ms = 1800000;
    p = aws_creds_new(&c, sts, &f);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    ahead = s->expires_ms - s->refresh_ms;
    assert_true(ahead >= 179000 && ahead <= 181000);
    aws_creds_put(s);
    aws_creds_free(p);
}

static void test_token_file_failures(void **state)
{
    (void)state;
    char path[128];
    struct fake_sts f = {PTHREAD_MUTEX_INITIALIZER, 0, 1, 3600000, 0, "", ""};
    struct aws_creds_snap *s;
    struct aws_error e;

    snprintf(path, sizeof(path), "%s/token", tmpdir);
    write_file("token", "secret-token-value");
    struct config_aws_cred c = cred_of(CONFIG_AWS_TOKEN_FILE, path);
    struct aws_cred_provider *p = aws_creds_new(&c, sts, &f);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_string_equal(e.code, "InvalidIdentityToken");
    /* Within the backoff: the same error, no second STS call. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_int_equal(f.calls, 1);
    assert_string_equal(e.code, "InvalidIdentityToken");
    /* After the backoff (1 s) STS is asked again, and now answers. */
    usleep(1100 * 1000);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), 0);
    assert_int_equal(f.calls, 2);
    aws_creds_put(s);
    aws_creds_free(p);

    /* An unreadable or empty token file: a clear error without content. */
    write_file("token", " \n");
    p = aws_creds_new(&c, sts, &f);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_int_equal(e.kind, AWS_ERR_CLIENT);
    assert_non_null(strstr(e.message, "holds no token"));
    aws_creds_free(p);
    unlink(path);
    p = aws_creds_new(&c, sts, &f);
    assert_int_equal(aws_creds_get(p, NULL, &s, &e), -1);
    assert_non_null(strstr(e.message, "cannot open: No such file or directory"));
    assert_null(strstr(e.message, "secret-token-value"));
    aws_creds_free(p);

    /* Cancelled before anything happens. */
    atomic_bool cancel = true;
    write_file("token", "t");
    p = aws_creds_new(&c, sts, &f);
    assert_int_equal(aws_creds_get(p, &cancel, &s, &e), -1);
    assert_int_equal(e.kind, AWS_ERR_CANCELLED);
    aws_creds_free(p);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_aws_creds.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"config", "credentials", "token"};
    char path[128];
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_parse), cmocka_unit_test(test_profile_malformed),
        cmocka_unit_test(test_profile_load),  cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_env),           cmocka_unit_test(test_profile_provider),
        cmocka_unit_test(test_token_file),    cmocka_unit_test(test_token_file_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
