/* Configuration loader: YAML text -> a small node tree -> a typed key table
 * that writes into struct config.
 *
 * We build our own tree from libyaml's events rather than use its document
 * API so that limits (nesting depth, scalar size, anchor count) are enforced
 * while parsing, and so that an alias can only name a node that is already
 * complete: the tree is then acyclic and every walk terminates. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/util.h"

/* Limits that keep hostile or fuzzed input cheap; real configs are tiny. */
#define MAX_DEPTH      32
#define MAX_SCALAR     (64 * 1024)
#define MAX_ANCHORS    256
#define MAX_NODES      100000 /* scalars and collections in one file */
#define MAX_QUEUES     1000
#define MAX_JOBS       10000
#define QUEUE_NAME_MAX 64
#define MAX_LIST_ITEMS 1000 /* aws.excluded_regions, use_credentials */
#define MAX_AWS_CREDS  100
#define CRED_NAME_MAX  64
#define URL_MAX        1024
/* Bytes of a rejected value quoted in an error, and the room they need once
 * escaped (\xNN per byte, quotes, "..."). */
#define SHOW_MAX 64
#define SHOW_BUF (SHOW_MAX * 4 + 8)

/* Shared by the key table and config_finish's `debug` rule. */
#define DEFAULT_LEVEL LOG_INFO

#define SECOND 1000
#define MINUTE (60 * SECOND)
#define HOUR   (60LL * MINUTE)

/* ---- node tree --------------------------------------------------------- */

enum node_kind { N_SCALAR, N_MAP, N_SEQ };

struct node {
    enum node_kind kind;
    int line;  /* 1-based */
    bool null; /* plain "", "~" or "null", or tagged !!null */
    char *str; /* scalars: NUL-terminated copy (never holds a NUL) */
    size_t len;
    struct node **kids; /* maps: key, value, key, value...; seqs: items */
    size_t nkids, cap;
};

struct anchor {
    char *name;
    struct node *node;
};

/* Owns every node through `all`: aliases share nodes, so kids arrays never
 * own their children. */
struct tree {
    struct node **all;
    size_t nall, capall;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    struct node *root;
};

/* While parsing: an open collection and its anchor, registered on close. */
struct frame {
    struct node *node;
    char *anchor;
};

static struct node *new_node(struct tree *t, enum node_kind kind, int line)
{
    struct node *n = xcalloc(1, sizeof(*n));
    n->kind = kind;
    n->line = line;
    t->all = xgrow(t->all, &t->capall, t->nall + 1, sizeof(*t->all));
    t->all[t->nall++] = n;
    return n;
}

static void attach(struct tree *t, struct frame *stack, size_t depth, struct node *n)
{
    if (!depth) {
        t->root = n;
        return;
    }
    struct node *p = stack[depth - 1].node;
    p->kids = xgrow(p->kids, &p->cap, p->nkids + 1, sizeof(*p->kids));
    p->kids[p->nkids++] = n;
}

static void tree_free(struct tree *t)
{
    for (size_t i = 0; i < t->nall; i++) {
        free(t->all[i]->str);
        free(t->all[i]->kids);
        free(t->all[i]);
    }
    for (size_t i = 0; i < t->nanchors; i++)
        free(t->anchors[i].name);
    free(t->all);
    free(t->anchors);
    memset(t, 0, sizeof(*t));
}

static bool scalar_is_null(const yaml_event_t *ev)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    const char *v = (const char *)ev->data.scalar.value;

    if (tag && strcmp(tag, YAML_NULL_TAG) == 0)
        return true;
    /* Quoted or explicitly tagged ("!!str null") scalars are strings. */
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !ev->data.scalar.plain_implicit)
        return false;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

/* Reports libyaml's own problem text at its (1-based) line. */
static void yaml_fail(const yaml_parser_t *p, const char *file, const char *text, size_t len,
                      struct buf *err)
{
    int line;

    if (p->error == YAML_MEMORY_ERROR) {
        buf_setf(err, "%s: out of memory parsing YAML", file);
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad UTF-8, control characters) carry only a byte
         * offset; count lines ourselves. */
        size_t end = p->problem_offset < len ? p->problem_offset : len;
        line = 1;
        for (size_t i = 0; i < end; i++)
            line += text[i] == '\n';
    } else {
        line = (int)p->problem_mark.line + 1;
    }
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->context)
        buf_setf(err, "%s:%d: %s (%s at line %d)", file, line, problem, p->context,
                 (int)p->context_mark.line + 1);
    else
        buf_setf(err, "%s:%d: %s", file, line, problem);
}

static struct node *find_anchor(const struct tree *t, const char *name)
{
    /* From the end: YAML lets a later anchor redefine a name. */
    for (size_t i = t->nanchors; i-- > 0;)
        if (strcmp(t->anchors[i].name, name) == 0)
            return t->anchors[i].node;
    return NULL;
}

/* Takes ownership of `name`. */
static int add_anchor(struct tree *t, char *name, struct node *n)
{
    if (t->nanchors >= MAX_ANCHORS) {
        free(name);
        return -1;
    }
    t->anchors = xgrow(t->anchors, &t->capanchors, t->nanchors + 1, sizeof(*t->anchors));
    t->anchors[t->nanchors].name = name;
    t->anchors[t->nanchors].node = n;
    t->nanchors++;
    return 0;
}

static int build_tree(struct tree *t, const char *file, const char *text, size_t len,
                      struct buf *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    bool have_event = false;
    struct frame stack[MAX_DEPTH];
    size_t depth = 0;
    int ndocs = 0;
    int rc = -1;

    if (!yaml_parser_initialize(&parser)) {
        buf_setf(err, "%s: out of memory parsing YAML", file);
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);

    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            yaml_fail(&parser, file, text, len, err);
            goto out;
        }
        have_event = true;
        int line = (int)ev.start_mark.line + 1;
        const char *anchor = NULL;
        struct node *n;

        if ((ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
             ev.type == YAML_MAPPING_START_EVENT) &&
            t->nall >= MAX_NODES) {
            buf_setf(err, "%s:%d: more than %d values", file, line, MAX_NODES);
            goto out;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            rc = 0;
            goto out;
        case YAML_DOCUMENT_START_EVENT:
            if (++ndocs > 1) {
                buf_setf(err, "%s:%d: expected a single YAML document", file, line);
                goto out;
            }
            break;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.length > MAX_SCALAR) {
                buf_setf(err, "%s:%d: value longer than %d bytes", file, line, MAX_SCALAR);
                goto out;
            }
            if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
                buf_setf(err, "%s:%d: value contains a NUL byte", file, line);
                goto out;
            }
            n = new_node(t, N_SCALAR, line);
            n->str = xstrndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            n->len = ev.data.scalar.length;
            n->null = scalar_is_null(&ev);
            attach(t, stack, depth, n);
            anchor = (const char *)ev.data.scalar.anchor;
            if (anchor && add_anchor(t, xstrdup(anchor), n) < 0) {
                buf_setf(err, "%s:%d: more than %d anchors", file, line, MAX_ANCHORS);
                goto out;
            }
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth == MAX_DEPTH) {
                buf_setf(err, "%s:%d: nested deeper than %d levels", file, line, MAX_DEPTH);
                goto out;
            }
            if (ev.type == YAML_SEQUENCE_START_EVENT) {
                n = new_node(t, N_SEQ, line);
                anchor = (const char *)ev.data.sequence_start.anchor;
            } else {
                n = new_node(t, N_MAP, line);
                anchor = (const char *)ev.data.mapping_start.anchor;
            }
            attach(t, stack, depth, n);
            stack[depth].node = n;
            stack[depth].anchor = anchor ? xstrdup(anchor) : NULL;
            depth++;
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            /* libyaml balances start and end events; guard anyway, as an
             * underflow here would be a wild write. */
            if (!depth)
                break;
            depth--;
            /* Registered only now, so an alias inside its own anchor's
             * node is "unknown" and the tree stays acyclic. */
            if (stack[depth].anchor) {
                char *name = stack[depth].anchor;
                stack[depth].anchor = NULL;
                if (add_anchor(t, name, stack[depth].node) < 0) {
                    buf_setf(err, "%s:%d: more than %d anchors", file, line, MAX_ANCHORS);
                    goto out;
                }
            }
            break;
        case YAML_ALIAS_EVENT:
            n = find_anchor(t, (const char *)ev.data.alias.anchor);
            if (!n) {
                char q[SHOW_BUF];
                snprintf(q, sizeof(q), "%.*s", SHOW_MAX, (const char *)ev.data.alias.anchor);
                buf_setf(err, "%s:%d: alias *%s names no complete anchor", file, line, q);
                goto out;
            }
            attach(t, stack, depth, n);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        have_event = false;
    }
