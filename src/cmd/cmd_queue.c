/* `inventory queue ...`: list, inspect, pause, resume, drain. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "queue/queue.h"

static const struct cli_opt queue_opts[] = {
    {"queue", "name", 'q', OPT_STRING, "NAME", "queue name", QUEUE_DEFAULT, 0, 0, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

static const struct cli_opt drain_opts[] = {
    {"queue", "name", 'q', OPT_STRING, "NAME", "queue name", QUEUE_DEFAULT, 0, 0, 0},
    {"type", NULL, 't', OPT_STRING, "STATE",
     "tasks to delete: scheduled, pending, retry, archived or completed", NULL, 0, 0, OPT_REQUIRED},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

int cmd_fail_err(struct buf *err)
{
    int rc = cli_fail(EXIT_FAIL, "%s", buf_str(err));
    buf_release(err);
    return rc;
}

/* Validates --queue; exit code or 0. */
int cmd_queue_arg(struct cli_ctx *ctx, const char **q)
{
    *q = cli_str(ctx, "queue");
    if (!queue_name_valid(*q))
        return cli_fail(EXIT_USAGE, "%s: invalid queue name \"%s\" (1-63 of A-Z a-z 0-9 _ . : -)",
                        ctx->path, *q);
    return 0;
}

static int queue_ls(struct cli_ctx *ctx)
{
    char **names;
    size_t n;
    struct buf err;
    buf_init(&err, 1024);
    if (queue_list(ctx->redis, &names, &n, &err) < 0)
        return cmd_fail_err(&err);
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_string(names[i]));
        json_dumpf(a, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(a);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    buf_release(&err);
    return EXIT_OK;
}

static int queue_show(struct cli_ctx *ctx)
{
    const char *q;
    struct queue_info qi;
    struct buf err;
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    buf_init(&err, 1024);
    if (queue_inspect(ctx->redis, q, &qi, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    char lat[32];
    duration_format(qi.latency_ms, lat, sizeof(lat));
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *o = queue_info_json(&qi);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
        return EXIT_OK;
    }
    printf("%-20s: %s\n", "Name", qi.name);
    printf("%-20s: %lld\n", "Memory Usage", qi.memory);
    printf("%-20s: %s\n", "Latency", lat);
    printf("%-20s: %lld\n", "Size", qi.size);
    printf("%-20s: %d\n", "Groups", 0);
    printf("%-20s: %lld\n", "Pending", qi.counts[TASK_PENDING]);
    printf("%-20s: %lld\n", "Active", qi.counts[TASK_ACTIVE]);
    printf("%-20s: %lld\n", "Scheduled", qi.counts[TASK_SCHEDULED]);
    printf("%-20s: %lld\n", "Retry", qi.counts[TASK_RETRY]);
    printf("%-20s: %lld\n", "Archived", qi.counts[TASK_ARCHIVED]);
    printf("%-20s: %lld\n", "Completed", qi.counts[TASK_COMPLETED]);
    printf("%-20s: %d\n", "Aggregating", 0);
    printf("%-20s: %lld\n", "Processed (daily)", qi.processed_day);
    printf("%-20s: %lld\n", "Failed (daily)", qi.failed_day);
    printf("%-20s: %s\n", "Is Paused", qi.paused ? "true" : "false");
    return EXIT_OK;
}

static int set_paused(struct cli_ctx *ctx, bool paused)
{
    const char *q;
    struct buf err;
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    buf_init(&err, 1024);
    if (queue_set_paused(ctx->redis, q, paused, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    printf("queue %s %s\n", q, paused ? "paused" : "resumed");
    return EXIT_OK;
}

static int queue_pause(struct cli_ctx *ctx)
{
    return set_paused(ctx, true);
}

static int queue_resume(struct cli_ctx *ctx)
{
    return set_paused(ctx, false);
}

static int queue_drain_cmd(struct cli_ctx *ctx)
{
    const char *q, *type = cli_str(ctx, "type");
    enum task_state st;
    struct buf err;
    long long n;
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    if (task_state_parse(type, &st) < 0 || st == TASK_ACTIVE)
        return cli_fail(EXIT_USAGE,
                        "%s: --type must be one of scheduled, pending, retry, archived, "
                        "completed; got \"%s\"",
                        ctx->path, type);
    buf_init(&err, 1024);
    if (queue_drain(ctx->redis, q, st, &n, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    printf("deleted %lld %s task(s) from queue %s\n", n, type, q);
    return EXIT_OK;
}

const struct cli_cmd cmd_queue_subs[] = {
    {"list", {"ls"}, "list queues", NULL, NULL, queue_ls, NULL, CMD_REDIS, NULL},
    {"inspect",
     {"info", "i"},
     "get queue info",
     NULL,
     queue_opts,
     queue_show,
     NULL,
     CMD_REDIS,
     "Latency is the age of the oldest pending task; memory is the queue's Redis keys."},
    {"pause",
     {"p"},
     "pause a queue",
     NULL,
     queue_opts,
     queue_pause,
     NULL,
     CMD_REDIS,
     "Workers stop taking tasks from a paused queue; running tasks finish."},
    {"resume", {"r"}, "resume a queue", NULL, queue_opts, queue_resume, NULL, CMD_REDIS, NULL},
    {"drain",
     {"d"},
     "drain queue messages",
     NULL,
     drain_opts,
     queue_drain_cmd,
     NULL,
     CMD_REDIS,
     "Deletes every task of one state (scheduled, pending, retry, archived, completed)."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
