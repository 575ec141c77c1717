/* A validated host as host_store's write, and the fields it sent in the
 * table's column form as JSON text (docs/hosts.md, Storage): written
 * straight from struct host_in, so a batch builds no JSON trees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hosts/host.h"
#include "hosts/store.h"

void host_write_init(struct host_write *w, const struct host_in *h, const char *request_id)
{
    unsigned s = h->sent;
    *w = (struct host_write){
        .org_id = h->org_id,
        .provider_type = (s & HOST_SENT_PROVIDER) ? h->provider_type : NULL,
        .provider_id = (s & HOST_SENT_PROVIDER) ? h->provider_id : NULL,
        .smid = (s & HOST_SENT_SUBSCRIPTION_MANAGER_ID) ? h->subscription_manager_id : NULL,
        .insights_id = (s & HOST_SENT_INSIGHTS_ID) ? h->insights_id : NULL,
        .host = h,
        .request_id = request_id && *request_id ? request_id : NULL,
    };
}

void host_write_release(struct host_write *w)
{
    w->host = NULL;
}

/* ---- JSON text ---- */

/* n bytes of s as a JSON string (buf_add_json_string cannot fail here:
 * the buffers have no cap). */
static void put_string(struct buf *b, const char *s, size_t n)
{
    if (buf_add_json_string(b, s, n) < 0)
        abort();
}

/* A real as PostgreSQL prints the numeric it reads from jansson's text
 * (what json_dumps wrote before): plain notation, the scale the exponent
 * implies, no sign on zero. "1.4999999999999999e-7" -> "0.00000014999999999999999",
 * "1e100" -> "1" and 100 zeros, "-0.0" -> "0.0". */
static void put_real(struct buf *b, const json_t *v)
{
    char t[64], digits[64];
    size_t n = json_dumpb(v, t, sizeof(t) - 1, JSON_ENCODE_ANY);
    if (n == 0 || n >= sizeof(t) - 1) {
        buf_puts(b, "0");
        return;
    }
    t[n] = '\0';
    const char *p = t;
    bool neg = *p == '-';
    p += neg;
    long nd = 0, before = -1, exp10 = 0; /* before: digits ahead of the '.' */
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.')
            before = nd;
        else
            digits[nd++] = *p;
    }
    if (before < 0)
        before = nd;
    if (*p == 'e' || *p == 'E')
        exp10 = strtol(p + 1, NULL, 10);
    long point = before + exp10, frac = nd - before;
    long scale = frac - exp10 > 0 ? frac - exp10 : 0;
    bool zero = true;
    for (long i = 0; i < nd; i++)
        zero &= digits[i] == '0';
    if (neg && !zero)
        buf_putc(b, '-');
    bool any = false; /* the integer part, without leading zeros */
    for (long i = 0; i < point; i++) {
        char d = i < nd ? digits[i] : '0';
        if (d != '0' || any)
            buf_putc(b, d);
        any |= d != '0';
    }
    if (!any)
        buf_putc(b, '0');
    if (scale == 0)
        return;
    buf_putc(b, '.');
    for (long i = point; i < point + scale; i++)
        buf_putc(b, i >= 0 && i < nd ? digits[i] : '0');
}

void host_patch_json(struct buf *b, const json_t *v, bool spaced)
{
    const char *comma = spaced ? ", " : ",", *colon = spaced ? ": " : ":";
    const char *k;
    json_t *x;
    size_t i;
    bool first = true;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        buf_putc(b, '{');
        json_object_foreach((json_t *)v, k, x)
        {
            if (!first)
                buf_puts(b, comma);
            first = false;
            put_string(b, k, strlen(k));
            buf_puts(b, colon);
            host_patch_json(b, x, spaced);
        }
        buf_putc(b, '}');
        break;
    case JSON_ARRAY:
        buf_putc(b, '[');
        json_array_foreach(v, i, x)
        {
            if (i)
                buf_puts(b, comma);
            host_patch_json(b, x, spaced);
        }
        buf_putc(b, ']');
        break;
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        buf_put_i64(b, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, v);
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    default:
        buf_puts(b, "null");
        break;
    }
}

/* ---- the column forms, merged over the writes of one host ---- */

/* One element of a host's facts or tags list, for merging: a namespace
 * sent by a later write replaces the same namespace of earlier ones
 * (jsonb ||), so per namespace only the last write that sent it counts. */
struct entry {
    const char *ns, *key; /* key: tags only */
    size_t j, pos;        /* write, position in its list */
    const json_t *e;
};

static const char *ns_of(const json_t *elem)
{
    const char *ns = json_string_value(json_object_get(elem, "namespace"));
    return ns ? ns : "";
}

/* namespace, then the last write first, then key and position */
static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->ns, y->ns);
    if (c)
        return c;
    if (x->j != y->j)
        return x->j > y->j ? -1 : 1;
    if (x->key && y->key && (c = strcmp(x->key, y->key)) != 0)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

#define FEW 16 /* entries sorted on the stack */

/* The entries of a list field of every write that sent it, sorted so that
 * each namespace starts with the entries of its winning write; *n set.
 * In few (FEW of them) when they fit, else allocated. */
