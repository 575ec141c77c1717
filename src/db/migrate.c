/* Schema migrations (see migrate.h for the contract). */
#include "db/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "db/embedded.h"
#include "db/pg.h"

#define MIGRATION_MAX_BYTES (16 * 1024 * 1024)
#define NAME_DIGITS         14
/* Advisory lock key: the bytes of "inventor"; one key for every migrator. */
#define LOCK_SQL   "SELECT pg_advisory_xact_lock(7596559226395406450)"
#define LOCK_TABLE "bun_migrations"

void migrate_group_init(struct migration_group *g)
{
    g->id = 0;
    buf_init(&g->names, 1024 * 1024);
}

void migrate_group_release(struct migration_group *g)
{
    buf_release(&g->names);
    g->id = 0;
}

void migrate_set_release(struct migration_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        struct migration *m = &set->items[i];
        free(m->name);
        free(m->comment);
        free(m->up_file);
        free(m->down_file);
        free(m->up);
        free(m->down);
    }
    free(set->items);
    memset(set, 0, sizeof(*set));
}

static struct migration *find(struct migration_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->items[i].name, name) == 0)
            return &set->items[i];
    return NULL;
}

static struct migration *add(struct migration_set *set, const char *name, const char *comment)
{
    set->items = xgrow(set->items, &set->cap, set->n + 1, sizeof(*set->items));
    struct migration *m = &set->items[set->n++];
    memset(m, 0, sizeof(*m));
    m->name = xstrdup(name);
    m->comment = xstrdup(comment);
    return m;
}

/* Splits "20240522121536_add_region.up.sql" into name, comment, direction.
 * Returns 1 for up, 0 for down, -1 when the name does not fit the pattern. */
static int parse_file_name(const char *file, char *name, char *comment, size_t clen)
{
    static const struct {
        const char *suffix;
        int up;
    } sfx[] = {{".tx.up.sql", 1}, {".tx.down.sql", 0}, {".up.sql", 1}, {".down.sql", 0}};
    size_t len = strlen(file);
    for (size_t i = 0; i < NAME_DIGITS; i++)
        if (!isdigit((unsigned char)file[i]))
            return -1;
    if (file[NAME_DIGITS] != '_')
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(sfx); i++) {
        size_t sl = strlen(sfx[i].suffix);
        if (len <= NAME_DIGITS + 1 + sl || strcmp(file + len - sl, sfx[i].suffix) != 0)
            continue;
        size_t cl = len - sl - NAME_DIGITS - 1;
        if (cl >= clen)
            return -1;
        memcpy(name, file, NAME_DIGITS);
        name[NAME_DIGITS] = '\0';
        memcpy(comment, file + NAME_DIGITS + 1, cl);
        comment[cl] = '\0';
        for (size_t k = 0; k < cl; k++)
            if (!isalnum((unsigned char)comment[k]) && comment[k] != '_' && comment[k] != '-')
                return -1;
        return sfx[i].up;
    }
    return -1;
}

static int add_file(struct migration_set *set, const char *file, const char *data, size_t len,
                    struct buf *err)
{
    char name[NAME_DIGITS + 1], comment[256];
    int up = parse_file_name(file, name, comment, sizeof(comment));
    if (up < 0) {
        buf_setf(err,
                 "%s: not a migration file name (want YYYYMMDDHHMMSS_comment.up.sql or .down.sql)",
                 file);
        return -1;
    }
    if (memchr(data, '\0', len)) {
        buf_setf(err, "%s: contains a NUL byte", file);
        return -1;
    }
    struct migration *m = find(set, name);
    if (!m)
        m = add(set, name, comment);
    else if (strcmp(m->comment, comment) != 0) {
        buf_setf(err, "%s: migration %s also exists as %s_%s", file, name, name, m->comment);
        return -1;
    }
    char **sql = up ? &m->up : &m->down;
    char **label = up ? &m->up_file : &m->down_file;
    if (*sql) {
        buf_setf(err, "%s: duplicate %s migration for %s (also %s)", file, up ? "up" : "down", name,
                 *label);
        return -1;
    }
    *sql = xstrndup(data, len);
    *label = xstrdup(file);
    return 0;
}

static int cmp_migration(const void *a, const void *b)
{
    return strcmp(((const struct migration *)a)->name, ((const struct migration *)b)->name);
}

