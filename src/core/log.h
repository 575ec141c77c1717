/* The one logger: levels, text (key=value) or JSON lines on stderr, with
 * structured fields and a per-thread context id (task or request id).
 *
 *   log_info("migration applied", LF_STR("name", name), LF_INT("group", g));
 *
 * Arguments are not evaluated when the level is disabled. */
#ifndef INV_LOG_H
#define INV_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

enum log_field_type { LF_T_END = 0, LF_T_STR, LF_T_INT, LF_T_DBL, LF_T_BOOL };

struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    double d;
};

#define LF_STR(k, v)  ((struct log_field){.key = (k), .type = LF_T_STR, .s = (v)})
#define LF_INT(k, v)  ((struct log_field){.key = (k), .type = LF_T_INT, .i = (long long)(v)})
#define LF_DBL(k, v)  ((struct log_field){.key = (k), .type = LF_T_DBL, .d = (double)(v)})
#define LF_BOOL(k, v) ((struct log_field){.key = (k), .type = LF_T_BOOL, .i = !!(v)})

extern enum log_level log_min_level;

/* Not thread-safe: call once at start-up before threads exist. */
void log_setup(enum log_level level, enum log_format format, FILE *out);
/* Returns 0 and sets *out for "debug", "info", "warn"/"warning", "error". */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
const char *log_level_name(enum log_level level);

/* Sets the calling thread's context field (e.g. key "task_id"); NULL clears.
 * The strings are copied. */
void log_set_context(const char *key, const char *value);

void log_write(enum log_level level, const char *msg, const struct log_field *fields);

#define LOG_AT(lvl, msg, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) >= log_min_level)                                                                \
            log_write((lvl), (msg), (const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ){0}});    \
    } while (0)

#define log_debug(msg, ...) LOG_AT(LOG_DEBUG, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_info(msg, ...)  LOG_AT(LOG_INFO, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_warn(msg, ...)  LOG_AT(LOG_WARN, msg __VA_OPT__(, ) __VA_ARGS__)
#define log_error(msg, ...) LOG_AT(LOG_ERROR, msg __VA_OPT__(, ) __VA_ARGS__)

#endif
