/* `inventory worker ...`: start a worker, list live workers, ping one. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd.h"
#include "core/httpd.h"
#include "core/rds.h"
#include "core/util.h"
#include "queue/presence.h"
#include "queue/worker.h"

static atomic_bool stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, true);
}

/* SIGTERM/SIGINT set *flag; returns the flag for the runtime to watch. */
atomic_bool *cmd_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return &stop_flag;
}

static void health(void *arg, void *data, struct httpd_response *resp)
{
    (void)arg;
    (void)data;
    resp->content_type = "application/json";
    if (buf_adds(&resp->body, "{\"status\":\"ok\"}\n") < 0)
        resp->status = 500;
}

/* Serves /metrics (and /health) for a long-running role; the caller stops
 * it with httpd_stop. Exit code or 0. */
int cmd_serve_metrics(struct httpd *h, const char *address, const char *path,
                      struct metrics_registry *reg)
{
    struct buf err;
    struct httpd_route routes[2] = {httpd_metrics_route(path, reg),
                                    {"GET", "/health", health, NULL}};
    buf_init(&err, 1024);
    memset(h, 0, sizeof(*h));
    if (httpd_start(h, address, routes, 2, NULL, &err) < 0) {
        int rc = cli_fail(EXIT_FAIL, "metrics endpoint: %s", buf_str(&err));
        buf_release(&err);
        return rc;
    }
    buf_release(&err);
    return 0;
}

static int worker_start(struct cli_ctx *ctx)
{
    const struct config *cfg = ctx->cfg;
    struct worker_opts o;
    struct buf err;
    memset(&o, 0, sizeof(o));
    o.cfg = cfg;
    o.concurrency =
        cli_isset(ctx, "concurrency") ? (int)cli_int(ctx, "concurrency") : cfg->worker.concurrency;
    if (o.concurrency <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.concurrency = n > 0 ? (int)n : 1;
    }
    struct worker_queue *qs = xcalloc(cfg->worker.nqueues ? cfg->worker.nqueues : 1, sizeof(*qs));
    for (size_t i = 0; i < cfg->worker.nqueues; i++) {
        snprintf(qs[i].name, sizeof(qs[i].name), "%s", cfg->worker.queues[i].name);
        qs[i].priority = cfg->worker.queues[i].priority;
    }
    o.queues = qs;
    o.nqueues = cfg->worker.nqueues;
    o.strict = cfg->worker.strict_priority;
    o.lease_ms = cfg->worker.lease_ms;
    o.shutdown_timeout_ms = cfg->worker.shutdown_timeout_ms;
    o.retry_base_ms = cfg->worker.retry_base_delay_ms;
    o.retry_max_ms = cfg->worker.retry_max_delay_ms;
    o.archive_max_size = cfg->worker.archive_max_size;
    o.archive_max_age_ms = cfg->worker.archive_max_age_ms;
    o.stop = cmd_stop_on_signals();
    struct metrics_registry reg;
    struct httpd httpd;
    metrics_registry_init(&reg);
    o.metrics = &reg;
    int rc = cmd_serve_metrics(&httpd, cfg->worker.metrics.address, cfg->worker.metrics.path, &reg);
    if (rc == 0) {
        buf_init(&err, 1024);
        rc = worker_run(&o, &err) == 0 ? EXIT_OK : cli_fail(EXIT_FAIL, "%s", buf_str(&err));
        buf_release(&err);
        httpd_stop(&httpd);
    }
    metrics_registry_release(&reg);
    free(qs);
    return rc;
}

/* Live workers' registry entries as parsed JSON objects (caller decrefs). */
static int live_workers(redisContext *c, json_t **out, struct buf *err)
{
    static const struct presence workers = {WORKER_REGISTRY_KEY, WORKER_INFO_PREFIX};
    return presence_list(c, &workers, out, err);
}

static const struct tcol worker_cols[] = {
    {"HOST", "host", TCOL_STR},
    {"PID", "pid", TCOL_INT},
    {"CONCURRENCY", "concurrency", TCOL_INT},
    {"STATUS", "status", TCOL_STR},
    {"UPTIME", "uptime", TCOL_STR},
};

static int worker_ls(struct cli_ctx *ctx)
{
    json_t *all;
    struct buf err;
    buf_init(&err, 1024);
    if (live_workers(ctx->redis, &all, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    if (cmd_out(ctx) == OUT_JSON) {
        json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(all);
        return EXIT_OK;
    }
    struct table t;
    table_init(&t, worker_cols, ARRAY_SIZE(worker_cols));
    size_t i;
    json_t *w;
    json_array_foreach(all, i, w)
    {
        char pid[16], conc[16], up[48];
        snprintf(pid, sizeof(pid), "%lld", json_integer_value(json_object_get(w, "pid")));
        snprintf(conc, sizeof(conc), "%lld", json_integer_value(json_object_get(w, "concurrency")));
        duration_format(now_ms() - json_integer_value(json_object_get(w, "started_ms")), up,
                        sizeof(up));
        const char *row[] = {json_string_value(json_object_get(w, "host")), pid, conc,
                             json_string_value(json_object_get(w, "status")), up};
        table_add_row(&t, row);
    }
    table_print(&t, cmd_out(ctx), stdout);
    table_release(&t);
    json_decref(all);
    return EXIT_OK;
}

static int worker_ping(struct cli_ctx *ctx)
{
    const char *name = cli_str(ctx, "name");
    json_t *all;
    struct buf err;
    buf_init(&err, 1024);
    if (live_workers(ctx->redis, &all, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    size_t i;
    json_t *w;
    bool found = false;
    json_array_foreach(all, i, w)
    {
        const char *n = json_string_value(json_object_get(w, "name"));
        const char *id = json_string_value(json_object_get(w, "id"));
        if ((n && strcmp(n, name) == 0) || (id && strcmp(id, name) == 0))
            found = true;
    }
    json_decref(all);
    if (!found) {
        fprintf(stderr, "%s: not found\n", name);
        return EXIT_FAIL;
    }
    printf("%s: OK\n", name);
    return EXIT_OK;
}

static const struct cli_opt start_opts[] = {
    {"concurrency", NULL, 0, OPT_INT, "N", "handler threads (default: worker.concurrency)", NULL, 1,
     10000, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};
static const struct cli_opt ping_opts[] = {
    {"name", NULL, 0, OPT_STRING, "HOST/PID", "worker name as 'worker list -o json' shows it", NULL,
     0, 0, OPT_REQUIRED},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

const struct cli_cmd cmd_worker_subs[] = {
    {"start",
     {"s"},
     "start a worker",
     NULL,
     start_opts,
     worker_start,
     NULL,
     CMD_CONFIG,
     "Runs until SIGTERM/SIGINT, then stops taking tasks, lets running ones finish for\n"
     "worker.shutdown_timeout and requeues the rest at the head of their queues."},
    {"list", {"ls"}, "list running workers", NULL, NULL, worker_ls, NULL, CMD_REDIS, NULL},
    {"ping",
     {"p"},
     "ping a worker",
     NULL,
     ping_opts,
     worker_ping,
     NULL,
     CMD_REDIS,
     "Exits 0 when the worker's heartbeat is current, 1 when it is not found."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
