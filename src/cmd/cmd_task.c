/* `inventory task ...`: registered tasks, submit, inspect, list by state,
 * cancel, delete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "queue/handler.h"
#include "queue/queue.h"

#define NA "N/A"

static void print_handler(const struct task_handler *h, void *arg)
{
    json_t *a = arg;
    if (a)
        json_array_append_new(a, json_pack("{s:s,s:s}", "type", h->type, "description", h->desc));
    else
        printf("%s\n", h->type);
}

static int task_ls(struct cli_ctx *ctx)
{
    json_t *a = cmd_out(ctx) == OUT_JSON ? json_array() : NULL;
    task_handlers_each(print_handler, a);
    if (a) {
        json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(a);
    }
    return EXIT_OK;
}

static int read_payload(const char *path, struct buf *out, struct buf *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        buf_setf(err, "cannot read payload file %s: %s", path, strerror(errno));
        return -1;
    }
    char chunk[8192];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (buf_add(out, chunk, n) < 0) {
            buf_setf(err, "payload file %s is larger than %u bytes", path, TASK_PAYLOAD_MAX);
            rc = -1;
            break;
        }
    if (rc == 0 && ferror(f)) {
        buf_setf(err, "cannot read payload file %s: %s", path, strerror(errno));
        rc = -1;
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static int task_submit(struct cli_ctx *ctx)
{
    const char *type = cli_str(ctx, "task"), *q;
    struct enqueue_opts o = {.max_retry = -1, .timeout_ms = -1};
    struct buf payload, err;
    char id[TASK_ID_MAX];
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    if (!task_handler_find(type) && !cli_flag(ctx, "force"))
        return cli_fail(EXIT_USAGE,
                        "%s: task \"%s\" not found in the registry (see 'inventory task list'; "
                        "--force submits it anyway)",
                        ctx->path, type);
    if (cli_isset(ctx, "payload") && cli_isset(ctx, "data"))
        return cli_fail(EXIT_USAGE, "%s: give --payload FILE or --data STRING, not both",
                        ctx->path);
    if (cli_isset(ctx, "id") && !task_id_valid(cli_str(ctx, "id")))
        return cli_fail(EXIT_USAGE, "%s: invalid --id \"%s\" (1-63 of A-Z a-z 0-9 _ . : -)",
                        ctx->path, cli_str(ctx, "id"));
    if (cli_isset(ctx, "process-in") && cli_isset(ctx, "process-at"))
        return cli_fail(EXIT_USAGE, "%s: give --process-in or --process-at, not both", ctx->path);
    buf_init(&payload, TASK_PAYLOAD_MAX);
    buf_init(&err, 1024);
    if (cli_isset(ctx, "payload") && read_payload(cli_str(ctx, "payload"), &payload, &err) < 0) {
        buf_release(&payload);
        rc = cli_fail(EXIT_USAGE, "%s", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    if (cli_isset(ctx, "data") && buf_adds(&payload, cli_str(ctx, "data")) < 0) {
        buf_release(&err);
        return cli_fail(EXIT_USAGE, "%s: --data is larger than %u bytes", ctx->path,
                        TASK_PAYLOAD_MAX);
    }
    o.queue = q;
    o.id = cli_isset(ctx, "id") ? cli_str(ctx, "id") : NULL;
    if (cli_isset(ctx, "max-retry"))
        o.max_retry = (int)cli_int(ctx, "max-retry");
    if (cli_isset(ctx, "timeout"))
        o.timeout_ms = cli_int(ctx, "timeout");
    if (cli_isset(ctx, "deadline"))
        o.deadline_ms = now_ms() + cli_int(ctx, "deadline");
    o.retention_ms = cli_int(ctx, "retention");
    if (cli_isset(ctx, "process-in"))
        o.process_at_ms = now_ms() + cli_int(ctx, "process-in");
    if (cli_isset(ctx, "process-at"))
        o.process_at_ms = cli_int(ctx, "process-at") * 1000;
    rc = queue_enqueue(ctx->redis, type, payload.ptr, payload.len, &o, id, &err);
    buf_release(&payload);
    if (rc != 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    if (cmd_out(ctx) == OUT_JSON)
        printf("{\"queue\": \"%s\", \"id\": \"%s\"}\n", q, id);
    else
        printf("%s/%s\n", q, id);
    return EXIT_OK;
}

static void fmt_time(int64_t ms, char *out, size_t n)
{
    if (ms <= 0)
        snprintf(out, n, NA);
    else
        time_format_go(ms / 1000 * 1000000, out, n); /* whole seconds, as the guide */
}

