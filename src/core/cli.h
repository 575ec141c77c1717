/* Table-driven command tree (git's cmd_struct shape): every command is a
 * row {name, aliases, summary, options, handler, subcommands, flags}; the
 * parser resolves the path, checks options, prints --help at every level and
 * maps failures to exit codes 0 ok, 1 failure, 2 usage/configuration. */
#ifndef INV_CLI_H
#define INV_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/xalloc.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

enum cli_opt_type {
    OPT_STRING = 0,
    OPT_INT,      /* decimal, range [min, max] */
    OPT_BOOL,     /* flag without a value */
    OPT_DURATION, /* Go-style duration, milliseconds */
    OPT_LIST,     /* repeatable string */
};

#define OPT_REQUIRED 0x1u

struct cli_opt {
    const char *name;  /* long name, without dashes */
    const char *alias; /* another long name, or NULL */
    char shortname;    /* 0 for none */
    enum cli_opt_type type;
    const char *argname; /* shown in help: "FILE" */
    const char *help;
    const char *def; /* default value as text, or NULL */
    int64_t min, max;
    unsigned flags;
};

/* Flags telling the dispatcher what to prepare before the handler runs. */
#define CMD_CONFIG 0x1u /* load configuration */
#define CMD_DB     0x2u /* connect to PostgreSQL (implies CMD_CONFIG) */
#define CMD_REDIS  0x4u /* connect to Redis (implies CMD_CONFIG) */
#define CMD_ARGS   0x8u /* accepts positional arguments */

struct cli_ctx;

struct cli_cmd {
    const char *name;
    const char *aliases[4]; /* NULL-terminated */
    const char *summary;
    const char *args;           /* positional usage text, with CMD_ARGS */
    const struct cli_opt *opts; /* terminated by a row with name NULL */
    int (*run)(struct cli_ctx *ctx);
    const struct cli_cmd *subs; /* terminated by a row with name NULL */
    unsigned flags;
    const char *description; /* longer help text, or NULL */
};

struct cli_value {
    const struct cli_opt *opt;
    bool set;
    const char *str;   /* last value given (or default) */
    int64_t num;       /* OPT_INT, OPT_DURATION */
    const char **list; /* OPT_LIST values (pointers into argv) */
    size_t nlist;
};

struct config;
struct pg_conn;

/* Everything a handler needs; built by cli_main. */
struct cli_ctx {
    const struct cli_cmd *cmd;
    char path[128]; /* "inventory db migrate" */
    int argc;       /* positional arguments */
    char **argv;
    struct cli_value *vals; /* global options first, then the command's */
    size_t nvals;
    int out_format;     /* enum out_format */
    struct config *cfg; /* set when cmd->flags has CMD_CONFIG */
    void *db;           /* PGconn *, with CMD_DB */
    void *redis;        /* redisContext *, with CMD_REDIS */
};

/* Hooks the program supplies: prepare resources for ctx->cmd->flags (return
 * an exit code; nonzero stops), and free them afterwards. */
struct cli_hooks {
    int (*setup)(struct cli_ctx *ctx);
    void (*teardown)(struct cli_ctx *ctx);
};

extern const struct cli_opt cli_global_opts[];

int cli_main(const struct cli_cmd *root, const struct cli_hooks *hooks, int argc, char **argv);

/* Option accessors by long name (the command's own or a global one). */
bool cli_isset(const struct cli_ctx *ctx, const char *name);
const char *cli_str(const struct cli_ctx *ctx, const char *name);
int64_t cli_int(const struct cli_ctx *ctx, const char *name);
bool cli_flag(const struct cli_ctx *ctx, const char *name);
size_t cli_list(const struct cli_ctx *ctx, const char *name, const char *const **out);

/* "error: ..." on stderr; returns code for `return cli_fail(...)`. */
int cli_fail(int code, const char *fmt, ...) PRINTF_LIKE(2, 3);

#endif
