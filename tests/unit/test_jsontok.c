/* Unit tests: core/jsontok (strict JSON tokenizer), base64 and UTF-8
 * checks from core/util, and scan_parse's reasons. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/jsonload.h"
#include "core/jsontok.h"
#include "core/util.h"
#include "ingest/scans.h"

static void test_accepts_and_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int count; /* -1: refused */
    } rows[] = {
        {"{}", 1},
        {" [ ] ", 1},
        {"{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", 12},
        {"-0.5e+10", 1},
        {"\"\\ud83d\\ude80\"", 1},
        {"0", 1},
        {"", -1},
        {"{", -1},
        {"{\"a\"}", -1},
        {"{\"a\":1,}", -1},
        {"[1,]", -1},
        {"01", -1},
        {"1.", -1},
        {"-", -1},
        {"1e", -1},
        {"tru", -1},
        {"\"\\x\"", -1},
        {"\"\\ud83d\"", -1},  /* lone high surrogate */
        {"\"\\ude80\"", -1},  /* lone low surrogate */
        {"\"a\tb\"", -1},     /* raw control character */
        {"\"\xff\"", -1},     /* not UTF-8 */
        {"\"\xc0\xaf\"", -1}, /* overlong */
        {"{} {}", -1},
        {"{'a':1}", -1},
        {"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", -1}, /* 34 deep */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct jt t[32];
        const char *why = NULL;
        int n = jt_parse(rows[i].in, strlen(rows[i].in), t, 32, &why);
        if (n != rows[i].count)
            fail_msg("%s: got %d (%s), want %d", rows[i].in, n, why ? why : "", rows[i].count);
        if (n < 0)
            assert_non_null(why);
    }
}