out:
    if (have_event)
        yaml_event_delete(&ev);
    while (depth)
        free(stack[--depth].anchor);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- error helpers ----------------------------------------------------- */

struct ctx {
    struct config *cfg;
    const char *file; /* label for errors and config_pos.file */
    struct buf *err;
};

/* Writes "file:line: message" and returns -1. */
static int fail(const struct ctx *c, int line, const char *fmt, ...) PRINTF_LIKE(3, 4);

static int fail(const struct ctx *c, int line, const char *fmt, ...)
{
    struct buf m;
    va_list ap;

    buf_init(&m, BUF_NOLIMIT);
    va_start(ap, fmt);
    int rc = buf_vaddf(&m, fmt, ap);
    va_end(ap);
    if (rc < 0)
        buf_setf(c->err, "%s:%d: invalid configuration", c->file, line);
    else
        buf_setf(c->err, "%s:%d: %s", c->file, line, buf_str(&m));
    buf_release(&m);
    return -1;
}

/* Quotes and escapes a value, capped at SHOW_MAX bytes, so that nothing a
 * file contains can break the one-line error format. `out` holds SHOW_BUF. */
static const char *quote(const char *s, size_t len, char *out)
{
    size_t cut = len < SHOW_MAX ? len : SHOW_MAX;
    size_t o = 0;

    /* Never split a UTF-8 sequence. */
    while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    out[o++] = '"';
    for (size_t i = 0; i < cut; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(out + o, SHOW_BUF - o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    if (cut < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* The "got ..." part of an error; secrets are never echoed. */
static const char *describe(const struct node *v, bool secret, char *tmp)
{
    if (v->kind == N_MAP)
        return "a mapping";
    if (v->kind == N_SEQ)
        return "a sequence";
    if (v->null)
        return "an empty value";
    if (secret)
        return "a value that is not shown";
    return quote(v->str, v->len, tmp);
}

/* ---- value checks ------------------------------------------------------ */

/* Each returns NULL when the value is fine, else what was expected. */
typedef const char *check_fn(const char *s);

static bool valid_port(const char *p)
{
    size_t n = strlen(p);
    int port;

    if (n == 0 || n > 5)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]))
            return false;
    return parse_int(p, 1, 65535, &port) == 0;
}

/* host:port, [ipv6]:port; an empty host only when `need_host` is false. */
/* allow_zero: port 0 = any free port (listen addresses). */
static bool valid_hostport(const char *s, bool need_host, bool allow_zero)
{
    const char *host, *port;
    size_t hostlen;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return false;
        host = s + 1;
        hostlen = (size_t)(close - host);
        port = close + 2;
        if (!hostlen)
            return false;
        for (size_t i = 0; i < hostlen; i++) {
            unsigned char ch = (unsigned char)host[i];
            /* Hex digits, ':' and '.', and a "%zone" suffix. */
            if (!isalnum(ch) && !strchr(":.%-_", ch))
                return false;
        }
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon)
            return false;
        host = s;
        hostlen = (size_t)(colon - s);
        port = colon + 1;
        if (need_host && !hostlen)
            return false;
        for (size_t i = 0; i < hostlen; i++) {
            unsigned char ch = (unsigned char)host[i];
            /* A ':' here is an unbracketed IPv6 address: ambiguous. */
            if (!isalnum(ch) && !strchr(".-_", ch))
                return false;
        }
    }
    return (allow_zero && strcmp(port, "0") == 0) || valid_port(port);
}

static const char *check_version(const char *s)
{
    return strcmp(s, CONFIG_VERSION) == 0 ? NULL : "expected \"" CONFIG_VERSION "\"";
}

static const char *check_endpoint(const char *s)
{
    return valid_hostport(s, true, false) ? NULL : "expected host:port with a port in 1..65535";
}

static const char *check_listen(const char *s)
{
    return valid_hostport(s, false, true) ? NULL : "expected [host]:port with a port in 0..65535";
}

static const char *check_http_path(const char *s)
{
    const char *bad = "expected a path starting with \"/\" and without spaces";

    if (s[0] != '/')
        return bad;
    /* It is matched against the request line, where a space cannot occur. */
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return bad;
    return NULL;
}

#define QUEUE_NAME_RULE "expected a queue name of 1..64 characters from A-Z a-z 0-9 _ . : -"

static const char *check_api_auth(const char *s)
{
    return strcmp(s, "token") == 0 || strcmp(s, "none") == 0 ? NULL : "expected one of token, none";
}

static const char *check_queue_name(const char *s)
{
    return is_safe_name(s, QUEUE_NAME_MAX) ? NULL : QUEUE_NAME_RULE;
}

/* Redis Stream and group names: the safe name alphabet, up to 128. */
static const char *check_stream_name(const char *s)
{
    return is_safe_name(s, 128) ? NULL
                                : "expected a name of 1..128 characters from A-Z a-z 0-9 _ . : -";
}

static const char *check_not_empty(const char *s)
{
    return *s ? NULL : "must not be empty";
}

/* ---- aws checks ---------------------------------------------------------- */

const char *const config_aws_service_names[CONFIG_AWS_SERVICES] = {"ec2", "elb", "elbv2", "s3"};

#define CRED_NAME_RULE "expected a credential name of 1..64 characters from A-Z a-z 0-9 _ . : -"

static const char *check_cred_name(const char *s)
{
    return is_safe_name(s, CRED_NAME_MAX) ? NULL : CRED_NAME_RULE;
}

/* AWS region names: "eu-central-1", "us-gov-west-1", "cn-north-1". */
static const char *check_region(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 32)
        return "expected a region name of 1..32 characters from a-z 0-9 -";
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return "expected a region name of 1..32 characters from a-z 0-9 -";
    return NULL;
}

/* http(s)://host[:port][/path], no spaces, no query: the client appends
 * paths and signs the host exactly as written. */
static const char *check_url(const char *s)
{
    const char *bad = "expected an http:// or https:// URL with a host, without spaces, query or "
                      "fragment";
    const char *host;

    if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else
        return bad;
    if (!*host || *host == '/' || *host == ':' || strlen(s) > URL_MAX)
        return bad;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#' || *p == '@')
            return bad;
    return NULL;
}

static const char *check_provider(const char *s)
{
    return strcmp(s, "profile") == 0 || strcmp(s, "env") == 0 || strcmp(s, "token_file") == 0
               ? NULL
               : "expected one of profile, env, token_file";
}

static const char *check_role_arn(const char *s)
{
    if (strncmp(s, "arn:", 4) != 0 || strlen(s) > 2048)
        return "expected a role ARN (arn:aws:iam::123456789012:role/name)";
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return "expected a role ARN (arn:aws:iam::123456789012:role/name)";
    return NULL;
}

/* STS: [\w+=,.@-]{2,64}. */
static const char *check_session_name(const char *s)
{
    const char *rule = "expected 2..64 characters from A-Z a-z 0-9 + = , . @ _ -";
    size_t n = strlen(s);

    if (n < 2 || n > 64)
        return rule;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("+=,.@_-", *s))
            return rule;
    return NULL;
}

/* A profile name goes into an INI section header. */
static const char *check_profile_name(const char *s)
{
    if (!*s || strlen(s) > 128)
        return "expected a profile name of 1..128 characters";
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f || *s == '[' || *s == ']')
            return "expected a profile name without brackets or control characters";
    return NULL;
}

/* ---- the key table ----------------------------------------------------- */

