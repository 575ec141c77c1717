/* `inventory db ...`: migration management, as in the operations guide. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "cmd/cmd.h"
#include "core/util.h"
#include "db/migrate.h"

/* Loads the migration files the configuration points at. */
static int load_set(struct cli_ctx *ctx, struct migration_set *set, struct buf *err)
{
    return migrate_load(set, ctx->cfg->database.migration_dir, err);
}

static int fail_with(struct buf *err, struct migration_set *set)
{
    int rc = cli_fail(EXIT_FAIL, "%s", buf_str(err));
    if (set)
        migrate_set_release(set);
    buf_release(err);
    return rc;
}

static const struct tcol migration_cols[] = {
    {"ID", "id", TCOL_INT},
    {"NAME", "name", TCOL_STR},
    {"COMMENT", "comment", TCOL_STR},
    {"GROUP-ID", "group_id", TCOL_INT},
    {"MIGRATED-AT", "migrated_at", TCOL_STR},
};

/* Lists applied (newest first, as the guide shows) or pending migrations. */
static int list_migrations(struct cli_ctx *ctx, bool applied)
{
    struct migration_set set;
    struct buf err;
    struct table t;
    buf_init(&err, 4096);
    if (load_set(ctx, &set, &err) < 0)
        return fail_with(&err, NULL);
    if (migrate_status(ctx->db, &set, &err) < 0)
        return fail_with(&err, &set);
    table_init(&t, migration_cols, ARRAY_SIZE(migration_cols));
    for (size_t k = 0; k < set.n; k++) {
        const struct migration *m = &set.items[applied ? set.n - 1 - k : k];
        if (m->applied != applied)
            continue;
        char id[24], group[24], at[64];
        snprintf(id, sizeof(id), "%lld", (long long)m->id);
        snprintf(group, sizeof(group), "%lld", (long long)m->group_id);
        time_format_go(m->migrated_at_us, at, sizeof(at));
        const char *row[] = {applied ? id : NULL, m->name, m->comment, applied ? group : NULL,
                             applied ? at : NULL};
        table_add_row(&t, row);
    }
    table_print(&t, cmd_out(ctx), stdout);
    table_release(&t);
    migrate_set_release(&set);
    buf_release(&err);
    return EXIT_OK;
}

static int db_applied(struct cli_ctx *ctx)
{
    return list_migrations(ctx, true);
}

static int db_pending(struct cli_ctx *ctx)
{
    return list_migrations(ctx, false);
}

static int db_init(struct cli_ctx *ctx)
{
    struct buf err;
    buf_init(&err, 4096);
    if (migrate_init(ctx->db, &err) < 0)
        return fail_with(&err, NULL);
    printf("migration tables initialized (bun_migrations, bun_migration_locks)\n");
    buf_release(&err);
    return EXIT_OK;
}

static int db_status(struct cli_ctx *ctx)
{
    struct migration_set set;
    struct buf err;
    buf_init(&err, 4096);
    if (load_set(ctx, &set, &err) < 0)
        return fail_with(&err, NULL);
    if (migrate_status(ctx->db, &set, &err) < 0)
        return fail_with(&err, &set);
    size_t pending = 0;
    int64_t last = 0;
    for (size_t i = 0; i < set.n; i++) {
        if (!set.items[i].applied)
            pending++;
        else if (set.items[i].group_id > last)
            last = set.items[i].group_id;
    }
    struct migration_group g;
    migrate_group_init(&g);
    for (size_t i = 0; i < set.n; i++)
        if (set.items[i].applied && set.items[i].group_id == last &&
            buf_addf(&g.names, "%s%s_%s", g.names.len ? ", " : "", set.items[i].name,
                     set.items[i].comment) < 0)
            break;
    printf("pending migration(s): %zu\n", pending);
    if (last)
        printf("database version: group #%lld (%s)\n", (long long)last, buf_str(&g.names));
    else
        printf("database version: none (no migrations applied)\n");
    printf("database is %s\n", pending ? "out-of-date" : "up-to-date");
    migrate_group_release(&g);
    migrate_set_release(&set);
    buf_release(&err);
    return EXIT_OK;
}

static int db_migrate(struct cli_ctx *ctx)
{
    struct migration_set set;
    struct migration_group g;
    struct buf err;
    buf_init(&err, 4096);
    if (load_set(ctx, &set, &err) < 0)
        return fail_with(&err, NULL);
    migrate_group_init(&g);
    int rc = migrate_apply(ctx->db, &set, &g, &err);
    if (rc == 0) {
        if (g.id)
            printf("database migrated to group #%lld (%s)\n", (long long)g.id, buf_str(&g.names));
        else
            printf("database is up to date\n");
    }
    migrate_group_release(&g);
    if (rc < 0)
        return fail_with(&err, &set);
    migrate_set_release(&set);
    buf_release(&err);
    return EXIT_OK;
}

