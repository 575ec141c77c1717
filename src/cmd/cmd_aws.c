/* `inventory aws ...`: diagnostics of the AWS client: which account each
 * configured credential resolves to (never a secret), and one raw API call
 * with its XML answer. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libxml/tree.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "sources/aws/client.h"

#define CALL_PARAMS_MAX 64

static const char *const service_names[AWS_SERVICE_COUNT] = {"ec2", "elb", "elbv2", "s3"};

static int new_client(struct cli_ctx *ctx, struct aws **a)
{
    struct buf err;
    buf_init(&err, 1024);
    int rc = aws_new(ctx->cfg, a, &err) < 0 ? cli_fail(EXIT_USAGE, "%s", buf_str(&err)) : EXIT_OK;
    buf_release(&err);
    return rc;
}

static int aws_whoami(struct cli_ctx *ctx)
{
    static const struct tcol cols[] = {
        {"CREDENTIAL", "credential", TCOL_STR}, {"PROVIDER", "provider", TCOL_STR},
        {"ACCOUNT", "account_id", TCOL_STR},    {"SERVICES", "services", TCOL_STR},
        {"STATUS", "status", TCOL_STR},
    };
    const struct config *cfg = ctx->cfg;
    const struct aws_account *const *all;
    atomic_bool *stop = cmd_stop_on_signals();
    struct aws *a;
    struct table t;
    int rc = new_client(ctx, &a);
    bool ok = true;

    if (rc != EXIT_OK)
        return rc;
    size_t n = aws_credentials(a, &all);
    table_init(&t, cols, ARRAY_SIZE(cols));
    for (size_t i = 0; i < n; i++) {
        struct aws_error e;
        struct buf svcs, status;
        buf_init(&svcs, 256);
        buf_init(&status, 1024);
        for (size_t s = 0; s < AWS_SERVICE_COUNT; s++) {
            const struct config_strlist *l = &cfg->aws.services[s].use_credentials;
            for (size_t j = 0; j < l->n; j++)
                if (strcmp(l->items[j], all[i]->name) == 0 &&
                    buf_addf(&svcs, "%s%s", svcs.len ? "," : "", service_names[s]) < 0)
                    buf_setf(&svcs, "?");
        }
        if (aws_account_resolve(a, all[i], stop, &e) == 0) {
            buf_setf(&status, "ok");
        } else {
            ok = false;
            buf_setf(&status, "error: ");
            aws_error_format(&e, &status);
        }
        const char *cells[] = {all[i]->name, aws_account_provider_name(all[i]),
                               all[i]->account_id[0] ? all[i]->account_id : NULL,
                               svcs.len ? buf_str(&svcs) : "-", buf_str(&status)};
        table_add_row(&t, cells);
        buf_release(&svcs);
        buf_release(&status);
    }
    if (!n && cmd_out(ctx) == OUT_TABLE)
        fprintf(stderr, "no credentials configured (aws.credentials)\n");
    table_print(&t, cmd_out(ctx), stdout);
    table_release(&t);
    aws_free(a);
    return ok && n ? EXIT_OK : EXIT_FAIL;
}

static int parse_service(const char *s, enum aws_service *out)
{
    for (size_t i = 0; i < AWS_SERVICE_COUNT; i++)
        if (strcmp(s, service_names[i]) == 0) {
            *out = (enum aws_service)i;
            return 0;
        }
    return -1;
}

/* What `aws call` runs, and one thread running it --repeat times. */
struct call_run {
    struct aws *a;
    const struct aws_account *acct;
    enum aws_service svc;
    const char *region, *action;
    const struct sigv4_kv *params;
    size_t np;
    const char *bucket, *subresource;
    int64_t repeat, interval_ms;
    const atomic_bool *stop;
    const char *items; /* --items: streamed with aws_query_items */
};

struct call_thread {
    const struct call_run *run;
    pthread_t tid;
    int64_t done;
    int64_t items; /* streamed in the last call */
    bool failed;
    struct aws_error e;
    xmlDocPtr doc; /* the last answer */
};

static int count_item(void *arg, xmlNodePtr item)
{
    (void)item;
    (*(int64_t *)arg)++;
    return 0;
}

