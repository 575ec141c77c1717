/* Logger: one line per event, written with a single fputs under the stdio
 * lock so lines from concurrent threads never interleave. */
#include "core/log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/buf.h"

enum log_level log_min_level = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static FILE *log_out;

static _Thread_local char ctx_key[32];
static _Thread_local char ctx_val[128];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level level, enum log_format format, FILE *out)
{
    log_min_level = level;
    log_fmt = format;
    log_out = out;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return 0;
    }
    return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcasecmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

const char *log_level_name(enum log_level level)
{
    return level <= LOG_ERROR ? level_names[level] : "unknown";
}

void log_set_context(const char *key, const char *value)
{
    if (!key || !value) {
        ctx_key[0] = ctx_val[0] = '\0';
        return;
    }
    snprintf(ctx_key, sizeof(ctx_key), "%s", key);
    snprintf(ctx_val, sizeof(ctx_val), "%s", value);
}

/* JSON string escaping; also used for quoted text values. */
static void add_quoted(struct buf *b, const char *s)
{
    int rc = buf_add_json_string(b, s, strlen(s));
    (void)rc; /* a capped-out line is dropped below */
}

static bool needs_quotes(const char *s)
{
    if (!*s)
        return true;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\')
            return true;
    return false;
}

static void add_field(struct buf *b, const char *key, const struct log_field *f, bool json)
{
    int rc = json ? buf_addf(b, ",\"%s\":", key) : buf_addf(b, " %s=", key);
    if (rc < 0)
        return;
    switch (f->type) {
    case LF_T_STR: {
        const char *s = f->s ? f->s : "";
        if (json || needs_quotes(s))
            add_quoted(b, s);
        else
            rc = buf_adds(b, s);
        break;
    }
    case LF_T_INT:
        rc = buf_addf(b, "%lld", f->i);
        break;
    case LF_T_DBL:
        rc = buf_addf(b, "%.6g", f->d);
        break;
    case LF_T_BOOL:
        rc = buf_adds(b, f->i ? "true" : "false");
        break;
    case LF_T_END:
        break;
    }
    (void)rc;
}

void log_write(enum log_level level, const char *msg, const struct log_field *fields)
{
    FILE *out = log_out ? log_out : stderr;
    bool json = log_fmt == LOG_FORMAT_JSON;
    struct timespec ts;
    struct tm tm;
    char tbuf[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tbuf + n, sizeof(tbuf) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    struct buf b;
    buf_init(&b, 64 * 1024);
    struct log_field m = LF_STR("msg", msg);
    int rc = json ? buf_addf(&b, "{\"time\":\"%s\",\"level\":\"%s\"", tbuf, level_names[level])
                  : buf_addf(&b, "time=%s level=%s", tbuf, level_names[level]);
    if (rc == 0) {
        add_field(&b, "msg", &m, json);
        if (ctx_key[0]) {
            struct log_field c = LF_STR(ctx_key, ctx_val);
            add_field(&b, ctx_key, &c, json);
        }
        for (const struct log_field *f = fields; f && f->type != LF_T_END; f++)
            add_field(&b, f->key, f, json);
        rc = buf_adds(&b, json ? "}\n" : "\n");
    }
    if (rc == 0 && b.ptr) {
        flockfile(out);
        fputs(b.ptr, out);
        fflush(out);
        funlockfile(out);
    }
    buf_release(&b);
}
