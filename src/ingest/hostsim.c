/* Host-message generator for `inventory ingest simulate hosts` (hostsim.h,
 * docs/ingest.md "Host simulator"). A pool host's facts derive from the
 * seed and its index alone (one hash per attribute), so any message can
 * rebuild them; only which ID facts each host has sent is remembered. The
 * draws that vary a message (reporter, new fqdn, tags...) come from one
 * seeded stream, in a fixed order. */
#include "ingest/hostsim.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

/* The JSON values of a message, in the order they are written; the first
 * three go in the envelope, the others in data. An empty one is left out. */
enum part {
    P_OPERATION,
    P_REQUEST_ID,
    P_B64,
    P_ORG,
    P_DISPLAY,
    P_ANSIBLE,
    P_FQDN,
    P_IPS,
    P_MACS,
    P_BIOS,
    P_SATELLITE,
    P_SMID,
    P_INSIGHTS,
    P_PID,
    P_PTYPE,
    P_REPORTER,
    P_FACTS,
    P_TAGS,
    P_PROFILE,
    NPARTS
};
_Static_assert(NPARTS == HOSTSIM_NPARTS, "struct hostsim holds one buf per part");

static const char *const part_names[NPARTS] = {
    "operation",     "request_id",   "b64_identity",  "org_id",
    "display_name",  "ansible_host", "fqdn",          "ip_addresses",
    "mac_addresses", "bios_uuid",    "satellite_id",  "subscription_manager_id",
    "insights_id",   "provider_id",  "provider_type", "reporter",
    "facts",         "tags",         "system_profile"};

/* ID facts, as bits of a mask. */
enum { ID_PAIR = 1, ID_SMID = 2, ID_INSIGHTS = 4 };

/* Salts: each attribute family hashes (seed, salt, index) on its own. */
enum { SALT_HOST = 1, SALT_NAME, SALT_BIOS };

static const char *const providers[] = {"aws", "azure", "gcp", "ibm", "alibaba"};
static const char *const reporters[] = {"puptoo", "rhsm-conduit", "cloud-connector", "yupana"};
static const char *const roles[] = {"web",   "db",       "app",  "cache",
                                    "build", "k8s-node", "mail", "vpn"};
static const char *const domains[] = {"prod.example.com", "corp.example.net", "lab.example.org",
                                      "dc1.example.com",  "eu.example.io",    "stage.example.com"};
static const char *const sites[] = {"brno", "raleigh", "boston", "pune", "tokyo", "dublin"};

/* One pool host's facts, derived by host_of. */
struct host {
    int64_t org;
    char insights[40], smid[40], bios[40], satellite[40]; /* satellite "": none */
    const char *ptype;                                    /* NULL: no provider pair */
    char pid[48];
    const char *role;
    int64_t num; /* the host's number in its org, part of its names */
    const char *domain;
    bool ansible;
    char ips[2][48];
    int nips;
    char macs[2][20];
    int nmacs;
    const char *arch, *vendor;
    int os_major, os_minor, cpus, sockets, mem_gib;
};

/* --- output helpers --------------------------------------------------------- */

/* A quoted JSON string (the buffers have no cap: nothing to refuse). */
static void put_json(struct buf *b, const char *s)
{
    if (buf_add_json_string(b, s, strlen(s)) < 0)
        abort();
}

/* The part p, emptied for a new value. */
static struct buf *part(struct hostsim *s, enum part p)
{
    buf_reset(&s->parts[p]);
    return &s->parts[p];
}

static void set_str(struct hostsim *s, enum part p, const char *v)
{
    put_json(part(s, p), v);
}

static void clear(struct hostsim *s, enum part p)
{
    buf_reset(&s->parts[p]);
}

/* --- randomness --------------------------------------------------------------- */

/* splitmix64: every state, even a hash, starts a full-quality stream. */
static uint64_t next64(uint64_t *st)
{
    uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the modulo bias is negligible for our n). */
static int64_t below(uint64_t *st, int64_t n)
{
    return (int64_t)(next64(st) % (uint64_t)n);
}

static int pick(uint64_t *st, int n)
{
    return (int)below(st, n);
}

/* The start of the stream of one attribute family of index idx. */
static uint64_t stream_of(const struct hostsim *s, uint64_t salt, int64_t idx)
{
    uint64_t st = s->o.seed ^ (salt * 0xd1b54a32d192ed03ULL);
    st ^= next64(&st) + (uint64_t)idx * 0x9e3779b97f4a7c15ULL;
    (void)next64(&st);
    return st;
}