static void *call_loop(void *arg)
{
    struct call_thread *t = arg;
    const struct call_run *r = t->run;

    for (int64_t i = 0; i < r->repeat; i++) {
        if (i && r->interval_ms > 0) {
            struct timespec ts = {r->interval_ms / 1000, (r->interval_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* a signal ends the sleep early */
        }
        if (t->doc)
            xmlFreeDoc(t->doc);
        t->doc = NULL;
        t->items = 0;
        int rc;
        if (r->svc == AWS_S3)
            rc = aws_s3_get(r->a, r->acct, r->region, r->bucket, r->subresource, r->stop, &t->doc,
                            &t->e);
        else if (r->items)
            rc = aws_query_items(r->a, r->acct, r->svc, r->region, r->action, r->params, r->np,
                                 r->items, count_item, &t->items, r->stop, &t->doc, &t->e);
        else
            rc = aws_query(r->a, r->acct, r->svc, r->region, r->action, r->params, r->np, r->stop,
                           &t->doc, &t->e);
        if (rc < 0) {
            t->failed = true;
            break;
        }
        t->done++;
    }
    return NULL;
}

static int aws_call(struct cli_ctx *ctx)
{
    const struct aws_account *const *all;
    const struct aws_account *acct = NULL;
    const char *const *raw;
    struct sigv4_kv params[CALL_PARAMS_MAX];
    char *names[CALL_PARAMS_MAX] = {0};
    enum aws_service svc;
    struct aws *a = NULL;
    xmlDocPtr doc = NULL;
    int rc;

    if (parse_service(cli_str(ctx, "service"), &svc) < 0)
        return cli_fail(EXIT_USAGE, "--service: expected ec2, elb, elbv2 or s3, got \"%s\"",
                        cli_str(ctx, "service"));
    const char *action = cli_str(ctx, "action");
    size_t np = cli_list(ctx, "param", &raw);
    if (np > CALL_PARAMS_MAX)
        return cli_fail(EXIT_USAGE, "--param: at most %d", CALL_PARAMS_MAX);
    if (svc == AWS_S3 && np)
        return cli_fail(EXIT_USAGE, "--param: not for s3 (use --bucket, --subresource)");
    if (svc != AWS_S3 && (cli_isset(ctx, "bucket") || cli_isset(ctx, "subresource")))
        return cli_fail(EXIT_USAGE, "--bucket/--subresource: only for s3");
    if (svc == AWS_S3 && cli_isset(ctx, "items"))
        return cli_fail(EXIT_USAGE, "--items: not for s3");
    if (svc != AWS_S3 && !action)
        return cli_fail(EXIT_USAGE, "--action is required for %s", service_names[svc]);
    if ((rc = new_client(ctx, &a)) != EXIT_OK)
        return rc;
    for (size_t i = 0; i < np; i++) {
        const char *eq = strchr(raw[i], '=');
        if (!eq || eq == raw[i]) {
            rc = cli_fail(EXIT_USAGE, "--param: expected NAME=VALUE, got \"%s\"", raw[i]);
            goto out;
        }
        names[i] = xstrndup(raw[i], (size_t)(eq - raw[i]));
        params[i] = (struct sigv4_kv){names[i], eq + 1};
    }

    size_t n = aws_credentials(a, &all);
    const char *want = cli_str(ctx, "credential");
    if (!want && ctx->cfg->aws.services[svc].use_credentials.n)
        want = ctx->cfg->aws.services[svc].use_credentials.items[0];
    for (size_t i = 0; want && i < n && !acct; i++)
        if (strcmp(all[i]->name, want) == 0)
            acct = all[i];
    if (!acct) {
        rc = want ? cli_fail(EXIT_USAGE, "--credential: no credential \"%s\" in aws.credentials",
                             want)
                  : cli_fail(EXIT_USAGE, "--credential: aws.services.%s.use_credentials is empty",
                             service_names[svc]);
        goto out;
    }
    const char *region = cli_str(ctx, "region") ? cli_str(ctx, "region") : aws_default_region(a);
    const char *what =
        svc != AWS_S3               ? action
        : !cli_isset(ctx, "bucket") ? "ListBuckets"
        : cli_isset(ctx, "subresource") && strcmp(cli_str(ctx, "subresource"), "location") == 0
            ? "GetBucketLocation"
            : "GET";
    struct call_run run = {a,
                           acct,
                           svc,
                           region,
                           action,
                           params,
                           np,
                           cli_str(ctx, "bucket"),
                           cli_str(ctx, "subresource"),
                           cli_int(ctx, "repeat"),
                           cli_int(ctx, "interval"),
                           cmd_stop_on_signals(),
                           cli_str(ctx, "items")};
    int64_t parallel = cli_int(ctx, "parallel"), t0 = mono_ms(), calls = 0;
    struct call_thread *th = xcalloc((size_t)parallel, sizeof(*th));
    for (int64_t i = 0; i < parallel; i++) {
        th[i].run = &run;
        if (parallel > 1 && pthread_create(&th[i].tid, NULL, call_loop, &th[i]) != 0) {
            fprintf(stderr, "error: cannot start a thread\n");
            abort();
        }
    }
    if (parallel == 1)
        call_loop(&th[0]);
    struct call_thread *failed = NULL;
    for (int64_t i = 0; i < parallel; i++) {
        if (parallel > 1)
            pthread_join(th[i].tid, NULL);
        calls += th[i].done;
        if (th[i].failed && !failed)
            failed = &th[i];
    }
    if (failed) {
        struct buf m;
        buf_init(&m, 2048);
        aws_error_format(&failed->e, &m);
        rc = cli_fail(EXIT_FAIL, "%s %s: %s error: %s", service_names[svc], what,
                      aws_err_kind_name(failed->e.kind), buf_str(&m));
        if (run.repeat > 1 || parallel > 1)
            fprintf(stderr, "after %lld successful calls\n", (long long)calls);
        buf_release(&m);
    } else if (run.items) {
        fprintf(stderr, "%lld items streamed\n", (long long)th[0].items);
    }
    if (!failed && (run.repeat > 1 || parallel > 1)) {
        fprintf(stderr, "%lld calls ok in %lld ms\n", (long long)calls,
                (long long)(mono_ms() - t0));
    }
    doc = th[0].doc;
    th[0].doc = NULL;
    for (int64_t i = 0; i < parallel; i++)
        if (th[i].doc)
            xmlFreeDoc(th[i].doc);
    free(th);
    if (failed)
        goto out;
    xmlChar *text = NULL;
    int len = 0;
    xmlDocDumpFormatMemoryEnc(doc, &text, &len, "UTF-8", 1);
    if (text)
        fwrite(text, 1, (size_t)len, stdout);
    xmlFree(text);
    rc = EXIT_OK;
out:
    for (size_t i = 0; i < np && i < CALL_PARAMS_MAX; i++)
        free(names[i]);
    if (doc)
        xmlFreeDoc(doc);
    aws_free(a);
    return rc;
}

static const struct cli_opt call_opts[] = {
    {"service", NULL, 's', OPT_STRING, "SERVICE", "ec2, elb, elbv2 or s3", NULL, 0, 0,
     OPT_REQUIRED},
    {"action", NULL, 'a', OPT_STRING, "ACTION",
     "Query API action, e.g. DescribeRegions (ec2, elb, elbv2)", NULL, 0, 0, 0},
    {"region", NULL, 'r', OPT_STRING, "REGION", "region (default aws.region)", NULL, 0, 0, 0},
    {"param", NULL, 'p', OPT_LIST, "NAME=VALUE", "an action parameter (repeatable)", NULL, 0, 0, 0},
    {"credential", NULL, 0, OPT_STRING, "NAME",
     "credential to call with (default: the service's first)", NULL, 0, 0, 0},
    {"bucket", NULL, 0, OPT_STRING, "BUCKET", "s3: bucket (none: ListBuckets)", NULL, 0, 0, 0},
    {"subresource", NULL, 0, OPT_STRING, "QUERY", "s3: subresource, e.g. location", NULL, 0, 0, 0},
    {"repeat", NULL, 0, OPT_INT, "N", "make the call N times (prints the last answer)", "1", 1,
     1000000, 0},
    {"interval", NULL, 0, OPT_DURATION, "DURATION", "pause between repeated calls", "0s", 0, 0, 0},
    {"items", NULL, 0, OPT_STRING, "PATH",
     "stream the elements at PATH below the root (e.g. reservationSet/item): count them, print "
     "the rest",
     NULL, 0, 0, 0},
    {"parallel", NULL, 0, OPT_INT, "N", "run the --repeat calls in each of N threads at once", "1",
     1, 256, 0},
    {NULL, NULL, 0, OPT_STRING, NULL, NULL, NULL, 0, 0, 0},
};

const struct cli_cmd cmd_aws_subs[] = {
    {"whoami",
     {NULL},
     "resolve every configured credential to its account",
     NULL,
     NULL,
     aws_whoami,
     NULL,
     CMD_CONFIG,
     "Calls STS GetCallerIdentity with each credential of aws.credentials and prints its "
     "provider, account and services. Secrets are never printed. Exits 1 when a credential "
     "does not resolve."},
    {"call",
     {NULL},
     "make one AWS API call and print its XML answer",
     NULL,
     call_opts,
     aws_call,
     NULL,
     CMD_CONFIG,
     "Signs and sends one call with the client the workers use (endpoints, retries, error "
     "documents). Exits 1 with the AWS error code and message when the call fails."},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
