/* Unit tests: db/migrate file handling (no database needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/migrate.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/inv-migtest-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf '%s'", dir);
    int rc = system(cmd);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static void put(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

static void clear(void)
{
    assert_int_equal(teardown(NULL), 0);
    assert_int_equal(setup(NULL), 0);
}

static void test_load_sorted_pairs(void **state)
{
    (void)state;
    struct migration_set set;
    struct buf err;
    buf_init(&err, 1024);
    clear();
    put("20240523061849_add_aws_az.up.sql", "CREATE TABLE b ();");
    put("20240522121536_aws_add_region.tx.up.sql", "CREATE TABLE a ();");
    put("20240522121536_aws_add_region.tx.down.sql", "DROP TABLE a;");
    put("README.md", "ignored");
    assert_int_equal(migrate_load(&set, dir, &err), 0);
    assert_int_equal(set.n, 2);
    assert_string_equal(set.items[0].name, "20240522121536");
    assert_string_equal(set.items[0].comment, "aws_add_region");
    assert_string_equal(set.items[0].down, "DROP TABLE a;");
    assert_string_equal(set.items[1].comment, "add_aws_az");
    assert_null(set.items[1].down);
    migrate_set_release(&set);
    buf_release(&err);
}

static void test_load_errors(void **state)
{
    (void)state;
    static const struct {
        const char *files[2];
        const char *want;
    } rows[] = {
        {{"2024_bad.up.sql", NULL}, "not a migration file name"},
        {{"20240522121536_x.sideways.sql", NULL}, "not a migration file name"},
        {{"20240522121536_a b.up.sql", NULL}, "not a migration file name"},
        {{"20240522121536_a.up.sql", "20240522121536_b.down.sql"}, "also exists as"},
        {{"20240522121536_a.up.sql", "20240522121536_a.tx.up.sql"}, "duplicate up migration"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        struct migration_set set;
        struct buf err;
        buf_init(&err, 1024);
        clear();
        for (size_t k = 0; k < 2 && rows[i].files[k]; k++)
            put(rows[i].files[k], "SELECT 1;");
        assert_int_equal(migrate_load(&set, dir, &err), -1);
        if (!strstr(buf_str(&err), rows[i].want))
            fail_msg("row %zu: error \"%s\" lacks \"%s\"", i, buf_str(&err), rows[i].want);
        assert_int_equal(set.n, 0);
        buf_release(&err);
    }
    struct migration_set set;
    struct buf err;
    buf_init(&err, 1024);
    assert_int_equal(migrate_load(&set, "/nonexistent/dir", &err), -1);
    assert_non_null(strstr(buf_str(&err), "No such file"));
    buf_release(&err);
}

static void test_embedded(void **state)
{
    (void)state;
    struct migration_set set;
    struct buf err;
    buf_init(&err, 1024);
    /* The migrations compiled into the binary are well-formed pairs. */
    assert_int_equal(migrate_load(&set, NULL, &err), 0);
    for (size_t i = 0; i < set.n; i++) {
        assert_non_null(set.items[i].up);
        assert_non_null(set.items[i].down);
        if (i)
            assert_true(strcmp(set.items[i - 1].name, set.items[i].name) < 0);
    }
    migrate_set_release(&set);
    buf_release(&err);
}

static void test_create(void **state)
{
    (void)state;
    struct buf err;
    char *up, *down;
    buf_init(&err, 1024);
    clear();
    assert_int_equal(migrate_create(dir, "Add AWS  bucket--table!", &up, &down, &err), 0);
    assert_non_null(strstr(up, "_add_aws_bucket_table.up.sql"));
    assert_non_null(strstr(down, "_add_aws_bucket_table.down.sql"));
    assert_int_equal(access(up, R_OK), 0);
    assert_int_equal(access(down, R_OK), 0);
    /* The new pair loads back as one pending migration. */
    struct migration_set set;
    assert_int_equal(migrate_load(&set, dir, &err), 0);
    assert_int_equal(set.n, 1);
    assert_string_equal(set.items[0].comment, "add_aws_bucket_table");
    migrate_set_release(&set);
    free(up);
    free(down);
    assert_int_equal(migrate_create(dir, "!!!", &up, &down, &err), -1);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_sorted_pairs),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_embedded),
        cmocka_unit_test(test_create),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
