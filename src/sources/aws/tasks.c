/* AWS tasks, as in the reference system. A collect task without payload
 * fans out: one task per account of the service, and for regional
 * resources one per region of that account (from aws_region; collected on
 * the spot when the account has none yet), each with payload
 * {"account_id", "region"}; with such a payload it collects that unit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/log.h"
#include "db/pg.h"
#include "queue/handler.h"
#include "queue/queue.h"
#include "sources/aws/aws.h"
#include "sources/aws/collect.h"

#define MAX_OWNERS 8

/* One client per process, built from the configuration on first use and
 * shared by every handler thread (it is thread-safe). */
static pthread_mutex_t client_mu = PTHREAD_MUTEX_INITIALIZER;
static struct aws *client;
static bool client_metrics;

static struct aws *get_client(struct task_ctx *ctx)
{
    pthread_mutex_lock(&client_mu);
    if (!client && aws_new(ctx->cfg, &client, &ctx->err) < 0)
        client = NULL;
    else if (client && ctx->metrics && !client_metrics) {
        aws_metrics_register(client, ctx->metrics); /* before other threads use it */
        client_metrics = true;
    }
    struct aws *a = client;
    pthread_mutex_unlock(&client_mu);
    return a;
}

struct collector {
    const char *type;
    enum aws_service svc;
    bool regional;
    enum aws_kind kinds[2];
    size_t nkinds;
};

static const struct collector collectors[] = {
    {"aws:task:collect-regions", AWS_EC2, false, {AWS_KIND_REGIONS}, 1},
    {"aws:task:collect-azs", AWS_EC2, true, {AWS_KIND_AZS}, 1},
    {"aws:task:collect-vpcs", AWS_EC2, true, {AWS_KIND_VPCS}, 1},
    {"aws:task:collect-subnets", AWS_EC2, true, {AWS_KIND_SUBNETS}, 1},
    {"aws:task:collect-instances", AWS_EC2, true, {AWS_KIND_INSTANCES}, 1},
    {"aws:task:collect-images", AWS_EC2, true, {AWS_KIND_IMAGES}, 1},
    {"aws:task:collect-loadbalancers", AWS_ELBV2, true, {AWS_KIND_ELB, AWS_KIND_ELBV2}, 2},
    {"aws:task:collect-buckets", AWS_S3, false, {AWS_KIND_BUCKETS}, 1},
    {"aws:task:collect-net-interfaces", AWS_EC2, true, {AWS_KIND_NET_INTERFACES}, 1},
    {"aws:task:collect-dhcp-option-sets", AWS_EC2, true, {AWS_KIND_DHCP_OPTION_SETS}, 1},
};

static const struct collector *collector_of(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(collectors); i++)
        if (strcmp(collectors[i].type, type) == 0)
            return &collectors[i];
    return NULL;
}

/* Enqueues children of the running task (same queue), one per payload. */
static int fan_out(struct task_ctx *ctx, const char *type, json_t *const *payloads, size_t n)
{
    if (n == 0)
        return 0;
    struct enqueue_item *items = xcalloc(n, sizeof(*items));
    char **texts = xcalloc(n, sizeof(*texts));
    int *status = xcalloc(n, sizeof(*status));
    struct enqueue_opts o = {.queue = ctx->task->queue, .max_retry = -1, .timeout_ms = -1};
    for (size_t i = 0; i < n; i++) {
        texts[i] = json_dumps(payloads[i], JSON_COMPACT | JSON_SORT_KEYS);
        items[i] = (struct enqueue_item){type, texts[i], strlen(texts[i]), &o};
    }
    int rc = queue_enqueue_many(ctx->redis, items, n, NULL, status, &ctx->err);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(items);
    free(status);
    if (rc == 0)
        log_info("fanned out", LF_STR("task", type), LF_INT("tasks", n));
    return rc;
}

/* Regions known for the account, without the excluded ones. */
static int account_regions(struct task_ctx *ctx, struct aws *a, PGconn *db, const char *account_id,
                           json_t **out)
{
    const char *params[1] = {account_id};
    PGresult *r = pg_exec(db, "SELECT name FROM aws_region WHERE account_id = $1 ORDER BY name", 1,
                          params, &ctx->err);
    if (!r)
        return -1;
    *out = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        if (!aws_region_excluded(a, PQgetvalue(r, i, 0)))
            json_array_append_new(*out, json_string(PQgetvalue(r, i, 0)));
    PQclear(r);
    return 0;
}

