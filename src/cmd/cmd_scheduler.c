/* `inventory scheduler ...`: run a scheduler, list the periodic jobs of all
 * live schedulers, show a job's enqueue history. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/httpd.h"
#include "core/rds.h"
#include "core/util.h"
#include "queue/presence.h"
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

/* One job as `scheduler jobs` shows it. */
struct job_row {
    json_t *entry; /* borrowed from the registry JSON */
    const char *id, *type, *spec;
    int64_t prev_ms, next_ms; /* -1: none */
};

static int cmp_rows(const void *a, const void *b)
{
    const struct job_row *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c == 0)
        c = strcmp(x->spec, y->spec);
    return c ? c : strcmp(x->id, y->id);
}

/* Entries of every live scheduler, merged by job id (json array, caller decrefs). */
static int live_entries(redisContext *c, json_t **out, struct buf *err)
{
    static const struct presence scheds = {SCHED_REGISTRY_KEY, SCHED_INFO_PREFIX};
    json_t *all;
    if (presence_list(c, &scheds, &all, err) < 0)
        return -1;
    json_t *byid = json_object();
    size_t i;
    json_t *j;
    json_array_foreach(all, i, j)
    {
        size_t k;
        json_t *e;
        json_array_foreach(json_object_get(j, "entries"), k, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id && json_is_string(json_object_get(e, "type")) &&
                json_is_string(json_object_get(e, "spec")) &&
                json_is_string(json_object_get(e, "queue")) && !json_object_get(byid, id))
                json_object_set(byid, id, e);
        }
    }
    json_decref(all);
    *out = json_array();
    const char *id;
    json_t *e;
    json_object_foreach(byid, id, e)
    {
        json_array_append(*out, e);
    }
    json_decref(byid);
    return 0;
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
    if (live_entries(ctx->redis, &all, &err) < 0)
        return cmd_fail_err(&err);
    size_t n = json_array_size(all);
    struct job_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
    int64_t now = now_ms();
    for (size_t i = 0; i < n; i++) {
        struct job_row *row = &rows[i];
        row->entry = json_array_get(all, i);
        row->id = json_string_value(json_object_get(row->entry, "id"));
        row->type = json_string_value(json_object_get(row->entry, "type"));
        row->spec = json_string_value(json_object_get(row->entry, "spec"));
        const char *tz = json_string_value(json_object_get(row->entry, "tz"));
        const char *q = json_string_value(json_object_get(row->entry, "queue"));
        struct cron_spec cs;
        row->next_ms = -1;
        if (cron_parse(&cs, row->spec, tz, NULL) == 0) {
            row->next_ms = cron_next(&cs, now);
            cron_release(&cs);
        }
        if (queue_tick_marker(ctx->redis, q, row->id, &row->prev_ms, &err) < 0) {
            free(rows);
            json_decref(all);
            return cmd_fail_err(&err);
        }
    }
    buf_release(&err);
    qsort(rows, n, sizeof(*rows), cmp_rows);
    long long size = cli_int(ctx, "size"), page = cli_int(ctx, "page");
    size_t from = (size_t)((page - 1) * size), to = from + (size_t)size;
    if (from > n)
        from = n;
    if (to > n)
        to = n;
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *out = json_array();
        for (size_t i = from; i < to; i++) {
            json_t *o = json_deep_copy(rows[i].entry);
            json_object_set_new(o, "prev_ms",
                                rows[i].prev_ms < 0 ? json_null() : json_integer(rows[i].prev_ms));
            json_object_set_new(o, "next_ms",
                                rows[i].next_ms < 0 ? json_null() : json_integer(rows[i].next_ms));
            json_array_append_new(out, o);
        }
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
    } else {
        struct table t;
        table_init(&t, job_cols, ARRAY_SIZE(job_cols));
        for (size_t i = from; i < to; i++) {
            char prev[64], next[64];
            fmt_ms(rows[i].prev_ms, prev, sizeof(prev));
            fmt_ms(rows[i].next_ms, next, sizeof(next));
            const char *row[] = {rows[i].id, rows[i].spec, rows[i].type, prev, next};
            table_add_row(&t, row);
        }
        table_print(&t, cmd_out(ctx), stdout);
        table_release(&t);
    }
    free(rows);
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
