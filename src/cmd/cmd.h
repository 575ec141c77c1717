/* Command groups: each cmd_*.c exports its subcommand table; main.c lists
 * the groups. Shared set-up (config, connections) lives in setup.c. */
#ifndef INV_CMD_H
#define INV_CMD_H

#include <stdatomic.h>
#include <stdio.h>

#include "core/cli.h"
#include "core/config.h"
#include "core/table.h"

extern const struct cli_cmd cmd_db_subs[];
extern const struct cli_cmd cmd_queue_subs[];
extern const struct cli_cmd cmd_task_subs[];
extern const struct cli_cmd cmd_worker_subs[];
extern const struct cli_cmd cmd_scheduler_subs[];
extern const struct cli_cmd cmd_model_subs[];
extern const struct cli_cmd cmd_aws_subs[];
extern const struct cli_cmd cmd_api_subs[];
extern const struct cli_cmd cmd_ingest_subs[];

/* `inventory ingest simulate scans|hosts` (cmd_ingest_sim.c): the options
 * of both kinds and the run of each. */
extern const struct cli_opt cmd_simulate_opts[];
int cmd_simulate_scans(struct cli_ctx *ctx);
int cmd_simulate_hosts(struct cli_ctx *ctx);

int cmd_version(struct cli_ctx *ctx);
int cmd_status(struct cli_ctx *ctx);

/* Hooks used by cli_main: load config, set up the logger, connect. */
extern const struct cli_hooks cmd_hooks;

/* The output format chosen with -o. */
static inline enum out_format cmd_out(const struct cli_ctx *ctx)
{
    return (enum out_format)ctx->out_format;
}

/* Loads configuration as the CLI does (files from --config or
 * INVENTORY_CONFIG, overrides from flags and env). Exit code. */
int cmd_load_config(struct cli_ctx *ctx, struct config *cfg);

struct httpd;
struct metrics_registry;
/* Serves reg at path plus /health on address until httpd_stop. Exit code. */
int cmd_serve_metrics(struct httpd *h, const char *address, const char *path,
                      struct metrics_registry *reg);

/* Installs SIGTERM/SIGINT handlers; returns the flag they set. */
atomic_bool *cmd_stop_on_signals(void);

/* Prints err as a failure and releases it; returns EXIT_FAIL. */
int cmd_fail_err(struct buf *err);
/* Reads and validates --queue; returns 0 or a usage exit code. */
int cmd_queue_arg(struct cli_ctx *ctx, const char **q);

#endif