/* A random (version 4) UUID, lower case 8-4-4-4-12. */
static void uuid_of(uint64_t *st, char out[40])
{
    uint64_t a = next64(st), b = next64(st);
    a = (a & ~0xf000ULL) | 0x4000ULL;
    b = (b & ~(3ULL << 62)) | (2ULL << 62);
    snprintf(out, 40, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(a >> 32),
             (unsigned long long)(a >> 16 & 0xffff), (unsigned long long)(a & 0xffff),
             (unsigned long long)(b >> 48), (unsigned long long)(b & 0xffffffffffffULL));
}

/* --- pool hosts ---------------------------------------------------------------- */

/* A provider id of the shape each cloud uses. */
static void provider_id(uint64_t *st, const char *type, char out[48])
{
    if (strcmp(type, "aws") == 0) {
        snprintf(out, 48, "i-0%016llx", (unsigned long long)next64(st));
    } else if (strcmp(type, "azure") == 0) {
        uuid_of(st, out);
    } else if (strcmp(type, "gcp") == 0) {
        snprintf(out, 48, "%llu", 1000000000000000000ULL + next64(st) % 8000000000000000000ULL);
    } else if (strcmp(type, "ibm") == 0) {
        char u[40];
        uuid_of(st, u);
        snprintf(out, 48, "02%02x_%s", (unsigned)below(st, 256), u);
    } else {
        static const char an[] = "0123456789abcdefghijklmnopqrstuvwxyz";
        memcpy(out, "i-", 2);
        for (int i = 0; i < 20; i++)
            out[2 + i] = an[pick(st, 36)];
        out[22] = '\0';
    }
}

static void addresses_of(uint64_t *st, int64_t h, struct host *out)
{
    static const char *const ouis[] = {"52:54:00", "00:50:56", "0a:1b:2c", "fa:16:3e"};
    /* 10.b.c.d, d in 1..254: distinct for the first 16 million hosts. */
    snprintf(out->ips[0], sizeof(out->ips[0]), "10.%d.%d.%d", (int)(h / 254 / 256 % 256),
             (int)(h / 254 % 256), (int)(h % 254 + 1));
    out->nips = 1;
    if (pick(st, 5) == 0)
        snprintf(out->ips[out->nips++], sizeof(out->ips[0]), "fd00:%x:%x:1::%x",
                 (unsigned)out->org & 0xffff, (unsigned)(h >> 16) & 0xffff,
                 1 + ((unsigned)h & 0xfffe));
    const char *oui = ouis[pick(st, 4)];
    out->nmacs = pick(st, 3) == 0 ? 2 : 1;
    for (int i = 0; i < out->nmacs; i++)
        snprintf(out->macs[i], sizeof(out->macs[i]), "%s:%02x:%02x:%02x", oui,
                 (unsigned)pick(st, 256), (unsigned)pick(st, 256), (unsigned)pick(st, 256));
}

static void profile_of(uint64_t *st, struct host *out)
{
    static const int releases[][2] = {{7, 9}, {8, 6}, {8, 8}, {8, 10},
                                      {9, 0}, {9, 2}, {9, 3}, {9, 4}};
    static const int cpus[] = {1, 2, 4, 8, 16, 32, 64};
    int r = pick(st, (int)ARRAY_SIZE(releases));
    out->os_major = releases[r][0];
    out->os_minor = releases[r][1];
    out->arch = pick(st, 10) == 0 ? "aarch64" : "x86_64";
    out->cpus = cpus[pick(st, (int)ARRAY_SIZE(cpus))];
    out->sockets = out->cpus >= 2 && pick(st, 3) == 0 ? 2 : 1;
    out->mem_gib = out->cpus * (2 << pick(st, 3));
    if (out->ptype)
        out->vendor = out->ptype;
    else
        out->vendor = pick(st, 5) == 0 ? NULL : pick(st, 2) ? "kvm" : "vmware";
}

/* Host h of the pool (or, past it, a throwaway one for an invalid message).
 * One in 20 takes the names of the host `orgs` before it in the same org
 * (a rebuilt machine), one in 50 its bios_uuid (a clone): neither fact
 * decides a match. */
static void host_of(const struct hostsim *s, int64_t h, struct host *out)
{
    uint64_t st = stream_of(s, SALT_HOST, h);
    memset(out, 0, sizeof(*out));
    out->org = h % s->o.orgs;
    uuid_of(&st, out->insights);
    uuid_of(&st, out->smid);
    int64_t twin = h >= s->o.orgs ? h - s->o.orgs : -1;
    int64_t name = twin >= 0 && pick(&st, 20) == 0 ? twin : h;
    uint64_t bst = stream_of(s, SALT_BIOS, twin >= 0 && pick(&st, 50) == 0 ? twin : h);
    uuid_of(&bst, out->bios);
    uint64_t nst = stream_of(s, SALT_NAME, name);
    out->role = roles[pick(&nst, (int)ARRAY_SIZE(roles))];
    out->num = name / s->o.orgs;
    out->domain = domains[(out->org + (int64_t)(s->o.seed % 7)) % (int64_t)ARRAY_SIZE(domains)];
    if (pick(&st, 10) < 3) {
        if (pick(&st, 2))
            uuid_of(&st, out->satellite);
        else
            snprintf(out->satellite, sizeof(out->satellite), "%010llu",
                     (unsigned long long)(next64(&st) % 10000000000ULL));
    }
    if (pick(&st, 10) < 4) {
        out->ptype = providers[pick(&st, (int)ARRAY_SIZE(providers))];
        provider_id(&st, out->ptype, out->pid);
    }
    out->ansible = pick(&st, 4) == 0;
    addresses_of(&st, h, out);
    profile_of(&st, out);
}

