/* `inventory ingest start|simulate <stream>`: stream consumers and the
 * scan simulator (docs/ingest.md). */
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/httpd.h"
#include "core/metrics.h"
#include "ingest/hosts.h"
#include "ingest/scans.h"

enum stream_kind { KIND_SCANS, KIND_HOSTS };

/* The one positional argument: which stream ("scans" or "hosts"). */
static int stream_kind(struct cli_ctx *ctx, enum stream_kind *kind)
{
    if (ctx->argc != 1)
        return cli_fail(EXIT_USAGE, "%s: expected one stream kind: scans or hosts", ctx->path);
    if (strcmp(ctx->argv[0], "scans") == 0)
        *kind = KIND_SCANS;
    else if (strcmp(ctx->argv[0], "hosts") == 0)
        *kind = KIND_HOSTS;
    else
        return cli_fail(EXIT_USAGE, "%s: unknown stream kind \"%s\" (expected scans or hosts)",
                        ctx->path, ctx->argv[0]);
    return EXIT_OK;
}

static int ingest_start(struct cli_ctx *ctx)
{
    enum stream_kind kind;
    int rc = stream_kind(ctx, &kind);
    if (rc != EXIT_OK)
        return rc;
    const struct config_stream *sc =
        kind == KIND_SCANS ? &ctx->cfg->ingest.scans : &ctx->cfg->ingest.hosts;
    atomic_bool *stop = cmd_stop_on_signals();
    struct metrics_registry reg;
    struct httpd httpd;
    metrics_registry_init(&reg);
    rc = cmd_serve_metrics(&httpd, sc->metrics.address, sc->metrics.path, &reg);
    if (rc == EXIT_OK) {
        int failed = kind == KIND_SCANS ? scans_consume(ctx->cfg, &reg, stop)
                                        : hosts_consume(ctx->cfg, &reg, stop);
        rc = failed == 0 ? EXIT_OK : EXIT_FAIL;
        httpd_stop(&httpd);
    }
    metrics_registry_release(&reg);
    return rc;
}

static int ingest_simulate(struct cli_ctx *ctx)
{
    enum stream_kind kind;
    int rc = stream_kind(ctx, &kind);
    if (rc != EXIT_OK)
        return rc;
    return kind == KIND_SCANS ? cmd_simulate_scans(ctx) : cmd_simulate_hosts(ctx);
}

const struct cli_cmd cmd_ingest_subs[] = {
    {"start",
     {"s"},
     "consume a stream into PostgreSQL",
     "scans|hosts",
     NULL,
     ingest_start,
     NULL,
     CMD_CONFIG | CMD_ARGS,
     "Runs ingest.<kind>.concurrency consumers of ingest.<kind>.stream in the consumer\n"
     "group ingest.<kind>.group until SIGTERM/SIGINT: batches are written, committed, then\n"
     "acked; invalid messages go to ingest.<kind>.dead_letter. Metrics on\n"
     "ingest.<kind>.metrics.address. scans: the latest observation wins (docs/ingest.md);\n"
     "hosts: reported hosts, de-duplicated by their ID facts (docs/hosts.md)."},
    {"simulate",
     {"sim"},
     "publish simulated messages to a stream",
     "scans|hosts",
     cmd_simulate_opts,
     ingest_simulate,
     NULL,
     CMD_CONFIG | CMD_ARGS,
     "Publishes scan or host messages (docs/ingest.md) to ingest.<kind>.stream, or --stream:\n"
     "at --rate per second (0: as fast as possible) until --count or SIGINT/SIGTERM."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