enum key_type {
    T_STRING,
    T_BOOL,
    T_INT,
    T_DURATION, /* int64_t milliseconds */
    T_LOGLEVEL,
    T_LOGFORMAT,
    T_QUEUES,     /* worker.queues: name -> priority */
    T_JOBS,       /* scheduler.jobs: sequence of job mappings */
    T_STRLIST,    /* struct config_strlist; check applies to each item */
    T_AWS_CREDS,  /* aws.credentials: name -> credential mapping */
    T_API_TOKENS, /* api.tokens: sequence of token mappings */
};

enum {
    K_SECRET = 1 << 0,     /* never echo the value */
    K_OPTIONAL = 1 << 1,   /* "" means unset (NULL), so a later file can clear it */
    K_WHOLE_SECS = 1 << 2, /* durations: whole seconds only */
};

struct key {
    const char *name; /* dotted path */
    enum key_type type;
    unsigned flags;
    size_t off;        /* field in struct config */
    int64_t min, max;  /* T_INT, T_DURATION (ms) */
    int64_t def;       /* default for non-string types */
    const char *def_s; /* default for T_STRING (NULL: unset) */
    check_fn *check;   /* T_STRING, T_STRLIST items: extra validation */
    size_t given;      /* 1 + offset of a bool set when the key is given; 0: none */
};

#define OFF(f)   offsetof(struct config, f)
#define GIVEN(f) (OFF(f) + 1)
#define KEY(n, t, f, ...)                                                                          \
    {                                                                                              \
        .name = (n), .type = (t), .off = OFF(f), __VA_ARGS__                                       \
    }

/* Adding a scalar key is one row here plus the field in struct config. */
static const struct key keys[] = {
    KEY("version", T_STRING, version, .check = check_version),
    KEY("debug", T_BOOL, debug, .def = false),
    KEY("logging.level", T_LOGLEVEL, logging.level, .def = DEFAULT_LEVEL,
        .given = GIVEN(logging.level_set)),
    KEY("logging.format", T_LOGFORMAT, logging.format, .def = LOG_FORMAT_TEXT),
    KEY("redis.endpoint", T_STRING, redis.endpoint, .def_s = "127.0.0.1:6379",
        .check = check_endpoint),
    KEY("redis.username", T_STRING, redis.username, .flags = K_OPTIONAL),
    KEY("redis.password", T_STRING, redis.password, .flags = K_OPTIONAL | K_SECRET),
    KEY("redis.db", T_INT, redis.db, .min = 0, .max = 1023, .def = 0),
    KEY("redis.connect_timeout", T_DURATION, redis.connect_timeout_ms, .min = 100,
        .max = 5 * MINUTE, .def = 5 * SECOND),
    KEY("database.dsn", T_STRING, database.dsn, .flags = K_OPTIONAL | K_SECRET),
    KEY("database.migration_dir", T_STRING, database.migration_dir, .flags = K_OPTIONAL),
    /* libpq's connect_timeout is whole seconds; refuse what it would round. */
    KEY("database.connect_timeout", T_DURATION, database.connect_timeout_ms, .min = SECOND,
        .max = 5 * MINUTE, .def = 5 * SECOND, .flags = K_WHOLE_SECS),
    KEY("worker.concurrency", T_INT, worker.concurrency, .min = 0, .max = 10000, .def = 0),
    KEY("worker.queues", T_QUEUES, worker.queues),
    KEY("worker.strict_priority", T_BOOL, worker.strict_priority, .def = false),
    KEY("worker.shutdown_timeout", T_DURATION, worker.shutdown_timeout_ms, .min = 0, .max = HOUR,
        .def = 8 * SECOND),
    KEY("worker.lease_duration", T_DURATION, worker.lease_ms, .min = SECOND, .max = 10 * MINUTE,
        .def = 10 * SECOND),
    KEY("worker.retry_base_delay", T_DURATION, worker.retry_base_delay_ms, .min = 10, .max = HOUR,
        .def = SECOND),
    KEY("worker.retry_max_delay", T_DURATION, worker.retry_max_delay_ms, .min = 10,
        .max = 30 * 24 * HOUR, .def = HOUR),
    KEY("worker.archive_max_size", T_INT, worker.archive_max_size, .min = 1, .max = 10000000,
        .def = 10000),
    KEY("worker.archive_max_age", T_DURATION, worker.archive_max_age_ms, .min = MINUTE,
        .max = 3650 * 24 * HOUR, .def = 90 * 24 * HOUR),
    KEY("worker.metrics.address", T_STRING, worker.metrics.address, .def_s = "127.0.0.1:6080",
        .check = check_listen),
    KEY("worker.metrics.path", T_STRING, worker.metrics.path, .def_s = "/metrics",
        .check = check_http_path),
    KEY("scheduler.default_queue", T_STRING, scheduler.default_queue, .def_s = "default",
        .check = check_queue_name),
    KEY("scheduler.timezone", T_STRING, scheduler.timezone, .def_s = "UTC",
        .check = check_not_empty),
    KEY("scheduler.catch_up", T_BOOL, scheduler.catch_up, .def = true),
    KEY("scheduler.metrics.address", T_STRING, scheduler.metrics.address, .def_s = "127.0.0.1:6081",
        .check = check_listen),
    KEY("scheduler.metrics.path", T_STRING, scheduler.metrics.path, .def_s = "/metrics",
        .check = check_http_path),
    KEY("scheduler.jobs", T_JOBS, scheduler.jobs),
    KEY("api.address", T_STRING, api.address, .def_s = "127.0.0.1:8080", .check = check_listen),
    KEY("api.threads", T_INT, api.threads, .min = 0, .max = 1024, .def = 0),
    KEY("api.max_page_size", T_INT, api.max_page_size, .min = 1, .max = 100000, .def = 1000),
    KEY("api.request_timeout", T_DURATION, api.request_timeout_ms, .min = SECOND, .max = HOUR,
        .def = 30 * SECOND),
    KEY("api.auth", T_STRING, api.auth, .def_s = "token", .check = check_api_auth),
    KEY("api.tokens", T_API_TOKENS, api.tokens),
    KEY("api.database.dsn", T_STRING, api.database.dsn, .flags = K_OPTIONAL | K_SECRET),
/* The keys of one stream consumer section (struct config_stream). */
#define STREAM_KEYS(sec, field, stream_def, dlq_def, batch_def, conc_def, metrics_def)             \
    KEY("ingest." sec ".stream", T_STRING, field.stream, .def_s = stream_def,                      \
        .check = check_stream_name),                                                               \
        KEY("ingest." sec ".group", T_STRING, field.group, .def_s = "inventory",                   \
            .check = check_stream_name),                                                           \
        KEY("ingest." sec ".dead_letter", T_STRING, field.dead_letter, .def_s = dlq_def,           \
            .check = check_stream_name),                                                           \
        KEY("ingest." sec ".dead_letter_max", T_INT, field.dead_letter_max, .min = 1,              \
            .max = 100000000, .def = 100000),                                                      \
        KEY("ingest." sec ".batch_size", T_INT, field.batch_size, .min = 1, .max = 10000,          \
            .def = batch_def),                                                                     \
        KEY("ingest." sec ".concurrency", T_INT, field.concurrency, .min = 1, .max = 64,           \
            .def = conc_def),                                                                      \
        KEY("ingest." sec ".max_message_size", T_INT, field.max_message_size, .min = 256,          \
            .max = 16 << 20, .def = 64 << 10),                                                     \
        KEY("ingest." sec ".block", T_DURATION, field.block_ms, .min = 10, .max = MINUTE,          \
            .def = SECOND),                                                                        \
        KEY("ingest." sec ".claim_idle", T_DURATION, field.claim_idle_ms, .min = SECOND,           \
            .max = 24 * HOUR, .def = 30 * SECOND),                                                 \
        KEY("ingest." sec ".claim_interval", T_DURATION, field.claim_interval_ms, .min = 100,      \
            .max = HOUR, .def = 5 * SECOND),                                                       \
        KEY("ingest." sec ".metrics.address", T_STRING, field.metrics.address,                     \
            .def_s = metrics_def, .check = check_listen),                                          \
        KEY("ingest." sec ".metrics.path", T_STRING, field.metrics.path, .def_s = "/metrics",      \
            .check = check_http_path)
    STREAM_KEYS("scans", ingest.scans, "scan-topic", "scan-topic-dlq", 2500, 1, "127.0.0.1:6082"),
    KEY("ingest.scans.writers", T_INT, ingest.scans.writers, .min = 1, .max = 8, .def = 1),
    KEY("ingest.scans.cache_entries", T_INT, ingest.scans.cache_entries, .min = 0, .max = 1 << 26,
        .def = 1 << 17),
    /* two host consumers: one's CPU overlaps the other's PostgreSQL and
     * Redis round trips (docs/hosts.md, Performance) */
    STREAM_KEYS("hosts", ingest.hosts, "platform.inventory.host-ingress",
                "platform.inventory.host-ingress-dlq", 1000, 2, "127.0.0.1:6083"),
    KEY("hosts.events", T_STRING, hosts.events, .def_s = "platform.inventory.events",
        .check = check_stream_name),
    KEY("hosts.events_max", T_INT, hosts.events_max, .min = 1, .max = 100000000, .def = 1000000),
    KEY("hosts.payload_tracker", T_BOOL, hosts.payload_tracker, .def = true),
    KEY("hosts.payload_status", T_STRING, hosts.payload_status, .def_s = "platform.payload-status",
        .check = check_stream_name),
    KEY("hosts.payload_status_max", T_INT, hosts.payload_status_max, .min = 1, .max = 100000000,
        .def = 1000000),
    KEY("hosts.reaper", T_BOOL, hosts.reaper, .def = true),
    KEY("hosts.reaper_chunk", T_INT, hosts.reaper_chunk, .min = 1, .max = 100000, .def = 1000),
    KEY("aws.is_enabled", T_BOOL, aws.is_enabled, .def = false),
    KEY("aws.region", T_STRING, aws.region, .def_s = "us-east-1", .check = check_region),
    KEY("aws.endpoint_url", T_STRING, aws.endpoint_url, .flags = K_OPTIONAL, .check = check_url),
    KEY("aws.excluded_regions", T_STRLIST, aws.excluded_regions, .check = check_region),
    KEY("aws.retry.max_attempts", T_INT, aws.retry.max_attempts, .min = 1, .max = 20, .def = 5),
    KEY("aws.retry.base_delay", T_DURATION, aws.retry.base_delay_ms, .min = 1, .max = MINUTE,
        .def = 200),
    KEY("aws.retry.max_delay", T_DURATION, aws.retry.max_delay_ms, .min = 1, .max = 10 * MINUTE,
        .def = 5 * SECOND),
    KEY("aws.http.timeout", T_DURATION, aws.http.timeout_ms, .min = SECOND, .max = HOUR,
        .def = 30 * SECOND),
    KEY("aws.http.connect_timeout", T_DURATION, aws.http.connect_timeout_ms, .min = 100,
        .max = 5 * MINUTE, .def = 5 * SECOND),
#define AWS_SERVICE_KEYS(i, n)                                                                     \
    KEY("aws.services." n ".use_credentials", T_STRLIST, aws.services[i].use_credentials,          \
        .check = check_cred_name),                                                                 \
        KEY("aws.services." n ".endpoint_url", T_STRING, aws.services[i].endpoint_url,             \
            .flags = K_OPTIONAL, .check = check_url)
    AWS_SERVICE_KEYS(0, "ec2"),
    AWS_SERVICE_KEYS(1, "elb"),
    AWS_SERVICE_KEYS(2, "elbv2"),
    AWS_SERVICE_KEYS(3, "s3"),
#undef AWS_SERVICE_KEYS
    KEY("aws.credentials", T_AWS_CREDS, aws.credentials),
};