static unsigned ids_of(const struct host *h)
{
    return ID_SMID | ID_INSIGHTS | (h->ptype ? ID_PAIR : 0);
}

/* --- parts of a valid message ---------------------------------------------------- */

static void add_base64(struct hostsim *s, struct buf *b, const void *p, size_t n)
{
    size_t need = 4 * ((n + 2) / 3) + 1;
    s->b64 = xgrow(s->b64, &s->b64_cap, need, 1);
    int m = EVP_EncodeBlock((unsigned char *)s->b64, p, (int)n);
    buf_put(b, s->b64, (size_t)m);
}

/* s->ident = the User identity of org i. */
static void user_identity(struct hostsim *s, int64_t i)
{
    buf_reset(&s->ident);
    buf_putf(&s->ident,
             "{\"identity\":{\"org_id\":\"%s\",\"type\":\"User\",\"auth_type\":\"basic-auth\","
             "\"user\":{\"username\":\"admin-%s\"}}}",
             s->org_ids[i], s->org_ids[i]);
}

/* b64_identity = base64 of s->ident. */
static void encode_identity(struct hostsim *s)
{
    struct buf *b = part(s, P_B64);
    buf_puts(b, "\"");
    add_base64(s, b, s->ident.ptr, s->ident.len);
    buf_puts(b, "\"");
}

static void envelope(struct hostsim *s, int64_t org)
{
    set_str(s, P_OPERATION, "add_host");
    buf_putf(part(s, P_REQUEST_ID), "\"%016llx%016llx\"", (unsigned long long)next64(&s->rng),
             (unsigned long long)next64(&s->rng));
    user_identity(s, org);
    encode_identity(s);
}

/* A JSON list of n strings. */
static void set_list(struct hostsim *s, enum part p, const char *v, size_t stride, int n)
{
    struct buf *b = part(s, p);
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ",");
        put_json(b, v + (size_t)i * stride);
    }
    buf_puts(b, "]");
}

/* A UUID ID fact, upper-cased when asked (matching is case-insensitive). */
static void set_id(struct hostsim *s, enum part p, const char *uuid, bool upper)
{
    char v[40];
    snprintf(v, sizeof(v), "%s", uuid);
    for (char *c = v; upper && *c; c++)
        *c = (char)toupper((unsigned char)*c);
    set_str(s, p, v);
}

static void id_parts(struct hostsim *s, const struct host *h, unsigned ids, bool upper)
{
    clear(s, P_PID);
    clear(s, P_PTYPE);
    clear(s, P_SMID);
    clear(s, P_INSIGHTS);
    if (ids & ID_PAIR) {
        set_str(s, P_PID, h->pid);
        set_str(s, P_PTYPE, h->ptype);
    }
    if (ids & ID_SMID)
        set_id(s, P_SMID, h->smid, upper);
    if (ids & ID_INSIGHTS)
        set_id(s, P_INSIGHTS, h->insights, upper);
}

/* fqdn, display_name, ansible_host; a re-report may bring a new fqdn (a
 * renamed host) or display name. */
static void name_parts(struct hostsim *s, const struct host *h, bool rereport)
{
    char fqdn[160], display[160];
    if (rereport && pick(&s->rng, 2) == 0)
        snprintf(fqdn, sizeof(fqdn), "%s-%04lld-%03x.%s", h->role, (long long)h->num,
                 (unsigned)pick(&s->rng, 4096), h->domain);
    else
        snprintf(fqdn, sizeof(fqdn), "%s-%04lld.%s", h->role, (long long)h->num, h->domain);
    if (pick(&s->rng, 10) < (rereport ? 3 : 2))
        snprintf(display, sizeof(display), "%s %lld %s", h->role, (long long)h->num,
                 sites[pick(&s->rng, (int)ARRAY_SIZE(sites))]);
    else
        snprintf(display, sizeof(display), "%s", fqdn);
    set_str(s, P_FQDN, fqdn);
    set_str(s, P_DISPLAY, display);
    clear(s, P_ANSIBLE);
    if (h->ansible && !(rereport && pick(&s->rng, 4) == 0)) {
        fqdn[strcspn(fqdn, ".")] = '\0';
        set_str(s, P_ANSIBLE, fqdn);
    }
}

