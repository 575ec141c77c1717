/* `inventory api ...`: run the REST API server (docs/api.md). */
#include <stdlib.h>
#include <unistd.h>

#include "api/server.h"
#include "cmd/cmd.h"
#include "core/log.h"

static int api_start(struct cli_ctx *ctx)
{
    struct api_server s;
    struct buf err;
    buf_init(&err, 1024);
    atomic_bool *stop = cmd_stop_on_signals();
    if (api_server_start(&s, ctx->cfg, &err) < 0)
        return cmd_fail_err(&err);
    buf_release(&err);
    while (!atomic_load(stop))
        usleep(50 * 1000);
    log_info("api: signal received, draining");
    api_server_stop(&s);
    return EXIT_OK;
}

const struct cli_cmd cmd_api_subs[] = {
    {"start",
     {"s"},
     "start the REST API server",
     NULL,
     NULL,
     api_start,
     NULL,
     CMD_CONFIG,
     "Serves the REST API on api.address with api.threads threads until SIGTERM/SIGINT,\n"
     "then stops accepting, lets in-flight requests finish and exits 0 (docs/api.md)."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
