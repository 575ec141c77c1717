/* Command-line parsing and help for the command table. Options may appear
 * anywhere after the program name; words select subcommands until a leaf is
 * reached, then become positional arguments (only where CMD_ARGS allows). */
#include "core/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

const struct cli_opt cli_global_opts[] = {
    {"config", "file", 'c', OPT_LIST, "FILE",
     "configuration file (repeatable; later files override earlier ones; "
     "default: $INVENTORY_CONFIG, comma-separated)",
     NULL, 0, 0, 0},
    {"output", NULL, 'o', OPT_STRING, "FORMAT", "output format for lists: table, json or csv",
     "table", 0, 0, 0},
    {"debug", NULL, 0, OPT_BOOL, NULL, "enable debug logging", NULL, 0, 0, 0},
    {"database-uri", NULL, 0, OPT_STRING, "URI",
     "database connection string (overrides database.dsn; env DATABASE_URI)", NULL, 0, 0, 0},
    {"redis-endpoint", NULL, 0, OPT_STRING, "HOST:PORT",
     "redis endpoint (overrides redis.endpoint; env REDIS_ENDPOINT)", NULL, 0, 0, 0},
    {"help", NULL, 'h', OPT_BOOL, NULL, "show help", NULL, 0, 0, 0},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, 0, 0, 0},
};

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static size_t count_opts(const struct cli_opt *o)
{
    size_t n = 0;
    while (o && o[n].name)
        n++;
    return n;
}

static size_t count_cmds(const struct cli_cmd *c)
{
    size_t n = 0;
    while (c && c[n].name)
        n++;
    return n;
}

static bool cmd_matches(const struct cli_cmd *c, const char *word)
{
    if (strcmp(c->name, word) == 0)
        return true;
    for (size_t i = 0; i < ARRAY_SIZE(c->aliases) && c->aliases[i]; i++)
        if (strcmp(c->aliases[i], word) == 0)
            return true;
    return false;
}

static const struct cli_cmd *find_sub(const struct cli_cmd *parent, const char *word)
{
    for (const struct cli_cmd *c = parent->subs; c && c->name; c++)
        if (cmd_matches(c, word))
            return c;
    return NULL;
}

static void opt_usage(FILE *out, const struct cli_opt *o)
{
    char left[96];
    int n = 0;
    if (o->shortname)
        n = snprintf(left, sizeof(left), "-%c, --%s", o->shortname, o->name);
    else
        n = snprintf(left, sizeof(left), "    --%s", o->name);
    if (o->alias && n > 0 && (size_t)n < sizeof(left))
        n += snprintf(left + n, sizeof(left) - (size_t)n, ", --%s", o->alias);
    if (o->argname && n > 0 && (size_t)n < sizeof(left))
        snprintf(left + n, sizeof(left) - (size_t)n, " %s", o->argname);
    fprintf(out, "  %-34s %s", left, o->help);
    if (o->def)
        fprintf(out, " (default: %s)", o->def);
    if (o->flags & OPT_REQUIRED)
        fputs(" (required)", out);
    fputc('\n', out);
}

static void print_help(FILE *out, const char *path, const struct cli_cmd *cmd)
{
    size_t nsubs = count_cmds(cmd->subs);
    fprintf(out, "%s - %s\n\nUsage:\n  %s", path, cmd->summary, path);
    if (nsubs)
        fputs(" <command>", out);
    if (count_opts(cmd->opts))
        fputs(" [options]", out);
    if (cmd->flags & CMD_ARGS)
        fprintf(out, " %s", cmd->args ? cmd->args : "[args...]");
    fputc('\n', out);
    if (cmd->description)
        fprintf(out, "\n%s\n", cmd->description);
    if (cmd->aliases[0]) {
        fputs("\nAliases:", out);
        for (size_t i = 0; i < ARRAY_SIZE(cmd->aliases) && cmd->aliases[i]; i++)
            fprintf(out, " %s", cmd->aliases[i]);
        fputc('\n', out);
    }
    if (nsubs) {
        fputs("\nCommands:\n", out);
        for (const struct cli_cmd *c = cmd->subs; c->name; c++) {
            char names[64];
            int n = snprintf(names, sizeof(names), "%s", c->name);
            for (size_t i = 0;
                 i < ARRAY_SIZE(c->aliases) && c->aliases[i] && n > 0 && (size_t)n < sizeof(names);
                 i++)
                n += snprintf(names + n, sizeof(names) - (size_t)n, ", %s", c->aliases[i]);
            fprintf(out, "  %-22s %s\n", names, c->summary);
        }
    }
    if (count_opts(cmd->opts)) {
        fputs("\nOptions:\n", out);
        for (const struct cli_opt *o = cmd->opts; o->name; o++)
            opt_usage(out, o);
    }
    fputs("\nGlobal options:\n", out);
    for (const struct cli_opt *o = cli_global_opts; o->name; o++)
        opt_usage(out, o);
    if (nsubs)
        fprintf(out, "\nRun '%s <command> --help' for more about a command.\n", path);
}