/* ip_addresses (a re-report may bring new ones), mac_addresses, bios_uuid,
 * satellite_id; a re-report leaves some out (kept as they were). */
static void address_parts(struct hostsim *s, const struct host *h, bool rereport)
{
    if (rereport && pick(&s->rng, 2) == 0) {
        char ips[2][48];
        snprintf(ips[0], sizeof(ips[0]), "10.%d.%d.%d", pick(&s->rng, 256), pick(&s->rng, 256),
                 1 + pick(&s->rng, 254));
        snprintf(ips[1], sizeof(ips[1]), "172.%d.%d.%d", 16 + pick(&s->rng, 16), pick(&s->rng, 256),
                 1 + pick(&s->rng, 254));
        set_list(s, P_IPS, ips[0], sizeof(ips[0]), 1 + pick(&s->rng, 2));
    } else {
        set_list(s, P_IPS, h->ips[0], sizeof(h->ips[0]), h->nips);
    }
    clear(s, P_MACS);
    clear(s, P_BIOS);
    clear(s, P_SATELLITE);
    if (!rereport || pick(&s->rng, 4))
        set_list(s, P_MACS, h->macs[0], sizeof(h->macs[0]), h->nmacs);
    if (!rereport || pick(&s->rng, 4))
        set_str(s, P_BIOS, h->bios);
    if (*h->satellite && (!rereport || pick(&s->rng, 2)))
        set_str(s, P_SATELLITE, h->satellite);
}

/* An RFC 3339 time n * 3 s after HOSTSIM_BASE_TS (no clock). */
static void stamp(uint64_t n, char out[32])
{
    time_t t = (time_t)(HOSTSIM_BASE_TS + n * 3);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "1970-01-01T00:00:00Z");
}

/* One namespace of facts, the reporter's. */
static void facts_part(struct hostsim *s, const struct host *h, int reporter)
{
    char when[32];
    stamp(s->n, when);
    struct buf *b = part(s, P_FACTS);
    switch (reporter) {
    case 0:
        buf_putf(
            b,
            "[{\"namespace\":\"insights\",\"facts\":{\"last_upload\":\"%s\",\"client_version\":"
            "\"3.2.%d\"}}]",
            when, pick(&s->rng, 10));
        break;
    case 1:
        buf_putf(b,
                 "[{\"namespace\":\"rhsm\",\"facts\":{\"orgId\":\"%s\",\"IS_VIRTUAL\":%s,"
                 "\"MEMORY\":%d,\"ARCHITECTURE\":\"%s\",\"RH_PROD\":[\"69\",\"479\"],"
                 "\"SYNC_TIMESTAMP\":\"%s\"}}]",
                 s->org_ids[h->org], h->vendor ? "true" : "false", h->mem_gib, h->arch, when);
        break;
    case 2:
        buf_putf(b,
                 "[{\"namespace\":\"cloud\",\"facts\":{\"instance_type\":\"m5.%dxlarge\","
                 "\"region\":\"%s\",\"seen\":\"%s\"}}]",
                 h->cpus / 4 + 1, pick(&s->rng, 2) ? "us-east-1" : "eu-west-1", when);
        break;
    default:
        buf_putf(b,
                 "[{\"namespace\":\"satellite\",\"facts\":{\"satellite_version\":\"6.15.%d\","
                 "\"distribution_version\":\"%d.%d\",\"organization_id\":%d}}]",
                 pick(&s->rng, 4), h->os_major, h->os_minor, 1 + pick(&s->rng, 9));
    }
}

/* Up to five tags of distinct (namespace, key). */
static void tags_part(struct hostsim *s)
{
    static const struct {
        const char *ns, *key, *values[4];
    } tags[] = {
        {"insights-client", "env", {"prod", "stage", "dev", "qa"}},
        {"insights-client", "team", {"payments", "search", "platform", "data"}},
        {"satellite", "location", {"brno", "raleigh", "boston", "pune"}},
        {"satellite", "content_view", {"rhel9-base", "rhel8-app", "default", "hardened"}},
        {"rhsm", "role", {"server", "workstation", "compute-node", "hypervisor"}},
    };
    struct buf *b = part(s, P_TAGS);
    const char *sep = "";
    buf_puts(b, "[");
    for (size_t i = 0; i < ARRAY_SIZE(tags); i++) {
        if (pick(&s->rng, 5) >= 2)
            continue;
        buf_putf(b, "%s{\"namespace\":\"%s\",\"key\":\"%s\",\"value\":\"%s\"}", sep, tags[i].ns,
                 tags[i].key, tags[i].values[pick(&s->rng, 4)]);
        sep = ",";
    }
    buf_puts(b, "]");
}

