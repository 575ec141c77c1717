/* inventory: one executable, many roles. The command tree below is the CLI
 * contract of the operations guide; each group's table lives in src/cmd/. */
#include <signal.h>

#include "cmd/cmd.h"
#include "core/jsonarena.h"

static const struct cli_cmd root_subs[] = {
    {"db", {"database"}, "database operations", NULL, NULL, NULL, cmd_db_subs, 0, NULL},
    {"worker", {"w"}, "worker operations", NULL, NULL, NULL, cmd_worker_subs, 0, NULL},
    {"queue", {"q"}, "queue operations", NULL, NULL, NULL, cmd_queue_subs, 0, NULL},
    {"task", {"t"}, "task operations", NULL, NULL, NULL, cmd_task_subs, 0, NULL},
    {"model", {"m"}, "model operations", NULL, NULL, NULL, cmd_model_subs, 0, NULL},
    {"scheduler", {"sched"}, "scheduler operations", NULL, NULL, NULL, cmd_scheduler_subs, 0, NULL},
    {"api", {NULL}, "REST API server", NULL, NULL, NULL, cmd_api_subs, 0, NULL},
    {"ingest", {NULL}, "stream ingestion", NULL, NULL, NULL, cmd_ingest_subs, 0, NULL},
    {"aws", {NULL}, "AWS diagnostics", NULL, NULL, NULL, cmd_aws_subs, 0, NULL},
    {"status",
     {"st"},
     "check configuration, database, migrations and redis",
     NULL,
     NULL,
     cmd_status,
     NULL,
     CMD_CONFIG,
     "Exits 0 when the database is reachable and migrated and redis answers, 1 otherwise."},
    {"version", {"v"}, "print version and commit", NULL, NULL, cmd_version, NULL, 0, NULL},
    {NULL, {NULL}, NULL, NULL, NULL, NULL, NULL, 0, NULL},
};

static const struct cli_cmd root = {
    "inventory", {NULL}, "command-line tool for managing the inventory",
    NULL,        NULL,   NULL,
    root_subs,   0,      NULL,
};

int main(int argc, char **argv)
{
    /* A peer closing a socket must be an error return, not a dead process. */
    signal(SIGPIPE, SIG_IGN);
    json_arena_install(); /* before any json_t exists */
    return cli_main(&root, &cmd_hooks, argc, argv);
}
