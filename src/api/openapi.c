/* The OpenAPI 3.1 document of the REST API (see openapi.h, docs/api.md).
 * Fixed routes come from one table below (keep it in step with the route
 * table of server.c; tests/integration/test_openapi.py checks both ways);
 * the data routes and their schemas are generated from the model registry.
 * Schemas are JSON Schema 2020-12 and closed (required members,
 * additionalProperties false) wherever the server's answer has a fixed
 * shape, so a client or a test can validate answers with them. */
#include "api/openapi.h"

#include <stdio.h>
#include <string.h>

#include "api/query.h"
#include "core/util.h"
#include "db/model.h"
#include "queue/queue.h"
#include "queue/task.h"

#define SCHEMA(n)   "#/components/schemas/" n
#define RESPONSE(n) "#/components/responses/" n
#define JSON_TYPE   "application/json"
/* Queue names and task ids: is_safe_name() with QUEUE_NAME_MAX/TASK_ID_MAX. */
#define NAME_PATTERN "^[A-Za-z0-9_.:-]{1,63}$"
/* How the server renders timestamps (api_col_select). */
#define TIME_PATTERN "^[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$"

/* ---- small builders (every json_t * argument is stolen) ---- */

static json_t *ref(const char *target)
{
    return json_pack("{s:s}", "$ref", target);
}

static json_t *schema_ref(const char *name)
{
    char target[256];
    snprintf(target, sizeof(target), SCHEMA("%s"), name);
    return ref(target);
}

static json_t *type(const char *t)
{
    return json_pack("{s:s}", "type", t);
}

/* {"type": [t, "null"]} */
static json_t *nullable(const char *t)
{
    return json_pack("{s:[s,s]}", "type", t, "null");
}

static json_t *described(json_t *schema, const char *desc)
{
    json_object_set_new(schema, "description", json_string(desc));
    return schema;
}

static json_t *array_of(json_t *items)
{
    return json_pack("{s:s,s:o}", "type", "array", "items", items);
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Whether word is one of the space-separated words of list. */
static bool in_words(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; p && (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

/* A closed object: every property required but those named in optional
 * (space-separated, NULL for none); no other members. */
static json_t *closed(json_t *props, const char *optional)
{
    json_t *req = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v)
    {
        if (!in_words(optional, k))
            json_array_append_new(req, json_string(k));
    }
    return json_pack("{s:s,s:o,s:o,s:b}", "type", "object", "properties", props, "required", req,
                     "additionalProperties", false);
}

/* A member table for closed objects: name and JSON type ("integer",
 * "integer|null" for a nullable one, "any" for any value, or "$Name" for a
 * component schema). */
struct member {
    const char *name, *type, *desc;
};

static json_t *member_schema(const char *t)
{
    if (t[0] == '$')
        return schema_ref(t + 1);
    if (strcmp(t, "any") == 0)
        return json_object();
    const char *bar = strchr(t, '|');
    if (!bar)
        return type(t);
    char first[32];
    snprintf(first, sizeof(first), "%.*s", (int)(bar - t), t);
    return nullable(first);
}

static json_t *members(const struct member *m, size_t n, const char *optional)
{
    json_t *props = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *s = member_schema(m[i].type);
        json_object_set_new(props, m[i].name, m[i].desc ? described(s, m[i].desc) : s);
    }
    return closed(props, optional);
}

/* The schema of property name of closed object o (borrowed). */
static json_t *prop(json_t *o, const char *name)
{
    return json_object_get(json_object_get(o, "properties"), name);
}

/* {"items": [item, ...]} */
static json_t *items_of(json_t *item)
{
    return closed(json_pack("{s:o}", "items", array_of(item)), NULL);
}

static json_t *json_content(json_t *schema)
{
    return json_pack("{s:{s:o}}", JSON_TYPE, "schema", schema);
}

static json_t *response(const char *desc, json_t *schema)
{
    return json_pack("{s:s,s:o}", "description", desc, "content", json_content(schema));
}

static json_t *param(const char *name, const char *in, const char *desc, json_t *schema)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:o}", "name", name, "in", in, "description", desc,
                          "schema", schema);
    if (strcmp(in, "path") == 0)
        json_object_set_new(p, "required", json_true());
    return p;
}

/* A comma-separated list parameter (style form, explode false). */
static json_t *list_param(const char *name, const char *desc, json_t *schema)
{
    json_t *p = param(name, "query", desc, schema);
    json_object_set_new(p, "style", json_string("form"));
    json_object_set_new(p, "explode", json_false());
    return p;
}

/* ---- errors ---- */

/* Error answers an operation can give (E_*), one bit each. */
#define E_400    (1u << 0)
#define E_401    (1u << 1)
#define E_403    (1u << 2)
#define E_404    (1u << 3)
#define E_409    (1u << 4)
#define E_413    (1u << 5)
#define E_500    (1u << 6)
#define E_503_DB (1u << 7)
#define E_503_RD (1u << 8)
#define E_504    (1u << 9)
#define E_405    (1u << 10)

/* Every error answer: {"error": <fixed text>, "reason": <culprit>?}
 * (server.c set_error), one components/responses entry per kind. */