/* system_profile; a re-report may carry an upgrade (minor release, CPUs). */
static void profile_part(struct hostsim *s, const struct host *h, bool rereport)
{
    int minor = h->os_minor, cpus = h->cpus;
    if (rereport && pick(&s->rng, 3) == 0) {
        minor += minor < 10;
        cpus *= 2;
    }
    int sockets = cpus >= h->sockets ? h->sockets : 1;
    struct buf *b = part(s, P_PROFILE);
    buf_putf(b,
             "{\"arch\":\"%s\",\"os_release\":\"%d.%d\",\"operating_system\":{\"major\":%d,"
             "\"minor\":%d,\"name\":\"RHEL\"},\"number_of_cpus\":%d,\"number_of_sockets\":%d,"
             "\"cores_per_socket\":%d,\"system_memory_bytes\":%lld,\"infrastructure_type\":\"%s\"",
             h->arch, h->os_major, minor, h->os_major, minor, cpus, sockets, cpus / sockets,
             (long long)h->mem_gib << 30, h->vendor ? "virtual" : "physical");
    if (h->vendor)
        buf_putf(b, ",\"infrastructure_vendor\":\"%s\"", h->vendor);
    buf_puts(b, "}");
}

/* Every data part of host h sending ID facts ids. */
static void host_parts(struct hostsim *s, const struct host *h, unsigned ids, bool rereport)
{
    set_str(s, P_ORG, s->org_ids[h->org]);
    name_parts(s, h, rereport);
    address_parts(s, h, rereport);
    id_parts(s, h, ids, rereport && pick(&s->rng, 4) == 0);
    int reporter = pick(&s->rng, (int)ARRAY_SIZE(reporters));
    set_str(s, P_REPORTER, reporters[reporter]);
    clear(s, P_FACTS);
    clear(s, P_TAGS);
    if (!rereport || pick(&s->rng, 4))
        facts_part(s, h, reporter);
    if (pick(&s->rng, 5))
        tags_part(s);
    profile_part(s, h, rereport);
}

static void member(struct buf *b, const char **sep, const struct hostsim *s, enum part p)
{
    if (!s->parts[p].len)
        return;
    buf_putf(b, "%s\"%s\":", *sep, part_names[p]);
    buf_put(b, s->parts[p].ptr, s->parts[p].len);
    *sep = ",";
}

/* s->out = the message of the parts; platform_metadata is left out when
 * both of its members are. */
static void emit(struct hostsim *s)
{
    struct buf *b = &s->out;
    const char *sep = "";
    buf_reset(b);
    buf_puts(b, "{");
    member(b, &sep, s, P_OPERATION);
    if (s->parts[P_REQUEST_ID].len || s->parts[P_B64].len) {
        const char *msep = "";
        buf_putf(b, "%s\"platform_metadata\":{", sep);
        member(b, &msep, s, P_REQUEST_ID);
        member(b, &msep, s, P_B64);
        buf_puts(b, "}");
        sep = ",";
    }
    buf_putf(b, "%s\"data\":{", sep);
    const char *dsep = "";
    for (int p = P_ORG; p < NPARTS; p++)
        member(b, &dsep, s, (enum part)p);
    buf_puts(b, "}}");
}

/* --- invalid messages --------------------------------------------------------- */

/* A UUID broken in one of several ways. */
static void bad_uuid(const char *uuid, int64_t v, char out[48])
{
    switch (v % 5) {
    case 0: { /* no dashes */
        size_t j = 0;
        for (const char *c = uuid; *c; c++)
            if (*c != '-')
                out[j++] = *c;
        out[j] = '\0';
        break;
    }
    case 1: /* a digit short */
        snprintf(out, 48, "%.35s", uuid);
        break;
    case 2: /* not hexadecimal */
        snprintf(out, 48, "g%s", uuid + 1);
        break;
    case 3:
        snprintf(out, 48, "{%s}", uuid);
        break;
    default:
        snprintf(out, 48, "not-a-uuid");
    }
}

/* A list of the host's values plus one bad value. */
static void list_with(struct hostsim *s, enum part p, const char *good, size_t stride, int n,
                      const char *bad)
{
    struct buf *b = part(s, p);
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        put_json(b, good + (size_t)i * stride);
        buf_puts(b, ",");
    }
    put_json(b, bad);
    buf_puts(b, "]");
}

