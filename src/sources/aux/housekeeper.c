/* aux:task:housekeeper, as in the reference system: rows that collection
 * has not seen (updated) within a model's retention are stale and deleted;
 * link rows go with them (ON DELETE CASCADE). Payload:
 *   {"retention": [{"name": "aws:model:instance", "duration": "4h"}, ...]}
 * Each model is one transaction: the delete and its aux_housekeeper_run
 * row commit together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "core/util.h"
#include "db/model.h"
#include "db/pg.h"
#include "sources/aux/aux.h"

#define MIN_RETENTION_MS 60000 /* guards against "0s" wiping a table */

static int clean_model(PGconn *c, const struct model_def *m, int64_t retention_ms,
                       long long *deleted, struct buf *err)
{
    char secs[24], sql[512];
    snprintf(secs, sizeof(secs), "%lld", (long long)(retention_ms / 1000));
    /* The table name comes from the model registry, never from the payload. */
    snprintf(sql, sizeof(sql),
             "WITH d AS (DELETE FROM %s WHERE updated_at < now() - make_interval(secs => $1) "
             "RETURNING 1), started AS (SELECT now() AS at) "
             "INSERT INTO aux_housekeeper_run (model_name, retention_seconds, deleted, started_at) "
             "SELECT $2, $1::bigint, (SELECT count(*) FROM d), at FROM started RETURNING deleted",
             m->table);
    const char *params[2] = {secs, m->name};
    PGresult *r = pg_exec(c, sql, 2, params, err);
    if (!r)
        return -1;
    *deleted = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

enum task_result aux_housekeeper(struct task_ctx *ctx)
{
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    json_t *list = json_object_get(p, "retention");
    enum task_result rc = TASK_OK;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        json_decref(p);
        return task_fail(ctx, true,
                         "invalid payload: \"retention\" must be a non-empty list of "
                         "{name, duration}");
    }
    /* Validate everything before deleting anything. */
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        const char *dur = json_string_value(json_object_get(e, "duration"));
        int64_t ms;
        if (!name || !model_find(name)) {
            rc = task_fail(ctx, true, "invalid payload: retention[%zu]: unknown model \"%s\"", i,
                           name ? name : "");
            break;
        }
        if (!dur || duration_parse(dur, &ms) < 0 || ms < MIN_RETENTION_MS) {
            rc = task_fail(ctx, true,
                           "invalid payload: retention[%zu]: duration must be at least 1m, "
                           "e.g. \"4h\"",
                           i);
            break;
        }
    }
    PGconn *c = rc == TASK_OK ? ctx->db(ctx) : NULL;
    if (rc == TASK_OK && !c)
        rc = TASK_FAILED; /* ctx->err says why; retried */
    json_array_foreach(list, i, e)
    {
        if (rc != TASK_OK)
            break;
        const struct model_def *m = model_find(json_string_value(json_object_get(e, "name")));
        int64_t ms = 0;
        if (duration_parse(json_string_value(json_object_get(e, "duration")), &ms) < 0)
            break; /* validated above */
        long long deleted = 0;
        if (clean_model(c, m, ms, &deleted, &ctx->err) < 0) {
            rc = TASK_FAILED;
            break;
        }
        log_info("housekeeper", LF_STR("model", m->name), LF_INT("deleted", deleted),
                 LF_INT("retention_s", ms / 1000));
        if (ctx->metrics) {
            static const char *const lbl[1] = {"name"};
            const char *labels[1] = {m->name};
            metrics_set(metrics_gauge(ctx->metrics, "inventory_housekeeper_deleted_records",
                                      "Rows the housekeeper deleted in its last run, by model.", 1,
                                      lbl),
                        labels, (double)deleted);
        }
    }
    json_decref(p);
    return rc;
}
