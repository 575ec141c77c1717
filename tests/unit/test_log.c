/* Unit tests: core/log (text and JSON lines, levels, context, quoting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"

static char *capture(enum log_format fmt, enum log_level min, void (*emit)(void))
{
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    log_setup(min, fmt, f);
    emit();
    fclose(f);
    log_setup(LOG_INFO, LOG_FORMAT_TEXT, NULL);
    return data;
}

static int evaluated;
static const char *side_effect(void)
{
    evaluated++;
    return "x";
}

static void emit_basic(void)
{
    log_debug("hidden", LF_STR("k", side_effect()));
    log_info("migration applied", LF_STR("name", "20240522121536_add_region"), LF_INT("group", 3),
             LF_BOOL("ok", 1));
    log_set_context("task_id", "bf9dd93e");
    log_warn("needs \"quotes\"", LF_STR("path", "/tmp/a b"), LF_STR("empty", ""));
    log_set_context(NULL, NULL);
    log_error("plain");
}

static void test_text(void **state)
{
    (void)state;
    evaluated = 0;
    char *out = capture(LOG_FORMAT_TEXT, LOG_INFO, emit_basic);
    assert_int_equal(evaluated, 0); /* disabled levels do not evaluate */
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, " level=info msg=\"migration applied\" "
                                "name=20240522121536_add_region group=3 ok=true\n"));
    assert_non_null(strstr(out, " level=warn msg=\"needs \\\"quotes\\\"\" task_id=bf9dd93e "
                                "path=\"/tmp/a b\" empty=\"\"\n"));
    assert_non_null(strstr(out, " level=error msg=plain\n"));
    assert_int_equal(strncmp(out, "time=", 5), 0);
    free(out);
}

static void test_json(void **state)
{
    (void)state;
    char *out = capture(LOG_FORMAT_JSON, LOG_DEBUG, emit_basic);
    assert_non_null(strstr(out, "\"level\":\"debug\",\"msg\":\"hidden\",\"k\":\"x\"}\n"));
    assert_non_null(strstr(out, "\"msg\":\"migration applied\",\"name\":"
                                "\"20240522121536_add_region\",\"group\":3,\"ok\":true}\n"));
    assert_non_null(strstr(out, "\"task_id\":\"bf9dd93e\""));
    free(out);
}

static void test_parse(void **state)
{
    (void)state;
    enum log_level l;
    enum log_format f;
    assert_int_equal(log_level_parse("WARNING", &l), 0);
    assert_int_equal(l, LOG_WARN);
    assert_int_equal(log_level_parse("loud", &l), -1);
    assert_int_equal(log_format_parse("json", &f), 0);
    assert_int_equal(f, LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("xml", &f), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
