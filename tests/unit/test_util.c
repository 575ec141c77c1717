/* Unit tests: core/util (numbers, durations, time formatting, byte scans). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } rows[] = {
        {"0", 0, 0},
        {"30s", 0, 30000},
        {"1h30m", 0, 5400000},
        {"1.5s", 0, 1500},
        {"300ms", 0, 300},
        {"2h45m10.5s", 0, 9910500},
        {"720h", 0, 2592000000LL},
        {"1us", 0, 0},
        {"1500000ns", 0, 1},
        {"", -1, 0},
        {"s", -1, 0},
        {"10", -1, 0},
        {"10x", -1, 0},
        {"-5s", -1, 0},
        {"1h 30m", -1, 0},
        {"99999999999999h", -1, 0},
        {" 5s", -1, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        int64_t ms = -7;
        int rc = duration_parse(rows[i].in, &ms);
        if (rc != rows[i].rc)
            fail_msg("duration_parse(\"%s\") = %d, want %d", rows[i].in, rc, rows[i].rc);
        if (rc == 0 && ms != rows[i].ms)
            fail_msg("duration_parse(\"%s\") = %lld ms, want %lld", rows[i].in, (long long)ms,
                     (long long)rows[i].ms);
    }
}

static void test_duration_format(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *out;
    } rows[] = {
        {0, "0s"},      {1800000, "30m0s"},         {4060951, "1h7m40.951s"}, {500, "500ms"},
        {1500, "1.5s"}, {2592000000LL, "720h0m0s"}, {61000, "1m1s"},          {-2000, "-2s"},
    };
    char buf[64];
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        duration_format(rows[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, rows[i].out);
    }
}

static void test_parse_int(void **state)
{
    (void)state;
    int v;
    assert_int_equal(parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(parse_int("-1", 0, 100, &v), -1);
    assert_int_equal(parse_int("101", 0, 100, &v), -1);
    assert_int_equal(parse_int("4x", 0, 100, &v), -1);
    assert_int_equal(parse_int("", 0, 100, &v), -1);
    assert_int_equal(parse_int(" 4", 0, 100, &v), -1);
    assert_int_equal(parse_int("99999999999999999999", 0, 100, &v), -1);
    bool b;
    assert_int_equal(parse_bool("Yes", &b), 0);
    assert_true(b);
    assert_int_equal(parse_bool("off", &b), 0);
    assert_false(b);
    assert_int_equal(parse_bool("maybe", &b), -1);
}

static void test_time_format_go(void **state)
{
    (void)state;
    char buf[64];
    /* 2024-06-03 09:41:03.675529 UTC */
    time_format_go(1717407663675529LL, buf, sizeof(buf));
    assert_string_equal(buf, "2024-06-03 09:41:03.675529 +0000 UTC");
    time_format_go(1717407663130000LL, buf, sizeof(buf));
    assert_string_equal(buf, "2024-06-03 09:41:03.13 +0000 UTC");
    time_format_go(1717407663000000LL, buf, sizeof(buf));
    assert_string_equal(buf, "2024-06-03 09:41:03 +0000 UTC");
}

static void test_names_and_trim(void **state)
{
    (void)state;
    assert_true(is_safe_name("aws:task:collect-regions", 64));
    assert_false(is_safe_name("", 64));
    assert_false(is_safe_name("a b", 64));
    assert_false(is_safe_name("abcdef", 3));
    char s[] = "  padded \t\n";
    assert_string_equal(str_trim(s), "padded");
}

/* plain_run against a byte-at-a-time reading: every stop byte at every
 * offset of a 20-byte run, with UTF-8 bytes (>= 0x80) around it, which
 * never stop it. */
static size_t plain_ref(const char *s, size_t n, unsigned char q)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] >= 0x20 && s[i] != '\\' && (unsigned char)s[i] != q)
        i++;
    return i;
}

static void test_plain_run(void **state)
{
    (void)state;
    static const unsigned char stops[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, '\\', '"'};
    static const unsigned char goes[] = {' ', 'a', 0x7f, 0x80, 0xc3, 0xff};
    char s[40]; /* two 16-byte steps, an 8-byte one and single bytes */
    for (size_t g = 0; g < sizeof(goes); g++) {
        memset(s, (char)goes[g], sizeof(s));
        assert_int_equal(plain_run(s, sizeof(s), '"'), sizeof(s));
        for (size_t k = 0; k < sizeof(stops); k++)
            for (size_t at = 0; at < sizeof(s); at++)
                for (size_t n = 0; n <= sizeof(s); n++) {
                    memset(s, (char)goes[g], sizeof(s));
                    s[at] = (char)stops[k];
                    assert_int_equal(plain_run(s, n, '"'), plain_ref(s, n, '"'));
                    assert_int_equal(plain_run(s, n, '\\'), plain_ref(s, n, '\\'));
                }
    }
}

/* utf8_valid reads ASCII sixteen (SSE2) or eight bytes at a time: a bad
 * or good sequence after any number of ASCII bytes. */
static void test_utf8_valid_offsets(void **state)
{
    (void)state;
    unsigned char s[40];
    for (size_t at = 0; at + 4 <= sizeof(s); at++) {
        memset(s, 'a', sizeof(s));
        memcpy(s + at, "\xf0\x9f\x9a\x80", 4); /* U+1F680 */
        assert_true(utf8_valid(s, sizeof(s)));
        assert_false(utf8_valid(s, at + 3)); /* cut short */
        s[at + 1] = 'x';                     /* not a continuation */
        assert_false(utf8_valid(s, sizeof(s)));
        s[at] = (unsigned char)0xc0; /* overlong */
        s[at + 1] = (unsigned char)0x80;
        assert_false(utf8_valid(s, sizeof(s)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse),     cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_parse_int),          cmocka_unit_test(test_time_format_go),
        cmocka_unit_test(test_names_and_trim),     cmocka_unit_test(test_plain_run),
        cmocka_unit_test(test_utf8_valid_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
