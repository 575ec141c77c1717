/* `inventory version` and `inventory status`. */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "cmd/cmd.h"
#include "core/rds.h"
#include "db/migrate.h"
#include "db/pg.h"

int cmd_version(struct cli_ctx *ctx)
{
    if (cmd_out(ctx) == OUT_JSON)
        printf("{\"version\": \"%s\", \"commit\": \"%s\"}\n", INV_VERSION, INV_COMMIT);
    else
        printf("inventory version %s (commit %s)\n", INV_VERSION, INV_COMMIT);
    return EXIT_OK;
}

struct probe {
    const char *name;
    bool ok;
    char detail[512];
};

static void probe_db(const struct config *cfg, struct probe *db, struct probe *mig)
{
    struct buf err;
    PGconn *conn = NULL;
    struct migration_set set = {0};
    buf_init(&err, 1024);
    if (pg_connect(cfg->database.dsn, cfg->database.connect_timeout_ms, &conn, &err) < 0) {
        snprintf(db->detail, sizeof(db->detail), "%s", buf_str(&err));
        snprintf(mig->detail, sizeof(mig->detail), "unknown (no database)");
        goto out;
    }
    int v = PQserverVersion(conn);
    db->ok = true;
    snprintf(db->detail, sizeof(db->detail), "PostgreSQL %d.%d at %s:%s/%s", v / 10000, v % 100,
             PQhost(conn), PQport(conn), PQdb(conn));
    if (migrate_load(&set, cfg->database.migration_dir, &err) < 0 ||
        migrate_status(conn, &set, &err) < 0) {
        snprintf(mig->detail, sizeof(mig->detail), "%s", buf_str(&err));
        goto out;
    }
    size_t applied = 0;
    for (size_t i = 0; i < set.n; i++)
        applied += set.items[i].applied;
    mig->ok = applied == set.n;
    snprintf(mig->detail, sizeof(mig->detail), "%zu applied, %zu pending (%s)", applied,
             set.n - applied, mig->ok ? "up-to-date" : "out-of-date: run 'inventory db migrate'");
out:
    migrate_set_release(&set);
    if (conn)
        PQfinish(conn);
    buf_release(&err);
}

static void probe_redis(const struct config *cfg, struct probe *p)
{
    struct buf err;
    redisContext *c = NULL;
    struct rds_opts o = {cfg->redis.endpoint, cfg->redis.username, cfg->redis.password,
                         cfg->redis.db, cfg->redis.connect_timeout_ms};
    buf_init(&err, 1024);
    if (rds_connect(&o, &c, &err) < 0) {
        snprintf(p->detail, sizeof(p->detail), "%s", buf_str(&err));
        goto out;
    }
    const char *argv[] = {"INFO", "server"};
    redisReply *r = rds_cmd(c, &err, 2, argv, NULL);
    if (!r) {
        snprintf(p->detail, sizeof(p->detail), "%s", buf_str(&err));
        goto out;
    }
    const char *ver = r->type == REDIS_REPLY_STRING ? strstr(r->str, "redis_version:") : NULL;
    int vl = 0;
    if (ver) {
        ver += strlen("redis_version:");
        vl = (int)strcspn(ver, "\r\n");
    }
    p->ok = true;
    snprintf(p->detail, sizeof(p->detail), "Redis %.*s at %s db %d", vl, ver ? ver : "?",
             cfg->redis.endpoint, cfg->redis.db);
    freeReplyObject(r);
out:
    if (c)
        redisFree(c);
    buf_release(&err);
}

int cmd_status(struct cli_ctx *ctx)
{
    struct probe p[] = {{"database", false, ""}, {"migrations", false, ""}, {"redis", false, ""}};
    probe_db(ctx->cfg, &p[0], &p[1]);
    probe_redis(ctx->cfg, &p[2]);
    bool ok = true;
    for (size_t i = 0; i < ARRAY_SIZE(p); i++)
        ok = ok && p[i].ok;
    if (cmd_out(ctx) == OUT_JSON) {
        json_t *o = json_object();
        json_t *files = json_array();
        for (size_t i = 0; i < ctx->cfg->nfiles; i++)
            json_array_append_new(files, json_string(ctx->cfg->files[i]));
        json_object_set_new(o, "config", files);
        for (size_t i = 0; i < ARRAY_SIZE(p); i++)
            json_object_set_new(o, p[i].name,
                                json_pack("{s:b,s:s}", "ok", p[i].ok, "detail", p[i].detail));
        json_object_set_new(o, "ok", json_boolean(ok));
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
    } else {
        printf("%-12s: ", "config");
        if (!ctx->cfg->nfiles)
            printf("(none: defaults and environment)");
        for (size_t i = 0; i < ctx->cfg->nfiles; i++)
            printf("%s%s", i ? ", " : "", ctx->cfg->files[i]);
        putchar('\n');
        for (size_t i = 0; i < ARRAY_SIZE(p); i++)
            printf("%-12s: %s: %s\n", p[i].name, p[i].ok ? "ok" : "FAIL", p[i].detail);
    }
    return ok ? EXIT_OK : EXIT_FAIL;
}
