/* AWS credential providers: profile files, environment, web identity token
 * file with STS (see creds.h). */
#include "sources/aws/creds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/dict.h>

#include "core/log.h"
#include "core/util.h"

#define PROFILE_FILE_MAX   (1024 * 1024) /* shared config / credentials file */
#define TOKEN_FILE_MAX     (64 * 1024)   /* web identity token (AWS: 20,000 chars) */
#define RECHECK_MS         10000         /* profile files: stat at most this often */
#define EXPIRY_SLACK_MS    10000         /* stop using credentials this long before expiry... */
#define EXPIRY_SLACK_PART  4             /* ...at most a quarter of their lifetime */
#define SKEWED_LIFE_MS     60000         /* lifetime assumed for credentials expired on arrival */
#define REFRESH_AHEAD_MAX  (5 * 60000)   /* refresh at most 5 min before expiry... */
#define REFRESH_AHEAD_PART 10            /* ...and at most 10 % of the lifetime before */
#define BACKOFF_MIN_MS     1000          /* after a failed load */
#define BACKOFF_MAX_MS     30000
#define WAIT_SLICE_MS      100 /* waiting for another thread's refresh */

struct file_id {
    bool exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct aws_cred_provider {
    enum config_aws_provider kind;
    char *name;
    char *profile;
    char *token_path;
    char *role_arn;
    char *session_name;
    int64_t duration_ms;
    aws_sts_fn sts;
    void *sts_arg;

    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;  /* busy went false */
    struct aws_creds_snap *cur;
    bool busy;           /* one thread is loading */
    bool stale;          /* AWS said cur expired */
    int failures;        /* consecutive failed loads */
    int64_t retry_at_ms; /* monotonic: no load before this after a failure */
    struct aws_error last;
    struct file_id files[2]; /* profile: config, credentials at the last load */
    int64_t checked_ms;      /* profile: monotonic time of the last stat */
};

/* ---- snapshots ----------------------------------------------------------- */

static struct aws_creds_snap *snap_new(const char *akid, const char *secret, const char *token,
                                       int64_t expires_ms, int64_t refresh_ms)
{
    size_t la = strlen(akid) + 1, ls = strlen(secret) + 1, lt = token ? strlen(token) + 1 : 0;
    struct aws_creds_snap *s = xcalloc(1, sizeof(*s) + la + ls + lt);
    char *p = (char *)(s + 1);

    memcpy(p, akid, la);
    s->c.access_key_id = p;
    p += la;
    memcpy(p, secret, ls);
    s->c.secret_access_key = p;
    p += ls;
    if (token) {
        memcpy(p, token, lt);
        s->c.session_token = p;
    }
    s->expires_ms = expires_ms;
    s->refresh_ms = refresh_ms;
    s->use_until = expires_ms;
    atomic_init(&s->refs, 1);
    return s;
}

void aws_creds_put(struct aws_creds_snap *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    size_t len = strlen(s->c.access_key_id) + 1 + strlen(s->c.secret_access_key) + 1 +
                 (s->c.session_token ? strlen(s->c.session_token) + 1 : 0);
    explicit_bzero(s + 1, len);
    free(s);
}

static struct aws_creds_snap *snap_ref(struct aws_creds_snap *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

/* ---- errors -------------------------------------------------------------- */

static void set_err(struct aws_error *e, enum aws_err_kind kind, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void set_err(struct aws_error *e, enum aws_err_kind kind, const char *fmt, ...)
{
    va_list ap;
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* ---- files --------------------------------------------------------------- */

static void wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Reads path into *out (caller: wipe_free). 1 read, 0 absent (ENOENT and
 * absent_ok), -1 with err. */
static int read_small(const char *path, size_t max, bool absent_ok, char **out, size_t *len,
                      struct buf *err)
{
    struct buf b;
    char chunk[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    *len = 0;
    if (fd < 0) {
        if (errno == ENOENT && absent_ok)
            return 0;
        buf_setf(err, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    buf_init(&b, max);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_setf(err, "%s: cannot read: %s", path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        if (buf_add(&b, chunk, (size_t)n) < 0) {
            buf_setf(err, "%s: larger than %zu bytes", path, max);
            goto fail;
        }
    }
    explicit_bzero(chunk, sizeof(chunk));
    close(fd);
    *len = b.len;
    *out = b.ptr ? buf_detach(&b) : xstrdup("");
    return 1;
fail:
    explicit_bzero(chunk, sizeof(chunk));
    if (b.ptr)
        explicit_bzero(b.ptr, b.len);
    buf_release(&b);
    close(fd);
    return -1;
}

static void file_id_of(const char *path, struct file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) == 0) {
        id->exists = true;
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->size = st.st_size;
        id->mtime = st.st_mtim;
    }
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* ---- shared config / credentials files ------------------------------------ */

/* Keys that need a mechanism we do not implement; a profile using one would
 * silently resolve to other credentials than the AWS CLI's. */
static const char *const unsupported_keys[] = {
    "role_arn",    "credential_process",      "credential_source", "sso_start_url",
    "sso_session", "web_identity_token_file", "sso_account_id",
};

static char *expand_home(const char *path)
{
    if (strncmp(path, "~/", 2) != 0)
        return xstrdup(path);
    const char *home = getenv("HOME");
    if (home && *home)
        return xasprintf("%s/%s", home, path + 2);
    struct passwd pw, *res = NULL;
    char tmp[4096];
    if (getpwuid_r(getuid(), &pw, tmp, sizeof(tmp), &res) != 0 || !res)
        return xasprintf("/%s", path + 2);
    return xasprintf("%s/%s", pw.pw_dir, path + 2);
}

static char *env_path(const char *var, const char *def)
{
    const char *v = getenv(var);
    return expand_home(v && *v ? v : def);
}

char *aws_profile_config_path(void)
{
    return env_path("AWS_CONFIG_FILE", "~/.aws/config");
}

char *aws_profile_credentials_path(void)
{
    return env_path("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials");
}

void aws_profile_release(struct aws_profile *p)
{
    wipe_free(p->access_key_id);
    wipe_free(p->secret_access_key);
    wipe_free(p->session_token);
    free(p->unsupported);
    memset(p, 0, sizeof(*p));
}

static void set_secret(char **slot, const char *v, size_t n)
{
    wipe_free(*slot);
    *slot = xstrndup(v, n);
}

/* Trims [*s, *s + *n) of blanks at both ends. */
static void trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s))
        (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* Does section header text h (between the brackets) name profile? */
static bool section_is(const char *h, size_t n, bool is_config, const char *profile)
{
    size_t pl = strlen(profile);

    if (!is_config)
        return n == pl && memcmp(h, profile, pl) == 0;
    /* botocore: "default", or "profile" + blanks + name (split like a shell
     * word list, which for plain names is the trimmed rest). */
    trim(&h, &n);
    if (n == 7 && memcmp(h, "default", 7) == 0)
        return strcmp(profile, "default") == 0;
    if (n > 7 && memcmp(h, "profile", 7) == 0 && (h[7] == ' ' || h[7] == '\t')) {
        h += 7;
        n -= 7;
        trim(&h, &n);
        return n == pl && memcmp(h, profile, pl) == 0;
    }
    return false;
}

int aws_profile_parse(const char *text, size_t len, const char *file, bool is_config,
                      const char *profile, struct aws_profile *p, struct buf *err)
{
    const char *s = text, *end = text + len;
    bool in_section = false, in_ours = false, found = false;
    size_t opt_indent = 0;
    bool have_opt = false;
    int line = 0;

    if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
        s += 3;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *l = s;
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        s = nl ? nl + 1 : end;
        line++;
        if (memchr(l, '\0', n)) {
            buf_setf(err, "%s:%d: NUL byte", file, line);
            return -1;
        }
        if (n && l[n - 1] == '\r')
            n--;
        size_t indent = 0;
        while (indent < n && (l[indent] == ' ' || l[indent] == '\t'))
            indent++;
        const char *t = l;
        size_t tn = n;
        trim(&t, &tn);
        if (!tn || *t == '#' || *t == ';')
            continue;
        /* A line indented deeper than the option before it continues that
         * option's value (nested settings such as "s3 =\n  max_... = 10"). */
        if (have_opt && indent > opt_indent)
            continue;
        if (*t == '[') {
            const char *close = NULL;
            for (size_t i = tn; i-- > 1;)
                if (t[i] == ']') {
                    close = t + i;
                    break;
                }
            if (!close || close == t + 1) {
                buf_setf(err, "%s:%d: malformed section header", file, line);
                return -1;
            }
            in_section = true;
            have_opt = false;
            in_ours = section_is(t + 1, (size_t)(close - t - 1), is_config, profile);
            found = found || in_ours;
            continue;
        }
        if (!in_section) {
            buf_setf(err, "%s:%d: a setting before the first [section]", file, line);
            return -1;
        }
        size_t d = 0;
        while (d < tn && t[d] != '=' && t[d] != ':')
            d++;
        const char *k = t, *v = t + d + 1;
        size_t kn = d, vn = d < tn ? tn - d - 1 : 0;
        trim(&k, &kn);
        trim(&v, &vn);
        if (d == tn || !kn) {
            buf_setf(err, "%s:%d: expected \"key = value\"", file, line);
            return -1;
        }
        have_opt = true;
        opt_indent = indent;
        if (!in_ours)
            continue;
        char key[64];
        if (kn >= sizeof(key))
            continue;
        for (size_t i = 0; i < kn; i++)
            key[i] = (char)tolower((unsigned char)k[i]);
        key[kn] = '\0';
        if (strcmp(key, "aws_access_key_id") == 0)
            set_secret(&p->access_key_id, v, vn);
        else if (strcmp(key, "aws_secret_access_key") == 0)
            set_secret(&p->secret_access_key, v, vn);
        else if (strcmp(key, "aws_session_token") == 0 || strcmp(key, "aws_security_token") == 0)
            set_secret(&p->session_token, v, vn);
        else
            for (size_t i = 0; i < ARRAY_SIZE(unsupported_keys); i++)
                if (strcmp(key, unsupported_keys[i]) == 0 && !p->unsupported)
                    p->unsupported = xstrdup(key);
    }
    return found ? 1 : 0;
}

/* Reads and applies one file; *found |= whether it has the profile. */
static int apply_file(const char *path, bool is_config, const char *profile, struct aws_profile *p,
                      bool *found, struct buf *err)
{
    char *text;
    size_t len;
    int rc = read_small(path, PROFILE_FILE_MAX, true, &text, &len, err);

    if (rc <= 0)
        return rc;
    rc = aws_profile_parse(text, len, path, is_config, profile, p, err);
    explicit_bzero(text, len);
    free(text);
    if (rc < 0)
        return -1;
    *found = *found || rc == 1;
    return 0;
}

int aws_profile_load(const char *profile, struct aws_profile *p, struct buf *err)
{
    char *cfg_path = aws_profile_config_path(), *cred_path = aws_profile_credentials_path();
    bool found = false;
    int rc = -1;

    memset(p, 0, sizeof(*p));
    /* The credentials file wins for keys in both, as with the AWS CLI. */
    if (apply_file(cfg_path, true, profile, p, &found, err) < 0 ||
        apply_file(cred_path, false, profile, p, &found, err) < 0)
        goto out;
    if (!found) {
        buf_setf(err, "profile \"%s\" not found in %s or %s", profile, cfg_path, cred_path);
        goto out;
    }
    if (p->unsupported) {
        buf_setf(err,
                 "profile \"%s\" uses %s, which inventory does not support (use static keys or "
                 "provider token_file)",
                 profile, p->unsupported);
        goto out;
    }
    if (!p->access_key_id || !*p->access_key_id || !p->secret_access_key ||
        !*p->secret_access_key) {
        buf_setf(err, "profile \"%s\" has no %s (in %s or %s)", profile,
                 !p->access_key_id || !*p->access_key_id ? "aws_access_key_id"
                                                         : "aws_secret_access_key",
                 cfg_path, cred_path);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        aws_profile_release(p);
    free(cfg_path);
    free(cred_path);
    return rc;
}

/* ---- time ---------------------------------------------------------------- */

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int aws_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac_ms = 0;
    struct tm tm;

    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        int scale = 100;
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            frac_ms += (*p - '0') * scale;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *ms = ((int64_t)t - off_s) * 1000 + frac_ms;
    return 0;
}

/* ---- providers ----------------------------------------------------------- */

struct aws_cred_provider *aws_creds_new(const struct config_aws_cred *c, aws_sts_fn sts,
                                        void *sts_arg)
{
    struct aws_cred_provider *p = xcalloc(1, sizeof(*p));
    pthread_condattr_t ca;

    p->kind = c->provider;
    p->name = xstrdup(c->name);
    p->profile = xstrdup(c->profile ? c->profile : "default");
    p->token_path = c->token_path ? xstrdup(c->token_path) : NULL;
    p->role_arn = c->role_arn ? xstrdup(c->role_arn) : NULL;
    p->session_name = xstrdup(c->role_session_name ? c->role_session_name : "inventory");
    p->duration_ms = c->duration_ms ? c->duration_ms : 3600000;
    p->sts = sts;
    p->sts_arg = sts_arg;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    return p;
}

void aws_creds_free(struct aws_cred_provider *p)
{
    if (!p)
        return;
    aws_creds_put(p->cur);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p->name);
    free(p->profile);
    free(p->token_path);
    free(p->role_arn);
    free(p->session_name);
    free(p);
}

const char *aws_creds_provider_name(const struct aws_cred_provider *p)
{
    switch (p->kind) {
    case CONFIG_AWS_PROFILE:
        return "profile";
    case CONFIG_AWS_ENV:
        return "env";
    case CONFIG_AWS_TOKEN_FILE:
        return "token_file";
    }
    return "?";
}

static int load_env(struct aws_cred_provider *p, struct aws_creds_snap **out, struct aws_error *e)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");

    if (!akid || !*akid || !secret || !*secret) {
        set_err(e, AWS_ERR_CLIENT, "credential %s (env): %s is not set", p->name,
                !akid || !*akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY");
        return -1;
    }
    *out = snap_new(akid, secret, token && *token ? token : NULL, 0, 0);
    return 0;
}

/* *out NULL with 0: the files did not change since `have` was loaded. */
static int load_profile(struct aws_cred_provider *p, bool have, const struct file_id old[2],
                        struct file_id now[2], struct aws_creds_snap **out, struct aws_error *e)
{
    char *paths[2] = {aws_profile_config_path(), aws_profile_credentials_path()};
    struct aws_profile prof;
    struct buf err;
    int rc = -1;

    *out = NULL;
    for (int i = 0; i < 2; i++)
        file_id_of(paths[i], &now[i]);
    if (have && file_id_eq(&old[0], &now[0]) && file_id_eq(&old[1], &now[1])) {
        rc = 0;
        goto out;
    }
    buf_init(&err, 1024);
    if (aws_profile_load(p->profile, &prof, &err) < 0) {
        set_err(e, AWS_ERR_CLIENT, "credential %s (profile): %s", p->name, buf_str(&err));
        buf_release(&err);
        goto out;
    }
    buf_release(&err);
    *out = snap_new(prof.access_key_id, prof.secret_access_key,
                    prof.session_token && *prof.session_token ? prof.session_token : NULL, 0, 0);
    aws_profile_release(&prof);
    if (have)
        log_info("aws credentials reloaded", LF_STR("credential", p->name),
                 LF_STR("profile", p->profile));
    rc = 0;
out:
    free(paths[0]);
    free(paths[1]);
    return rc;
}

static int load_token_file(struct aws_cred_provider *p, const atomic_bool *cancel,
                           struct aws_creds_snap **out, struct aws_error *e)
{
    char *token = NULL;
    size_t len = 0;
    struct buf err;
    xmlDocPtr doc = NULL;
    char dur[24];
    int rc = -1;

    buf_init(&err, 1024);
    if (read_small(p->token_path, TOKEN_FILE_MAX, false, &token, &len, &err) < 0) {
        set_err(e, AWS_ERR_CLIENT, "credential %s (token_file): %s", p->name, buf_str(&err));
        goto out;
    }
    const char *t = token;
    size_t tn = len;
    trim(&t, &tn);
    if (!tn || memchr(t, '\0', tn)) {
        set_err(e, AWS_ERR_CLIENT, "credential %s (token_file): %s holds no token", p->name,
                p->token_path);
        goto out;
    }
    ((char *)t)[tn] = '\0';
    snprintf(dur, sizeof(dur), "%lld", (long long)(p->duration_ms / 1000));
    const struct sigv4_kv params[] = {
        {"RoleArn", p->role_arn},
        {"RoleSessionName", p->session_name},
        {"WebIdentityToken", t},
        {"DurationSeconds", dur},
    };
    if (p->sts(p->sts_arg, "AssumeRoleWithWebIdentity", params, ARRAY_SIZE(params), cancel, &doc,
               e) < 0) {
        if (e->kind != AWS_ERR_CANCELLED) {
            struct buf m;
            buf_init(&m, BUF_NOLIMIT);
            if (buf_addf(&m, "credential %s (token_file): AssumeRoleWithWebIdentity: %s", p->name,
                         e->message) == 0)
                snprintf(e->message, sizeof(e->message), "%s", buf_str(&m));
            buf_release(&m);
        }
        goto out;
    }
    xmlNodePtr c =
        aws_xml_path(xmlDocGetRootElement(doc), "AssumeRoleWithWebIdentityResult/Credentials");
    const char *akid = aws_xml_text(c, "AccessKeyId"), *secret = aws_xml_text(c, "SecretAccessKey");
    const char *session = aws_xml_text(c, "SessionToken"), *exp = aws_xml_text(c, "Expiration");
    int64_t expires;
    if (!akid || !*akid || !secret || !*secret || !session || !*session || !exp) {
        set_err(e, AWS_ERR_RESPONSE,
                "AssumeRoleWithWebIdentity: response without Credentials "
                "(AccessKeyId, SecretAccessKey, SessionToken, Expiration)");
        goto out;
    }
    if (aws_parse_time(exp, &expires) < 0) {
        set_err(e, AWS_ERR_RESPONSE, "AssumeRoleWithWebIdentity: malformed Expiration");
        goto out;
    }
    int64_t now = now_ms(), life = expires - now;
    if (life <= 0) {
        /* Expired on arrival by our clock: a skewed clock. Use them for a
         * while (AWS decides; ExpiredToken triggers a refresh) rather than
         * asking STS again at once, and again... */
        log_warn("aws credentials arrived expired; is the clock skewed?",
                 LF_STR("credential", p->name), LF_INT("lifetime_ms", life));
        life = SKEWED_LIFE_MS;
        expires = now + life;
    }
    /* Handed out until `slack` before expiry; refreshed from `ahead` before
     * (10 % of the lifetime, at most 5 min), and early enough that one
     * thread refreshes while the others still use them. */
    int64_t ahead = life / REFRESH_AHEAD_PART, slack = life / EXPIRY_SLACK_PART;
    if (ahead > REFRESH_AHEAD_MAX)
        ahead = REFRESH_AHEAD_MAX;
    if (slack > EXPIRY_SLACK_MS)
        slack = EXPIRY_SLACK_MS;
    if (ahead < 2 * slack)
        ahead = 2 * slack;
    *out = snap_new(akid, secret, session, expires, expires - ahead);
    (*out)->use_until = expires - slack;
    log_debug("aws credentials refreshed", LF_STR("credential", p->name),
              LF_INT("lifetime_s", life / 1000));
    rc = 0;
out:
    if (doc) {
        /* The document holds the secret key and token: scrub before freeing. */
        xmlNodePtr cs =
            aws_xml_path(xmlDocGetRootElement(doc), "AssumeRoleWithWebIdentityResult/Credentials");
        for (xmlNodePtr n = cs ? cs->children : NULL; n; n = n->next)
            for (xmlNodePtr k = n->children; k; k = k->next)
                /* Strings in the parser's dictionary are shared: leave them. */
                if (k->type == XML_TEXT_NODE && k->content &&
                    !(doc->dict && xmlDictOwns(doc->dict, k->content)))
                    explicit_bzero(k->content, strlen((char *)k->content));
        xmlFreeDoc(doc);
    }
    if (token) {
        explicit_bzero(token, len);
        free(token);
    }
    buf_release(&err);
    return rc;
}

static int64_t backoff_ms(int failures)
{
    int64_t d = BACKOFF_MIN_MS;
    for (int i = 1; i < failures && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

static void wait_slice(struct aws_cred_provider *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

int aws_creds_get(struct aws_cred_provider *p, const atomic_bool *cancel,
                  struct aws_creds_snap **out, struct aws_error *e)
{
    int rc = -1;

    memset(e, 0, sizeof(*e));
    pthread_mutex_lock(&p->lock);
    for (;;) {
        int64_t now = now_ms(), mono = mono_ms();
        struct aws_creds_snap *cur = p->cur;
        bool usable = cur && !p->stale && (!cur->use_until || now < cur->use_until);
        bool due = !usable || (cur->refresh_ms && now >= cur->refresh_ms) ||
                   (p->kind == CONFIG_AWS_PROFILE && mono - p->checked_ms >= RECHECK_MS);

        if (cancel && atomic_load(cancel)) {
            set_err(e, AWS_ERR_CANCELLED, "cancelled");
            break;
        }
        if (usable && (!due || p->busy || mono < p->retry_at_ms)) {
            *out = snap_ref(cur);
            rc = 0;
            break;
        }
        if (p->busy) {
            wait_slice(p);
            continue;
        }
        if (mono < p->retry_at_ms) {
            *e = p->last;
            break;
        }

        /* This thread loads; the others use cur meanwhile, or wait. */
        struct file_id old[2], now_files[2];
        bool have = cur && !p->stale;
        memcpy(old, p->files, sizeof(old));
        p->busy = true;
        pthread_mutex_unlock(&p->lock);

        struct aws_creds_snap *fresh = NULL;
        struct aws_error le;
        int lrc;
        memset(&le, 0, sizeof(le));
        memset(now_files, 0, sizeof(now_files));
        switch (p->kind) {
        case CONFIG_AWS_PROFILE:
            lrc = load_profile(p, have, old, now_files, &fresh, &le);
            break;
        case CONFIG_AWS_ENV:
            lrc = load_env(p, &fresh, &le);
            break;
        case CONFIG_AWS_TOKEN_FILE:
            lrc = load_token_file(p, cancel, &fresh, &le);
            break;
        default:
            set_err(&le, AWS_ERR_CLIENT, "credential %s: no provider", p->name);
            lrc = -1;
        }

        pthread_mutex_lock(&p->lock);
        p->busy = false;
        pthread_cond_broadcast(&p->cond);
        if (p->kind == CONFIG_AWS_PROFILE) {
            p->checked_ms = mono_ms();
            if (lrc == 0)
                memcpy(p->files, now_files, sizeof(p->files));
        }
        if (lrc == 0) {
            if (fresh) {
                aws_creds_put(p->cur);
                p->cur = fresh;
            }
            p->stale = false;
            p->failures = 0;
            p->retry_at_ms = 0;
            *out = snap_ref(p->cur);
            rc = 0;
            break;
        }
        if (le.kind == AWS_ERR_CANCELLED) {
            *e = le;
            break;
        }
        p->failures++;
        p->retry_at_ms = mono_ms() + backoff_ms(p->failures);
        p->last = le;
        log_warn("aws credentials not loaded", LF_STR("credential", p->name),
                 LF_STR("provider", aws_creds_provider_name(p)), LF_STR("error", le.message),
                 LF_STR("code", le.code));
        /* Loop: a still usable snapshot is handed out, else the error. */
        if (!(p->cur && !p->stale && (!p->cur->use_until || now_ms() < p->cur->use_until))) {
            *e = le;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void aws_creds_invalidate(struct aws_cred_provider *p, const struct aws_creds_snap *s)
{
    pthread_mutex_lock(&p->lock);
    if (p->cur == s) {
        p->stale = true;
        p->retry_at_ms = 0;
        p->checked_ms = 0;
    }
    pthread_mutex_unlock(&p->lock);
}