/* The keys of one aws.credentials.<name> mapping, by path inside it. */
enum cred_type { C_STRING, C_DURATION, C_PROVIDER };
static const struct cred_key {
    const char *name;
    enum cred_type type;
    size_t off; /* in struct config_aws_cred */
    int64_t min, max;
    check_fn *check;
} cred_keys[] = {
    {"provider", C_PROVIDER, offsetof(struct config_aws_cred, provider), 0, 0, check_provider},
    {"profile.name", C_STRING, offsetof(struct config_aws_cred, profile), 0, 0, check_profile_name},
    {"token_file.path", C_STRING, offsetof(struct config_aws_cred, token_path), 0, 0,
     check_not_empty},
    {"token_file.role_arn", C_STRING, offsetof(struct config_aws_cred, role_arn), 0, 0,
     check_role_arn},
    {"token_file.role_session_name", C_STRING, offsetof(struct config_aws_cred, role_session_name),
     0, 0, check_session_name},
    /* STS accepts 15 minutes to 12 hours (the role's maximum applies). */
    {"token_file.duration", C_DURATION, offsetof(struct config_aws_cred, duration_ms), 15 * MINUTE,
     12 * HOUR, NULL},
};

/* The keys of one scheduler.jobs[] entry; all strings. */
#define JOB_NOPOS ((size_t)-1)
static const struct job_key {
    const char *name;
    size_t off;     /* char * in struct config_job */
    size_t pos_off; /* struct config_pos in struct config_job, or JOB_NOPOS */
    bool required;
    check_fn *check;
} job_keys[] = {
    {"name", offsetof(struct config_job, name), JOB_NOPOS, true, check_not_empty},
    {"spec", offsetof(struct config_job, spec), offsetof(struct config_job, spec_pos), true,
     check_not_empty},
    {"desc", offsetof(struct config_job, desc), JOB_NOPOS, false, NULL},
    {"payload", offsetof(struct config_job, payload), offsetof(struct config_job, payload_pos),
     false, NULL},
    {"queue", offsetof(struct config_job, queue), JOB_NOPOS, false, check_queue_name},
};

static const struct key *find_key(const char *path)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, path) == 0)
            return &keys[i];
    return NULL;
}

/* True when some key lives under `path.`, i.e. path names a section. */
static bool is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strncmp(keys[i].name, path, n) == 0 && keys[i].name[n] == '.')
            return true;
    return false;
}

static void *field(struct config *cfg, size_t off)
{
    return (char *)cfg + off;
}

static void set_str(char **slot, const char *v)
{
    free(*slot);
    *slot = v ? xstrdup(v) : NULL;
}

static void free_queues(struct config_queue *qs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(qs[i].name);
    free(qs);
}

static void free_jobs(struct config_job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ARRAY_SIZE(job_keys); k++)
            free(*(char **)((char *)&jobs[i] + job_keys[k].off));
    free(jobs);
}

static void free_strlist(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    free(l->pos);
    memset(l, 0, sizeof(*l));
}

static void free_creds(struct config_aws_cred *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cs[i].name);
        for (size_t k = 0; k < ARRAY_SIZE(cred_keys); k++)
            if (cred_keys[k].type == C_STRING)
                free(*(char **)((char *)&cs[i] + cred_keys[k].off));
    }
    free(cs);
}

/* What a key accepts, for "expected ..." messages. */
static const char *expected(const struct key *k, char *tmp, size_t n)
{
    char a[32], b[32];

    switch (k->type) {
    case T_STRING:
        return "expected a string";
    case T_BOOL:
        return "expected a boolean";
    case T_INT:
        snprintf(tmp, n, "expected an integer in %lld..%lld", (long long)k->min, (long long)k->max);
        return tmp;
    case T_DURATION:
        duration_format(k->min, a, sizeof(a));
        duration_format(k->max, b, sizeof(b));
        snprintf(tmp, n, "expected a duration in %s..%s", a, b);
        return tmp;
    case T_LOGLEVEL:
        return "expected one of debug, info, warn, error";
    case T_LOGFORMAT:
        return "expected one of text, json";
    case T_QUEUES:
        return "expected a mapping of queue names to priorities";
    case T_JOBS:
        return "expected a sequence of jobs";
    case T_STRLIST:
        return "expected a sequence of strings";
    case T_AWS_CREDS:
        return "expected a mapping of credential names to credentials";
    case T_API_TOKENS:
        return "expected a sequence of tokens";
    }
    return "unexpected value";
}

/* ---- applying values --------------------------------------------------- */

