/* The task registry: one line per data source. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "queue/handler.h"

static const struct task_handler *const sources[] = {
    aux_task_handlers,
    aws_task_handlers,
    hosts_task_handlers,
};

static const struct periodic_task *const periodic[] = {
    aux_periodic_tasks,
    aws_periodic_tasks,
    hosts_periodic_tasks,
};

void periodic_tasks_each(void (*fn)(const struct periodic_task *p, void *arg), void *arg)
{
    for (size_t s = 0; s < ARRAY_SIZE(periodic); s++)
        for (const struct periodic_task *p = periodic[s]; p->type; p++)
            fn(p, arg);
}

enum task_result task_fail(struct task_ctx *ctx, bool permanent, const char *fmt, ...)
{
    char msg[TASK_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_setf(&ctx->err, "%s", msg);
    ctx->permanent = ctx->permanent || permanent;
    return TASK_FAILED;
}

const struct task_handler *task_handler_find(const char *type)
{
    for (size_t s = 0; s < ARRAY_SIZE(sources); s++)
        for (const struct task_handler *h = sources[s]; h->type; h++)
            if (strcmp(h->type, type) == 0)
                return h;
    return NULL;
}

static int cmp_handler(const void *a, const void *b)
{
    return strcmp((*(const struct task_handler *const *)a)->type,
                  (*(const struct task_handler *const *)b)->type);
}

void task_handlers_each(void (*fn)(const struct task_handler *h, void *arg), void *arg)
{
    size_t n = 0, cap = 0;
    const struct task_handler **all = NULL;
    for (size_t s = 0; s < ARRAY_SIZE(sources); s++)
        for (const struct task_handler *h = sources[s]; h->type; h++) {
            all = xgrow(all, &cap, n + 1, sizeof(*all));
            all[n++] = h;
        }
    if (n)
        qsort(all, n, sizeof(*all), cmp_handler);
    for (size_t i = 0; i < n; i++)
        fn(all[i], arg);
    free(all);
}

json_t *task_payload_object(struct task_ctx *ctx)
{
    const struct task *t = ctx->task;
    if (t->payload_len == 0)
        return json_object();
    json_error_t je;
    json_t *j = json_loadb((const char *)t->payload, t->payload_len, 0, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        task_fail(ctx, true, "invalid payload: %s", j ? "expected a JSON object" : je.text);
        return NULL;
    }
    return j;
}
