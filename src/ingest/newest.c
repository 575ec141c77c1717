/* Committed-newest table of the scan consumers (see newest.h). */
#include "ingest/newest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/xalloc.h"

#define WAYS    4   /* entries per bucket */
#define STRIPES 256 /* locks */

struct entry {
    uint64_t key[2], resp[2];
    int64_t ts;
    uint32_t stamp;       /* when last written (replacement: the oldest goes) */
    bool used, ambiguous; /* ambiguous: two responses at ts, the stored one maybe not the max */
};

struct newest {
    uint64_t seed[2];
    size_t nbuckets; /* a power of two, or 0 */
    struct entry *e; /* nbuckets * WAYS */
    uint32_t clock;
    pthread_mutex_t mu[STRIPES];
};

struct newest *newest_new(size_t entries)
{
    struct newest *n = xcalloc(1, sizeof(*n));
    size_t want = entries / WAYS, b = 1;
    while (b < want)
        b <<= 1;
    n->nbuckets = entries ? b : 0;
    n->e = n->nbuckets ? xcalloc(n->nbuckets * WAYS, sizeof(*n->e)) : NULL;
    if (getrandom(n->seed, sizeof(n->seed), 0) != (ssize_t)sizeof(n->seed)) {
        /* No random source: keys could be made to collide, so remember nothing. */
        free(n->e);
        n->e = NULL;
        n->nbuckets = 0;
    }
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&n->mu[i], NULL);
    return n;
}

void newest_free(struct newest *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&n->mu[i]);
    free(n->e);
    free(n);
}

/* A keyed 64-bit hash: 8-byte words through a multiply-xorshift mixer
 * (splitmix64's finalizer), the length folded in. Two seeds give the two
 * halves of a 128-bit hash. */
static uint64_t fmix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static uint64_t hash(uint64_t seed, const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    h ^= seed + n * 0x9e3779b97f4a7c15ull;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = fmix(h ^ w);
    }
    uint64_t tail = 0;
    memcpy(&tail, s, n);
    return fmix(h ^ tail ^ (uint64_t)n << 56);
}

void newest_hash(const struct newest *n, const char *ip, int port, const char *service,
                 const char *response, size_t response_len, int64_t ts, struct newest_key *out)
{
    char key[160];
    int len = snprintf(key, sizeof(key), "%s|%d|%s", ip, port, service);
    size_t klen = len < 0 ? 0 : (size_t)len < sizeof(key) ? (size_t)len : sizeof(key) - 1;
    for (int i = 0; i < 2; i++) {
        out->key[i] = hash(n->seed[i], key, klen, (uint64_t)i);
        out->resp[i] = hash(n->seed[i], response, response_len, (uint64_t)i + 2);
    }
    out->ts = ts;
}

/* The bucket of k and its lock. */
static struct entry *bucket(struct newest *n, const struct newest_key *k, pthread_mutex_t **mu)
{
    size_t b = (size_t)k->key[0] & (n->nbuckets - 1);
    *mu = &n->mu[b % STRIPES];
    return &n->e[b * WAYS];
}

static struct entry *find(struct entry *b, const struct newest_key *k)
{
    for (int i = 0; i < WAYS; i++)
        if (b[i].used && b[i].key[0] == k->key[0] && b[i].key[1] == k->key[1])
            return &b[i];
    return NULL;
}

bool newest_covers(struct newest *n, const struct newest_key *k)
{
    if (!n->nbuckets)
        return false;
    pthread_mutex_t *mu;
    struct entry *b = bucket(n, k, &mu);
    pthread_mutex_lock(mu);
    const struct entry *e = find(b, k);
    bool covered = e && (k->ts < e->ts || (k->ts == e->ts && !e->ambiguous &&
                                           k->resp[0] == e->resp[0] && k->resp[1] == e->resp[1]));
    pthread_mutex_unlock(mu);
    return covered;
}

void newest_note(struct newest *n, const struct newest_key *k)
{
    if (!n->nbuckets)
        return;
    pthread_mutex_t *mu;
    struct entry *b = bucket(n, k, &mu);
    pthread_mutex_lock(mu);
    uint32_t now = __atomic_add_fetch(&n->clock, 1, __ATOMIC_RELAXED);
    struct entry *e = find(b, k);
    if (!e) {
        e = &b[0];
        for (int i = 1; i < WAYS && e->used; i++)
            if (!b[i].used || (int32_t)(b[i].stamp - e->stamp) < 0)
                e = &b[i];
        memset(e, 0, sizeof(*e));
        e->used = true;
        memcpy(e->key, k->key, sizeof(e->key));
        e->ts = INT64_MIN;
    }
    if (k->ts > e->ts) {
        e->ts = k->ts;
        memcpy(e->resp, k->resp, sizeof(e->resp));
        e->ambiguous = false;
    } else if (k->ts == e->ts && (k->resp[0] != e->resp[0] || k->resp[1] != e->resp[1])) {
        e->ambiguous = true; /* the database kept the larger; by hash we cannot tell which */
    }
    e->stamp = now;
    pthread_mutex_unlock(mu);
}
