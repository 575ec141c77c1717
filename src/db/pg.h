/* PostgreSQL connection helpers on libpq: bounded connect, one-line error
 * texts, parameterised queries only. */
#ifndef INV_PG_H
#define INV_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "core/buf.h"

/* Connects with connect_timeout (ms, rounded up to whole seconds as libpq
 * requires) and application_name "inventory". On failure returns -1 with a
 * one-line reason in err; never prints the password. *out owned by caller
 * (PQfinish). */
int pg_connect(const char *dsn, int64_t connect_timeout_ms, PGconn **out,
               struct buf *err) MUSTCHECK;

/* Copies libpq's message for conn/res into err as one line (newlines and
 * tabs folded), prefixed by `what` when non-NULL. */
void pg_seterr(struct buf *err, const char *what, PGconn *conn, const PGresult *res);

/* Runs a parameterised statement (text params; NULL = SQL NULL). Returns the
 * result (caller PQclear) or NULL with err set when the status is not
 * COMMAND_OK/TUPLES_OK. */
PGresult *pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
                  struct buf *err) MUSTCHECK;

/* pg_exec that also copies the SQLSTATE of a failure ("" when none) into
 * sqlstate (6 bytes, may be NULL). */
PGresult *pg_exec_state(PGconn *conn, const char *sql, int nparams, const char *const *params,
                        struct buf *err, char sqlstate[6]) MUSTCHECK;

/* Runs a statement and discards its result; 0 or -1 with err set. */
int pg_run(PGconn *conn, const char *sql, int nparams, const char *const *params,
           struct buf *err) MUSTCHECK;

/* SQLSTATE of a failed result, "" when none. */
const char *pg_sqlstate(const PGresult *res);

#endif
