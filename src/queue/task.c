/* Task encoding. The message layout (little-endian):
 *   "IQT1" | u32 type_len | type | u32 payload_len | payload |
 *   i32 max_retry | i64 timeout_ms | i64 deadline_ms | i64 retention_ms |
 *   i64 created_ms
 * Versioned by the magic so a later layout can be read side by side. */
#include "queue/task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static const char *const state_names[TASK_STATE_COUNT] = {
    "pending", "active", "scheduled", "retry", "archived", "completed",
};

#define MAGIC "IQT1"

void task_init(struct task *t)
{
    memset(t, 0, sizeof(*t));
    t->max_retry = TASK_DEFAULT_MAX_RETRY;
    t->timeout_ms = TASK_DEFAULT_TIMEOUT_MS;
}

void task_release(struct task *t)
{
    free(t->type);
    free(t->queue);
    free(t->payload);
    free(t->error);
    memset(t, 0, sizeof(*t));
}

const char *task_state_name(enum task_state s)
{
    return (unsigned)s < TASK_STATE_COUNT ? state_names[s] : "unknown";
}

int task_state_parse(const char *s, enum task_state *out)
{
    for (int i = 0; i < TASK_STATE_COUNT; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum task_state)i;
            return 0;
        }
    return -1;
}

void task_new_id(char id[TASK_ID_MAX])
{
    uuid4(id);
}

bool task_id_valid(const char *id)
{
    return is_safe_name(id, TASK_ID_MAX - 1);
}

static int put_u32(struct buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return buf_add(b, x, 4);
}

static int put_i64(struct buf *b, int64_t sv)
{
    uint64_t v = (uint64_t)sv;
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    return buf_add(b, x, 8);
}

int task_encode_msg(const struct task *t, struct buf *out)
{
    size_t tl = t->type ? strlen(t->type) : 0;
    if (tl == 0 || tl > TASK_TYPE_MAX || t->payload_len > TASK_PAYLOAD_MAX)
        return -1;
    if (buf_add(out, MAGIC, 4) < 0 || put_u32(out, (uint32_t)tl) < 0 ||
        buf_add(out, t->type, tl) < 0 || put_u32(out, (uint32_t)t->payload_len) < 0 ||
        buf_add(out, t->payload, t->payload_len) < 0 || put_u32(out, (uint32_t)t->max_retry) < 0 ||
        put_i64(out, t->timeout_ms) < 0 || put_i64(out, t->deadline_ms) < 0 ||
        put_i64(out, t->retention_ms) < 0 || put_i64(out, t->created_ms) < 0)
        return -1;
    return 0;
}

struct reader {
    const unsigned char *p;
    size_t left;
};

static int get_bytes(struct reader *r, size_t n, const unsigned char **out)
{
    if (n > r->left)
        return -1;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

static int get_u32(struct reader *r, uint32_t *v)
{
    const unsigned char *x;
    if (get_bytes(r, 4, &x) < 0)
        return -1;
    *v = (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
    return 0;
}

static int get_i64(struct reader *r, int64_t *v)
{
    const unsigned char *x;
    if (get_bytes(r, 8, &x) < 0)
        return -1;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)x[i] << (8 * i);
    *v = (int64_t)u;
    return 0;
}

int task_decode_msg(struct task *t, const char *data, size_t len, struct buf *err)
{
    struct reader r = {(const unsigned char *)data, len};
    const unsigned char *magic, *type, *payload;
    uint32_t tl, pl, mr;
    int64_t timeout, deadline, retention, created;
    if (get_bytes(&r, 4, &magic) < 0 || memcmp(magic, MAGIC, 4) != 0) {
        buf_setf(err, "corrupt task message: bad magic");
        return -1;
    }
    if (get_u32(&r, &tl) < 0 || tl == 0 || tl > TASK_TYPE_MAX || get_bytes(&r, tl, &type) < 0 ||
        memchr(type, '\0', tl)) {
        buf_setf(err, "corrupt task message: bad type");
        return -1;
    }
    if (get_u32(&r, &pl) < 0 || pl > TASK_PAYLOAD_MAX || get_bytes(&r, pl, &payload) < 0) {
        buf_setf(err, "corrupt task message: bad payload length");
        return -1;
    }
    if (get_u32(&r, &mr) < 0 || get_i64(&r, &timeout) < 0 || get_i64(&r, &deadline) < 0 ||
        get_i64(&r, &retention) < 0 || get_i64(&r, &created) < 0 || r.left != 0 || mr > 1000000 ||
        timeout < 0 || deadline < 0 || retention < 0) {
        buf_setf(err, "corrupt task message: bad options");
        return -1;
    }
    free(t->type);
    free(t->payload);
    t->type = xstrndup((const char *)type, tl);
    t->payload = pl ? xmalloc(pl) : NULL;
    if (pl)
        memcpy(t->payload, payload, pl);
    t->payload_len = pl;
    t->max_retry = (int)mr;
    t->timeout_ms = timeout;
    t->deadline_ms = deadline;
    t->retention_ms = retention;
    t->created_ms = created;
    return 0;
}

int task_encode_info(const struct task *t, struct buf *out)
{
    if (buf_addf(out, "%d\t%d\t%lld\t%lld\t", t->retried, t->max_retry,
                 (long long)t->last_failed_ms, (long long)t->completed_ms) < 0)
        return -1;
    /* The error is the last field: tabs would shift nothing, but keep the
     * text single-line-ish and bounded. */
    const char *e = t->error ? t->error : "";
    size_t n = strlen(e);
    if (n > TASK_ERROR_MAX)
        n = TASK_ERROR_MAX;
    for (size_t i = 0; i < n; i++)
        if (buf_addc(out, e[i] == '\t' || e[i] == '\r' ? ' ' : e[i]) < 0)
            return -1;
    return 0;
}

int task_decode_info(struct task *t, const char *data, size_t len)
{
    char nums[128];
    const char *p = data;
    size_t fields = 0;
    long long v[4];
    for (; fields < 4; fields++) {
        const char *tab = memchr(p, '\t', len - (size_t)(p - data));
        if (!tab || (size_t)(tab - p) >= sizeof(nums))
            return -1;
        memcpy(nums, p, (size_t)(tab - p));
        nums[tab - p] = '\0';
        int64_t x;
        if (parse_int64(nums, 0, INT64_MAX, &x) < 0)
            return -1;
        v[fields] = x;
        p = tab + 1;
    }
    if (v[0] > 1000000000 || v[1] > 1000000)
        return -1;
    t->retried = (int)v[0];
    t->max_retry = (int)v[1];
    t->last_failed_ms = v[2];
    t->completed_ms = v[3];
    free(t->error);
    size_t el = len - (size_t)(p - data);
    t->error = el ? xstrndup(p, el) : NULL;
    return 0;
}

int task_decode_state(struct task *t, const char *data, size_t len)
{
    char tmp[64];
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, data, len);
    tmp[len] = '\0';
    char *colon = strchr(tmp, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    int64_t since;
    if (task_state_parse(tmp, &t->state) < 0 || parse_int64(colon + 1, 0, INT64_MAX, &since) < 0)
        return -1;
    t->state_since_ms = since;
    return 0;
}