static int task_show(struct cli_ctx *ctx)
{
    struct task t;
    struct buf err;
    const char *id = cli_str(ctx, "id");
    const char *q = cli_isset(ctx, "queue") ? cli_str(ctx, "queue") : NULL;
    task_init(&t);
    buf_init(&err, 1024);
    int rc = queue_task_get(ctx->redis, q, id, &t, &err);
    if (rc != 0) {
        task_release(&t);
        return cmd_fail_err(&err);
    }
    buf_release(&err);
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *o = task_to_json(&t);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
        task_release(&t);
        return EXIT_OK;
    }
    char timeout[32], retention[32], deadline[64], failed[64], next[64], done[64];
    duration_format(t.timeout_ms, timeout, sizeof(timeout));
    duration_format(t.retention_ms, retention, sizeof(retention));
    fmt_time(t.deadline_ms, deadline, sizeof(deadline));
    fmt_time(t.last_failed_ms, failed, sizeof(failed));
    fmt_time(t.state == TASK_PENDING ? t.state_since_ms : t.next_process_ms, next, sizeof(next));
    fmt_time(t.completed_ms, done, sizeof(done));
    printf("%-20s: %s\n", "ID", t.id);
    printf("%-20s: %s\n", "Queue", t.queue);
    printf("%-20s: %s\n", "Type/Name", t.type);
    printf("%-20s: %s\n", "State", task_state_name(t.state));
    printf("%-20s: %s\n", "Group", "");
    printf("%-20s: %s\n", "Is Orphaned", t.orphaned ? "true" : "false");
    printf("%-20s: %d/%d\n", "Retry", t.retried, t.max_retry);
    printf("%-20s: %s\n", "Timeout", timeout);
    printf("%-20s: %s\n", "Deadline", deadline);
    printf("%-20s: %s\n", "Retention", retention);
    printf("%-20s: %s\n", "Last Failed At", failed);
    printf("%-20s: %s\n", "Next Process At", next);
    printf("%-20s: %s\n", "Completed At", done);
    printf("\nLast Error\n----------\n%s\n", t.error ? t.error : "");
    printf("\nPayload\n-------\n");
    if (t.payload_len)
        printf("%.*s\n", (int)t.payload_len, (const char *)t.payload);
    else
        printf("<nil>\n");
    task_release(&t);
    return EXIT_OK;
}

static const struct tcol task_cols[] = {
    {"ID", "id", TCOL_STR},
    {"TYPE", "type", TCOL_STR},
    {"RETRIED", "retried", TCOL_STR},
    {"IS ORPHANED", "is_orphaned", TCOL_BOOL},
};

static int list_state(struct cli_ctx *ctx, enum task_state st)
{
    const char *q;
    struct task *tasks;
    size_t n;
    struct buf err;
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    long long size = cli_int(ctx, "size"), page = cli_int(ctx, "page");
    buf_init(&err, 1024);
    if (queue_tasks(ctx->redis, q, st, (page - 1) * size, size, &tasks, &n, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, task_to_json(&tasks[i]));
        json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(a);
    } else {
        struct table t;
        table_init(&t, task_cols, ARRAY_SIZE(task_cols));
        for (size_t i = 0; i < n; i++) {
            char retried[32];
            snprintf(retried, sizeof(retried), "%d/%d", tasks[i].retried, tasks[i].max_retry);
            const char *row[] = {tasks[i].id, tasks[i].type ? tasks[i].type : "?", retried,
                                 tasks[i].orphaned ? "true" : "false"};
            table_add_row(&t, row);
        }
        table_print(&t, cmd_out(ctx), stdout);
        table_release(&t);
    }
    for (size_t i = 0; i < n; i++)
        task_release(&tasks[i]);
    free(tasks);
    return EXIT_OK;
}

static int list_active(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_ACTIVE);
}
static int list_pending(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_PENDING);
}
static int list_archived(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_ARCHIVED);
}
static int list_completed(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_COMPLETED);
}
static int list_retry(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_RETRY);
}
static int list_scheduled(struct cli_ctx *ctx)
{
    return list_state(ctx, TASK_SCHEDULED);
}