/* The command's own options come last in vals and shadow globals. */
static struct cli_value *find_val(const struct cli_ctx *ctx, const char *name)
{
    for (size_t i = ctx->nvals; i-- > 0;) {
        const struct cli_opt *o = ctx->vals[i].opt;
        if (strcmp(o->name, name) == 0 || (o->alias && strcmp(o->alias, name) == 0))
            return &ctx->vals[i];
    }
    return NULL;
}

static struct cli_value *find_short(const struct cli_ctx *ctx, char shortname)
{
    for (size_t i = ctx->nvals; i-- > 0;)
        if (ctx->vals[i].opt->shortname == shortname)
            return &ctx->vals[i];
    return NULL;
}

static int set_value(struct cli_ctx *ctx, struct cli_value *v, const char *text, const char *given)
{
    const struct cli_opt *o = v->opt;
    switch (o->type) {
    case OPT_BOOL:
        v->set = true;
        v->num = 1;
        return 0;
    case OPT_INT:
        if (parse_int64(text, o->min, o->max, &v->num) < 0)
            return cli_fail(EXIT_USAGE,
                            "%s: option %s: expected an integer in %lld..%lld, got \"%s\"",
                            ctx->path, given, (long long)o->min, (long long)o->max, text);
        break;
    case OPT_DURATION:
        if (duration_parse(text, &v->num) < 0)
            return cli_fail(EXIT_USAGE,
                            "%s: option %s: expected a duration like 30s, 5m or 1h30m, got \"%s\"",
                            ctx->path, given, text);
        break;
    case OPT_LIST:
        v->list = xrealloc(v->list, (v->nlist + 1) * sizeof(*v->list));
        v->list[v->nlist++] = text;
        break;
    case OPT_STRING:
        break;
    }
    v->str = text;
    v->set = true;
    return 0;
}

static void add_vals(struct cli_ctx *ctx, const struct cli_opt *opts)
{
    size_t n = count_opts(opts);
    ctx->vals = xrealloc(ctx->vals, (ctx->nvals + n) * sizeof(*ctx->vals));
    for (size_t i = 0; i < n; i++) {
        struct cli_value *v = &ctx->vals[ctx->nvals++];
        memset(v, 0, sizeof(*v));
        v->opt = &opts[i];
    }
}

/* Applies defaults for unset options and checks required ones. */
static int finish_vals(struct cli_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nvals; i++) {
        struct cli_value *v = &ctx->vals[i];
        if (v->set)
            continue;
        if (v->opt->flags & OPT_REQUIRED)
            return cli_fail(EXIT_USAGE, "%s: missing required option --%s", ctx->path,
                            v->opt->name);
        if (v->opt->def && v->opt->type != OPT_LIST && v->opt->type != OPT_BOOL) {
            int rc = set_value(ctx, v, v->opt->def, v->opt->name);
            v->set = false; /* a default is not "given" */
            if (rc)
                return rc;
        }
    }
    return 0;
}