static void test_members_strings_numbers(void **state)
{
    (void)state;
    const char *s = "{\"k\\u0065y\":\"a\\n\\\"\\u00e9\\ud83d\\ude80\",\"n\":-9223372036854775808,"
                    "\"big\":9223372036854775808,\"f\":1.5,\"o\":{\"x\":[1,2]},\"z\":0}";
    struct jt t[32];
    const char *why = NULL;
    int n = jt_parse(s, strlen(s), t, 32, &why);
    assert_int_equal(n, 17);
    assert_int_equal(t[0].next, 17);
    /* members: key at k, value at k + 1, the next key at t[k + 1].next */
    int keys[8], nk = 0;
    for (int k = 1; k < (int)t[0].next; k = (int)t[k + 1].next)
        keys[nk++] = k;
    assert_int_equal(nk, 6);
    assert_true(jt_eq(s, &t[keys[0]], "key"));
    char out[64];
    assert_int_equal(jt_string(s, &t[keys[0] + 1], out, sizeof(out)), 9);
    assert_string_equal(out, "a\n\"\xc3\xa9\xf0\x9f\x9a\x80");
    assert_int_equal(jt_string(s, &t[keys[0] + 1], out, 9), -1); /* does not fit */
    int64_t v;
    assert_int_equal(jt_int64(s, &t[keys[1] + 1], &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(jt_int64(s, &t[keys[2] + 1], &v), -1); /* overflow */
    assert_int_equal(jt_int64(s, &t[keys[3] + 1], &v), -1); /* not an integer */
    assert_int_equal(t[keys[4] + 1].type, JT_OBJECT);
    assert_int_equal(t[keys[4] + 1].next, keys[5]);
    assert_true(jt_eq(s, &t[keys[5]], "z"));
    /* too many tokens */
    assert_int_equal(jt_parse(s, strlen(s), t, 8, &why), -1);
    assert_string_equal(why, "too many values");
}

static void test_base64_utf8(void **state)
{
    (void)state;
    unsigned char out[16];
    assert_int_equal(base64_decode("", 0, out), 0);
    assert_int_equal(base64_decode("U1NI", 4, out), 3);
    assert_memory_equal(out, "SSH", 3);
    assert_int_equal(base64_decode("eA==", 4, out), 1);
    assert_int_equal(base64_decode("eHk=", 4, out), 2);
    assert_int_equal(base64_decode("eA=", 3, out), -1);  /* length */
    assert_int_equal(base64_decode("eB==", 4, out), -1); /* pad bits set */
    assert_int_equal(base64_decode("e===", 4, out), -1);
    assert_int_equal(base64_decode("=AAA", 4, out), -1);
    assert_int_equal(base64_decode("eA==eA==", 8, out), -1); /* padding inside */
    assert_int_equal(base64_decode("e-A_", 4, out), -1);     /* url alphabet */
    assert_true(utf8_valid((const unsigned char *)"a\xc3\xa9\xf0\x9f\x9a\x80", 7));
    assert_false(utf8_valid((const unsigned char *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid((const unsigned char *)"\xe0\x80\x80", 3));     /* overlong */
    assert_false(utf8_valid((const unsigned char *)"\xc3", 1));             /* cut */
}

static void test_scan_reasons(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        enum scan_invalid want;
    } rows[] = {
        {"{\"ip\":\"2001:DB8::1\",\"port\":22,\"service\":\"SSH\",\"timestamp\":1,"
         "\"data_version\":1,\"data\":{\"response_bytes_utf8\":\"eA==\"},\"extra\":[1]}",
         SCAN_OK},
        {"{\"ip\":\"1.2.3.4\",\"ip\":\"1.2.3.5\"}", SCAN_JSON},
        {"[]", SCAN_JSON},
        {"{\"ip\":\"1.2.3.4\"}", SCAN_MISSING_FIELD},
        {"{\"ip\":\"1.2.3.4\\u0000\",\"port\":1,\"service\":\"a\",\"timestamp\":1,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\"}}",
         SCAN_IP},
        {"{\"ip\":\"1.2.3.4\",\"port\":1.0,\"service\":\"a\",\"timestamp\":1,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\"}}",
         SCAN_PORT},
        {"{\"ip\":\"1.2.3.4\",\"port\":1,\"service\":\"a\\u007f\",\"timestamp\":1,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\"}}",
         SCAN_SERVICE},
        {"{\"ip\":\"1.2.3.4\",\"port\":1,\"service\":\"a\",\"timestamp\":99999999999999999999,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\"}}",
         SCAN_TIMESTAMP},
        {"{\"ip\":\"1.2.3.4\",\"port\":1,\"service\":\"a\",\"timestamp\":1,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\",\"response_str\":\"y\"}}",
         SCAN_JSON},
        {"{\"ip\":\"1.2.3.4\",\"port\":1,\"service\":\"a\",\"timestamp\":1,"
         "\"data_version\":2,\"data\":{\"response_str\":\"x\\u0000\"}}",
         SCAN_ENCODING},
        {"{\"ip\":\"1.2.3.4\",\"port\":1,\"service\":\"a\",\"timestamp\":1,"
         "\"data_version\":1,\"data\":{\"response_bytes_utf8\":\"AA==\"}}",
         SCAN_ENCODING},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct scan_msg m;
        struct buf d;
        buf_init(&d, 256);
        enum scan_invalid r = scan_parse(rows[i].in, strlen(rows[i].in), 4096, &m, &d);
        if (r != rows[i].want)
            fail_msg("row %zu: got %s (%s), want %s", i, scan_invalid_name(r), buf_str(&d),
                     scan_invalid_name(rows[i].want));
        if (r == SCAN_OK) {
            assert_string_equal(m.ip, "2001:db8::1");
            assert_string_equal(m.response, "x");
        }
        scan_msg_release(&m);
        buf_release(&d);
    }
    struct scan_msg m;
    assert_int_equal(scan_parse("{}", 2, 1, &m, NULL), SCAN_OVERSIZED);
    assert_int_equal(scan_parse(NULL, 0, 1, &m, NULL), SCAN_JSON);
}

/* jsonload gives jansson's tree, and jansson's refusal of a key given
 * twice, at any depth. */
static void test_jsonload_duplicates(void **state)
{
    (void)state;
    static const char *const dup[] = {
        "{\"a\":1,\"a\":2}",
        "{\"a\":{\"b\":[1,{\"c\":1,\"d\":2,\"c\":3}]}}",
        "{\"k\":{\"x\":1},\"k\":{\"x\":1}}",
    };
    for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
        json_error_t e1, e2;
        json_t *j = jsonload(dup[i], strlen(dup[i]), &e1);
        assert_null(j);
        assert_null(json_loadb(dup[i], strlen(dup[i]), JSON_REJECT_DUPLICATES, &e2));
        assert_string_equal(e1.text, e2.text);
    }
    const char *ok = "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}";
    json_t *j = jsonload(ok, strlen(ok), NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(j, "b"), 1), "a")), 2);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_and_refuses), cmocka_unit_test(test_members_strings_numbers),
        cmocka_unit_test(test_base64_utf8),         cmocka_unit_test(test_scan_reasons),
        cmocka_unit_test(test_jsonload_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