static int task_cancel(struct cli_ctx *ctx)
{
    struct buf err;
    long long receivers;
    buf_init(&err, 1024);
    if (queue_task_cancel(ctx->redis, cli_str(ctx, "id"), &receivers, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    printf("cancel request for task %s sent to %lld worker(s)\n", cli_str(ctx, "id"), receivers);
    return EXIT_OK;
}

static int task_delete(struct cli_ctx *ctx)
{
    const char *q;
    struct buf err;
    int rc = cmd_queue_arg(ctx, &q);
    if (rc)
        return rc;
    buf_init(&err, 1024);
    if (queue_task_delete(ctx->redis, q, cli_str(ctx, "id"), &err) != 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    printf("deleted task %s from queue %s\n", cli_str(ctx, "id"), q);
    return EXIT_OK;
}

#define QUEUE_OPT                                                                                  \
    {                                                                                              \
        "queue", NULL, 'q', OPT_STRING, "NAME", "name of queue to use", QUEUE_DEFAULT, 0, 0, 0     \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0                                                \
    }

static const struct cli_opt list_opts[] = {
    QUEUE_OPT,
    {"page", NULL, 0, OPT_INT, "N", "page number to retrieve", "1", 1, 1000000, 0},
    {"size", NULL, 0, OPT_INT, "N", "page size to use", "50", 1, 10000, 0},
    OPT_END,
};
static const struct cli_opt submit_opts[] = {
    {"task", NULL, 't', OPT_STRING, "TYPE", "name of task to enqueue", NULL, 0, 0, OPT_REQUIRED},
    QUEUE_OPT,
    {"payload", NULL, 0, OPT_STRING, "FILE", "path to a payload file ('-' = stdin)", NULL, 0, 0, 0},
    {"data", NULL, 'd', OPT_STRING, "STRING", "payload given inline", NULL, 0, 0, 0},
    {"id", NULL, 0, OPT_STRING, "ID", "task id (refused while a task with this id exists)", NULL, 0,
     0, 0},
    {"max-retry", NULL, 0, OPT_INT, "N", "retries before the task is archived", "25", 0, 10000, 0},
    {"timeout", NULL, 0, OPT_DURATION, "DURATION", "per-attempt time limit", "30m", 0, 0, 0},
    {"deadline", NULL, 0, OPT_DURATION, "DURATION", "give up after this long from now", NULL, 0, 0,
     0},
    {"retention", NULL, 0, OPT_DURATION, "DURATION", "keep the completed task this long", "0s", 0,
     0, 0},
    {"process-in", NULL, 0, OPT_DURATION, "DURATION", "run after this delay", NULL, 0, 0, 0},
    {"process-at", NULL, 0, OPT_INT, "UNIX-SECONDS", "run at this time", NULL, 0, INT64_MAX / 1000,
     0},
    {"force", NULL, 0, OPT_BOOL, NULL, "submit a type this binary does not know", NULL, 0, 0, 0},
    OPT_END,
};
static const struct cli_opt id_opts[] = {
    {"id", NULL, 0, OPT_STRING, "ID", "task id", NULL, 0, 0, OPT_REQUIRED},
    QUEUE_OPT,
    OPT_END,
};
static const struct cli_opt inspect_opts[] = {
    {"id", NULL, 0, OPT_STRING, "ID", "task id", NULL, 0, 0, OPT_REQUIRED},
    {"queue", NULL, 'q', OPT_STRING, "NAME", "queue of the task (default: search every queue)",
     NULL, 0, 0, 0},
    OPT_END,
};
static const struct cli_opt cancel_opts[] = {
    {"id", NULL, 0, OPT_STRING, "ID", "task id", NULL, 0, 0, OPT_REQUIRED},
    OPT_END,
};

const struct cli_cmd cmd_task_subs[] = {
    {"list", {"ls"}, "list registered tasks", NULL, NULL, task_ls, NULL, 0, NULL},
    {"submit",
     {"enqueue"},
     "submit a task",
     NULL,
     submit_opts,
     task_submit,
     NULL,
     CMD_REDIS,
     "Prints <queue>/<id> of the new task."},
    {"cancel",
     {"c"},
     "cancel a running task",
     NULL,
     cancel_opts,
     task_cancel,
     NULL,
     CMD_REDIS,
     "Best effort: workers running the task stop it; the task then retries or is archived."},
    {"delete", {"d"}, "delete a task", NULL, id_opts, task_delete, NULL, CMD_REDIS, NULL},
    {"inspect", {"i"}, "inspect a task", NULL, inspect_opts, task_show, NULL, CMD_REDIS, NULL},
    {"active", {"a"}, "list active tasks", NULL, list_opts, list_active, NULL, CMD_REDIS, NULL},
    {"pending", {"p"}, "list pending tasks", NULL, list_opts, list_pending, NULL, CMD_REDIS, NULL},
    {"archived",
     {"ar"},
     "list archived tasks",
     NULL,
     list_opts,
     list_archived,
     NULL,
     CMD_REDIS,
     NULL},
    {"completed",
     {NULL},
     "list completed tasks",
     NULL,
     list_opts,
     list_completed,
     NULL,
     CMD_REDIS,
     NULL},
    {"retried",
     {"r", "retry"},
     "list retried tasks",
     NULL,
     list_opts,
     list_retry,
     NULL,
     CMD_REDIS,
     NULL},
    {"scheduled",
     {"s"},
     "list scheduled tasks",
     NULL,
     list_opts,
     list_scheduled,
     NULL,
     CMD_REDIS,
     NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