/* The identity of org i broken by rule r, variant v. */
static void bad_identity(struct hostsim *s, enum hostsim_invalid r, int64_t v, int64_t i)
{
    const char *org = s->org_ids[i];
    struct buf *b = &s->ident;
    buf_reset(b);
    if (r == HI_IDENTITY_ORG_ID) {
        buf_putf(b,
                 "{\"identity\":{%s\"type\":\"User\",\"auth_type\":\"basic-auth\",\"user\":"
                 "{\"username\":\"admin-%s\"}}}",
                 v % 2 ? "\"account_number\":\"5512345\"," : "", org);
    } else if (r == HI_IDENTITY_ORG_ID_LENGTH) {
        char longer[96];
        int n = v % 2 ? 64 : 37;
        snprintf(longer, sizeof(longer), "%s-%064d", org, 0);
        longer[n] = '\0';
        buf_putf(b,
                 "{\"identity\":{\"org_id\":\"%s\",\"type\":\"User\",\"auth_type\":\"basic-auth\","
                 "\"user\":{\"username\":\"admin-%s\"}}}",
                 longer, org);
    } else if (r == HI_IDENTITY_TYPE) {
        static const char *const types[] = {"\"type\":\"Robot\",", "", "\"type\":\"Admin\","};
        buf_putf(b,
                 "{\"identity\":{\"org_id\":\"%s\",%s\"auth_type\":\"basic-auth\",\"user\":"
                 "{\"username\":\"admin-%s\"}}}",
                 org, types[v % 3], org);
    } else {
        buf_putf(b,
                 "{\"identity\":{\"org_id\":\"%s\",\"type\":\"System\",\"auth_type\":"
                 "\"cert-auth\"%s}}",
                 org, v % 2 ? "" : ",\"system\":{\"cert_type\":\"system\"}");
    }
    encode_identity(s);
}

/* b64_identity that is not base64 (standard alphabet, '=' only at the end). */
static void bad_base64(struct hostsim *s, int64_t v)
{
    struct buf *b = &s->parts[P_B64];
    size_t mid = b->len / 2; /* inside the quotes, past the first quantum */
    if (v % 3 == 2) {
        set_str(s, P_B64, "not base64!");
        return;
    }
    b->ptr[mid] = v % 3 ? '=' : '*';
}

static void bad_ip_or_mac(struct hostsim *s, const struct host *h, bool ip, int64_t v)
{
    static const char *const ips[] = {"999.1.1.1", "10.0.0",      "10.0.0.1/24",
                                      "not-an-ip", "2001:db8::g", ""};
    static const char *const macs[] = {"00:11:22:33:44", "zz:11:22:33:44:55",
                                       "00:11:22:33:44:55:66", "0011.2233.44", "00_11_22_33_44_55"};
    if (ip)
        list_with(s, P_IPS, h->ips[0], sizeof(h->ips[0]), h->nips, ips[v % ARRAY_SIZE(ips)]);
    else
        list_with(s, P_MACS, h->macs[0], sizeof(h->macs[0]), h->nmacs, macs[v % ARRAY_SIZE(macs)]);
}

static void bad_fact(struct hostsim *s, enum hostsim_invalid r, int64_t v, const struct host *h)
{
    static const char *const satellites[] = {"12345", "12345678901", "abcdefghij", "1234-5678-90"};
    char bad[300];
    switch (r) {
    case HI_INSIGHTS_ID:
        bad_uuid(h->insights, v, bad);
        set_str(s, P_INSIGHTS, bad);
        break;
    case HI_SUBSCRIPTION_MANAGER_ID:
        bad_uuid(h->smid, v, bad);
        set_str(s, P_SMID, bad);
        break;
    case HI_BIOS_UUID:
        bad_uuid(h->bios, v, bad);
        set_str(s, P_BIOS, bad);
        break;
    case HI_SATELLITE_ID:
        set_str(s, P_SATELLITE, satellites[v % ARRAY_SIZE(satellites)]);
        break;
    case HI_IP_ADDRESSES:
    case HI_MAC_ADDRESSES:
        bad_ip_or_mac(s, h, r == HI_IP_ADDRESSES, v);
        break;
    default: /* HI_FQDN */
        bad[0] = '\0';
        if (v % 2) {
            for (int i = 0; i < 256; i++)
                bad[i] = i % 16 == 15 ? '.' : "abcdefghijklmnop"[i % 16];
            bad[256] = '\0';
        }
        set_str(s, P_FQDN, bad);
    }
}

/* provider_id and provider_type: one without the other, or an unknown type. */
static void bad_provider(struct hostsim *s, enum hostsim_invalid r, int64_t v)
{
    static const char *const types[] = {"digitalocean", "oracle", "vmware", "openstack"};
    char pid[48];
    snprintf(pid, sizeof(pid), "i-0%016llx", (unsigned long long)next64(&s->rng));
    clear(s, P_PID);
    clear(s, P_PTYPE);
    if (r == HI_PROVIDER_TYPE) {
        set_str(s, P_PID, pid);
        set_str(s, P_PTYPE, types[v % ARRAY_SIZE(types)]);
    } else if (v % 2) {
        set_str(s, P_PTYPE, "aws");
    } else {
        set_str(s, P_PID, pid);
    }
}

