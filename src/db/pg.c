/* PostgreSQL connection helpers. */
#include "db/pg.h"

#include <stdio.h>
#include <string.h>

static void fold(struct buf *err, const char *what, const char *msg)
{
    if (!err)
        return;
    buf_reset(err);
    int rc = 0;
    if (what)
        rc = buf_addf(err, "%s: ", what);
    /* libpq messages span lines ("...failed: ...\n\tIs the server running");
     * keep them on one line, whitespace collapsed, trailing space trimmed. */
    bool space = false;
    for (const char *p = msg ? msg : ""; *p && rc == 0; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r' || *p == ' ') {
            space = err->len > 0;
            continue;
        }
        if (space)
            rc = buf_addc(err, ' ');
        space = false;
        if (rc == 0)
            rc = buf_addc(err, *p);
    }
    if (rc < 0)
        buf_setf(err, "%s: (error message too long)", what ? what : "database");
}

void pg_seterr(struct buf *err, const char *what, PGconn *conn, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if ((!msg || !*msg) && conn)
        msg = PQerrorMessage(conn);
    if (!msg || !*msg)
        msg = "unknown database error";
    if (strncmp(msg, "ERROR:  ", 8) == 0)
        msg += 8;
    fold(err, what, msg);
}

int pg_connect(const char *dsn, int64_t connect_timeout_ms, PGconn **out, struct buf *err)
{
    *out = NULL;
    if (!dsn || !*dsn) {
        buf_setf(err, "database.dsn is not set (config file, --database-uri or DATABASE_URI)");
        return -1;
    }
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%lld", (long long)((connect_timeout_ms + 999) / 1000));
    /* Later keywords override the expanded DSN: the configured timeout wins,
     * so a DSN without one can never hang for the OS default. */
    const char *const keys[] = {"dbname",     "connect_timeout", "application_name",
                                "keepalives", "keepalives_idle", NULL};
    const char *const vals[] = {dsn, timeout, "inventory", "1", "30", NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (!conn) {
        buf_setf(err, "cannot connect to database: out of memory");
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        pg_seterr(err, "cannot connect to database", conn, NULL);
        PQfinish(conn);
        return -1;
    }
    PGresult *res = PQexec(conn, "SET TIME ZONE 'UTC'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_seterr(err, "cannot configure database session", conn, res);
        PQclear(res);
        PQfinish(conn);
        return -1;
    }
    PQclear(res);
    *out = conn;
    return 0;
}

PGresult *pg_exec_state(PGconn *conn, const char *sql, int nparams, const char *const *params,
                        struct buf *err, char sqlstate[6])
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    pg_seterr(err, NULL, conn, res);
    if (sqlstate)
        snprintf(sqlstate, 6, "%s", pg_sqlstate(res));
    PQclear(res);
    return NULL;
}

PGresult *pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  struct buf *err)
{
    return pg_exec_state(conn, sql, nparams, params, err, NULL);
}

int pg_run(PGconn *conn, const char *sql, int nparams, const char *const *params, struct buf *err)
{
    PGresult *res = pg_exec(conn, sql, nparams, params, err);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

const char *pg_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}