int cli_main(const struct cli_cmd *root, const struct cli_hooks *hooks, int argc, char **argv)
{
    struct cli_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    const struct cli_cmd *cmd = root;
    int rc = EXIT_OK;
    bool help = false, only_args = false;
    snprintf(ctx.path, sizeof(ctx.path), "%s", root->name);
    ctx.argv = xcalloc((size_t)argc + 1, sizeof(char *));
    add_vals(&ctx, cli_global_opts);
    add_vals(&ctx, root->opts);

    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_args && strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (!only_args && a[0] == '-' && a[1]) {
            struct cli_value *v;
            const char *inl = NULL;
            char given[80];
            if (a[1] == '-') {
                char name[64];
                const char *eq = strchr(a + 2, '=');
                size_t l = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
                if (l >= sizeof(name)) {
                    rc = cli_fail(EXIT_USAGE, "%s: unknown option %.40s...", ctx.path, a);
                    goto out;
                }
                memcpy(name, a + 2, l);
                name[l] = '\0';
                inl = eq ? eq + 1 : NULL;
                v = find_val(&ctx, name);
                snprintf(given, sizeof(given), "--%s", name);
            } else {
                if (a[2]) /* -ojson */
                    inl = a + 2;
                v = find_short(&ctx, a[1]);
                snprintf(given, sizeof(given), "-%c", a[1]);
            }
            if (!v) {
                rc = cli_fail(EXIT_USAGE, "%s: unknown option %s (see '%s --help')", ctx.path, a,
                              ctx.path);
                goto out;
            }
            if (v->opt->type == OPT_BOOL) {
                if (inl) {
                    bool b;
                    if (parse_bool(inl, &b) < 0) {
                        rc = cli_fail(EXIT_USAGE, "%s: option %s takes no value", ctx.path, given);
                        goto out;
                    }
                    v->set = b;
                    v->num = b;
                    continue;
                }
                (void)set_value(&ctx, v, NULL, given);
                if (strcmp(v->opt->name, "help") == 0)
                    help = true;
                continue;
            }
            const char *text = inl;
            if (!text) {
                if (i + 1 >= argc) {
                    rc = cli_fail(EXIT_USAGE, "%s: option %s needs a value", ctx.path, given);
                    goto out;
                }
                text = argv[++i];
            }
            if ((rc = set_value(&ctx, v, text, given)) != 0)
                goto out;
            continue;
        }
        if (!only_args && count_cmds(cmd->subs)) {
            const struct cli_cmd *sub = find_sub(cmd, a);
            if (!sub) {
                rc = cli_fail(EXIT_USAGE, "%s: unknown command \"%s\" (see '%s --help')", ctx.path,
                              a, ctx.path);
                goto out;
            }
            cmd = sub;
            size_t pl = strlen(ctx.path);
            snprintf(ctx.path + pl, sizeof(ctx.path) - pl, " %s", cmd->name);
            add_vals(&ctx, cmd->opts);
            continue;
        }
        if (!(cmd->flags & CMD_ARGS)) {
            rc = cli_fail(EXIT_USAGE, "%s: unexpected argument \"%s\" (see '%s --help')", ctx.path,
                          a, ctx.path);
            goto out;
        }
        ctx.argv[ctx.argc++] = a;
    }

    ctx.cmd = cmd;
    if (help || !cmd->run) {
        print_help(help ? stdout : stderr, ctx.path, cmd);
        rc = help ? EXIT_OK : EXIT_USAGE;
        goto out;
    }
    if ((rc = finish_vals(&ctx)) != 0)
        goto out;
    if (hooks && hooks->setup && (rc = hooks->setup(&ctx)) != 0)
        goto teardown;
    rc = cmd->run(&ctx);
teardown:
    if (hooks && hooks->teardown)
        hooks->teardown(&ctx);
out:
    for (size_t i = 0; i < ctx.nvals; i++)
        free(ctx.vals[i].list);
    free(ctx.vals);
    free(ctx.argv);
    fflush(stdout);
    return rc;
}

bool cli_isset(const struct cli_ctx *ctx, const char *name)
{
    struct cli_value *v = find_val(ctx, name);
    return v && v->set;
}

const char *cli_str(const struct cli_ctx *ctx, const char *name)
{
    struct cli_value *v = find_val(ctx, name);
    return v ? v->str : NULL;
}

int64_t cli_int(const struct cli_ctx *ctx, const char *name)
{
    struct cli_value *v = find_val(ctx, name);
    return v ? v->num : 0;
}

bool cli_flag(const struct cli_ctx *ctx, const char *name)
{
    struct cli_value *v = find_val(ctx, name);
    return v && v->set && v->num;
}

size_t cli_list(const struct cli_ctx *ctx, const char *name, const char *const **out)
{
    struct cli_value *v = find_val(ctx, name);
    *out = v ? v->list : NULL;
    return v ? v->nlist : 0;
}