static int set_queues(const struct ctx *c, const struct key *k, const struct node *v)
{
    struct config_queue *qs = NULL;
    size_t n = 0;
    char tmp[SHOW_BUF], exp[96];
    int rc = -1;

    /* `queues:` with nothing keeps what an earlier file or the default set. */
    if (v->null)
        return 0;
    if (v->kind != N_MAP)
        return fail(c, v->line, "%s: %s, got %s", k->name, expected(k, exp, sizeof(exp)),
                    describe(v, false, tmp));
    if (!v->nkids)
        return fail(c, v->line, "%s: expected at least one queue", k->name);
    if (v->nkids / 2 > MAX_QUEUES)
        return fail(c, v->line, "%s: more than %d queues", k->name, MAX_QUEUES);

    qs = xcalloc(v->nkids / 2, sizeof(*qs));
    for (size_t i = 0; i + 1 < v->nkids; i += 2) {
        const struct node *name = v->kids[i], *prio = v->kids[i + 1];
        int p;

        if (name->kind != N_SCALAR || check_queue_name(name->str)) {
            fail(c, name->line, "%s: invalid queue name %s (%s)", k->name,
                 describe(name, false, tmp), QUEUE_NAME_RULE);
            goto out;
        }
        for (size_t j = 0; j < n; j++) {
            if (strcmp(qs[j].name, name->str) == 0) {
                fail(c, name->line, "duplicate key \"%s.%s\"", k->name, name->str);
                goto out;
            }
        }
        if (prio->kind != N_SCALAR || prio->null || parse_int(prio->str, 1, 1000, &p) < 0) {
            fail(c, prio->line, "%s.%s: expected an integer in 1..1000, got %s", k->name, name->str,
                 describe(prio, false, tmp));
            goto out;
        }
        qs[n].name = xstrdup(name->str);
        qs[n].priority = p;
        qs[n].pos = (struct config_pos){c->file, name->line};
        n++;
    }
    /* A later file replaces the whole map: merging priorities from two
     * files would produce a set nobody wrote down. */
    free_queues(c->cfg->worker.queues, c->cfg->worker.nqueues);
    c->cfg->worker.queues = qs;
    c->cfg->worker.nqueues = n;
    qs = NULL;
    n = 0;
    rc = 0;
out:
    free_queues(qs, n);
    return rc;
}

static const struct job_key *find_job_key(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(job_keys); i++)
        if (strcmp(job_keys[i].name, name) == 0)
            return &job_keys[i];
    return NULL;
}

/* Fills *job (zeroed by the caller; freed by the caller on error too). */
static int parse_job(const struct ctx *c, const struct node *v, size_t idx, struct config_job *job)
{
    int lines[ARRAY_SIZE(job_keys)] = {0};
    char tmp[SHOW_BUF];

    job->pos = (struct config_pos){c->file, v->line};
    if (v->kind != N_MAP)
        return fail(c, v->line, "scheduler.jobs[%zu]: expected a mapping, got %s", idx,
                    describe(v, false, tmp));

    for (size_t i = 0; i + 1 < v->nkids; i += 2) {
        const struct node *key = v->kids[i], *val = v->kids[i + 1];
        const struct job_key *jk;

        if (key->kind != N_SCALAR)
            return fail(c, key->line, "scheduler.jobs[%zu]: expected a string key, got %s", idx,
                        describe(key, false, tmp));
        jk = find_job_key(key->str);
        if (!jk) {
            char *path = xasprintf("scheduler.jobs[%zu].%s", idx, key->str);
            fail(c, key->line, "unknown key %s", quote(path, strlen(path), tmp));
            free(path);
            return -1;
        }
        size_t slot_i = (size_t)(jk - job_keys);
        if (lines[slot_i])
            return fail(c, key->line, "duplicate key \"scheduler.jobs[%zu].%s\"", idx, jk->name);
        lines[slot_i] = val->line;
        /* `desc:` with nothing is the same as leaving it out. */
        if (val->kind == N_SCALAR && val->null)
            continue;
        if (val->kind != N_SCALAR)
            return fail(c, val->line, "scheduler.jobs[%zu].%s: expected a string, got %s", idx,
                        jk->name, describe(val, false, tmp));
        if (jk->check && jk->check(val->str))
            return fail(c, val->line, "scheduler.jobs[%zu].%s: %s, got %s", idx, jk->name,
                        jk->check(val->str), describe(val, false, tmp));
        set_str((char **)((char *)job + jk->off), val->str);
        if (jk->pos_off != JOB_NOPOS)
            *(struct config_pos *)((char *)job + jk->pos_off) =
                (struct config_pos){c->file, val->line};
    }
    for (size_t i = 0; i < ARRAY_SIZE(job_keys); i++)
        if (job_keys[i].required && !*(char **)((char *)job + job_keys[i].off))
            return fail(c, v->line, "scheduler.jobs[%zu]: missing \"%s\"", idx, job_keys[i].name);
    return 0;
}

/* The checks every list-of-mappings key shares (scheduler.jobs,
 * api.tokens): 1 when null (nothing to set), 0 for a sequence of at most
 * MAX_JOBS items, -1 after the error. */
static int seq_of(const struct ctx *c, const struct key *k, const struct node *v, const char *what)
{
    char tmp[SHOW_BUF], exp[96];
    if (v->null)
        return 1;
    if (v->kind != N_SEQ)
        return fail(c, v->line, "%s: %s, got %s", k->name, expected(k, exp, sizeof(exp)),
                    describe(v, false, tmp));
    if (v->nkids > MAX_JOBS)
        return fail(c, v->line, "%s: more than %d %s", k->name, MAX_JOBS, what);
    return 0;
}

static int set_jobs(const struct ctx *c, const struct key *k, const struct node *v)
{
    struct config_job *jobs = NULL;
    size_t n = 0;
    int rc = seq_of(c, k, v, "jobs");
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    rc = -1;
    if (v->nkids)
        jobs = xcalloc(v->nkids, sizeof(*jobs));
    for (size_t i = 0; i < v->nkids; i++) {
        n = i + 1; /* so a half-parsed job is freed too */
        if (parse_job(c, v->kids[i], i, &jobs[i]) < 0)
            goto out;
    }
    /* Lists are replaced, never appended: a later file that sets jobs says
     * exactly which jobs run. */
    free_jobs(c->cfg->scheduler.jobs, c->cfg->scheduler.njobs);
    c->cfg->scheduler.jobs = jobs;
    c->cfg->scheduler.njobs = n;
    jobs = NULL;
    n = 0;
    rc = 0;
out:
    free_jobs(jobs, n);
    return rc;
}

/* A sequence of strings, each checked; replaces the earlier list. */
static int set_strlist(const struct ctx *c, const struct key *k, const struct node *v)
{
    struct config_strlist l = {0};
    char tmp[SHOW_BUF], exp[96];
    const char *problem;

    if (v->null)
        return 0;
    if (v->kind != N_SEQ)
        return fail(c, v->line, "%s: %s, got %s", k->name, expected(k, exp, sizeof(exp)),
                    describe(v, false, tmp));
    if (v->nkids > MAX_LIST_ITEMS)
        return fail(c, v->line, "%s: more than %d items", k->name, MAX_LIST_ITEMS);
    if (v->nkids) {
        l.items = xcalloc(v->nkids, sizeof(*l.items));
        l.pos = xcalloc(v->nkids, sizeof(*l.pos));
    }
    for (size_t i = 0; i < v->nkids; i++) {
        const struct node *it = v->kids[i];

        if (it->kind != N_SCALAR || it->null) {
            fail(c, it->line, "%s[%zu]: expected a string, got %s", k->name, i,
                 describe(it, false, tmp));
            goto bad;
        }
        if (k->check && (problem = k->check(it->str))) {
            fail(c, it->line, "%s[%zu]: %s, got %s", k->name, i, problem, describe(it, false, tmp));
            goto bad;
        }
        for (size_t j = 0; j < l.n; j++) {
            if (strcmp(l.items[j], it->str) == 0) {
                fail(c, it->line, "%s[%zu]: %s listed twice", k->name, i, describe(it, false, tmp));
                goto bad;
            }
        }
        l.items[l.n] = xstrdup(it->str);
        l.pos[l.n] = (struct config_pos){c->file, it->line};
        l.n++;
    }
    free_strlist(field(c->cfg, k->off));
    *(struct config_strlist *)field(c->cfg, k->off) = l;
    return 0;
bad:
    free_strlist(&l);
    return -1;
}