/* Installed packages added to system_profile until the message is over
 * max_message_size. */
static void oversize(struct hostsim *s)
{
    struct buf *p = &s->parts[P_PROFILE];
    emit(s);
    p->len--; /* reopen the object */
    buf_puts(p, ",\"installed_packages\":[");
    size_t need = s->o.max_message_size - s->out.len + 64;
    for (int i = 0; need > 0; i++) {
        size_t before = p->len;
        buf_putf(p, "%s\"kernel-modules-extra-5.14.0-%d.el9.x86_64\"", i ? "," : "", 100 + i);
        need -= need < p->len - before ? need : p->len - before;
    }
    buf_puts(p, "]}");
    emit(s);
}

/* Messages that are not JSON objects, from the valid one in s->out. */
static void not_json(struct hostsim *s, enum hostsim_invalid r, int64_t v)
{
    struct buf *b = &s->out;
    if (r == HI_JSON) {
        switch (v % 5) {
        case 0: /* truncated */
            b->len -= 2;
            b->ptr[b->len] = '\0';
            return;
        case 1: /* trailing data */
            buf_puts(b, "}");
            return;
        case 2:
            buf_reset(b);
            buf_puts(b, "add_host org_id=");
            buf_puts(b, buf_str(&s->parts[P_ORG]));
            return;
        case 3:
            buf_reset(b);
            return;
        default:
            buf_reset(b);
            buf_puts(b, "{'operation': 'add_host'}");
            return;
        }
    }
    if (v % 4 == 0) {
        buf_reset(&s->ident);
        buf_put(&s->ident, b->ptr, b->len);
        buf_reset(b);
        buf_putf(b, "[%s]", s->ident.ptr);
        return;
    }
    static const char *const scalars[] = {"null", "\"add_host\"", "42"};
    buf_reset(b);
    buf_puts(b, scalars[v % 4 - 1]);
}

/* Breaks rule r (variant v) of the valid message of h in the parts. */
static void break_rule(struct hostsim *s, enum hostsim_invalid r, int64_t v, const struct host *h)
{
    static const char *const ops[] = {"", "\"remove_host\"", "\"\"", "\"add_hosts\""};
    switch (r) {
    case HI_OPERATION:
        buf_reset(part(s, P_OPERATION));
        buf_puts(&s->parts[P_OPERATION], ops[v % 4]);
        break;
    case HI_IDENTITY_MISSING:
        clear(s, P_B64);
        if (v % 2)
            clear(s, P_REQUEST_ID);
        break;
    case HI_IDENTITY_BASE64:
        bad_base64(s, v);
        break;
    case HI_IDENTITY_ORG_ID:
    case HI_IDENTITY_ORG_ID_LENGTH:
    case HI_IDENTITY_TYPE:
    case HI_IDENTITY_CN:
        bad_identity(s, r, v, h->org);
        break;
    case HI_ORG_ID_MISMATCH:
        if (s->o.orgs > 1)
            set_str(s, P_ORG, s->org_ids[(h->org + 1) % s->o.orgs]);
        else
            buf_putf(part(s, P_ORG), "\"%s9\"", s->org_ids[0]);
        break;
    case HI_PROVIDER_PAIR:
    case HI_PROVIDER_TYPE:
        bad_provider(s, r, v);
        break;
    case HI_NO_ID_FACT:
        id_parts(s, h, 0, false);
        break;
    default:
        bad_fact(s, r, v, h);
    }
}

/* --- messages ------------------------------------------------------------------ */

/* ID facts to send: a non-empty subset of what the host has that, for a
 * re-report, holds one the host has sent before (so one of them finds it;
 * the others are new to it, and only it has them). */
static unsigned pick_ids(struct hostsim *s, unsigned has, unsigned known)
{
    for (;;) {
        unsigned t = 1 + (unsigned)pick(&s->rng, 7);
        if ((t & has) == t && (!known || (t & known)))
            return t;
    }
}

static void valid(struct hostsim *s, int64_t h, bool rereport)
{
    struct host ho;
    host_of(s, h, &ho);
    unsigned ids = pick_ids(s, ids_of(&ho), s->known[h]);
    s->known[h] |= (uint8_t)ids;
    envelope(s, ho.org);
    host_parts(s, &ho, ids, rereport);
    emit(s);
    s->msg.org = ho.org;
    s->msg.host = h;
}