static int db_rollback(struct cli_ctx *ctx)
{
    struct migration_set set;
    struct migration_group g;
    struct buf err;
    buf_init(&err, 4096);
    if (load_set(ctx, &set, &err) < 0)
        return fail_with(&err, NULL);
    migrate_group_init(&g);
    int rc = migrate_rollback(ctx->db, &set, &g, &err);
    if (rc == 0) {
        if (g.id)
            printf("rolled back group #%lld (%s)\n", (long long)g.id, buf_str(&g.names));
        else
            printf("there are no migration groups for rollback\n");
    }
    migrate_group_release(&g);
    if (rc < 0)
        return fail_with(&err, &set);
    migrate_set_release(&set);
    buf_release(&err);
    return EXIT_OK;
}

static int db_lock(struct cli_ctx *ctx)
{
    struct buf err;
    bool changed;
    buf_init(&err, 4096);
    if (migrate_lock(ctx->db, &changed, &err) < 0)
        return fail_with(&err, NULL);
    printf(changed ? "migrations locked\n" : "migrations were already locked\n");
    buf_release(&err);
    return EXIT_OK;
}

static int db_unlock(struct cli_ctx *ctx)
{
    struct buf err;
    bool changed;
    buf_init(&err, 4096);
    if (migrate_unlock(ctx->db, &changed, &err) < 0)
        return fail_with(&err, NULL);
    printf(changed ? "migrations unlocked\n" : "migrations were not locked\n");
    buf_release(&err);
    return EXIT_OK;
}

static int db_create(struct cli_ctx *ctx)
{
    struct buf words, err;
    char *up, *down;
    int rc = EXIT_OK;
    if (ctx->argc == 0)
        return cli_fail(EXIT_USAGE, "%s: must specify migration description", ctx->path);
    buf_init(&words, 4096);
    buf_init(&err, 4096);
    for (int i = 0; i < ctx->argc; i++)
        if (buf_addf(&words, "%s%s", i ? "_" : "", ctx->argv[i]) < 0) {
            rc = cli_fail(EXIT_USAGE, "%s: description too long", ctx->path);
            goto out;
        }
    const char *dir =
        ctx->cfg->database.migration_dir ? ctx->cfg->database.migration_dir : "migrations";
    if (migrate_create(dir, buf_str(&words), &up, &down, &err) < 0) {
        rc = cli_fail(EXIT_FAIL, "%s", buf_str(&err));
        goto out;
    }
    printf("%s\n%s\n", up, down);
    free(up);
    free(down);
out:
    buf_release(&words);
    buf_release(&err);
    return rc;
}

const struct cli_cmd cmd_db_subs[] = {
    {"init", {"i"}, "initialize migration tables", NULL, NULL, db_init, NULL, CMD_DB, NULL},
    {"migrate",
     {"m"},
     "apply pending migrations",
     NULL,
     NULL,
     db_migrate,
     NULL,
     CMD_DB,
     "Applies every pending migration in one transaction, as one group."},
    {"rollback",
     {"r"},
     "rollback last migration group",
     NULL,
     NULL,
     db_rollback,
     NULL,
     CMD_DB,
     NULL},
    {"lock",
     {"l"},
     "lock migrations",
     NULL,
     NULL,
     db_lock,
     NULL,
     CMD_DB,
     "While locked, 'db migrate' and 'db rollback' refuse to run."},
    {"unlock", {"u"}, "unlock migrations", NULL, NULL, db_unlock, NULL, CMD_DB, NULL},
    {"create",
     {"c"},
     "create a new migration",
     "<description words...>",
     NULL,
     db_create,
     NULL,
     CMD_CONFIG | CMD_ARGS,
     "Writes YYYYMMDDHHMMSS_<words>.up.sql and .down.sql into database.migration_dir\n"
     "(default ./migrations) and prints their paths."},
    {"status", {"s"}, "display migration status", NULL, NULL, db_status, NULL, CMD_DB, NULL},
    {"applied",
     {"a"},
     "display the list of applied migrations",
     NULL,
     NULL,
     db_applied,
     NULL,
     CMD_DB,
     NULL},
    {"pending",
     {"p"},
     "display the list of pending migrations",
     NULL,
     NULL,
     db_pending,
     NULL,
     CMD_DB,
     NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};