static const struct err_resp {
    unsigned bit;
    const char *code, *name, *error, *desc;
} errors[] = {
    {E_400, "400", "BadRequest", "bad request",
     "A parameter, value, id or body the server refuses; reason names the culprit."},
    {E_401, "401", "Unauthorized", "unauthorized",
     "No bearer token, another scheme, or a token that matches no configured hash."},
    {E_403, "403", "Forbidden", "forbidden", "The token's scope is too small (needs admin)."},
    {E_404, "404", "NotFound", "not found", "No such model, row, queue or task."},
    {E_405, "405", "MethodNotAllowed", "method not allowed",
     "A known path with a method it does not serve; Allow lists those it does."},
    {E_409, "409", "Conflict", "conflict",
     "The task id exists in the queue (submit), or the task is active (delete)."},
    {E_413, "413", "PayloadTooLarge", "payload too large",
     "A request body over 1 MiB (refused before routing, whatever the path)."},
    {E_500, "500", "InternalError", "internal error",
     "A failed query or Redis call; details in the server log only."},
    {E_503_DB, "503", "DatabaseUnavailable", "database unavailable",
     "No PostgreSQL connection could be made."},
    {E_503_RD, "503", "RedisUnavailable", "redis unavailable",
     "No Redis connection could be made, or it broke during the call."},
    {E_504, "504", "RequestTimeout", "request timeout", "The query ran past api.request_timeout."},
};

static json_t *error_response(const struct err_resp *e)
{
    json_t *schema = json_pack("{s:[o],s:{s:{s:s}}}", "allOf", schema_ref("Error"), "properties",
                               "error", "const", e->error);
    json_t *r = response(e->desc, schema);
    if (e->bit == E_401)
        json_object_set_new(r, "headers",
                            json_pack("{s:{s:s,s:{s:s,s:s}}}", "WWW-Authenticate", "description",
                                      "Always Bearer.", "schema", "type", "string", "const",
                                      "Bearer"));
    if (e->bit == E_405)
        json_object_set_new(r, "headers",
                            json_pack("{s:{s:s,s:{s:s}}}", "Allow", "description",
                                      "The methods of the path, e.g. \"GET, HEAD, DELETE\".",
                                      "schema", "type", "string"));
    return r;
}

/* Adds the error answers in mask to an operation's responses. A 503 from
 * both PostgreSQL and Redis cannot happen on one route. */
static void add_errors(json_t *responses, unsigned mask)
{
    char target[128];
    for (size_t i = 0; i < ARRAY_SIZE(errors); i++) {
        if (!(mask & errors[i].bit))
            continue;
        snprintf(target, sizeof(target), RESPONSE("%s"), errors[i].name);
        json_object_set_new(responses, errors[i].code, ref(target));
    }
}

/* ---- component schemas of the fixed routes ---- */

static json_t *task_states(void)
{
    const char *names[TASK_STATE_COUNT];
    for (int i = 0; i < TASK_STATE_COUNT; i++)
        names[i] = task_state_name((enum task_state)i);
    return strings(names, TASK_STATE_COUNT);
}

static json_t *s_error(void)
{
    static const struct member m[] = {
        {"error", "string", "Fixed per status (\"bad request\", \"not found\", ...)."},
        {"reason", "string", "What was wrong, where useful."},
    };
    return members(m, ARRAY_SIZE(m), "reason");
}

static json_t *s_health(void)
{
    json_t *o = members((const struct member[]){{"status", "string", NULL}}, 1, NULL);
    json_object_set_new(prop(o, "status"), "const", json_string("ok"));
    return o;
}

static json_t *s_ready(void)
{
    static const char *const st[] = {"ok", "unavailable"}, *const chk[] = {"ok", "failed"};
    json_t *checks = members(
        (const struct member[]){{"postgres", "string", NULL}, {"redis", "string", NULL}}, 2, NULL);
    json_object_set_new(prop(checks, "postgres"), "enum", strings(chk, 2));
    json_object_set_new(prop(checks, "redis"), "enum", strings(chk, 2));
    json_t *o = closed(json_pack("{s:{s:s,s:o},s:o}", "status", "type", "string", "enum",
                                 strings(st, 2), "checks", checks),
                       NULL);
    return o;
}

static json_t *s_version(void)
{
    static const struct member m[] = {
        {"version", "string", "As `inventory version`."},
        {"commit", "string", "The git commit built."},
    };
    return members(m, ARRAY_SIZE(m), NULL);
}

static json_t *s_document(void)
{
    return described(json_pack("{s:s,s:[s,s,s],s:{s:{s:s}}}", "type", "object", "required",
                               "openapi", "info", "paths", "properties", "openapi", "const",
                               "3.1.0"),
                     "This document.");
}