static int read_file(const char *path, char **data, size_t *len, struct buf *err)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    buf_init(&b, MIGRATION_MAX_BYTES);
    if (!f) {
        buf_setf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_add(&b, chunk, n) < 0) {
            buf_setf(err, "%s: larger than %d bytes", path, MIGRATION_MAX_BYTES);
            fclose(f);
            return -1;
        }
    }
    if (ferror(f)) {
        buf_setf(err, "%s: read error: %s", path, strerror(errno));
        fclose(f);
        buf_release(&b);
        return -1;
    }
    fclose(f);
    *len = b.len;
    *data = buf_detach(&b);
    return 0;
}

int migrate_load(struct migration_set *set, const char *dir, struct buf *err)
{
    memset(set, 0, sizeof(*set));
    if (!dir) {
        for (size_t i = 0; i < embedded_migrations_count; i++) {
            const struct embedded_file *f = &embedded_migrations[i];
            if (add_file(set, f->name, f->data, f->len, err) < 0)
                goto fail;
        }
    } else {
        DIR *d = opendir(dir);
        if (!d) {
            buf_setf(err, "migration directory %s: %s", dir, strerror(errno));
            return -1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t l = strlen(e->d_name);
            if (l < 4 || strcmp(e->d_name + l - 4, ".sql") != 0)
                continue;
            char *path = xasprintf("%s/%s", dir, e->d_name), *data = NULL;
            size_t len = 0;
            int rc = read_file(path, &data, &len, err);
            free(path);
            if (rc == 0)
                rc = add_file(set, e->d_name, data, len, err);
            free(data);
            if (rc < 0) {
                closedir(d);
                goto fail;
            }
        }
        closedir(d);
    }
    if (set->n)
        qsort(set->items, set->n, sizeof(*set->items), cmp_migration);
    return 0;
fail:
    migrate_set_release(set);
    return -1;
}

static void rollback_tx(PGconn *db)
{
    PQclear(PQexec(db, "ROLLBACK"));
}

/* BEGIN + the advisory lock that serialises every migrator. */
static int begin_locked(PGconn *db, struct buf *err)
{
    if (pg_run(db, "BEGIN", 0, NULL, err) < 0)
        return -1;
    if (pg_run(db, LOCK_SQL, 0, NULL, err) < 0) {
        rollback_tx(db);
        return -1;
    }
    return 0;
}

static int commit_tx(PGconn *db, struct buf *err)
{
    PGresult *res = PQexec(db, "COMMIT");
    /* A COMMIT of an aborted transaction reports ROLLBACK with COMMAND_OK. */
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
    if (!ok)
        pg_seterr(err, "commit failed", db, res);
    PQclear(res);
    return ok ? 0 : -1;
}

static int tables_exist(PGconn *db, struct buf *err)
{
    PGresult *res = pg_exec(db,
                            "SELECT to_regclass('bun_migrations') IS NOT NULL AND "
                            "to_regclass('bun_migration_locks') IS NOT NULL",
                            0, NULL, err);
    if (!res)
        return -1;
    int ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!ok) {
        buf_setf(err, "migration tables do not exist: run 'inventory db init' first");
        return -1;
    }
    return 0;
}

int migrate_init(PGconn *db, struct buf *err)
{
    if (begin_locked(db, err) < 0)
        return -1;
    if (pg_run(db,
               "CREATE TABLE IF NOT EXISTS bun_migrations ("
               " id bigserial PRIMARY KEY,"
               " name varchar NOT NULL,"
               " group_id bigint NOT NULL,"
               " migrated_at timestamptz NOT NULL DEFAULT now())",
               0, NULL, err) < 0 ||
        pg_run(db,
               "CREATE TABLE IF NOT EXISTS bun_migration_locks ("
               " id bigserial PRIMARY KEY,"
               " table_name varchar NOT NULL UNIQUE)",
               0, NULL, err) < 0) {
        rollback_tx(db);
        return -1;
    }
    return commit_tx(db, err);
}

static int load_status(PGconn *db, struct migration_set *set, struct buf *err)
{
    if (tables_exist(db, err) < 0)
        return -1;
    PGresult *res = pg_exec(db,
                            "SELECT id, name, group_id,"
                            " (extract(epoch FROM migrated_at) * 1000000)::bigint"
                            " FROM bun_migrations ORDER BY id",
                            0, NULL, err);
    if (!res)
        return -1;
    for (size_t i = 0; i < set->n; i++)
        set->items[i].applied = false;
    for (int r = 0; r < PQntuples(res); r++) {
        const char *name = PQgetvalue(res, r, 1);
        struct migration *m = find(set, name);
        if (!m) /* applied earlier, file gone: still listed, cannot roll back */
            m = add(set, name, "");
        m->applied = true;
        m->id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
        m->group_id = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        m->migrated_at_us = strtoll(PQgetvalue(res, r, 3), NULL, 10);
    }
    PQclear(res);
    qsort(set->items, set->n, sizeof(*set->items), cmp_migration);
    set->have_status = true;
    return 0;
}

