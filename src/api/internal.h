/* What the API's route modules share with the server core (server.c): the
 * request/answer of a handler, error answers, and the calling thread's
 * PostgreSQL and Redis connections. Private to src/api. */
#ifndef INV_API_INTERNAL_H
#define INV_API_INTERNAL_H

#include <stddef.h>

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "api/server.h"
#include "core/buf.h"
#include "hosts/identity.h"

#define API_JSON_TYPE  "application/json"
#define API_MAX_ANSWER (256u << 20) /* bytes of one JSON answer built as text */

/* What a handler reads (the request body, the caller) and fills (the
 * answer). */
struct resp {
    const char *in; /* request body, NUL-terminated ("" without one) */
    size_t in_len;
    const struct identity *who; /* IDENTITY routes: the x-rh-identity caller; else NULL */
    const char *request_id;     /* IDENTITY routes: x-rh-insights-request-id as sent, or NULL */
    unsigned int status;
    json_t *body;      /* owned */
    char *text;        /* owned; sent instead of body when set (/metrics) */
    const char *ctype; /* of text; NULL sends text without a Content-Type (empty answers) */
};

typedef void (*handler_fn)(struct api_server *s, const struct slice *caps, const char *qs,
                           struct resp *r);

/* Replaces the answer with status and {"error": error, "reason": reason}
 * (reason may be NULL). */
void api_set_error(struct resp *r, unsigned int status, const char *error, const char *reason);

/* Makes the JSON text in out (a complete value, rc from building it) the
 * answer; a text that could not be built is a 500. out is left empty. */
void api_set_json_text(struct resp *r, struct buf *out, int rc);

/* Which PostgreSQL connection of the thread: reads go to api.database.dsn
 * when set (a replica), writes always to database.dsn. API_DB_READ_GENERIC
 * is a read session whose prepared statements always use their generic
 * plan (plan_cache_mode), for statements whose parameters never change the
 * best plan but make PostgreSQL plan every execution anew (a LIMIT $n):
 * the HBI pages, where planning cost as much as running them. */
enum api_db { API_DB_READ, API_DB_WRITE, API_DB_READ_GENERIC };

/* Runs sql as a prepared statement on the thread's connection (reads are
 * retried once on a new connection after a broken one; writes are not).
 * The result (PQclear) or NULL after setting a 503/504/500 answer. */
PGresult *api_query(struct api_server *s, enum api_db db, const char *sql, int n,
                    const char *const *params, struct resp *r);

/* The thread's write connection for multi-statement work (host_store), or
 * NULL after setting a 503. Leave it idle (no open transaction). */
PGconn *api_write_conn(struct api_server *s, struct resp *r);

/* The thread's Redis connection (one attempt to connect), or NULL; after
 * an I/O error call api_redis_broken so the next request reconnects. */
redisContext *api_redis(struct api_server *s);
void api_redis_broken(struct api_server *s);

#endif
