/* Unit tests: api/query (query strings, list parameters, SQL, cursors,
 * timestamps, base64url) and api/router (path patterns). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/query.h"
#include "api/router.h"

static void test_args_parse(void **state)
{
    (void)state;
    struct api_arg *a;
    size_t n;
    struct buf reason;
    buf_init(&reason, 512);
    assert_int_equal(api_args_parse("a=1&b=x+y%2Cz&&c&d=", &a, &n, &reason), 0);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].key, "a");
    assert_string_equal(a[0].val, "1");
    assert_string_equal(a[1].val, "x y,z");
    assert_string_equal(a[2].key, "c");
    assert_string_equal(a[2].val, "");
    assert_string_equal(a[3].val, "");
    api_args_free(a, n);
    assert_int_equal(api_args_parse(NULL, &a, &n, &reason), 0);
    assert_int_equal(n, 0);
    assert_int_equal(api_args_parse("", &a, &n, &reason), 0);
    assert_int_equal(n, 0);

    static const char *const bad[] = {"a=%zz", "a=%4",    "a=%",      "a=%00",
                                      "=1",    "a=1&a=2", "%41=1&A=2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(api_args_parse(bad[i], &a, &n, &reason), -1);
        assert_null(a);
        assert_true(buf_str(&reason)[0] != '\0');
    }
    /* Too many parameters. */
    struct buf qs;
    buf_init(&qs, BUF_NOLIMIT);
    for (int i = 0; i <= API_MAX_ARGS; i++)
        assert_int_equal(buf_addf(&qs, "k%d=1&", i), 0);
    assert_int_equal(api_args_parse(buf_str(&qs), &a, &n, &reason), -1);
    assert_non_null(strstr(buf_str(&reason), "more than"));
    buf_release(&qs);
    buf_release(&reason);
}

static const struct model_def *inst(void)
{
    const struct model_def *m = model_find("aws:model:instance");
    assert_non_null(m);
    return m;
}

/* Parses qs for aws:model:instance; returns 0/-1, reason in *why. */
static int parse(const char *qs, struct api_list *l, char *why, size_t wn)
{
    struct api_arg *a;
    size_t n;
    struct buf reason;
    buf_init(&reason, 512);
    int rc = api_args_parse(qs, &a, &n, &reason);
    if (rc == 0) {
        rc = api_list_parse(inst(), a, n, 1000, l, &reason);
        api_args_free(a, n);
    }
    snprintf(why, wn, "%s", buf_str(&reason));
    buf_release(&reason);
    return rc;
}

static void test_list_parse_and_sql(void **state)
{
    (void)state;
    struct api_list l;
    char why[512];
    assert_int_equal(parse("state=running&id__in=1,2&name__prefix=we&launch_time__gte=2024-01-"
                           "01T00:00:00Z&sort=-launch_time&limit=10&fields=id,name&total=true",
                           &l, why, sizeof(why)),
                     0);
    assert_int_equal(l.nfilters, 4);
    assert_int_equal(l.filters[1].op, API_IN);
    assert_string_equal(l.filters[1].value, "{\"1\",\"2\"}");
    assert_true(l.desc);
    assert_string_equal(l.sortspec, "-launch_time");
    assert_int_equal(l.limit, 10);
    assert_int_equal(l.nfields, 2);
    assert_true(l.total);
    struct api_sql q;
    api_sql_init(&q);
    assert_int_equal(api_list_sql(&l, false, &q), 0);
    const char *sql = buf_str(&q.sql);
    /* Values never appear in the statement. */
    assert_null(strstr(sql, "running"));
    assert_non_null(strstr(sql, "m.state = $1::text"));
    assert_non_null(strstr(sql, "m.id = ANY($2::bigint[])"));
    assert_non_null(strstr(sql, "starts_with(m.name, $3::text)"));
    assert_non_null(strstr(sql, "m.launch_time >= $4::timestamptz"));
    assert_non_null(strstr(sql, "DESC, m.id DESC LIMIT $5"));
    assert_int_equal(q.nparams, 5);
    assert_string_equal(q.params[0], "running");
    assert_string_equal(q.params[4], "11");
    api_sql_release(&q);
    api_list_release(&l);

    static const struct {
        const char *qs, *needle;
    } bad[] = {
        {"nosuch=1", "unknown column \"nosuch\""},
        {"state__like=1", "unknown operator \"__like\""},
        {"state__gt=1", "number or timestamp"},
        {"id__prefix=1", "text column"},
        {"id=1%27%20OR%201=1--", "64-bit integer"},
        {"id=9223372036854775808", "64-bit integer"},
        {"id=-9223372036854775809", "64-bit integer"},
        {"launch_time=2024-13-01", "RFC 3339"},
        {"sort=id;drop", "unknown column \"id;drop\""},
        {"fields=id,id", "twice"},
        {"limit=1001", "limit"},
        {"limit=0", "limit"},
        {"next=abc", "cursor"},
        {"total=perhaps", "total"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].qs, &l, why, sizeof(why)), -1);
        if (!strstr(why, bad[i].needle))
            fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].qs, why, bad[i].needle);
    }
}