int migrate_status(PGconn *db, struct migration_set *set, struct buf *err)
{
    return load_status(db, set, err);
}

static int check_unlocked(PGconn *db, struct buf *err)
{
    bool locked;
    if (migrate_is_locked(db, &locked, err) < 0)
        return -1;
    if (locked) {
        buf_setf(err, "migrations are locked: run 'inventory db unlock' to allow them");
        return -1;
    }
    return 0;
}

static void group_add_name(struct migration_group *g, const struct migration *m)
{
    if (buf_addf(&g->names, "%s%s_%s", g->names.len ? ", " : "", m->name, m->comment) < 0)
        buf_setf(&g->names, "(too many to list)");
}

/* Runs one migration's SQL (possibly several statements) inside the open
 * transaction; a file must not end the transaction itself. */
static int run_sql(PGconn *db, const char *label, const char *sql, struct buf *err)
{
    PGresult *res = PQexec(db, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
        pg_seterr(err, label, db, res);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (PQtransactionStatus(db) != PQTRANS_INTRANS) {
        buf_setf(err, "%s: must not contain transaction control (BEGIN/COMMIT/ROLLBACK)", label);
        return -1;
    }
    return 0;
}

int migrate_apply(PGconn *db, struct migration_set *set, struct migration_group *g, struct buf *err)
{
    g->id = 0;
    buf_reset(&g->names);
    if (begin_locked(db, err) < 0)
        return -1;
    if (load_status(db, set, err) < 0 || check_unlocked(db, err) < 0)
        goto fail;
    PGresult *res =
        pg_exec(db, "SELECT coalesce(max(group_id), 0) + 1 FROM bun_migrations", 0, NULL, err);
    if (!res)
        goto fail;
    int64_t group = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    char gid[24];
    snprintf(gid, sizeof(gid), "%lld", (long long)group);
    size_t applied = 0;
    for (size_t i = 0; i < set->n; i++) {
        struct migration *m = &set->items[i];
        if (m->applied)
            continue;
        if (!m->up) {
            buf_setf(err, "%s: no up migration for %s_%s", m->down_file, m->name, m->comment);
            goto fail;
        }
        log_debug("applying migration", LF_STR("file", m->up_file), LF_INT("group", group));
        if (run_sql(db, m->up_file, m->up, err) < 0)
            goto fail;
        const char *params[2] = {m->name, gid};
        if (pg_run(db,
                   "INSERT INTO bun_migrations (name, group_id, migrated_at)"
                   " VALUES ($1, $2, clock_timestamp())",
                   2, params, err) < 0)
            goto fail;
        group_add_name(g, m);
        applied++;
    }
    if (commit_tx(db, err) < 0)
        goto undo;
    if (applied)
        g->id = group;
    for (size_t i = 0; applied && i < set->n; i++)
        if (!set->items[i].applied) {
            set->items[i].applied = true;
            set->items[i].group_id = group;
        }
    return 0;
fail:
    rollback_tx(db);
undo:
    buf_reset(&g->names);
    return -1;
}

int migrate_rollback(PGconn *db, struct migration_set *set, struct migration_group *g,
                     struct buf *err)
{
    g->id = 0;
    buf_reset(&g->names);
    if (begin_locked(db, err) < 0)
        return -1;
    if (load_status(db, set, err) < 0 || check_unlocked(db, err) < 0)
        goto fail;
    int64_t last = 0;
    for (size_t i = 0; i < set->n; i++)
        if (set->items[i].applied && set->items[i].group_id > last)
            last = set->items[i].group_id;
    if (last == 0)
        return commit_tx(db, err);
    /* Undo in reverse order of application. */
    for (size_t i = set->n; i-- > 0;) {
        struct migration *m = &set->items[i];
        if (!m->applied || m->group_id != last)
            continue;
        if (!m->down) {
            buf_setf(err, "%s_%s: no down migration, cannot roll back group #%lld", m->name,
                     m->comment, (long long)last);
            goto fail;
        }
        log_debug("rolling back migration", LF_STR("file", m->down_file), LF_INT("group", last));
        if (run_sql(db, m->down_file, m->down, err) < 0)
            goto fail;
        char id[24];
        snprintf(id, sizeof(id), "%lld", (long long)m->id);
        const char *params[1] = {id};
        if (pg_run(db, "DELETE FROM bun_migrations WHERE id = $1", 1, params, err) < 0)
            goto fail;
    }
    if (commit_tx(db, err) < 0)
        return -1;
    g->id = last;
    for (size_t i = 0; i < set->n; i++) {
        struct migration *m = &set->items[i];
        if (m->applied && m->group_id == last) {
            group_add_name(g, m);
            m->applied = false;
            m->group_id = 0;
        }
    }
    return 0;
fail:
    rollback_tx(db);
    return -1;
}

int migrate_is_locked(PGconn *db, bool *locked, struct buf *err)
{
    const char *params[1] = {LOCK_TABLE};
    PGresult *res =
        pg_exec(db, "SELECT 1 FROM bun_migration_locks WHERE table_name = $1", 1, params, err);
    if (!res)
        return -1;
    *locked = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

int migrate_lock(PGconn *db, bool *changed, struct buf *err)
{
    if (tables_exist(db, err) < 0)
        return -1;
    const char *params[1] = {LOCK_TABLE};
    PGresult *res = pg_exec(db,
                            "INSERT INTO bun_migration_locks (table_name) VALUES ($1)"
                            " ON CONFLICT (table_name) DO NOTHING RETURNING id",
                            1, params, err);
    if (!res)
        return -1;
    *changed = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

int migrate_unlock(PGconn *db, bool *changed, struct buf *err)
{
    if (tables_exist(db, err) < 0)
        return -1;
    const char *params[1] = {LOCK_TABLE};
    PGresult *res =
        pg_exec(db, "DELETE FROM bun_migration_locks WHERE table_name = $1", 1, params, err);
    if (!res)
        return -1;
    *changed = strcmp(PQcmdTuples(res), "0") != 0;
    PQclear(res);
    return 0;
}

/* Lower-case words joined by '_', anything else folded into one '_'. */
static char *slug(const char *words)
{
    size_t n = strlen(words), o = 0;
    char *s = xmalloc(n + 1);
    for (size_t i = 0; i < n && o < 128; i++) {
        unsigned char c = (unsigned char)words[i];
        if (isalnum(c))
            s[o++] = (char)tolower(c);
        else if (o && s[o - 1] != '_')
            s[o++] = '_';
    }
    while (o && s[o - 1] == '_')
        o--;
    s[o] = '\0';
    return s;
}

static int write_new(const char *path, const char *text, struct buf *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        buf_setf(err, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    ssize_t w = write(fd, text, len);
    int werr = w < 0 ? errno : ((size_t)w != len ? EIO : 0);
    if (close(fd) < 0 && !werr)
        werr = errno;
    if (werr) {
        buf_setf(err, "%s: write failed: %s", path, strerror(werr));
        unlink(path);
        return -1;
    }
    return 0;
}

int migrate_create(const char *dir, const char *words, char **up_path, char **down_path,
                   struct buf *err)
{
    char *comment = slug(words), *up = NULL, *down = NULL, *up_text = NULL, *down_text = NULL;
    int rc = -1;
    *up_path = *down_path = NULL;
    if (!*comment) {
        buf_setf(err, "the migration description must contain letters or digits");
        goto out;
    }
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        buf_setf(err, "migration directory %s: %s", dir, strerror(errno));
        goto out;
    }
    char stamp[NAME_DIGITS + 1];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
    up = xasprintf("%s/%s_%s.up.sql", dir, stamp, comment);
    down = xasprintf("%s/%s_%s.down.sql", dir, stamp, comment);
    up_text = xasprintf("-- %s_%s (up)\n"
                        "-- Runs in one transaction with the rest of its group: no BEGIN/COMMIT,\n"
                        "-- no statements that cannot run inside a transaction.\n",
                        stamp, comment);
    down_text = xasprintf("-- %s_%s (down): undo the up migration.\n", stamp, comment);
    if (write_new(up, up_text, err) < 0)
        goto out;
    if (write_new(down, down_text, err) < 0) {
        unlink(up);
        goto out;
    }
    *up_path = up;
    *down_path = down;
    up = down = NULL;
    rc = 0;
out:
    free(comment);
    free(up);
    free(down);
    free(up_text);
    free(down_text);
    return rc;
}
