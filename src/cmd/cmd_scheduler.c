/* `inventory scheduler ...`: run a scheduler, list the periodic jobs of all
 * live schedulers, show a job's enqueue history. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/httpd.h"
#include "core/rds.h"
#include "core/util.h"
#include "queue/scheduler.h"

static int sched_start(struct cli_ctx *ctx)
{
    const struct config *cfg = ctx->cfg;
    struct sched_set set;
    struct buf err;
    buf_init(&err, 2048);
    if (sched_build(cfg, &set, &err) < 0) {
        int rc = cli_fail(EXIT_USAGE, "%s", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    struct sched_opts o = {cfg, cmd_stop_on_signals(), NULL};
    struct metrics_registry reg;
    struct httpd httpd;
    metrics_registry_init(&reg);
    o.metrics = &reg;
    int rc = cmd_serve_metrics(&httpd, cfg->scheduler.metrics.address, cfg->scheduler.metrics.path,
                               &reg);
    if (rc == 0) {
        rc = sched_run(&o, &set, &err) == 0 ? EXIT_OK : cli_fail(EXIT_FAIL, "%s", buf_str(&err));
        httpd_stop(&httpd);
    }
    metrics_registry_release(&reg);
    sched_set_release(&set);
    buf_release(&err);
    return rc;
}

static void fmt_ms(int64_t ms, char *out, size_t n)
{
    if (ms < 0)
        snprintf(out, n, "N/A");
    else
        time_format_go(ms * 1000, out, n);
}

static const struct tcol job_cols[] = {
    {"ID", "id", TCOL_STR},     {"SPEC", "spec", TCOL_STR}, {"TYPE", "type", TCOL_STR},
    {"PREV", "prev", TCOL_STR}, {"NEXT", "next", TCOL_STR},
};

static int sched_jobs(struct cli_ctx *ctx)
{
    json_t *all;
    struct buf err;
    buf_init(&err, 1024);
    if (sched_live_jobs(ctx->redis, now_ms(), &all, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    size_t n = json_array_size(all);
    long long size = cli_int(ctx, "size"), page = cli_int(ctx, "page");
    size_t from = (size_t)((page - 1) * size), to = from + (size_t)size;
    if (from > n)
        from = n;
    if (to > n)
        to = n;
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *out = json_array();
        for (size_t i = from; i < to; i++)
            json_array_append(out, json_array_get(all, i));
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
    } else {
        struct table t;
        table_init(&t, job_cols, ARRAY_SIZE(job_cols));
        for (size_t i = from; i < to; i++) {
            json_t *e = json_array_get(all, i);
            char prev[64], next[64];
            json_t *p = json_object_get(e, "prev_ms"), *x = json_object_get(e, "next_ms");
            fmt_ms(json_is_integer(p) ? json_integer_value(p) : -1, prev, sizeof(prev));
            fmt_ms(json_is_integer(x) ? json_integer_value(x) : -1, next, sizeof(next));
            const char *row[] = {json_string_value(json_object_get(e, "id")),
                                 json_string_value(json_object_get(e, "spec")),
                                 json_string_value(json_object_get(e, "type")), prev, next};
            table_add_row(&t, row);
        }
        table_print(&t, cmd_out(ctx), stdout);
        table_release(&t);
    }
    json_decref(all);
    return EXIT_OK;
}

static const struct tcol history_cols[] = {
    {"TICK", "tick", TCOL_STR},           {"TASK ID", "task_id", TCOL_STR},
    {"QUEUE", "queue", TCOL_STR},         {"ENQUEUED", "enqueued", TCOL_STR},
    {"SCHEDULER", "scheduler", TCOL_STR},
};

static int sched_history(struct cli_ctx *ctx)
{
    const char *id = cli_str(ctx, "id");
    if (!is_safe_name(id, 63))
        return cli_fail(EXIT_USAGE, "invalid job id \"%s\"", id);
    char key[256], stop[24];
    snprintf(key, sizeof(key), "%s%s", SCHED_HISTORY_PREFIX, id);
    snprintf(stop, sizeof(stop), "%lld", (long long)cli_int(ctx, "size") - 1);
    const char *lrange[4] = {"LRANGE", key, "0", stop};
    struct buf err;
    buf_init(&err, 1024);
    redisReply *r = rds_cmd(ctx->redis, &err, 4, lrange, NULL);
    if (!r)
        return cmd_fail_err(&err);
    buf_release(&err);
    json_t *all = json_array();
    for (size_t i = 0; i < r->elements; i++) {
        json_t *j = r->element[i]->type == REDIS_REPLY_STRING
                        ? json_loadb(r->element[i]->str, r->element[i]->len, 0, NULL)
                        : NULL;
        if (json_is_object(j))
            json_array_append_new(all, j);
        else
            json_decref(j);
    }
    freeReplyObject(r);
    if (cmd_out(ctx) == OUT_JSON) {
        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        struct table t;
        table_init(&t, history_cols, ARRAY_SIZE(history_cols));
        size_t i;
        json_t *h;
        json_array_foreach(all, i, h)
        {
            char tick[64], enq[64];
            fmt_ms(json_integer_value(json_object_get(h, "tick_ms")), tick, sizeof(tick));
            fmt_ms(json_integer_value(json_object_get(h, "enqueued_ms")), enq, sizeof(enq));
            const char *row[] = {tick, json_string_value(json_object_get(h, "task_id")),
                                 json_string_value(json_object_get(h, "queue")), enq,
                                 json_string_value(json_object_get(h, "scheduler"))};
            table_add_row(&t, row);
        }
        table_print(&t, cmd_out(ctx), stdout);
        table_release(&t);
    }
    json_decref(all);
    return EXIT_OK;
}

static const struct cli_opt jobs_opts[] = {
    {"page", NULL, 0, OPT_INT, "N", "page number to retrieve", "1", 1, 1000000, 0},
    {"size", NULL, 0, OPT_INT, "N", "page size to use", "50", 1, 10000, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};
static const struct cli_opt history_opts[] = {
    {"id", NULL, 0, OPT_STRING, "JOB-ID", "job id as 'scheduler jobs' shows it", NULL, 0, 0,
     OPT_REQUIRED},
    {"size", NULL, 0, OPT_INT, "N", "number of entries, newest first", "20", 1, SCHED_HISTORY_MAX,
     0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

const struct cli_cmd cmd_scheduler_subs[] = {
    {"start",
     {"s"},
     "start a scheduler",
     NULL,
     NULL,
     sched_start,
     NULL,
     CMD_CONFIG,
     "Enqueues the periodic tasks registered in code and the scheduler.jobs of the\n"
     "configuration. Several schedulers may run at once: each tick is enqueued once."},
    {"jobs",
     {"j", "ls"},
     "list periodic jobs of the live schedulers",
     NULL,
     jobs_opts,
     sched_jobs,
     NULL,
     CMD_REDIS,
     "PREV is the last tick enqueued by any scheduler, NEXT the next one due."},
    {"history",
     {"h"},
     "show a periodic job's recent enqueues",
     NULL,
     history_opts,
     sched_history,
     NULL,
     CMD_REDIS,
     NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