static json_t *s_model(void)
{
    static const char *const types[] = {"integer", "text", "boolean", "timestamp"};
    json_t *col = members(
        (const struct member[]){{"name", "string", NULL}, {"type", "string", NULL}}, 2, NULL);
    json_object_set_new(prop(col, "type"), "enum", strings(types, ARRAY_SIZE(types)));
    json_t *link =
        members((const struct member[]){{"link", "string", "The link model."},
                                        {"model", "string", "The model at the other end."}},
                2, NULL);
    json_t *ends =
        members((const struct member[]){{"a", "string", NULL}, {"b", "string", NULL}}, 2, NULL);
    json_t *props =
        json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "name", type("string"), "route", type("string"),
                  "table", type("string"), "description", type("string"), "columns", array_of(col),
                  "links", described(array_of(link), "Entities: the link models touching it."),
                  "link", described(ends, "Link models: the two models joined."));
    json_t *o = closed(props, "links link");
    json_object_set_new(o, "oneOf",
                        json_pack("[{s:[s]},{s:[s]}]", "required", "links", "required", "link"));
    return o;
}

static json_t *s_links(void)
{
    static const struct member m[] = {
        {"link", "string", "The link model."},
        {"model", "string", "The model at the other end."},
        {"route", "string", "Its route below /api/v1/."},
        {"id", "integer", "The id of the row at the other end."},
    };
    return items_of(members(m, ARRAY_SIZE(m), NULL));
}

static json_t *s_queue(void)
{
    static const struct member m[] = {
        {"name", "string", NULL},
        {"memory_usage", "integer", "Bytes used by the queue's keys."},
        {"latency_ms", "integer", "Age of the oldest pending task."},
        {"latency", "string", "The same as a duration (\"1.5s\")."},
        {"size", "integer", "Tasks in the queue, every state."},
        {"pending", "integer", NULL},
        {"active", "integer", NULL},
        {"scheduled", "integer", NULL},
        {"retry", "integer", NULL},
        {"archived", "integer", NULL},
        {"completed", "integer", NULL},
        {"processed_daily", "integer", NULL},
        {"failed_daily", "integer", NULL},
        {"processed_total", "integer", NULL},
        {"failed_total", "integer", NULL},
        {"paused", "boolean", NULL},
    };
    return described(members(m, ARRAY_SIZE(m), NULL), "As `inventory queue inspect -o json`.");
}

static json_t *s_task(void)
{
    static const struct member m[] = {
        {"id", "string", NULL},
        {"queue", "string", NULL},
        {"type", "string", NULL},
        {"state", "string", NULL},
        {"orphaned", "boolean", "Active, but its lease has expired."},
        {"retried", "integer", NULL},
        {"max_retry", "integer", NULL},
        {"timeout_ms", "integer", "0 = no timeout."},
        {"deadline_ms", "integer", "Unix ms; 0 = no deadline."},
        {"retention_ms", "integer", NULL},
        {"last_failed_at_ms", "integer", "Unix ms; 0 = never."},
        {"next_process_at_ms", "integer", "Scheduled and retry tasks; else 0."},
        {"completed_at_ms", "integer", "0 = not completed."},
        {"created_at_ms", "integer", NULL},
        {"last_error", "string|null", NULL},
        {"payload", "any",
         "The payload as JSON when it parses, else as a string; null when "
         "empty."},
    };
    json_t *o = members(m, ARRAY_SIZE(m), NULL);
    json_object_set_new(prop(o, "state"), "enum", task_states());
    return described(o, "As `inventory task inspect -o json`.");
}

static json_t *s_worker(void)
{
    static const struct member slot[] = {
        {"id", "string", "The task."},
        {"queue", "string", NULL},
        {"type", "string", NULL},
        {"started_ms", "integer", NULL},
    };
    static const struct member m[] = {
        {"id", "string", NULL},
        {"name", "string", NULL},
        {"host", "string", NULL},
        {"pid", "integer", NULL},
        {"concurrency", "integer", NULL},
        {"queues", "object", "Queue name to priority."},
        {"strict_priority", "boolean", NULL},
        {"status", "string", NULL},
        {"started_ms", "integer", NULL},
        {"active", "array", "The tasks running now."},
    };
    static const char *const st[] = {"active", "stopping"};
    json_t *o = members(m, ARRAY_SIZE(m), NULL);
    json_object_set_new(prop(o, "queues"), "additionalProperties", type("integer"));
    json_object_set_new(prop(o, "status"), "enum", strings(st, 2));
    json_object_set_new(prop(o, "active"), "items", members(slot, ARRAY_SIZE(slot), NULL));
    return described(o, "A worker's presence record, as `inventory worker ls -o json`.");
}

static json_t *s_job(void)
{
    static const struct member m[] = {
        {"id", "string", NULL},
        {"spec", "string", "Cron or @every spec."},
        {"tz", "string", NULL},
        {"type", "string", "The task type enqueued."},
        {"queue", "string", NULL},
        {"desc", "string|null", NULL},
        {"payload", "string|null", "The payload as compact JSON text."},
        {"origin", "string", "Where the job is declared."},
        {"prev_ms", "integer|null", "The last tick enqueued (Unix ms)."},
        {"next_ms", "integer|null", "The next tick (Unix ms); null when unknown."},
    };
    static const char *const origins[] = {"code", "config"};
    json_t *o = members(m, ARRAY_SIZE(m), NULL);
    json_object_set_new(prop(o, "origin"), "enum", strings(origins, 2));
    return described(o, "A periodic job of the live schedulers, as "
                        "`inventory scheduler jobs -o json`.");
}