static enum task_result fail_unit(struct task_ctx *ctx, const struct aws_unit *u)
{
    if (task_cancelled(ctx))
        return task_fail(ctx, false, "cancelled: %s", buf_str(u->err));
    ctx->permanent = u->permanent;
    return TASK_FAILED;
}

static enum task_result run_unit(struct task_ctx *ctx, struct aws *a, const struct collector *c,
                                 const struct aws_account *acct, const char *region,
                                 json_t *payload)
{
    PGconn *db = ctx->db(ctx);
    if (!db)
        return TASK_FAILED;
    const char *owners[MAX_OWNERS];
    size_t nowners = 0;
    json_t *jo = json_object_get(payload, "owners");
    if (jo && !json_is_array(jo))
        return task_fail(ctx, true, "invalid payload: \"owners\" must be a list of strings");
    for (size_t i = 0; i < json_array_size(jo); i++) {
        const char *s = json_string_value(json_array_get(jo, i));
        if (!s || nowners == MAX_OWNERS)
            return task_fail(ctx, true, "invalid payload: \"owners\": up to %d strings",
                             MAX_OWNERS);
        owners[nowners++] = s;
    }
    if (nowners == 0)
        owners[nowners++] = "self";
    struct aws_unit u = {a,  acct,           region,       owners,    nowners,
                         db, ctx->cancelled, ctx->metrics, &ctx->err, false};
    long long rows = 0;
    if (aws_collect_unit(&u, c->kinds, c->nkinds, &rows) < 0)
        return fail_unit(ctx, &u);
    log_info("collected", LF_STR("task", c->type), LF_STR("account_id", acct->account_id),
             LF_STR("region", region), LF_INT("rows", rows));
    return TASK_OK;
}

static enum task_result collect(struct task_ctx *ctx)
{
    const struct collector *c = collector_of(ctx->task->type);
    if (!ctx->cfg->aws.is_enabled) {
        log_info("aws is not enabled (aws.is_enabled): skipped", LF_STR("task", c->type));
        return TASK_SKIPPED;
    }
    struct aws *a = get_client(ctx);
    if (!a)
        return TASK_FAILED;
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    enum task_result rc = TASK_OK;
    json_t *jacct = json_object_get(p, "account_id"), *jreg = json_object_get(p, "region");
    if ((jacct && !json_is_string(jacct)) || (jreg && !json_is_string(jreg))) {
        rc = task_fail(ctx, true, "invalid payload: account_id and region must be strings");
        goto out;
    }
    const char *account_id = json_string_value(jacct), *region = json_string_value(jreg);
    if (region && !account_id) {
        rc = task_fail(ctx, true, "invalid payload: region without account_id");
        goto out;
    }
    /* Resolves the service's accounts (once per process; cheap after). */
    const struct aws_account *const *accts;
    size_t nacct;
    if (aws_accounts(a, c->svc, &accts, &nacct, ctx->cancelled, &ctx->err) < 0) {
        rc = TASK_FAILED;
        goto out;
    }
    if (!account_id) { /* fan out over the service's accounts */
        size_t n = nacct;
        json_t **ps = xcalloc(n ? n : 1, sizeof(*ps));
        for (size_t i = 0; i < n; i++) {
            ps[i] = json_deep_copy(p);
            json_object_set_new(ps[i], "account_id", json_string(accts[i]->account_id));
        }
        if (fan_out(ctx, c->type, ps, n) < 0)
            rc = TASK_FAILED;
        for (size_t i = 0; i < n; i++)
            json_decref(ps[i]);
        free(ps);
        goto out;
    }
    const struct aws_account *acct = aws_account_find(a, c->svc, account_id);
    if (!acct) {
        rc = task_fail(ctx, true, "account %s is not configured for %s", account_id, c->type);
        goto out;
    }
    if (!c->regional) {
        rc = run_unit(ctx, a, c, acct, region ? region : aws_default_region(a), p);
        goto out;
    }
    if (region) {
        if (aws_region_excluded(a, region))
            log_info("region excluded: skipped", LF_STR("region", region));
        else
            rc = run_unit(ctx, a, c, acct, region, p);
        goto out;
    }
    /* Regional, account given: one task per region of the account. */
    PGconn *db = ctx->db(ctx);
    json_t *regions = NULL;
    if (!db || account_regions(ctx, a, db, account_id, &regions) < 0) {
        rc = TASK_FAILED;
        goto out;
    }
    if (json_array_size(regions) == 0) { /* first run: learn the regions now */
        json_decref(regions);
        rc = run_unit(ctx, a, collector_of("aws:task:collect-regions"), acct, aws_default_region(a),
                      p);
        if (rc != TASK_OK || account_regions(ctx, a, db, account_id, &regions) < 0) {
            rc = TASK_FAILED;
            goto out;
        }
    }
    size_t n = json_array_size(regions);
    json_t **ps = xcalloc(n ? n : 1, sizeof(*ps));
    for (size_t i = 0; i < n; i++) {
        ps[i] = json_deep_copy(p);
        json_object_set(ps[i], "region", json_array_get(regions, i));
    }
    if (fan_out(ctx, c->type, ps, n) < 0)
        rc = TASK_FAILED;
    for (size_t i = 0; i < n; i++)
        json_decref(ps[i]);
    free(ps);
    json_decref(regions);
out:
    json_decref(p);
    return rc;
}

