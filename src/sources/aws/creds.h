/* AWS credential providers (aws.credentials.<name> of the configuration):
 *
 *   profile     the shared files ~/.aws/config and ~/.aws/credentials
 *               (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), read on first
 *               use and again when they change;
 *   env         AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   token_file  a web identity token file exchanged for temporary
 *               credentials with STS AssumeRoleWithWebIdentity, refreshed
 *               before they expire (the file is read at every refresh).
 *
 * Thread safety: a provider is shared by every thread. Credentials are
 * handed out as reference-counted immutable snapshots; one thread refreshes
 * while the others keep using the current snapshot (or, when there is none
 * left, wait for the refresh); after a failed refresh, further attempts
 * back off, so a broken STS never sees a storm of requests.
 *
 * Secrets stay in snapshots (wiped when freed) and in the signer; they are
 * never logged or put into an error message. */
#ifndef INV_AWS_CREDS_H
#define INV_AWS_CREDS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "core/buf.h"
#include "core/config.h"
#include "sources/aws/client.h"
#include "sources/aws/sigv4.h"

/* One set of credentials. Immutable; valid until aws_creds_put. */
struct aws_creds_snap {
    struct aws_creds c; /* session_token NULL for long-term keys */
    int64_t expires_ms; /* Unix ms; 0: does not expire */
    int64_t refresh_ms; /* Unix ms from which a refresh is due; 0: never */
    int64_t use_until;  /* Unix ms after which they are not handed out; 0: always */
    atomic_int refs;
};

/* The STS call a token_file provider makes: an unsigned Query API call of
 * action with params (Action and Version are added by the callee). Returns
 * 0 with *doc (caller frees), or -1 with e. client.c supplies it. */
typedef int (*aws_sts_fn)(void *arg, const char *action, const struct sigv4_kv *params,
                          size_t nparams, const atomic_bool *cancel, xmlDocPtr *doc,
                          struct aws_error *e);

struct aws_cred_provider;

/* Builds a provider for c (copied; nothing is read yet). sts/sts_arg are
 * used by token_file providers only. */
struct aws_cred_provider *aws_creds_new(const struct config_aws_cred *c, aws_sts_fn sts,
                                        void *sts_arg);
void aws_creds_free(struct aws_cred_provider *p);

/* "profile", "env" or "token_file". */
const char *aws_creds_provider_name(const struct aws_cred_provider *p);

/* Current credentials (refreshed or loaded when needed): 0 with *out (give
 * it back with aws_creds_put), or -1 with e (AWS_ERR_CLIENT for a local
 * problem such as a missing variable or profile; STS errors as STS said;
 * AWS_ERR_CANCELLED). */
int aws_creds_get(struct aws_cred_provider *p, const atomic_bool *cancel,
                  struct aws_creds_snap **out, struct aws_error *e) MUSTCHECK;
void aws_creds_put(struct aws_creds_snap *s);

/* AWS said the credentials of snapshot s expired: the next aws_creds_get
 * refreshes (token_file) or re-reads (profile), unless that happened
 * already since s was handed out. */
void aws_creds_invalidate(struct aws_cred_provider *p, const struct aws_creds_snap *s);

/* ---- shared files (exposed for tests) ---- */

/* The keys of one profile; strings owned (aws_profile_release wipes them). */
struct aws_profile {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    char *unsupported; /* first key found that we cannot honour ("role_arn") */
};

/* Applies the section of profile in text (a shared config file when
 * is_config: "[default]" / "[profile NAME]"; else a credentials file:
 * "[NAME]") on top of p: keys present override earlier ones. file labels
 * errors. Returns 1 when the section exists, 0 when not, -1 with
 * "file:line: message" in err for a malformed file. */
int aws_profile_parse(const char *text, size_t len, const char *file, bool is_config,
                      const char *profile, struct aws_profile *p, struct buf *err) MUSTCHECK;
void aws_profile_release(struct aws_profile *p);

/* Paths of the shared files: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE,
 * else ~/.aws/config and ~/.aws/credentials; a leading "~/" is expanded.
 * Returned strings are the caller's (free()). */
char *aws_profile_config_path(void);
char *aws_profile_credentials_path(void);

/* Reads both files and fills p for profile: 0, or -1 with err (no such
 * profile, no keys, a key we cannot honour, an unreadable file). */
int aws_profile_load(const char *profile, struct aws_profile *p, struct buf *err) MUSTCHECK;

/* Parses an ISO 8601 UTC time as STS writes it ("2024-06-03T10:41:03Z",
 * with optional fraction or "+00:00") into Unix ms; -1 when malformed. */
int aws_parse_time(const char *s, int64_t *ms) MUSTCHECK;

#endif