static json_t *s_duration(void)
{
    return described(json_pack("{s:[{s:s,s:s},{s:s,s:i}]}", "oneOf", "type", "string", "pattern",
                               "^[0-9]", "type", "integer", "minimum", 0),
                     "A duration (\"30s\", \"5m\", \"1h30m\") or integer milliseconds.");
}

static json_t *s_submit(void)
{
    static const struct member m[] = {
        {"type", "string", "A task type of the registry (`inventory task list`)."},
        {"payload", "any", "An object or array (stored as compact JSON) or a string (as is)."},
        {"queue", "string", "Default \"default\"."},
        {"id", "string", "Default a new UUID."},
        {"max_retry", "integer", "Default 25."},
        {"timeout", "$Duration", NULL},
        {"deadline", "$Duration", "From now."},
        {"retention", "$Duration", NULL},
        {"process_in", "$Duration", "Not with process_at."},
        {"process_at", "integer", "Unix seconds; not with process_in."},
    };
    json_t *o = members(m, ARRAY_SIZE(m),
                        "payload queue id max_retry timeout deadline retention process_in "
                        "process_at");
    json_object_set_new(prop(o, "type"), "minLength", json_integer(1));
    json_object_set_new(prop(o, "payload"), "type",
                        json_pack("[s,s,s,s]", "object", "array", "string", "null"));
    json_object_set_new(prop(o, "queue"), "pattern", json_string(NAME_PATTERN));
    json_object_set_new(prop(o, "id"), "pattern", json_string(NAME_PATTERN));
    json_object_set_new(prop(o, "max_retry"), "minimum", json_integer(0));
    json_object_set_new(prop(o, "max_retry"), "maximum", json_integer(10000));
    json_object_set_new(prop(o, "process_at"), "minimum", json_integer(0));
    json_object_set_new(prop(o, "process_at"), "maximum", json_integer(INT64_MAX / 1000));
    json_object_set_new(o, "not", json_pack("{s:[s,s]}", "required", "process_in", "process_at"));
    return described(o, "The options of `inventory task submit`.");
}

static json_t *s_submitted(void)
{
    return members((const struct member[]){{"queue", "string", NULL}, {"id", "string", NULL}}, 2,
                   NULL);
}

static json_t *s_paused(void)
{
    return members((const struct member[]){{"queue", "string", NULL}, {"paused", "boolean", NULL}},
                   2, NULL);
}

static json_t *s_deleted(void)
{
    json_t *o = members((const struct member[]){{"queue", "string", NULL},
                                                {"id", "string", NULL},
                                                {"deleted", "boolean", NULL}},
                        3, NULL);
    json_object_set_new(prop(o, "deleted"), "const", json_true());
    return o;
}

static json_t *s_cancelled(void)
{
    static const struct member m[] = {
        {"queue", "string", NULL},
        {"id", "string", NULL},
        {"state", "string", "The task's state when the request was sent."},
        {"receivers", "integer", "Workers that received the cancel request."},
    };
    json_t *o = members(m, ARRAY_SIZE(m), NULL);
    json_object_set_new(prop(o, "state"), "enum", task_states());
    return o;
}

static json_t *s_models(void)
{
    return items_of(schema_ref("Model"));
}

static json_t *s_queues(void)
{
    return items_of(schema_ref("Queue"));
}

static json_t *s_tasks(void)
{
    return items_of(schema_ref("Task"));
}

static json_t *s_workers(void)
{
    return items_of(schema_ref("Worker"));
}

static json_t *s_jobs(void)
{
    return items_of(schema_ref("SchedulerJob"));
}

static const struct {
    const char *name;
    json_t *(*build)(void);
} fixed_schemas[] = {
    {"Error", s_error},
    {"Health", s_health},
    {"Ready", s_ready},
    {"Version", s_version},
    {"OpenAPIDocument", s_document},
    {"Model", s_model},
    {"Models", s_models},
    {"Links", s_links},
    {"Queue", s_queue},
    {"Queues", s_queues},
    {"Task", s_task},
    {"Tasks", s_tasks},
    {"Worker", s_worker},
    {"Workers", s_workers},
    {"SchedulerJob", s_job},
    {"SchedulerJobs", s_jobs},
    {"Duration", s_duration},
    {"TaskSubmit", s_submit},
    {"TaskSubmitted", s_submitted},
    {"QueuePaused", s_paused},
    {"TaskDeleted", s_deleted},
    {"TaskCancelled", s_cancelled},
};

/* ---- fixed operations (server.c's route table) ---- */

enum access { OPEN, READ, ADMIN }; /* as server.c */

#define P_QUEUE  (1u << 16) /* path parameter q */
#define P_TASK   (1u << 17) /* path parameter id (a task) */
#define P_STATE  (1u << 18) /* state, page, size */
#define B_SUBMIT (1u << 19) /* request body TaskSubmit */
#define F_TEXT   (1u << 20) /* the answer is Prometheus text */
#define F_READY  (1u << 21) /* 503 answers Ready */
#define P_SCANS  (1u << 22) /* ip (unless in the path), port, service, since, limit, next */
#define P_IP     (1u << 23) /* path parameter ip */

#define Q_ERRS (E_400 | E_503_RD)