static enum task_result collect_all(struct task_ctx *ctx)
{
    if (!ctx->cfg->aws.is_enabled) {
        log_info("aws is not enabled (aws.is_enabled): skipped", LF_STR("task", ctx->task->type));
        return TASK_SKIPPED;
    }
    json_t *p = task_payload_object(ctx);
    if (!p)
        return TASK_FAILED;
    enum task_result rc = TASK_OK;
    /* Regions first: the regional fan-outs read them. Each collector gets
     * the payload (e.g. image owners) minus the unit fields. */
    json_object_del(p, "account_id");
    json_object_del(p, "region");
    for (size_t i = 0; i < ARRAY_SIZE(collectors) && rc == TASK_OK; i++)
        if (fan_out(ctx, collectors[i].type, &p, 1) < 0)
            rc = TASK_FAILED;
    json_decref(p);
    return rc;
}

static enum task_result link_all(struct task_ctx *ctx)
{
    PGconn *db = ctx->db(ctx);
    if (!db)
        return TASK_FAILED;
    long long n = 0;
    if (pg_run(db, "BEGIN", 0, NULL, &ctx->err) < 0)
        return TASK_FAILED;
    if (aws_link_all(db, ctx->cancelled, &n, &ctx->err) < 0 ||
        pg_run(db, "COMMIT", 0, NULL, &ctx->err) < 0) {
        struct buf e;
        buf_init(&e, 512);
        if (pg_run(db, "ROLLBACK", 0, NULL, &e) < 0)
            log_warn("rollback failed", LF_STR("error", buf_str(&e)));
        buf_release(&e);
        return TASK_FAILED;
    }
    log_info("linked", LF_INT("rows", n));
    return TASK_OK;
}

#define COLLECT(type, what)                                                                        \
    {                                                                                              \
        type, "collect " what, collect, TH_NEEDS_DB                                                \
    }

const struct task_handler aws_task_handlers[] = {
    COLLECT("aws:task:collect-regions", "regions of every account (EC2 DescribeRegions)"),
    COLLECT("aws:task:collect-azs", "availability zones"),
    COLLECT("aws:task:collect-vpcs", "VPCs"),
    COLLECT("aws:task:collect-subnets", "subnets"),
    COLLECT("aws:task:collect-instances", "EC2 instances"),
    COLLECT("aws:task:collect-images", "AMIs (payload.owners, default self)"),
    COLLECT("aws:task:collect-loadbalancers", "load balancers (ELB classic and v2)"),
    COLLECT("aws:task:collect-buckets", "S3 buckets and their regions"),
    COLLECT("aws:task:collect-net-interfaces", "network interfaces"),
    COLLECT("aws:task:collect-dhcp-option-sets", "DHCP option sets"),
    {"aws:task:collect-all", "enqueue every AWS collect task", collect_all, 0},
    {"aws:task:link-all", "link the collected AWS resources", link_all, TH_NEEDS_DB},
    {NULL, NULL, NULL, 0},
};

static bool aws_enabled(const struct config *cfg)
{
    return cfg->aws.is_enabled;
}

/* As in the reference: a full collection every hour; links half an hour
 * later, when the collection has landed. */
const struct periodic_task aws_periodic_tasks[] = {
    {"@every 1h", "aws:task:collect-all", NULL, "collect all AWS resources", aws_enabled},
    {"30 * * * *", "aws:task:link-all", NULL, "link AWS resources", aws_enabled},
    {NULL, NULL, NULL, NULL, NULL},
};