static void test_cursor(void **state)
{
    (void)state;
    struct buf reason;
    buf_init(&reason, 512);
    char *key;
    int64_t id;
    char *c = api_cursor_encode("-name", COL_TEXT, "web \"1\"", 42);
    assert_int_equal(api_cursor_decode(c, "-name", COL_TEXT, &key, &id, &reason), 0);
    assert_string_equal(key, "web \"1\"");
    assert_int_equal(id, 42);
    free(key);
    /* Another sort, another type. */
    assert_int_equal(api_cursor_decode(c, "name", COL_TEXT, &key, &id, &reason), -1);
    assert_non_null(strstr(buf_str(&reason), "another sort"));
    assert_int_equal(api_cursor_decode(c, "-name", COL_INT, &key, &id, &reason), -1);
    /* Every truncation is refused (or decodes to something invalid). */
    for (size_t n = 0; n < strlen(c); n++) {
        char *t = strndup(c, n);
        assert_int_equal(api_cursor_decode(t, "-name", COL_TEXT, &key, &id, &reason), -1);
        free(t);
    }
    free(c);
    c = api_cursor_encode("launch_time", COL_TIME, NULL, 7);
    assert_int_equal(api_cursor_decode(c, "launch_time", COL_TIME, &key, &id, &reason), 0);
    assert_null(key);
    free(c);
    c = api_cursor_encode("launch_time", COL_TIME, "1704067200000001", 7);
    assert_int_equal(api_cursor_decode(c, "launch_time", COL_TIME, &key, &id, &reason), 0);
    assert_string_equal(key, "1704067200000001");
    free(key);
    free(c);
    assert_int_equal(api_cursor_decode("!!!!", "id", COL_INT, &key, &id, &reason), -1);
    buf_release(&reason);
}

static void test_b64url(void **state)
{
    (void)state;
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *e = api_b64url_encode((const unsigned char *)in[i], strlen(in[i]));
        assert_string_equal(e, out[i]);
        unsigned char d[16];
        assert_int_equal(api_b64url_decode(e, strlen(e), d), (long)strlen(in[i]));
        assert_memory_equal(d, in[i], strlen(in[i]));
        free(e);
    }
    unsigned char d[16];
    assert_int_equal(api_b64url_decode("Zh", 2, d), -1); /* non-zero trailing bits */
    assert_int_equal(api_b64url_decode("Z", 1, d), -1);
    assert_int_equal(api_b64url_decode("Zm9=", 4, d), -1);
    assert_int_equal(api_b64url_decode("Zm+v", 4, d), -1);
}

static void test_time(void **state)
{
    (void)state;
    static const char *const good[] = {"2024-01-01", "2024-02-29T23:59:59Z",
                                       "2024-06-03T09:41:03.675529+02:00", "1999-12-31t00:00:00z",
                                       "2024-06-03 09:41:03-05:30"};
    static const char *const bad[] = {"",
                                      "2024",
                                      "2023-02-29",
                                      "2024-13-01",
                                      "2024-01-32",
                                      "2024-01-01T24:00:00Z",
                                      "2024-01-01T00:00:00",
                                      "2024-01-01T00:00:00.Z",
                                      "2024-01-01T00:00Z",
                                      "2024-01-01T00:00:00+2:00",
                                      "0000-01-01",
                                      "2024-01-01x",
                                      "2024-01-01T00:00:00Z ",
                                      "yesterday"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!api_valid_time(good[i]))
            fail_msg("refused %s", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (api_valid_time(bad[i]))
            fail_msg("accepted %s", bad[i]);
}

static void test_router(void **state)
{
    (void)state;
    struct slice caps[API_ROUTE_MAX_CAPS];
    size_t n = 99;
    assert_true(api_route_match("/health", "/health", caps, &n));
    assert_int_equal(n, 0);
    assert_true(
        api_route_match("/api/v1/:s/:m/:id/links", "/api/v1/aws/instances/12/links", caps, &n));
    assert_int_equal(n, 3);
    assert_int_equal(caps[1].len, 9);
    assert_memory_equal(caps[1].p, "instances", 9);
    assert_memory_equal(caps[2].p, "12", 2);
    static const struct {
        const char *pattern, *path;
    } miss[] = {
        {"/health", "/health/"},
        {"/health", "/healthz"},
        {"/health", "/"},
        {"/health", ""},
        {"/health", "health"},
        {"/health", "//health"},
        {"/api/v1/:s/:m", "/api/v1/aws"},
        {"/api/v1/:s/:m", "/api/v1/aws//x"},
    };
    for (size_t i = 0; i < sizeof(miss) / sizeof(miss[0]); i++)
        if (api_route_match(miss[i].pattern, miss[i].path, caps, &n))
            fail_msg("%s matched %s", miss[i].pattern, miss[i].path);
    assert_false(api_route_match("/api/v1/:s/:m", "/api/v1/aws/instances/1", caps, &n));
    assert_false(api_route_match("/api/v1/:s/:m/:id", "/api/v1/aws/instances", caps, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_args_parse), cmocka_unit_test(test_list_parse_and_sql),
        cmocka_unit_test(test_cursor),     cmocka_unit_test(test_b64url),
        cmocka_unit_test(test_time),       cmocka_unit_test(test_router),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