static const struct fixed_op {
    const char *method, *path, *id, *tag, *summary;
    enum access access;
    const char *status, *schema; /* success status and its body */
    unsigned flags;              /* E_*, P_*, B_*, F_* */
} fixed_ops[] = {
    {"get", "/health", "health", "health", "Liveness: touches nothing.", OPEN, "200", "Health", 0},
    {"get", "/ready", "ready", "health",
     "Readiness: PostgreSQL (SELECT 1) and Redis (PING) answer; else 503 naming the one that "
     "failed.",
     OPEN, "200", "Ready", F_READY},
    {"get", "/version", "version", "health", "Version and commit.", OPEN, "200", "Version", 0},
    {"get", "/metrics", "metrics", "health", "Prometheus metrics (text format 0.0.4).", OPEN, "200",
     NULL, F_TEXT},
    {"get", "/api/v1/openapi.json", "openapi", "health", "This OpenAPI document.", OPEN, "200",
     "OpenAPIDocument", 0},
    {"get", "/api/v1/models", "models", "data", "Every model of the registry.", READ, "200",
     "Models", E_400},
    {"get", "/api/v1/queues", "queues", "queues", "Every known queue, sorted by name.", READ, "200",
     "Queues", Q_ERRS},
    {"get", "/api/v1/queues/{q}", "queue", "queues", "One queue.", READ, "200", "Queue",
     Q_ERRS | E_404 | P_QUEUE},
    {"get", "/api/v1/queues/{q}/tasks", "queue_tasks", "queues",
     "Tasks of the queue in one state, a page at a time (pending in the order they will run).",
     READ, "200", "Tasks", Q_ERRS | E_404 | P_QUEUE | P_STATE},
    {"post", "/api/v1/queues/{q}/pause", "queue_pause", "queues", "Pause the queue.", ADMIN, "200",
     "QueuePaused", Q_ERRS | E_404 | E_413 | P_QUEUE},
    {"post", "/api/v1/queues/{q}/resume", "queue_resume", "queues", "Resume the queue.", ADMIN,
     "200", "QueuePaused", Q_ERRS | E_404 | E_413 | P_QUEUE},
    {"post", "/api/v1/tasks", "task_submit", "tasks",
     "Submit a task (the options of `inventory task submit`).", ADMIN, "201", "TaskSubmitted",
     Q_ERRS | E_409 | E_413 | B_SUBMIT},
    {"get", "/api/v1/tasks/{id}", "task", "tasks", "One task, searched in every queue.", READ,
     "200", "Task", Q_ERRS | E_404 | P_TASK},
    {"delete", "/api/v1/tasks/{id}", "task_delete", "tasks",
     "Delete a task that is not running (409 when active: cancel it first).", ADMIN, "200",
     "TaskDeleted", Q_ERRS | E_404 | E_409 | E_413 | P_TASK},
    {"post", "/api/v1/tasks/{id}/cancel", "task_cancel", "tasks",
     "Ask the workers to cancel the task; the running handler stops and the task is archived.",
     ADMIN, "202", "TaskCancelled", Q_ERRS | E_404 | E_413 | P_TASK},
    {"get", "/api/v1/workers", "workers", "workers", "Live workers.", READ, "200", "Workers",
     Q_ERRS},
    {"get", "/api/v1/scheduler/jobs", "scheduler_jobs", "scheduler",
     "Periodic jobs of the live schedulers, merged by id, sorted by type, spec and id.", READ,
     "200", "SchedulerJobs", Q_ERRS},
    {"get", "/api/v1/scans", "scans", "scans",
     "The latest observation per ip, port and service (docs/ingest.md), in id order, a page at "
     "a time.",
     READ, "200", "scan.model.result.list", E_400 | E_503_DB | E_504 | P_SCANS},
    {"get", "/api/v1/scans/{ip}", "scans_of_ip", "scans",
     "The latest observations of one address (any notation; compared in canonical form).", READ,
     "200", "scan.model.result.list", E_400 | E_503_DB | E_504 | P_SCANS | P_IP},
};

static bool open_reads(const struct config *cfg)
{
    return cfg->api.auth && strcmp(cfg->api.auth, "none") == 0;
}

/* The operation object's security, and the auth errors it can answer. */
static json_t *security(const struct config *cfg, enum access a, unsigned *errs)
{
    if (a == OPEN || (a == READ && open_reads(cfg)))
        return json_array();
    *errs |= E_401 | (a == ADMIN ? E_403 : 0);
    return json_pack("[{s:[]}]", "bearer");
}

static const char *access_note(const struct config *cfg, enum access a)
{
    if (a == ADMIN)
        return "Needs an admin token (scope admin), whatever api.auth says.";
    if (a == READ)
        return open_reads(cfg) ? "No token needed (api.auth: none)."
                               : "Needs a read or admin token.";
    return "No token needed.";
}

