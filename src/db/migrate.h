/* Schema migrations: timestamped up/down SQL pairs, applied in groups.
 *
 * Compatible with the reference system's bun tables: `bun_migrations`
 * (id, name, group_id, migrated_at) and `bun_migration_locks` (id,
 * table_name). Every migrate/rollback runs in ONE transaction holding a
 * transaction-scoped advisory lock, so a failure leaves the database as it
 * was and two concurrent runs never both apply. */
#ifndef INV_MIGRATE_H
#define INV_MIGRATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

struct migration {
    char *name;      /* "20240522121536" */
    char *comment;   /* "add_aws_region" */
    char *up_file;   /* file name (label for errors); NULL if absent */
    char *down_file; /* NULL if absent */
    char *up, *down; /* SQL text; NULL if absent */
    /* From the database (migrate_status): */
    bool applied;
    int64_t id;
    int64_t group_id;
    int64_t migrated_at_us; /* Unix microseconds */
};

struct migration_set {
    struct migration *items; /* sorted by name */
    size_t n, cap;
    bool have_status;
};

struct migration_group {
    int64_t id;       /* 0: nothing happened */
    struct buf names; /* "20240530112949_add_gardener_project, ..." */
};

/* Loads migration files from `dir`, or the ones compiled into the binary when
 * dir is NULL. Accepts NAME_comment.up.sql / .down.sql (and bun's .tx.up.sql
 * / .tx.down.sql); NAME is 14 digits (UTC YYYYMMDDHHMMSS). */
int migrate_load(struct migration_set *set, const char *dir, struct buf *err) MUSTCHECK;
void migrate_set_release(struct migration_set *set);

/* Creates the tracking tables if missing (idempotent, concurrency-safe). */
int migrate_init(PGconn *db, struct buf *err) MUSTCHECK;
/* Marks which migrations are applied (adding rows for applied migrations
 * whose files are gone). Fails with a hint when `db init` was not run. */
int migrate_status(PGconn *db, struct migration_set *set, struct buf *err) MUSTCHECK;
/* Applies every pending migration as one new group. g->id == 0 when there
 * was nothing to do. Refuses while locked. */
int migrate_apply(PGconn *db, struct migration_set *set, struct migration_group *g,
                  struct buf *err) MUSTCHECK;
/* Rolls back the last group. g->id == 0 when there was none. */
int migrate_rollback(PGconn *db, struct migration_set *set, struct migration_group *g,
                     struct buf *err) MUSTCHECK;
/* Lock/unlock: *changed says whether the state changed. */
int migrate_lock(PGconn *db, bool *changed, struct buf *err) MUSTCHECK;
int migrate_unlock(PGconn *db, bool *changed, struct buf *err) MUSTCHECK;
int migrate_is_locked(PGconn *db, bool *locked, struct buf *err) MUSTCHECK;

/* Writes an empty up/down pair named after `words` in dir; returns the two
 * paths (caller frees). */
int migrate_create(const char *dir, const char *words, char **up_path, char **down_path,
                   struct buf *err) MUSTCHECK;

void migrate_group_init(struct migration_group *g);
void migrate_group_release(struct migration_group *g);

#endif