static const struct cred_key *find_cred_key(const char *path)
{
    for (size_t i = 0; i < ARRAY_SIZE(cred_keys); i++)
        if (strcmp(cred_keys[i].name, path) == 0)
            return &cred_keys[i];
    return NULL;
}

static bool is_cred_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < ARRAY_SIZE(cred_keys); i++)
        if (strncmp(cred_keys[i].name, path, n) == 0 && cred_keys[i].name[n] == '.')
            return true;
    return false;
}

/* Applies one mapping of a credential (the credential itself, or its
 * profile / token_file section when sub is set). base is
 * "aws.credentials.<name>" for messages. */
static int walk_cred(const struct ctx *c, const struct node *map, const char *base, const char *sub,
                     struct config_aws_cred *cred)
{
    char tmp[SHOW_BUF];

    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const struct node *key = map->kids[i], *val = map->kids[i + 1];
        const struct cred_key *ck;
        const char *problem;
        char *path, *full;
        int rc = 0;

        if (key->kind != N_SCALAR)
            return fail(c, key->line, "%s: expected a string key, got %s", base,
                        describe(key, false, tmp));
        path = sub ? xasprintf("%s.%s", sub, key->str) : xstrdup(key->str);
        full = xasprintf("%s.%s", base, path);
        for (size_t j = 0; j < i; j += 2) {
            if (strcmp(map->kids[j]->str, key->str) == 0) {
                rc = fail(c, key->line, "duplicate key %s", quote(full, strlen(full), tmp));
                goto next;
            }
        }
        ck = strchr(key->str, '.') ? NULL : find_cred_key(path);
        if (!ck) {
            if (!*key->str || strchr(key->str, '.') || !is_cred_section(path))
                rc = fail(c, key->line, "unknown key %s", quote(full, strlen(full), tmp));
            else if (val->null)
                rc = 0;
            else if (val->kind != N_MAP)
                rc = fail(c, val->line, "%s: expected a mapping, got %s", full,
                          describe(val, false, tmp));
            else
                rc = walk_cred(c, val, base, path, cred);
            goto next;
        }
        void *f = (char *)cred + ck->off;
        if (val->kind != N_SCALAR || val->null) {
            if (val->kind == N_SCALAR && ck->type == C_STRING)
                goto next; /* `key:` with nothing keeps the default */
            rc =
                fail(c, val->line, "%s: expected %s, got %s", full,
                     ck->type == C_DURATION ? "a duration" : "a string", describe(val, false, tmp));
            goto next;
        }
        switch (ck->type) {
        case C_STRING:
        case C_PROVIDER:
            if (ck->check && (problem = ck->check(val->str))) {
                rc = fail(c, val->line, "%s: %s, got %s", full, problem, describe(val, false, tmp));
                goto next;
            }
            if (ck->type == C_STRING)
                set_str(f, val->str);
            else
                *(enum config_aws_provider *)f =
                    strcmp(val->str, "profile") == 0 ? CONFIG_AWS_PROFILE
                    : strcmp(val->str, "env") == 0   ? CONFIG_AWS_ENV
                                                     : CONFIG_AWS_TOKEN_FILE;
            break;
        case C_DURATION: {
            int64_t ms;
            char a[32], b[32];
            if (duration_parse(val->str, &ms) < 0 || ms < ck->min || ms > ck->max || ms % SECOND) {
                duration_format(ck->min, a, sizeof(a));
                duration_format(ck->max, b, sizeof(b));
                rc =
                    fail(c, val->line, "%s: expected a duration in %s..%s in whole seconds, got %s",
                         full, a, b, describe(val, false, tmp));
                goto next;
            }
            *(int64_t *)f = ms;
            break;
        }
        }
    next:
        free(path);
        free(full);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Fills *cred (zeroed by the caller, freed by the caller on error too). */
static int parse_aws_cred(const struct ctx *c, const struct node *name, const struct node *v,
                          struct config_aws_cred *cred)
{
    char tmp[SHOW_BUF];
    char *base = xasprintf("aws.credentials.%s", name->str);
    int rc = -1;

    cred->name = xstrdup(name->str);
    cred->pos = (struct config_pos){c->file, name->line};
    cred->profile = xstrdup("default");
    cred->role_session_name = xstrdup("inventory");
    cred->duration_ms = HOUR;
    if (v->kind != N_MAP) {
        fail(c, v->line, "%s: expected a mapping, got %s", base, describe(v, false, tmp));
        goto out;
    }
    if (walk_cred(c, v, base, NULL, cred) < 0)
        goto out;
    if (!cred->provider) {
        fail(c, name->line, "%s: missing \"provider\" (profile, env or token_file)", base);
        goto out;
    }
    if (cred->provider == CONFIG_AWS_TOKEN_FILE && (!cred->token_path || !cred->role_arn)) {
        fail(c, name->line, "%s: provider token_file needs token_file.%s", base,
             !cred->token_path ? "path" : "role_arn");
        goto out;
    }
    rc = 0;
out:
    free(base);
    return rc;
}

/* aws.credentials: replaced as a whole by a later file, like worker.queues. */
static int set_aws_creds(const struct ctx *c, const struct key *k, const struct node *v)
{
    struct config_aws_cred *cs = NULL;
    size_t n = 0;
    char tmp[SHOW_BUF], exp[96];
    int rc = -1;

    if (v->null)
        return 0;
    if (v->kind != N_MAP)
        return fail(c, v->line, "%s: %s, got %s", k->name, expected(k, exp, sizeof(exp)),
                    describe(v, false, tmp));
    if (v->nkids / 2 > MAX_AWS_CREDS)
        return fail(c, v->line, "%s: more than %d credentials", k->name, MAX_AWS_CREDS);
    if (v->nkids)
        cs = xcalloc(v->nkids / 2, sizeof(*cs));
    for (size_t i = 0; i + 1 < v->nkids; i += 2) {
        const struct node *name = v->kids[i], *val = v->kids[i + 1];

        if (name->kind != N_SCALAR || check_cred_name(name->str)) {
            fail(c, name->line, "%s: invalid credential name %s (%s)", k->name,
                 describe(name, false, tmp), CRED_NAME_RULE);
            goto out;
        }
        for (size_t j = 0; j < n; j++) {
            if (strcmp(cs[j].name, name->str) == 0) {
                fail(c, name->line, "duplicate key \"%s.%s\"", k->name, name->str);
                goto out;
            }
        }
        n++; /* so a half-parsed credential is freed too */
        if (parse_aws_cred(c, name, val, &cs[n - 1]) < 0)
            goto out;
    }
    free_creds(c->cfg->aws.credentials, c->cfg->aws.ncredentials);
    c->cfg->aws.credentials = cs;
    c->cfg->aws.ncredentials = n;
    cs = NULL;
    n = 0;
    rc = 0;
out:
    free_creds(cs, n);
    return rc;
}

static void free_api_tokens(struct config_api_token *ts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ts[i].name);
    free(ts);
}

/* One api.tokens[idx] mapping: name, sha256 (64 hex digits), scope. */
static int parse_api_token(const struct ctx *c, const struct node *v, size_t idx,
                           struct config_api_token *t)
{
    static const char *const names[] = {"name", "sha256", "scope"};
    int lines[3] = {0};
    char tmp[SHOW_BUF];

