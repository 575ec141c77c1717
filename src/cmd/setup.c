/* Shared command set-up: configuration, logger, connections. Runs before
 * every handler according to its CMD_* flags, so handlers only do their job. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include "cmd/cmd.h"
#include "core/log.h"
#include "core/rds.h"
#include "core/util.h"
#include "db/pg.h"

/* INVENTORY_CONFIG may name several files separated by commas; splits env
 * in place and returns pointers into it (array owned by the caller). */
static size_t env_paths(char *env, const char ***paths)
{
    size_t n = 0;
    *paths = NULL;
    for (char *p = env; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *item = str_trim(p);
        if (*item) {
            *paths = xrealloc(*paths, (n + 1) * sizeof(**paths));
            (*paths)[n++] = item;
        }
        p = comma ? comma + 1 : NULL;
    }
    return n;
}

int cmd_load_config(struct cli_ctx *ctx, struct config *cfg)
{
    const char *const *flag_paths;
    size_t n = cli_list(ctx, "config", &flag_paths);
    const char **env_list = NULL;
    char *env_copy = NULL;
    struct buf err;
    int rc = EXIT_OK;
    buf_init(&err, 4096);
    config_init(cfg);
    if (n == 0 && getenv("INVENTORY_CONFIG") && *getenv("INVENTORY_CONFIG")) {
        env_copy = xstrdup(getenv("INVENTORY_CONFIG"));
        n = env_paths(env_copy, &env_list);
        flag_paths = env_list;
    }
    if (n ? config_load(cfg, flag_paths, n, &err) : config_finish(cfg, &err)) {
        rc = cli_fail(EXIT_USAGE, "%s", buf_str(&err));
        goto out;
    }
    /* Flags beat the environment and the files. */
    if (cli_isset(ctx, "database-uri")) {
        free(cfg->database.dsn);
        cfg->database.dsn = xstrdup(cli_str(ctx, "database-uri"));
    }
    if (cli_isset(ctx, "redis-endpoint")) {
        char host[256];
        int port;
        if (rds_parse_endpoint(cli_str(ctx, "redis-endpoint"), host, sizeof(host), &port) < 0) {
            rc = cli_fail(EXIT_USAGE, "--redis-endpoint: expected host:port, got \"%s\"",
                          cli_str(ctx, "redis-endpoint"));
            goto out;
        }
        free(cfg->redis.endpoint);
        cfg->redis.endpoint = xstrdup(cli_str(ctx, "redis-endpoint"));
    }
    if (cli_flag(ctx, "debug")) {
        cfg->debug = true;
        cfg->logging.level = LOG_DEBUG;
    }
out:
    free(env_list);
    free(env_copy);
    buf_release(&err);
    return rc;
}

static int setup(struct cli_ctx *ctx)
{
    unsigned f = ctx->cmd->flags;
    enum out_format fmt;
    struct buf err;
    int rc = EXIT_OK;

    if (out_format_parse(cli_str(ctx, "output"), &fmt) < 0)
        return cli_fail(EXIT_USAGE, "-o/--output: expected table, json or csv, got \"%s\"",
                        cli_str(ctx, "output"));
    ctx->out_format = fmt;
    log_setup(cli_flag(ctx, "debug") ? LOG_DEBUG : LOG_INFO, LOG_FORMAT_TEXT, stderr);
    if (!(f & (CMD_CONFIG | CMD_DB | CMD_REDIS)))
        return EXIT_OK;

    ctx->cfg = xcalloc(1, sizeof(*ctx->cfg));
    if ((rc = cmd_load_config(ctx, ctx->cfg)) != EXIT_OK)
        return rc;
    log_setup(ctx->cfg->logging.level, ctx->cfg->logging.format, stderr);

    buf_init(&err, 4096);
    if (f & CMD_DB) {
        PGconn *conn;
        if (pg_connect(ctx->cfg->database.dsn, ctx->cfg->database.connect_timeout_ms, &conn, &err) <
            0) {
            rc = cli_fail(EXIT_FAIL, "%s", buf_str(&err));
            goto out;
        }
        ctx->db = conn;
    }
    if (f & CMD_REDIS) {
        redisContext *rc_ctx;
        struct rds_opts o = {ctx->cfg->redis.endpoint, ctx->cfg->redis.username,
                             ctx->cfg->redis.password, ctx->cfg->redis.db,
                             ctx->cfg->redis.connect_timeout_ms};
        if (rds_connect(&o, &rc_ctx, &err) < 0) {
            rc = cli_fail(EXIT_FAIL, "%s", buf_str(&err));
            goto out;
        }
        ctx->redis = rc_ctx;
    }
out:
    buf_release(&err);
    return rc;
}

static void teardown(struct cli_ctx *ctx)
{
    if (ctx->db)
        PQfinish(ctx->db);
    if (ctx->redis)
        redisFree(ctx->redis);
    if (ctx->cfg) {
        config_release(ctx->cfg);
        free(ctx->cfg);
    }
    ctx->db = ctx->redis = NULL;
    ctx->cfg = NULL;
}

const struct cli_hooks cmd_hooks = {setup, teardown};