static json_t *operation(const struct config *cfg, const char *id, const char *tag,
                         const char *summary, enum access a, json_t *params, json_t *responses,
                         unsigned errs)
{
    errs |= E_500;
    json_t *sec = security(cfg, a, &errs);
    add_errors(responses, errs);
    json_t *op =
        json_pack("{s:s,s:[s],s:s,s:s,s:o,s:o}", "operationId", id, "tags", tag, "summary", summary,
                  "description", access_note(cfg, a), "security", sec, "responses", responses);
    if (params && json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    return op;
}

static void add_op(json_t *paths, const char *path, const char *method, json_t *op)
{
    json_t *item = json_object_get(paths, path);
    if (!item) {
        item = json_object();
        json_object_set_new(paths, path, item);
    }
    json_object_set_new(item, method, op);
}

static json_t *fixed_params(const struct config *cfg, unsigned flags)
{
    json_t *p = json_array();
    if (flags & P_QUEUE)
        json_array_append_new(p, ref("#/components/parameters/Queue"));
    if (flags & P_TASK)
        json_array_append_new(p, ref("#/components/parameters/TaskId"));
    if (flags & P_IP)
        json_array_append_new(p, param("ip", "path", "An IPv4 or IPv6 address.", type("string")));
    if (flags & P_SCANS) {
        if (!(flags & P_IP))
            json_array_append_new(
                p, param("ip", "query", "An IPv4 or IPv6 address (any notation).", type("string")));
        json_array_append_new(p, param("port", "query", "A port.",
                                       json_pack("{s:s,s:i,s:i}", "type", "integer", "minimum", 1,
                                                 "maximum", 65535)));
        json_array_append_new(
            p, param("service", "query", "A service name, exactly.", type("string")));
        json_array_append_new(
            p, param("since", "query",
                     "Observations at or after this time: Unix seconds, an RFC 3339 date-time "
                     "or a date.",
                     json_pack("{s:s,s:[{s:s},{s:s},{s:s}]}", "type", "string", "anyOf", "pattern",
                               "^[0-9]+$", "format", "date-time", "format", "date")));
        json_array_append_new(p, param("limit", "query", "Page size.",
                                       json_pack("{s:s,s:i,s:i,s:i}", "type", "integer", "minimum",
                                                 1, "maximum", cfg->api.max_page_size, "default",
                                                 API_DEFAULT_LIMIT < cfg->api.max_page_size
                                                     ? API_DEFAULT_LIMIT
                                                     : cfg->api.max_page_size)));
        json_array_append_new(p, param("next", "query",
                                       "The next page: the next of the previous answer.",
                                       type("string")));
    }
    if (flags & P_STATE) {
        json_t *st = json_pack("{s:s,s:o,s:s}", "type", "string", "enum", task_states(), "default",
                               "pending");
        json_array_append_new(p, param("state", "query", "The state listed.", st));
        json_array_append_new(p, param("page", "query", "Page number, from 1.",
                                       json_pack("{s:s,s:i,s:i,s:i}", "type", "integer", "minimum",
                                                 1, "maximum", 1000000, "default", 1)));
        json_array_append_new(p,
                              param("size", "query", "Tasks per page.",
                                    json_pack("{s:s,s:i,s:i,s:i}", "type", "integer", "minimum", 1,
                                              "maximum", cfg->api.max_page_size, "default", 50)));
    }
    return p;
}

static json_t *fixed_op(const struct config *cfg, const struct fixed_op *f)
{
    json_t *responses = json_object();
    if (f->flags & F_TEXT) {
        json_object_set_new(responses, f->status,
                            json_pack("{s:s,s:{s:{s:{s:s}}}}", "description",
                                      "Prometheus text exposition format 0.0.4.", "content",
                                      "text/plain", "schema", "type", "string"));
    } else {
        json_object_set_new(responses, f->status, response("OK.", schema_ref(f->schema)));
    }
    if (f->flags & F_READY)
        json_object_set_new(responses, "503",
                            response("PostgreSQL or Redis did not answer.", schema_ref("Ready")));
    json_t *op = operation(cfg, f->id, f->tag, f->summary, f->access, fixed_params(cfg, f->flags),
                           responses, f->flags & 0xffffu);
    if (f->flags & B_SUBMIT)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:o}", "required", true, "content",
                                      json_content(schema_ref("TaskSubmit"))));
    return op;
}

/* ---- data routes (the model registry) ---- */

/* Every column the API shows, in the default order of an item. */
static size_t api_cols(const struct model_def *m, struct api_col *out, size_t max)
{
    size_t n = 0;
    out[n++] = (struct api_col){"id", COL_INT};
    for (size_t i = 0; m->cols[i].name && n + 2 < max; i++)
        out[n++] = (struct api_col){m->cols[i].name, m->cols[i].type};
    out[n++] = (struct api_col){"created_at", COL_TIME};
    out[n++] = (struct api_col){"updated_at", COL_TIME};
    return n;
}

/* NULL in a row: the registry's nullable flag (id, created_at and
 * updated_at are never NULL); test_openapi compares it with
 * information_schema. */
static bool can_be_null(const struct model_def *m, const struct api_col *c)
{
    int i = model_col_index(m, c->name);
    return i >= 0 && m->cols[i].nullable;
}

/* A column's value in an answer (server.c cell()). */
static json_t *cell_schema(const struct model_def *m, const struct api_col *c)
{
    bool null = can_be_null(m, c);
    switch (c->type) {
    case COL_INT:
        return null ? nullable("integer") : type("integer");
    case COL_BOOL:
        return null ? nullable("boolean") : type("boolean");
    case COL_TIME: {
        json_t *s = null ? nullable("string") : type("string");
        json_object_set_new(s, "format", json_string("date-time"));
        json_object_set_new(s, "pattern", json_string(TIME_PATTERN));
        return described(s, "RFC 3339 in UTC with microseconds.");
    }
    case COL_TEXT:
        break;
    }
    return null ? nullable("string") : type("string");
}

