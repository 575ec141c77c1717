/* Configuration: typed key table over libyaml, file:line errors, several
 * files merged in order, environment overrides for secrets.
 *
 * Lifecycle: config_init() fills defaults; config_load() applies each file
 * in order on top (scalars and maps merge key by key, lists are replaced),
 * then the environment, then validates the whole; config_release() frees. */
#ifndef INV_CONFIG_H
#define INV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/log.h"

#define CONFIG_VERSION        "v1alpha1"
#define CONFIG_MAX_FILE_BYTES (4 * 1024 * 1024)

/* Where a value came from, for errors reported after parsing. */
struct config_pos {
    const char *file; /* points into config.files; NULL for defaults/env */
    int line;         /* 1-based; 0 when unknown */
};

/* worker.queues: name -> priority (asynq's queue priority map). */
struct config_queue {
    char *name;
    int priority; /* 1..1000 */
    struct config_pos pos;
};

/* scheduler.jobs[] */
struct config_job {
    char *name;            /* task type, required */
    char *spec;            /* cron spec or @every/@hourly..., required */
    char *desc;            /* optional */
    char *payload;         /* optional JSON or YAML text, as written */
    char *queue;           /* optional; defaults to scheduler.default_queue */
    struct config_pos pos; /* position of the job's mapping */
    struct config_pos spec_pos;
    struct config_pos payload_pos;
};

/* api.tokens[]: a bearer token, stored as the SHA-256 of its text. */
enum api_scope { API_SCOPE_READ, API_SCOPE_ADMIN };
struct config_api_token {
    char *name;
    unsigned char sha256[32];
    enum api_scope scope;
    struct config_pos pos; /* position of the token's mapping */
};

/* A list of strings (aws.excluded_regions, use_credentials) with where each
 * item was written. */
struct config_strlist {
    char **items;
    struct config_pos *pos; /* one per item */
    size_t n;
};

/* aws.services.<name>, in this order (enum aws_service of
 * sources/aws/client.h follows it). */
#define CONFIG_AWS_SERVICES 4
extern const char *const config_aws_service_names[CONFIG_AWS_SERVICES]; /* "ec2" ... */

enum config_aws_provider {
    CONFIG_AWS_PROFILE = 1, /* shared config/credentials files */
    CONFIG_AWS_ENV,         /* AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN */
    CONFIG_AWS_TOKEN_FILE,  /* web identity token + STS AssumeRoleWithWebIdentity */
};

/* aws.credentials.<name>. No secrets live here: keys are read at run time
 * from the environment or the files named. */
struct config_aws_cred {
    char *name;
    enum config_aws_provider provider;
    char *profile;           /* profile.name, default "default" */
    char *token_path;        /* token_file.path (required for token_file) */
    char *role_arn;          /* token_file.role_arn (required for token_file) */
    char *role_session_name; /* token_file.role_session_name, default "inventory" */
    int64_t duration_ms;     /* token_file.duration, 15m..12h, default 1h */
    struct config_pos pos;   /* of the credential's name */
};

struct config_aws_service {
    struct config_strlist use_credentials; /* names in aws.credentials */
    char *endpoint_url;                    /* NULL: aws.endpoint_url, then AWS */
};

/* One stream consumer's settings (ingest.<name>.*; docs/ingest.md). */
struct config_stream {
    char *stream;              /* the Redis Stream consumed */
    char *group;               /* consumer group, default "inventory" */
    char *dead_letter;         /* stream receiving invalid messages */
    int dead_letter_max;       /* approximate MAXLEN of dead_letter */
    int batch_size;            /* entries per XREADGROUP and per transaction */
    int concurrency;           /* consumers per process (a reader thread each) */
    int writers;               /* scans: writer threads per consumer, keys split by hash */
    int max_message_size;      /* bytes of one entry's data field */
    int64_t block_ms;          /* XREADGROUP BLOCK */
    int64_t claim_idle_ms;     /* pending entries idle this long are reclaimed */
    int64_t claim_interval_ms; /* how often a consumer looks for them */
    int cache_entries;         /* scans: keys whose newest committed observation is remembered */
    struct {
        char *address; /* default 127.0.0.1:6082 */
        char *path;    /* default /metrics */
    } metrics;
};

struct config {
    char *version; /* must be CONFIG_VERSION when given */
    bool debug;

    struct {
        enum log_level level;   /* default info (debug when `debug: true`) */
        enum log_format format; /* default text */
        bool level_set;         /* logging.level was given in a file (so
                                 * `debug: true` must not override it) */
    } logging;

    struct {
        char *endpoint;             /* host:port, default 127.0.0.1:6379 */
        char *username;             /* optional (ACL) */
        char *password;             /* optional; secret */
        int db;                     /* 0..1023, default 0 */
        int64_t connect_timeout_ms; /* default 5s */
    } redis;