static struct entry *entries(const struct host_in *const *hs, size_t nh, unsigned sent, bool tags,
                             size_t *n, struct entry *few)
{
    size_t total = 0;
    for (size_t j = 0; j < nh; j++) {
        const json_t *list = tags ? hs[j]->tags : hs[j]->facts;
        if ((hs[j]->sent & sent) && list)
            total += json_array_size(list);
    }
    struct entry *es = total <= FEW ? few : xcalloc(total + 1, sizeof(*es));
    size_t k = 0;
    for (size_t j = 0; j < nh; j++) {
        const json_t *list = tags ? hs[j]->tags : hs[j]->facts;
        if (!(hs[j]->sent & sent) || !list)
            continue;
        size_t i;
        const json_t *e;
        json_array_foreach(list, i, e)
        {
            const char *key = json_string_value(json_object_get(e, "key"));
            if (tags ? !key : !json_is_string(json_object_get(e, "namespace")))
                continue;
            es[k++] = (struct entry){ns_of(e), key, j, i, e};
        }
    }
    if (es == few) { /* insertion sort: stable, no allocation */
        for (size_t i = 1; i < k; i++) {
            struct entry e = es[i];
            size_t j = i;
            for (; j > 0 && cmp_entry(&es[j - 1], &e) > 0; j--)
                es[j] = es[j - 1];
            es[j] = e;
        }
    } else {
        qsort(es, k, sizeof(*es), cmp_entry);
    }
    *n = k;
    return es;
}

size_t host_patch_facts(const struct host_in *const *hs, size_t n, const json_t ***out)
{
    size_t k;
    struct entry few[FEW];
    struct entry *es = entries(hs, n, HOST_SENT_FACTS, false, &k, few);
    const json_t **r = xcalloc(k + 1, sizeof(*r));
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (i == 0 || strcmp(es[i].ns, es[i - 1].ns) != 0)
            r[m++] = es[i].e; /* namespaces are unique within one write */
    if (es != few)
        free(es);
    *out = r;
    return m;
}

bool host_patch_sent(const struct host_in *const *hs, size_t n, unsigned sent)
{
    for (size_t j = 0; j < n; j++) {
        const struct host_in *h = hs[j];
        if ((h->sent & sent) && (sent == HOST_SENT_FACTS            ? h->facts != NULL
                                 : sent == HOST_SENT_TAGS           ? h->tags != NULL
                                 : sent == HOST_SENT_SYSTEM_PROFILE ? h->system_profile != NULL
                                                                    : true))
            return true;
    }
    return false;
}

void host_patch_tags(struct buf *b, const struct host_in *const *hs, size_t n, bool spaced)
{
    const char *comma = spaced ? ", " : ",", *colon = spaced ? ": " : ":";
    size_t k;
    struct entry few[FEW];
    struct entry *es = entries(hs, n, HOST_SENT_TAGS, true, &k, few);
    buf_putc(b, '{');
    for (size_t i = 0; i < k;) {
        /* one namespace: its winning write's entries come first */
        size_t end = i;
        while (end < k && strcmp(es[end].ns, es[i].ns) == 0 && es[end].j == es[i].j)
            end++;
        if (i)
            buf_puts(b, comma);
        put_string(b, es[i].ns, strlen(es[i].ns));
        buf_puts(b, colon);
        buf_putc(b, '{');
        for (size_t m = i; m < end; m++) {
            bool first_value = m == i || strcmp(es[m].key, es[m - 1].key) != 0;
            if (first_value) {
                if (m > i)
                    buf_puts(b, "]");
                if (m > i)
                    buf_puts(b, comma);
                put_string(b, es[m].key, strlen(es[m].key));
                buf_puts(b, colon);
                buf_putc(b, '[');
            } else {
                buf_puts(b, comma);
            }
            const json_t *v = json_object_get(es[m].e, "value");
            if (json_is_string(v))
                put_string(b, json_string_value(v), json_string_length(v));
            else
                buf_puts(b, "null");
        }
        buf_puts(b, "]}");
        /* skip the namespace's entries from earlier writes */
        i = end;
        while (i < k && strcmp(es[i].ns, es[end - 1].ns) == 0)
            i++;
    }
    buf_putc(b, '}');
    if (es != few)
        free(es);
}

static bool later_has_key(const struct host_in *const *hs, size_t n, size_t j, const char *k)
{
    for (size_t i = j + 1; i < n; i++)
        if ((hs[i]->sent & HOST_SENT_SYSTEM_PROFILE) && json_object_get(hs[i]->system_profile, k))
            return true;
    return false;
}

void host_patch_profile(struct buf *b, const struct host_in *const *hs, size_t n, bool spaced)
{
    const char *comma = spaced ? ", " : ",", *colon = spaced ? ": " : ":";
    bool first = true;
    buf_putc(b, '{');
    for (size_t j = 0; j < n; j++) {
        if (!(hs[j]->sent & HOST_SENT_SYSTEM_PROFILE) || !hs[j]->system_profile)
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(hs[j]->system_profile, k, v)
        {
            if (n > 1 && later_has_key(hs, n, j, k))
                continue;
            if (!first)
                buf_puts(b, comma);
            first = false;
            put_string(b, k, strlen(k));
            buf_puts(b, colon);
            host_patch_json(b, v, spaced);
        }
    }
    buf_putc(b, '}');
}