/* A column's value in a query parameter (query.c check_value()). */
static json_t *value_schema(enum col_type t)
{
    switch (t) {
    case COL_INT:
        return json_pack("{s:s,s:s}", "type", "integer", "format", "int64");
    case COL_BOOL:
        return described(type("boolean"), "true or false (also yes/no, on/off, 1/0).");
    case COL_TIME:
        return described(json_pack("{s:s,s:[{s:s},{s:s}]}", "type", "string", "anyOf", "format",
                                   "date-time", "format", "date"),
                         "RFC 3339 date-time, or a date (midnight UTC).");
    case COL_TEXT:
        break;
    }
    return type("string");
}

/* Component names: [A-Za-z0-9._-] only ("aws:model:vpc" -> "aws.model.vpc"). */
static void component_name(const char *model, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s%s", model, suffix);
    for (char *p = out; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            *p = '.';
}

static json_t *item_schema(const struct model_def *m, const struct api_col *c, size_t n)
{
    json_t *props = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(props, c[i].name, cell_schema(m, &c[i]));
    char desc[512];
    snprintf(desc, sizeof(desc),
             "A row of %s (%s). Every property by default, in this order; with fields= only "
             "those named.",
             m->name, m->desc ? m->desc : m->table);
    return described(json_pack("{s:s,s:o,s:b,s:i}", "type", "object", "properties", props,
                               "additionalProperties", false, "minProperties", 1),
                     desc);
}

static json_t *list_schema(const char *item)
{
    json_t *props = json_pack(
        "{s:o,s:o,s:o}", "items", array_of(schema_ref(item)), "next",
        described(nullable("string"), "The cursor of the next page; null on the last."), "total",
        described(json_pack("{s:s,s:i}", "type", "integer", "minimum", 0),
                  "Rows matching the filters (with total=true only)."));
    return closed(props, "total");
}

static json_t *fields_param(const struct api_col *c, size_t n)
{
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(c[i].name));
    return list_param("fields", "Only these columns in each item, in this order.",
                      json_pack("{s:s,s:{s:o},s:b,s:i}", "type", "array", "items", "enum", names,
                                "uniqueItems", true, "minItems", 1));
}

static const struct {
    const char *suffix, *desc;
    bool text, ordered; /* for text columns; for integer and timestamp ones */
} ops[] = {
    {"__prefix", "Starts with (no wildcards: % and _ are literal).", true, false},
    {"__gt", "Greater than.", false, true},
    {"__gte", "Greater than or equal.", false, true},
    {"__lt", "Less than.", false, true},
    {"__lte", "Less than or equal.", false, true},
};

static json_t *list_params(const struct config *cfg, const struct api_col *c, size_t n)
{
    json_t *p = json_array(), *sorts = json_array();
    char name[160];
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(p, param(c[i].name, "query", "Equals.", value_schema(c[i].type)));
        snprintf(name, sizeof(name), "%s__in", c[i].name);
        json_array_append_new(p, list_param(name, "One of these values (comma-separated).",
                                            json_pack("{s:s,s:o,s:i,s:i}", "type", "array", "items",
                                                      value_schema(c[i].type), "minItems", 1,
                                                      "maxItems", API_MAX_IN)));
        for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
            bool fits =
                c[i].type == COL_TEXT ? ops[k].text : (c[i].type != COL_BOOL && ops[k].ordered);
            if (!fits)
                continue;
            snprintf(name, sizeof(name), "%s%s", c[i].name, ops[k].suffix);
            json_array_append_new(p, param(name, "query", ops[k].desc, value_schema(c[i].type)));
        }
        json_array_append_new(sorts, json_string(c[i].name));
        snprintf(name, sizeof(name), "-%s", c[i].name);
        json_array_append_new(sorts, json_string(name));
    }
    json_array_append_new(
        p, param("sort", "query",
                 "Order by one column, ascending or (-) descending; ties by id "
                 "in the same direction.",
                 json_pack("{s:s,s:o,s:s}", "type", "string", "enum", sorts, "default", "id")));
    json_array_append_new(p, fields_param(c, n));
    int64_t max = cfg->api.max_page_size;
    json_array_append_new(
        p, param("limit", "query", "Page size.",
                 json_pack("{s:s,s:i,s:I,s:I}", "type", "integer", "minimum", 1, "maximum",
                           (json_int_t)max, "default",
                           (json_int_t)(API_DEFAULT_LIMIT < max ? API_DEFAULT_LIMIT : max))));
    json_array_append_new(p, param("next", "query",
                                   "The next page: the next of the previous answer, with the "
                                   "same sort.",
                                   json_pack("{s:s,s:i,s:s}", "type", "string", "maxLength",
                                             API_MAX_CURSOR, "pattern", "^[A-Za-z0-9_-]+$")));
    json_array_append_new(p, param("total", "query", "Add total: the count of matching rows.",
                                   json_pack("{s:s,s:b}", "type", "boolean", "default", false)));
    return p;
}