    struct {
        char *dsn;                  /* libpq URI or key=value; secret */
        char *migration_dir;        /* NULL: migrations compiled into the binary */
        int64_t connect_timeout_ms; /* default 5s */
    } database;

    struct {
        int concurrency;             /* 0 = number of CPUs; else 1..10000 */
        struct config_queue *queues; /* default: {default: 1} */
        size_t nqueues;
        bool strict_priority;
        int64_t shutdown_timeout_ms; /* default 8s: running tasks get this long on SIGTERM */
        int64_t lease_ms;            /* default 10s: a dead worker's tasks return after this */
        int64_t retry_base_delay_ms; /* default 1s: first retry delay, doubled per retry */
        int64_t retry_max_delay_ms;  /* default 1h: cap of the retry delay */
        int archive_max_size;        /* default 10000 archived tasks per queue */
        int64_t archive_max_age_ms;  /* default 90 days */
        struct {
            char *address; /* default 127.0.0.1:6080 */
            char *path;    /* default /metrics */
        } metrics;
    } worker;

    struct {
        char *default_queue; /* default "default" */
        char *timezone;      /* zone for cron specs without CRON_TZ=, default "UTC" */
        bool catch_up;       /* one catch-up enqueue per job after a full outage, default true */
        struct {
            char *address; /* default 127.0.0.1:6081 */
            char *path;    /* default /metrics */
        } metrics;
        struct config_job *jobs;
        size_t njobs;
    } scheduler;

    struct {
        char *address;              /* default 127.0.0.1:8080; port 0 picks a free port */
        int threads;                /* 0 = number of CPUs; else 1..1024 */
        int max_page_size;          /* cap of limit=, default 1000 */
        int64_t request_timeout_ms; /* default 30s: statement and idle connection timeout */
        char *auth;                 /* "token" (default) or "none": reads need no token */
        struct config_api_token *tokens;
        size_t ntokens;
        struct {
            char *dsn; /* optional: the API reads here (a replica), not database.dsn */
        } database;
    } api;

    struct {
        struct config_stream scans; /* ingest.scans.*: scan results (docs/ingest.md) */
        struct config_stream hosts; /* ingest.hosts.*: host ingress (docs/hosts.md) */
    } ingest;

    struct {                    /* hosts.*: host-based inventory (docs/hosts.md) */
        char *events;           /* stream of created/updated/delete events */
        int events_max;         /* its approximate MAXLEN */
        bool payload_tracker;   /* publish payload statuses */
        char *payload_status;   /* their stream */
        int payload_status_max; /* its approximate MAXLEN */
        bool reaper;            /* schedule the reaper of culled hosts */
        int reaper_chunk;       /* culled hosts deleted per transaction */
    } hosts;

    struct {
        bool is_enabled;    /* default false: AWS tasks refuse to run */
        char *region;       /* region of global calls; default us-east-1 */
        char *endpoint_url; /* NULL: https://<svc>.<region>.amazonaws.com */
        struct config_strlist excluded_regions;
        struct {
            int max_attempts;      /* 1..20, default 5 (first try included) */
            int64_t base_delay_ms; /* default 200ms */
            int64_t max_delay_ms;  /* default 5s */
        } retry;
        struct {
            int64_t timeout_ms;         /* one attempt, default 30s */
            int64_t connect_timeout_ms; /* default 5s */
        } http;
        struct config_aws_service services[CONFIG_AWS_SERVICES];
        struct config_aws_cred *credentials; /* in file order */
        size_t ncredentials;
    } aws;

    char **files; /* the files loaded, in order (owned) */
    size_t nfiles;
};

/* Fills defaults. Never fails. */
void config_init(struct config *cfg);
/* Frees everything config_init/config_load allocated. */
void config_release(struct config *cfg);

/* Loads `paths` in order on top of the current contents, then applies the
 * environment (DATABASE_URI, REDIS_ENDPOINT, REDIS_PASSWORD), then validates.
 * On error returns -1 and writes one line "file:line: message" to err
 * (or "config: message" / "env NAME: message" when no file is involved). */
int config_load(struct config *cfg, const char *const *paths, size_t npaths,
                struct buf *err) MUSTCHECK;

/* Same, from a string (for tests and fuzzing); `name` labels errors. */
int config_load_string(struct config *cfg, const char *name, const char *text, size_t len,
                       struct buf *err) MUSTCHECK;

/* Applies environment overrides and validates; called by config_load. Use
 * directly when no file is given. */
int config_finish(struct config *cfg, struct buf *err) MUSTCHECK;

#endif