    t->pos = (struct config_pos){c->file, v->line};
    if (v->kind != N_MAP)
        return fail(c, v->line, "api.tokens[%zu]: expected a mapping, got %s", idx,
                    describe(v, false, tmp));
    for (size_t i = 0; i + 1 < v->nkids; i += 2) {
        const struct node *key = v->kids[i], *val = v->kids[i + 1];
        size_t k = 0;
        if (key->kind != N_SCALAR)
            return fail(c, key->line, "api.tokens[%zu]: expected a string key, got %s", idx,
                        describe(key, false, tmp));
        while (k < ARRAY_SIZE(names) && strcmp(names[k], key->str) != 0)
            k++;
        if (k == ARRAY_SIZE(names)) {
            char *path = xasprintf("api.tokens[%zu].%s", idx, key->str);
            fail(c, key->line, "unknown key %s", quote(path, strlen(path), tmp));
            free(path);
            return -1;
        }
        if (lines[k])
            return fail(c, key->line, "duplicate key \"api.tokens[%zu].%s\"", idx, names[k]);
        lines[k] = val->line;
        if (val->kind != N_SCALAR || val->null)
            return fail(c, val->line, "api.tokens[%zu].%s: expected a string, got %s", idx,
                        names[k], describe(val, k == 1, tmp));
        const char *sv = val->str;
        if (k == 0) {
            if (check_not_empty(sv))
                return fail(c, val->line, "api.tokens[%zu].name: %s", idx, check_not_empty(sv));
            set_str(&t->name, sv);
        } else if (k == 1) {
            bool ok = strlen(sv) == 64;
            for (size_t j = 0; ok && j < 32; j++) {
                int hi = hex_digit(sv[2 * j]), lo = hex_digit(sv[2 * j + 1]);
                ok = hi >= 0 && lo >= 0;
                if (ok)
                    t->sha256[j] = (unsigned char)(hi << 4 | lo);
            }
            /* The hash is not the token, but it is still not echoed. */
            if (!ok)
                return fail(c, val->line,
                            "api.tokens[%zu].sha256: expected 64 hexadecimal digits (the "
                            "SHA-256 of the token)",
                            idx);
        } else if (strcmp(sv, "read") == 0 || strcmp(sv, "admin") == 0) {
            t->scope = sv[0] == 'a' ? API_SCOPE_ADMIN : API_SCOPE_READ;
        } else {
            return fail(c, val->line, "api.tokens[%zu].scope: expected one of read, admin, got %s",
                        idx, describe(val, false, tmp));
        }
    }
    for (size_t k = 0; k < ARRAY_SIZE(names); k++)
        if (!lines[k])
            return fail(c, v->line, "api.tokens[%zu]: missing \"%s\"", idx, names[k]);
    return 0;
}

static int set_api_tokens(const struct ctx *c, const struct key *k, const struct node *v)
{
    struct config_api_token *ts = NULL;
    size_t n = 0;
    int rc = seq_of(c, k, v, "tokens");
    if (rc != 0)
        return rc > 0 ? 0 : -1;
    rc = -1;
    if (v->nkids)
        ts = xcalloc(v->nkids, sizeof(*ts));
    for (size_t i = 0; i < v->nkids; i++) {
        n = i + 1; /* so a half-parsed token is freed too */
        if (parse_api_token(c, v->kids[i], i, &ts[i]) < 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ts[j].name, ts[i].name) == 0) {
                fail(c, v->kids[i]->line, "api.tokens[%zu].name: duplicate token name \"%s\"", i,
                     ts[i].name);
                goto out;
            }
    }
    /* Replaced, never appended, like scheduler.jobs. */
    free_api_tokens(c->cfg->api.tokens, c->cfg->api.ntokens);
    c->cfg->api.tokens = ts;
    c->cfg->api.ntokens = n;
    ts = NULL;
    n = 0;
    rc = 0;
out:
    free_api_tokens(ts, n);
    return rc;
}

static int apply(const struct ctx *c, const struct key *k, const struct node *v)
{
    void *f = field(c->cfg, k->off);
    bool secret = k->flags & K_SECRET;
    char tmp[SHOW_BUF], exp[96];
    const char *problem;

    if (k->type == T_QUEUES)
        return set_queues(c, k, v);
    if (k->type == T_JOBS)
        return set_jobs(c, k, v);
    if (k->type == T_STRLIST)
        return set_strlist(c, k, v);
    if (k->type == T_AWS_CREDS)
        return set_aws_creds(c, k, v);
    if (k->type == T_API_TOKENS)
        return set_api_tokens(c, k, v);
    if (v->kind != N_SCALAR)
        goto bad;
    if (v->null) {
        /* `key:` with nothing keeps the previous value for strings (as a
         * Go YAML decoder does); other types must be spelled out. */
        if (k->type == T_STRING)
            return 0;
        goto bad;
    }

    switch (k->type) {
    case T_STRING:
        if (k->check && (problem = k->check(v->str)))
            return fail(c, v->line, "%s: %s, got %s", k->name, problem, describe(v, secret, tmp));
        set_str(f, (k->flags & K_OPTIONAL) && !*v->str ? NULL : v->str);
        break;
    case T_BOOL:
        if (parse_bool(v->str, f) < 0)
            goto bad;
        break;
    case T_INT: {
        int x;
        if (parse_int(v->str, (int)k->min, (int)k->max, &x) < 0)
            goto bad;
        *(int *)f = x;
        break;
    }
    case T_DURATION: {
        int64_t ms;
        if (duration_parse(v->str, &ms) < 0 || ms < k->min || ms > k->max)
            goto bad;
        if ((k->flags & K_WHOLE_SECS) && ms % SECOND)
            return fail(c, v->line, "%s: expected whole seconds, got %s", k->name,
                        describe(v, secret, tmp));
        *(int64_t *)f = ms;
        break;
    }
    case T_LOGLEVEL:
        if (log_level_parse(v->str, f) < 0)
            goto bad;
        break;
    case T_LOGFORMAT:
        if (log_format_parse(v->str, f) < 0)
            goto bad;
        break;
    case T_QUEUES:
    case T_JOBS:
    case T_STRLIST:
    case T_AWS_CREDS:
    case T_API_TOKENS:
        break;
    }
    if (k->given)
        *(bool *)field(c->cfg, k->given - 1) = true;
    return 0;
bad:
    return fail(c, v->line, "%s: %s, got %s", k->name, expected(k, exp, sizeof(exp)),
                describe(v, secret, tmp));
}

/* Walks one mapping whose keys are resolved against the table by dotted
 * path: a row is applied, a section is walked, anything else is unknown. */