struct model_ctx {
    const struct config *cfg;
    json_t *paths, *schemas;
};

static json_t *model_op(struct model_ctx *x, const char *verb, const struct model_def *m,
                        const char *summary, json_t *params, const char *schema, unsigned errs)
{
    char id[160];
    snprintf(id, sizeof(id), "%s_%s", verb, m->route);
    for (char *p = id; *p; p++)
        if (*p == '/')
            *p = '_';
    json_t *responses = json_pack("{s:o}", "200", response("OK.", schema_ref(schema)));
    return operation(x->cfg, id, "data", summary, READ, params, responses,
                     errs | E_400 | E_503_DB | E_504);
}

static void add_model(const struct model_def *m, void *arg)
{
    struct model_ctx *x = arg;
    struct api_col c[128];
    char item[200], list[200], path[300], summary[300];
    if (!m->route)
        return;
    size_t n = api_cols(m, c, ARRAY_SIZE(c));
    component_name(m->name, "", item, sizeof(item));
    component_name(m->name, ".list", list, sizeof(list));
    json_object_set_new(x->schemas, item, item_schema(m, c, n));
    json_object_set_new(x->schemas, list, list_schema(item));

    snprintf(path, sizeof(path), "/api/v1/%s", m->route);
    snprintf(summary, sizeof(summary), "Rows of %s: filters, sort, fields, pages, total.", m->name);
    add_op(x->paths, path, "get",
           model_op(x, "list", m, summary, list_params(x->cfg, c, n), list, 0));

    snprintf(path, sizeof(path), "/api/v1/%s/{id}", m->route);
    snprintf(summary, sizeof(summary), "One row of %s by id.", m->name);
    json_t *p = json_pack("[o,o]", ref("#/components/parameters/RowId"), fields_param(c, n));
    add_op(x->paths, path, "get", model_op(x, "get", m, summary, p, item, E_404));

    snprintf(path, sizeof(path), "/api/v1/%s/{id}/links", m->route);
    snprintf(summary, sizeof(summary),
             "The rows linked to a row of %s, by link table (registry order), then id.", m->name);
    p = json_pack("[o]", ref("#/components/parameters/RowId"));
    add_op(x->paths, path, "get", model_op(x, "links", m, summary, p, "Links", E_404));
}

/* ---- the document ---- */

static json_t *components(void)
{
    json_t *schemas = json_object(), *responses = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(fixed_schemas); i++)
        json_object_set_new(schemas, fixed_schemas[i].name, fixed_schemas[i].build());
    for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
        json_object_set_new(responses, errors[i].name, error_response(&errors[i]));
    json_t *name = json_pack("{s:s,s:s}", "type", "string", "pattern", NAME_PATTERN);
    json_t *params = json_pack(
        "{s:o,s:o,s:o}", "Queue", param("q", "path", "A queue name.", json_deep_copy(name)),
        "TaskId", param("id", "path", "A task id.", name), "RowId",
        param("id", "path", "A row id.",
              json_pack("{s:s,s:s,s:i}", "type", "integer", "format", "int64", "minimum", 1)));
    return json_pack(
        "{s:{s:{s:s,s:s,s:s}},s:o,s:o,s:o}", "securitySchemes", "bearer", "type", "http", "scheme",
        "bearer", "description",
        "A token of api.tokens (scope read or admin); the server keeps only its SHA-256.",
        "schemas", schemas, "responses", responses, "parameters", params);
}

static const char *const description =
    "The REST API of Inventory (docs/api.md): collected data from the model registry, queue "
    "introspection and control, health and metrics.\n\n"
    "HEAD is answered like GET without a body. Another method on a known path is a 405 "
    "(components/responses/MethodNotAllowed, with Allow); an unknown path a 404. Any request "
    "with a body over 1 MiB is a 413. Authentication runs after routing. Request line and "
    "headers over 32 KiB get libmicrohttpd's own 431 or 414 page (not JSON).";

static const struct {
    const char *name, *desc;
} tags[] = {
    {"health", "Liveness, readiness, version, metrics, this document."},
    {"data", "Collected data, one set of routes per model of the registry."},
    {"queues", "Queues: introspection, pause and resume."},
    {"tasks", "Tasks: inspect, submit, delete, cancel."},
    {"workers", "Live workers."},
    {"scheduler", "Periodic jobs."},
    {"scans", "Streamed scan results: the latest observation per ip, port and service."},
};

json_t *api_openapi(const struct config *cfg)
{
    json_t *paths = json_object(), *comp = components(), *tag_list = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(fixed_ops); i++)
        add_op(paths, fixed_ops[i].path, fixed_ops[i].method, fixed_op(cfg, &fixed_ops[i]));
    struct model_ctx x = {cfg, paths, json_object_get(comp, "schemas")};
    if (x.schemas)
        models_each(add_model, &x);
    for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
        json_array_append_new(
            tag_list, json_pack("{s:s,s:s}", "name", tags[i].name, "description", tags[i].desc));
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:o,s:o,s:o}", "openapi", "3.1.0", "info", "title",
                     "Inventory API", "version", INV_VERSION, "description", description, "tags",
                     tag_list, "paths", paths, "components", comp);
}
