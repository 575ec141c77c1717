/* Unit tests: core/cli (command resolution, options, exit codes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/cli.h"

static struct {
    int calls;
    const char *queue;
    int64_t page;
    int64_t timeout;
    bool force;
    int argc;
    const char *arg0;
    size_t nconfig;
} seen;

static int record(struct cli_ctx *ctx)
{
    const char *const *list;
    seen.calls++;
    seen.queue = cli_str(ctx, "queue");
    seen.page = cli_int(ctx, "page");
    seen.timeout = cli_int(ctx, "timeout");
    seen.force = cli_flag(ctx, "force");
    seen.argc = ctx->argc;
    seen.arg0 = ctx->argc ? ctx->argv[0] : NULL;
    seen.nconfig = cli_list(ctx, "config", &list);
    return 0;
}

static const struct cli_opt task_opts[] = {
    {"queue", "name", 'q', OPT_STRING, "NAME", "queue", "default", 0, 0, 0},
    {"page", NULL, 0, OPT_INT, "N", "page", "1", 1, 1000, 0},
    {"timeout", NULL, 0, OPT_DURATION, "D", "timeout", "30m", 0, 0, 0},
    {"force", NULL, 'f', OPT_BOOL, NULL, "force", NULL, 0, 0, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};
static const struct cli_opt req_opts[] = {
    {"id", NULL, 0, OPT_STRING, "ID", "task id", NULL, 0, 0, OPT_REQUIRED},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const struct cli_cmd task_subs[] = {
    {"active", {"a"}, "list active", NULL, task_opts, record, NULL, 0, NULL},
    {"inspect", {"i"}, "inspect", NULL, req_opts, record, NULL, 0, NULL},
    {"create", {NULL}, "create", "<words...>", NULL, record, NULL, CMD_ARGS, NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
static const struct cli_cmd subs[] = {
    {"task", {"t", "tasks"}, "task operations", NULL, NULL, NULL, task_subs, 0, NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
static const struct cli_cmd root = {"inventory", {NULL}, "test", NULL, NULL, NULL, subs, 0, NULL};

static int run(int argc, const char **argv)
{
    memset(&seen, 0, sizeof(seen));
    return cli_main(&root, NULL, argc, (char **)argv);
}

#define RUN(...)                                                                                   \
    ({                                                                                             \
        const char *av[] = {"inventory", __VA_ARGS__};                                             \
        run((int)(sizeof(av) / sizeof(av[0])), av);                                                \
    })

static void test_resolution_and_defaults(void **state)
{
    (void)state;
    assert_int_equal(RUN("task", "active"), 0);
    assert_int_equal(seen.calls, 1);
    assert_string_equal(seen.queue, "default");
    assert_int_equal(seen.page, 1);
    assert_int_equal(seen.timeout, 1800000);
    assert_false(seen.force);
    /* Aliases at both levels, options in every spelling. */
    assert_int_equal(RUN("t", "a", "--queue", "aws", "--page=3", "-f", "--timeout", "1h30m"), 0);
    assert_string_equal(seen.queue, "aws");
    assert_int_equal(seen.page, 3);
    assert_int_equal(seen.timeout, 5400000);
    assert_true(seen.force);
    assert_int_equal(RUN("tasks", "active", "--name", "q2"), 0);
    assert_string_equal(seen.queue, "q2");
    assert_int_equal(RUN("task", "active", "-qfoo"), 0);
    assert_string_equal(seen.queue, "foo");
    /* Global options anywhere, repeatable lists. */
    assert_int_equal(RUN("--config", "a.yaml", "task", "active", "--file", "b.yaml"), 0);
    assert_int_equal(seen.nconfig, 2);
}

static void test_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(RUN("nope"), EXIT_USAGE);
    assert_int_equal(RUN("task", "nope"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "--nope"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "--page", "0"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "--page", "x"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "--timeout", "soon"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "--queue"), EXIT_USAGE);
    assert_int_equal(RUN("task", "active", "extra"), EXIT_USAGE);
    assert_int_equal(RUN("task", "inspect"), EXIT_USAGE);
    assert_int_equal(RUN("task"), EXIT_USAGE); /* a group needs a command */
    assert_int_equal(seen.calls, 0);
}

static void test_help_and_args(void **state)
{
    (void)state;
    assert_int_equal(RUN("--help"), 0);
    assert_int_equal(RUN("task", "--help"), 0);
    assert_int_equal(RUN("task", "inspect", "-h"), 0);
    assert_int_equal(seen.calls, 0);
    assert_int_equal(RUN("task", "create", "add", "foo"), 0);
    assert_int_equal(seen.argc, 2);
    assert_string_equal(seen.arg0, "add");
    assert_int_equal(RUN("task", "create", "--", "--not-an-option"), 0);
    assert_string_equal(seen.arg0, "--not-an-option");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolution_and_defaults),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