static int walk_map(const struct ctx *c, const struct node *map, const char *prefix)
{
    char tmp[SHOW_BUF];

    for (size_t i = 0; i + 1 < map->nkids; i += 2) {
        const struct node *key = map->kids[i], *val = map->kids[i + 1];
        const struct key *k;
        char *path;
        int rc;

        if (key->kind != N_SCALAR)
            return fail(c, key->line, "%s%sexpected a string key, got %s", prefix ? prefix : "",
                        prefix ? ": " : "", describe(key, false, tmp));
        path = prefix ? xasprintf("%s.%s", prefix, key->str) : xstrdup(key->str);
        for (size_t j = 0; j < i; j += 2) {
            if (strcmp(map->kids[j]->str, key->str) == 0) {
                rc = fail(c, key->line, "duplicate key %s", quote(path, strlen(path), tmp));
                goto next;
            }
        }
        /* A dotted key ("redis.db: 1") would dodge duplicate detection
         * against the nested spelling; only the nested form is accepted. */
        k = strchr(key->str, '.') ? NULL : find_key(path);
        if (k)
            rc = apply(c, k, val);
        else if (!*key->str || strchr(key->str, '.') || !is_section(path))
            rc = fail(c, key->line, "unknown key %s", quote(path, strlen(path), tmp));
        else if (val->null)
            rc = 0; /* `redis:` with everything below commented out */
        else if (val->kind != N_MAP)
            rc = fail(c, val->line, "%s: expected a mapping, got %s", path,
                      describe(val, false, tmp));
        else
            rc = walk_map(c, val, path);
    next:
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- loading ----------------------------------------------------------- */

/* Records a file name; config_pos.file points at the returned string, which
 * lives until config_release (growing the array moves only the pointers). */
static const char *add_file(struct config *cfg, const char *name)
{
    cfg->files = xrealloc(cfg->files, (cfg->nfiles + 1) * sizeof(*cfg->files));
    cfg->files[cfg->nfiles] = xstrdup(name);
    return cfg->files[cfg->nfiles++];
}

static int load_text(struct config *cfg, const char *file, const char *text, size_t len,
                     struct buf *err)
{
    struct tree t = {0};
    struct ctx c = {cfg, file, err};
    char tmp[SHOW_BUF];
    int rc = -1;

    if (len > CONFIG_MAX_FILE_BYTES) {
        buf_setf(err, "%s: larger than %d bytes", file, CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    if (build_tree(&t, file, text ? text : "", text ? len : 0, err) < 0)
        goto out;
    if (!t.root || (t.root->kind == N_SCALAR && t.root->null))
        rc = 0; /* an empty file sets nothing */
    else if (t.root->kind != N_MAP)
        rc = fail(&c, t.root->line, "expected a mapping at the top level, got %s",
                  describe(t.root, false, tmp));
    else
        rc = walk_map(&c, t.root, NULL);
out:
    tree_free(&t);
    return rc;
}

/* Reads a whole file, refusing more than CONFIG_MAX_FILE_BYTES. *out is
 * the caller's (free()). */
static int read_file(const char *path, char **out, size_t *outlen, struct buf *err)
{
    struct buf b;
    struct stat st;
    char chunk[16384];
    int fd, rc = -1;

    buf_init(&b, CONFIG_MAX_FILE_BYTES);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_setf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > CONFIG_MAX_FILE_BYTES) {
        buf_setf(err, "%s: larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_setf(err, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        /* Also catches files that grow, and pipes. */
        if (buf_add(&b, chunk, (size_t)n) < 0) {
            buf_setf(err, "%s: larger than %d bytes", path, CONFIG_MAX_FILE_BYTES);
            goto out;
        }
    }
    *outlen = b.len;
    *out = buf_detach(&b);
    rc = 0;
out:
    buf_release(&b);
    close(fd);
    return rc;
}

void config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const struct key *k = &keys[i];
        void *f = field(cfg, k->off);

        switch (k->type) {
        case T_STRING:
            *(char **)f = k->def_s ? xstrdup(k->def_s) : NULL;
            break;
        case T_BOOL:
            *(bool *)f = k->def != 0;
            break;
        case T_INT:
            *(int *)f = (int)k->def;
            break;
        case T_DURATION:
            *(int64_t *)f = k->def;
            break;
        case T_LOGLEVEL:
            *(enum log_level *)f = (enum log_level)k->def;
            break;
        case T_LOGFORMAT:
            *(enum log_format *)f = (enum log_format)k->def;
            break;
        case T_QUEUES:
            cfg->worker.queues = xcalloc(1, sizeof(*cfg->worker.queues));
            cfg->worker.queues[0].name = xstrdup("default");
            cfg->worker.queues[0].priority = 1;
            cfg->worker.nqueues = 1;
            break;
        case T_JOBS:
        case T_STRLIST:
        case T_AWS_CREDS:
        case T_API_TOKENS:
            break;
        }
    }
}

void config_release(struct config *cfg)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (keys[i].type == T_STRING)
            free(*(char **)field(cfg, keys[i].off));
    free_queues(cfg->worker.queues, cfg->worker.nqueues);
    free_jobs(cfg->scheduler.jobs, cfg->scheduler.njobs);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (keys[i].type == T_STRLIST)
            free_strlist(field(cfg, keys[i].off));
    free_creds(cfg->aws.credentials, cfg->aws.ncredentials);
    free_api_tokens(cfg->api.tokens, cfg->api.ntokens);
    for (size_t i = 0; i < cfg->nfiles; i++)
        free(cfg->files[i]);
    free(cfg->files);
    /* Zeroed, so a second release (or a release after a failed load) is
     * harmless. */
    memset(cfg, 0, sizeof(*cfg));
}

int config_load(struct config *cfg, const char *const *paths, size_t npaths, struct buf *err)
{
    for (size_t i = 0; i < npaths; i++) {
        char *text = NULL;
        size_t len = 0;

        if (read_file(paths[i], &text, &len, err) < 0)
            return -1;
        int rc = load_text(cfg, add_file(cfg, paths[i]), text, len, err);
        free(text);
        if (rc < 0)
            return -1;
    }
    return config_finish(cfg, err);
}

int config_load_string(struct config *cfg, const char *name, const char *text, size_t len,
                       struct buf *err)
{
    if (load_text(cfg, add_file(cfg, name ? name : "config"), text, len, err) < 0)
        return -1;
    return config_finish(cfg, err);
}

/* Reads an override; an empty value counts as unset, so `VAR= cmd` cannot
 * wipe a setting by accident. */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* "file:line: " or "config: " for a value's position. */
static void pos_prefix(const struct config_pos *p, char *out, size_t n)
{
    if (p->file)
        snprintf(out, n, "%s:%d: ", p->file, p->line);
    else
        snprintf(out, n, "config: ");
}

/* Cross-field rules of the aws section: names in use_credentials exist
 * (they may come from another file than the credentials), delays order. */
static int finish_aws(const struct config *cfg, struct buf *err)
{
    char where[512], tmp[SHOW_BUF], a[32], b[32];

    for (size_t s = 0; s < CONFIG_AWS_SERVICES; s++) {
        const struct config_strlist *l = &cfg->aws.services[s].use_credentials;
        for (size_t i = 0; i < l->n; i++) {
            bool found = false;
            for (size_t j = 0; j < cfg->aws.ncredentials && !found; j++)
                found = strcmp(cfg->aws.credentials[j].name, l->items[i]) == 0;
            if (found)
                continue;
            pos_prefix(&l->pos[i], where, sizeof(where));
            buf_setf(err,
                     "%saws.services.%s.use_credentials: unknown credential %s (not in "
                     "aws.credentials)",
                     where, config_aws_service_names[s],
                     quote(l->items[i], strlen(l->items[i]), tmp));
            return -1;
        }
    }
    if (cfg->aws.retry.base_delay_ms > cfg->aws.retry.max_delay_ms) {
        duration_format(cfg->aws.retry.base_delay_ms, a, sizeof(a));
        duration_format(cfg->aws.retry.max_delay_ms, b, sizeof(b));
        buf_setf(err, "config: aws.retry.base_delay (%s) is longer than aws.retry.max_delay (%s)",
                 a, b);
        return -1;
    }
    return 0;
}

int config_finish(struct config *cfg, struct buf *err)
{
    const char *v, *problem = NULL;
    char tmp[SHOW_BUF];

    if ((v = env("DATABASE_URI")))
        set_str(&cfg->database.dsn, v);
    if ((v = env("REDIS_ENDPOINT"))) {
        if ((problem = check_endpoint(v))) {
            buf_setf(err, "env REDIS_ENDPOINT: %s, got %s", problem, quote(v, strlen(v), tmp));
            return -1;
        }
        set_str(&cfg->redis.endpoint, v);
    }
    if ((v = env("REDIS_PASSWORD")))
        set_str(&cfg->redis.password, v);

    /* Recomputed each time (not latched) so that finishing twice, or a
     * later file turning debug off again, gives the right level. */
    if (!cfg->logging.level_set)
        cfg->logging.level = cfg->debug ? LOG_DEBUG : DEFAULT_LEVEL;

    /* Cross-field: a job without a queue goes to scheduler.default_queue,
     * which a later file may have changed. Structs filled by code rather
     * than a file are checked too, hence no reliance on parse-time checks. */
    if (!cfg->scheduler.default_queue ||
        (problem = check_queue_name(cfg->scheduler.default_queue))) {
        buf_setf(err, "config: scheduler.default_queue: %s", problem ? problem : "must be set");
        return -1;
    }
    for (size_t i = 0; i < cfg->scheduler.njobs; i++) {
        const struct config_job *job = &cfg->scheduler.jobs[i];
        const char *q = job->queue ? job->queue : cfg->scheduler.default_queue;

        if ((problem = check_queue_name(q))) {
            if (job->pos.file)
                buf_setf(err, "%s:%d: scheduler.jobs[%zu].queue: %s", job->pos.file, job->pos.line,
                         i, problem);
            else
                buf_setf(err, "config: scheduler.jobs[%zu].queue: %s", i, problem);
            return -1;
        }
    }
    return finish_aws(cfg, err);
}