static void invalid(struct hostsim *s)
{
    uint64_t n = s->truth.kinds[HOSTSIM_INVALID];
    enum hostsim_invalid r = (enum hostsim_invalid)(n % HOSTSIM_NINVALID);
    int64_t v = (int64_t)(n / HOSTSIM_NINVALID);
    struct host ho;
    /* A throwaway host past the pool, in org n mod orgs: a message wrongly
     * taken would create a host the ground truth does not have. */
    host_of(s, s->o.orgs * HOSTSIM_HOSTS_MAX + (int64_t)n, &ho);
    envelope(s, ho.org);
    host_parts(s, &ho, ids_of(&ho), false);
    if (r == HI_OVERSIZED) {
        oversize(s);
    } else if (r == HI_JSON || r == HI_NOT_OBJECT) {
        emit(s);
        not_json(s, r, v);
    } else {
        break_rule(s, r, v, &ho);
        emit(s);
    }
    s->msg.invalid = r;
    s->msg.org = ho.org;
    s->truth.invalid[r]++;
}

static enum hostsim_kind kind_of(struct hostsim *s)
{
    double u = (double)(next64(&s->rng) >> 11) * 0x1.0p-53;
    if (u < s->o.invalid)
        return HOSTSIM_INVALID;
    /* Nothing to re-report yet; no new host left in the pool. */
    bool rereport = u < s->o.invalid + s->o.rereports ? s->created > 0 : s->created == s->o.hosts;
    return rereport ? HOSTSIM_REREPORT : HOSTSIM_NEW;
}

const struct hostsim_msg *hostsim_next(struct hostsim *s)
{
    struct hostsim_msg *m = &s->msg;
    m->kind = kind_of(s);
    m->invalid = 0;
    m->host = -1;
    switch (m->kind) {
    case HOSTSIM_INVALID:
        invalid(s);
        break;
    case HOSTSIM_REREPORT:
        valid(s, below(&s->rng, s->created), true);
        break;
    default:
        valid(s, s->created, false);
        s->created++;
        s->truth.hosts_per_org[m->org]++;
    }
    s->truth.kinds[m->kind]++;
    s->n++;
    m->data = (struct slice){s->out.ptr ? s->out.ptr : "", s->out.len};
    return m;
}

void hostsim_init(struct hostsim *s, const struct hostsim_opts *o)
{
    memset(s, 0, sizeof(*s));
    s->o = *o;
    s->rng = o->seed;
    s->known = xcalloc((size_t)o->hosts, 1);
    s->truth.hosts_per_org = xcalloc((size_t)o->orgs, sizeof(uint64_t));
    s->org_ids = xcalloc((size_t)o->orgs, sizeof(*s->org_ids));
    /* Seven- or eight-digit ids, as HBI's are, 1009 apart: distinct. */
    int64_t base = 1000000 + below(&s->rng, 8000000);
    for (int64_t i = 0; i < o->orgs; i++)
        snprintf(s->org_ids[i], HOSTSIM_ORG_ID_SIZE, "%u", (unsigned)(base + i * 1009));
    for (int p = 0; p < NPARTS; p++)
        buf_init(&s->parts[p], BUF_NOLIMIT);
    buf_init(&s->out, BUF_NOLIMIT);
    buf_init(&s->ident, BUF_NOLIMIT);
}

void hostsim_release(struct hostsim *s)
{
    for (int p = 0; p < NPARTS; p++)
        buf_release(&s->parts[p]);
    buf_release(&s->out);
    buf_release(&s->ident);
    free(s->known);
    free(s->truth.hosts_per_org);
    free(s->org_ids);
    free(s->b64);
    memset(s, 0, sizeof(*s));
}

const char *hostsim_kind_name(enum hostsim_kind k)
{
    static const char *const names[HOSTSIM_NKINDS] = {"new_hosts", "rereports", "invalid"};
    return (unsigned)k < HOSTSIM_NKINDS ? names[k] : "?";
}

const char *hostsim_invalid_name(enum hostsim_invalid r)
{
    static const char *const names[HOSTSIM_NINVALID] = {
        "json",
        "not_object",
        "operation",
        "identity_missing",
        "identity_base64",
        "identity_org_id",
        "identity_org_id_length",
        "identity_type",
        "identity_cn",
        "org_id_mismatch",
        "insights_id",
        "subscription_manager_id",
        "bios_uuid",
        "satellite_id",
        "ip_addresses",
        "mac_addresses",
        "fqdn",
        "provider_pair",
        "provider_type",
        "no_id_fact",
        "oversized",
    };
    return (unsigned)r < HOSTSIM_NINVALID ? names[r] : "?";
}

const char *hostsim_org_id(const struct hostsim *s, int64_t i)
{
    return s->org_ids[i];
}
