/* The hosts source's tasks (docs/hosts.md, Staleness): the reaper that
 * deletes culled hosts. Culled hosts are already invisible (staleness is
 * computed on read); the reaper frees their rows and tells event
 * consumers with a delete event per host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "db/pg.h"
#include "ingest/stream.h"
#include "queue/handler.h"

/* One chunk: the culled hosts (per-org delete threshold, default 30 d),
 * locked in id order and skipping rows another session holds, deleted,
 * with their delete events. The orgs are walked on the (org_id,
 * last_check_in) index the API uses too (one probe per org), and each
 * org's oldest check-ins read from it, a chunk of them in all (so that
 * they are then fetched by id): an index on last_check_in alone
 * would cost every ingested message its upkeep (migration
 * 20261201110000_hbi_reaper_by_org). The condition on h itself is what a
 * host that checked in meanwhile is re-checked against after the lock. */
static const char *const reap_sql =
    "WITH RECURSIVE o(org) AS ("
    " SELECT min(org_id) FROM hbi_host"
    " UNION ALL SELECT (SELECT min(org_id) FROM hbi_host WHERE org_id > o.org)"
    " FROM o WHERE o.org IS NOT NULL),"
    " c AS ("
    " SELECT h.id FROM hbi_host h LEFT JOIN hbi_staleness s ON s.org_id = h.org_id"
    " WHERE h.id IN (SELECT x.id FROM o, hbi_org_staleness(o.org) AS t,"
    " LATERAL (SELECT id FROM hbi_host h2 WHERE h2.org_id = o.org"
    " AND h2.last_check_in < now() - make_interval(secs => t.cull)"
    " ORDER BY h2.last_check_in LIMIT $1) AS x WHERE o.org IS NOT NULL LIMIT $1)"
    " AND h.last_check_in < now() - make_interval(secs =>"
    " coalesce(s.conventional_time_to_delete, 2592000))"
    " ORDER BY h.id LIMIT $1 FOR UPDATE OF h SKIP LOCKED),"
    " d AS (DELETE FROM hbi_host h USING c WHERE h.id = c.id RETURNING h.*)"
    " SELECT d.id, d.org_id, jsonb_build_object('type', 'delete', 'id', d.id,"
    " 'org_id', d.org_id, 'account', NULL, 'insights_id', d.insights_id,"
    " 'request_id', $2::text, 'timestamp', now(), 'initiated_by_frontend', false,"
    " 'platform_metadata', jsonb_build_object('request_id', $2::text),"
    " 'metadata', jsonb_build_object('request_id', $2::text),"
    " 'host', hbi_host_doc(d::hbi_host, s.stale, s.warn, s.cull))::text"
    " FROM d, hbi_org_staleness(d.org_id) AS s";

/* Publishes the chunk's delete events; false on a Redis error. */
static bool publish(struct task_ctx *ctx, const PGresult *r)
{
    const struct config *cfg = ctx->cfg;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *fv[] = {
            "type", "delete",           "id", PQgetvalue(r, i, 0), "org_id", PQgetvalue(r, i, 1),
            "data", PQgetvalue(r, i, 2)};
        stream_append_xadd(ctx->redis, cfg->hosts.events, cfg->hosts.events_max, fv,
                           ARRAY_SIZE(fv));
    }
    return stream_replies("reaper", ctx->redis, (size_t)PQntuples(r));
}

/* A chunk in its transaction: the events go out before the commit, so a
 * crash in between can repeat a delete event but never lose one (the
 * hosts are still there and culled: the next run deletes them again). */
static int reap_chunk(struct task_ctx *ctx, PGconn *pg, long long *deleted)
{
    char chunk[16];
    snprintf(chunk, sizeof(chunk), "%d", ctx->cfg->hosts.reaper_chunk);
    const char *p[] = {chunk, ctx->task->id};
    if (pg_run(pg, "BEGIN", 0, NULL, &ctx->err) < 0)
        return -1;
    PGresult *r = pg_exec(pg, reap_sql, 2, p, &ctx->err);
    int rc = -1;
    if (r && publish(ctx, r) && pg_run(pg, "COMMIT", 0, NULL, &ctx->err) == 0) {
        *deleted = PQntuples(r);
        rc = 0;
    } else if (r) {
        if (!ctx->err.len)
            buf_setf(&ctx->err, "redis: cannot publish the delete events");
    }
    PQclear(r);
    if (rc < 0 && PQstatus(pg) == CONNECTION_OK) {
        struct buf ignore;
        buf_init(&ignore, 256);
        if (pg_run(pg, "ROLLBACK", 0, NULL, &ignore) < 0)
            log_warn("reaper: rollback failed", LF_STR("error", buf_str(&ignore)));
        buf_release(&ignore);
    }
    return rc;
}

static enum task_result reap_culled(struct task_ctx *ctx)
{
    PGconn *pg = ctx->db(ctx);
    if (!pg)
        return TASK_FAILED;
    long long total = 0, n = 0;
    do {
        if (task_cancelled(ctx))
            return task_fail(ctx, false, "cancelled after %lld hosts", total);
        if (reap_chunk(ctx, pg, &n) < 0)
            return TASK_FAILED;
        total += n;
    } while (n == ctx->cfg->hosts.reaper_chunk);
    log_info("reaper: culled hosts deleted", LF_INT("count", total));
    return TASK_OK;
}

const struct task_handler hosts_task_handlers[] = {
    {"hosts:task:reap-culled",
     "delete culled hosts (per-org staleness) in chunks of hosts.reaper_chunk, with delete "
     "events on hosts.events",
     reap_culled, TH_NEEDS_DB},
    {NULL, NULL, NULL, 0},
};

static bool reaper_enabled(const struct config *cfg)
{
    return cfg->hosts.reaper;
}

const struct periodic_task hosts_periodic_tasks[] = {
    {"@every 1h", "hosts:task:reap-culled", NULL, "delete culled hosts", reaper_enabled},
    {NULL, NULL, NULL, NULL, NULL},
};
