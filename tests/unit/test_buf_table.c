/* Unit tests: core/buf (hard cap) and core/table (the guide's layout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/table.h"

static void test_buf_cap(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 8);
    assert_int_equal(buf_adds(&b, "abcd"), 0);
    assert_int_equal(buf_addf(&b, "%d", 1234), 0);
    assert_string_equal(buf_str(&b), "abcd1234");
    /* Past the cap: refused, and the half-built value is gone. */
    assert_int_equal(buf_addc(&b, 'x'), -1);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_setf(&b, "%s", "a long message that does not fit");
    assert_int_equal(b.len, 8);
    buf_release(&b);
    buf_init(&b, BUF_NOLIMIT);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_addc(&b, 'a'), 0);
    assert_int_equal(b.len, 10000);
    char *s = buf_detach(&b);
    assert_int_equal(strlen(s), 10000);
    free(s);
    assert_null(b.ptr);
}

static char *render(const struct table *t, enum out_format fmt)
{
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    table_print(t, fmt, f);
    fclose(f);
    return data;
}

static const struct tcol cols[] = {
    {"ID", "id", TCOL_INT},
    {"NAME", "name", TCOL_STR},
    {"COMMENT", "comment", TCOL_STR},
    {"GROUP-ID", "group_id", TCOL_INT},
    {"MIGRATED-AT", "migrated_at", TCOL_STR},
};

static void test_copy_text(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(buf_add_copy_text(&b, NULL, 0), 0);
    static const char in[] = "0123456789a\\b\tc\nd\re\x01\"f";
    assert_int_equal(buf_add_copy_text(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(buf_str(&b), "\\N0123456789a\\\\b\\tc\\nd\\re\x01\"f");
    buf_release(&b);
    buf_init(&b, 4); /* over the cap: -1, nothing kept */
    assert_int_equal(buf_add_copy_text(&b, "\n\n\n", 3), -1);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void test_put_i64(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, BUF_NOLIMIT);
    static const int64_t v[] = {0, 7, -7, 10, 1234567890123LL, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "%lld", (long long)v[i]);
        buf_reset(&b);
        buf_put_i64(&b, v[i]);
        assert_string_equal(buf_str(&b), want);
    }
    buf_release(&b);
}

static void test_json_string(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    static const char in[] = "a\"b\\c/\x01\x1f\n\r\t\x7f\xc3\xa9";
    assert_int_equal(buf_add_json_string(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(buf_str(&b), "\"a\\\"b\\\\c/\\u0001\\u001f\\n\\r\\t\x7f\xc3\xa9\"");
    buf_reset(&b);
    /* Escapes after runs longer than a word, and at the very end. */
    static const char lng[] = "0123456789abcdef\"0123456789\n";
    assert_int_equal(buf_add_json_string(&b, lng, sizeof(lng) - 1), 0);
    assert_string_equal(buf_str(&b), "\"0123456789abcdef\\\"0123456789\\n\"");
    buf_reset(&b);
    /* Only the n bytes given; an empty string is "". */
    assert_int_equal(buf_add_json_string(&b, "xyz", 1), 0);
    assert_int_equal(buf_add_json_string(&b, "", 0), 0);
    assert_string_equal(buf_str(&b), "\"x\"\"\"");
    buf_release(&b);
    /* Over the cap: -1 and nothing half-written kept. */
    buf_init(&b, 8);
    assert_int_equal(buf_add_json_string(&b, "\n\n\n\n", 4), -1);
    assert_int_equal(b.len, 0);
    buf_release(&b);
}

static void test_table_text(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, cols, 5);
    char *empty = render(&t, OUT_TABLE);
    assert_string_equal(empty, "");
    free(empty);
    const char *r1[] = {NULL, "20240530112949", "add_gardener_project", NULL, NULL};
    const char *r2[] = {NULL, "20240530112956", "add_gardener_seed", NULL, NULL};
    table_add_row(&t, r1);
    table_add_row(&t, r2);
    char *out = render(&t, OUT_TABLE);
    /* Same layout as the operations guide's `db pending` sample. */
    assert_string_equal(out,
                        "  ID   NAME            COMMENT               GROUP-ID  MIGRATED-AT\n"
                        "--------------------------------------------------------------------\n"
                        "  N/A  20240530112949  add_gardener_project  N/A       N/A\n"
                        "  N/A  20240530112956  add_gardener_seed     N/A       N/A\n");
    free(out);
    table_release(&t);
}

static void test_table_json_csv(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, cols, 5);
    const char *r1[] = {"5", "20240527193313", "add, \"quoted\"", "2", NULL};
    table_add_row(&t, r1);
    char *js = render(&t, OUT_JSON);
    assert_non_null(strstr(js, "\"id\": 5"));
    assert_non_null(strstr(js, "\"group_id\": 2"));
    assert_non_null(strstr(js, "\"migrated_at\": null"));
    assert_non_null(strstr(js, "\"comment\": \"add, \\\"quoted\\\"\""));
    free(js);
    char *csv = render(&t, OUT_CSV);
    assert_string_equal(csv, "id,name,comment,group_id,migrated_at\r\n"
                             "5,20240527193313,\"add, \"\"quoted\"\"\",2,\r\n");
    free(csv);
    table_release(&t);
    enum out_format f;
    assert_int_equal(out_format_parse("json", &f), 0);
    assert_int_equal(f, OUT_JSON);
    assert_int_equal(out_format_parse("yaml", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_cap),    cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_put_i64),    cmocka_unit_test(test_copy_text),
        cmocka_unit_test(test_table_text), cmocka_unit_test(test_table_json_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
