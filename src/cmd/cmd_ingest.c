/* `inventory ingest start|simulate <stream>`: stream consumers and the
 * scan simulator (docs/ingest.md). */
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/httpd.h"
#include "core/metrics.h"
#include "ingest/scans.h"

/* The one positional argument: which stream ("scans"). */
static int stream_kind(struct cli_ctx *ctx)
{
    if (ctx->argc != 1)
        return cli_fail(EXIT_USAGE, "%s: expected one stream kind: scans", ctx->path);
    if (strcmp(ctx->argv[0], "scans") != 0)
        return cli_fail(EXIT_USAGE, "%s: unknown stream kind \"%s\" (expected scans)", ctx->path,
                        ctx->argv[0]);
    return EXIT_OK;
}

static int ingest_start(struct cli_ctx *ctx)
{
    int rc = stream_kind(ctx);
    if (rc != EXIT_OK)
        return rc;
    const struct config_stream *sc = &ctx->cfg->ingest.scans;
    atomic_bool *stop = cmd_stop_on_signals();
    struct metrics_registry reg;
    struct httpd httpd;
    metrics_registry_init(&reg);
    rc = cmd_serve_metrics(&httpd, sc->metrics.address, sc->metrics.path, &reg);
    if (rc == EXIT_OK) {
        rc = scans_consume(ctx->cfg, &reg, stop) == 0 ? EXIT_OK : EXIT_FAIL;
        httpd_stop(&httpd);
    }
    metrics_registry_release(&reg);
    return rc;
}

static int ingest_simulate(struct cli_ctx *ctx)
{
    if (ctx->argc == 1 && strcmp(ctx->argv[0], "hosts") == 0)
        return cmd_simulate_hosts(ctx);
    int rc = stream_kind(ctx);
    if (rc != EXIT_OK)
        return rc;
    return cmd_simulate_scans(ctx);
}

const struct cli_cmd cmd_ingest_subs[] = {
    {"start",
     {"s"},
     "consume a stream into PostgreSQL",
     "scans",
     NULL,
     ingest_start,
     NULL,
     CMD_CONFIG | CMD_ARGS,
     "Runs ingest.scans.concurrency consumers of ingest.scans.stream in the consumer group\n"
     "ingest.scans.group until SIGTERM/SIGINT: batches are upserted (latest observation\n"
     "wins), committed, then acked; invalid messages go to ingest.scans.dead_letter.\n"
     "Metrics on ingest.scans.metrics.address (docs/ingest.md)."},
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
