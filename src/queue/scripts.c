/* Lua sources of the queue transitions. Key layout (docs/queue.md):
 *   inv:{q}:msg        HASH  id -> encoded message (immutable)
 *   inv:{q}:state      HASH  id -> "<state>:<since_ms>"
 *   inv:{q}:info       HASH  id -> "retried\tmax_retry\tlast_failed\tcompleted\terror"
 *   inv:{q}:lease      HASH  id -> worker id holding it (active only)
 *   inv:{q}:pending    LIST  LPUSH to enqueue, RPOP to take, RPUSH = head
 *   inv:{q}:active     ZSET  id -> lease expiry (ms)
 *   inv:{q}:scheduled  ZSET  id -> process at (ms)
 *   inv:{q}:retry      ZSET  id -> next attempt (ms)
 *   inv:{q}:archived   ZSET  id -> archived at (ms)
 *   inv:{q}:completed  ZSET  id -> delete at (ms)
 *   inv:{q}:paused     STRING present = paused
 *   inv:{q}:wake       LIST  wake-up tokens for blocked fetchers (bounded)
 *   inv:{q}:sched      HASH  periodic job id -> last tick enqueued (ms)
 *   inv:{q}:fetch:<worker> STRING "request_id id..." of the worker's last
 *                      dequeue (TTL = lease), to repeat a call whose reply was lost */
#include "queue/scripts.h"

#include <pthread.h>
#include <stdio.h>

/* The low-level SHA1_* calls, deprecated in OpenSSL 3 but kept: the one-shot
 * SHA1() goes through the provider machinery, whose initialisation costs
 * every worker about 2 MB of resident memory for a dozen hashes. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#define PRELUDE                                                                                    \
    "local function now()\n"                                                                       \
    "  local t = redis.call('TIME')\n"                                                             \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                         \
    "end\n"                                                                                        \
    "local function bump(key, ttl)\n"                                                              \
    "  if redis.call('INCR', key) == 1 and ttl then redis.call('EXPIRE', key, ttl) end\n"          \
    "end\n"                                                                                        \
    "local function wake(key)\n"                                                                   \
    "  redis.call('LPUSH', key, '1')\n"                                                            \
    "  redis.call('LTRIM', key, 0, 63)\n"                                                          \
    "end\n"                                                                                        \
    "local function forget(id, state, msg, info)\n"                                                \
    "  redis.call('HDEL', state, id)\n"                                                            \
    "  redis.call('HDEL', msg, id)\n"                                                              \
    "  redis.call('HDEL', info, id)\n"                                                             \
    "end\n" /* Deletes archived tasks older than cutoff, then the oldest beyond max. */            \
    "local function trim(archived, state, msg, info, cutoff, max)\n"                               \
    "  local old = redis.call('ZRANGEBYSCORE', archived, '-inf', '(' .. cutoff, 'LIMIT', 0, "      \
    "1000)\n"                                                                                      \
    "  for _, id in ipairs(old) do\n"                                                              \
    "    redis.call('ZREM', archived, id)\n"                                                       \
    "    forget(id, state, msg, info)\n"                                                           \
    "  end\n"                                                                                      \
    "  local n = redis.call('ZCARD', archived)\n"                                                  \
    "  if n > max then\n"                                                                          \
    "    local extra = redis.call('ZRANGE', archived, 0, math.min(n - max, 1000) - 1)\n"           \
    "    for _, id in ipairs(extra) do\n"                                                          \
    "      redis.call('ZREM', archived, id)\n"                                                     \
    "      forget(id, state, msg, info)\n"                                                         \
    "    end\n"                                                                                    \
    "  end\n"                                                                                      \
    "  return #old\n"                                                                              \
    "end\n"

/* KEYS: msg state info pending scheduled wake [sched]
 * ARGV: id msg info process_at_ms(0 = now) [job tick_ms]
 * -> 1 enqueued, 0 id already exists, 2 the periodic job's tick (sched
 *    given) is not newer than the last one enqueued: a duplicate */
static const char enqueue_lua[] =
    PRELUDE "if KEYS[7] then\n"
            "  local last = redis.call('HGET', KEYS[7], ARGV[5])\n"
            "  if last and tonumber(last) >= tonumber(ARGV[6]) then return 2 end\n"
            "end\n"
            "if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end\n"
            "if KEYS[7] then redis.call('HSET', KEYS[7], ARGV[5], ARGV[6]) end\n"
            "local t = now()\n"
            "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
            "redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])\n"
            "local at = tonumber(ARGV[4])\n"
            "if at > t then\n"
            "  redis.call('HSET', KEYS[2], ARGV[1], 'scheduled:' .. t)\n"
            "  redis.call('ZADD', KEYS[5], at, ARGV[1])\n"
            "else\n"
            "  redis.call('HSET', KEYS[2], ARGV[1], 'pending:' .. t)\n"
            "  redis.call('LPUSH', KEYS[4], ARGV[1])\n"
            "  wake(KEYS[6])\n"
            "end\n"
            "return 1\n";

/* Takes up to max_n tasks with one command per key (RPOP count, HMGET,
 * multi-field HSET/ZADD), so a batch costs a handful of calls, not six per
 * task. max_n <= 1000 keeps each unpack() (two values per task) well under
 * Lua's limit of 8000.
 * The ids taken are kept under the worker's fetch key with the caller's
 * request id, for one lease: a caller whose reply was lost (connection cut,
 * Redis shut down right after running the script) repeats the call with
 * the same request id and gets the same tasks again (those it still holds)
 * instead of leaving them leased to nobody until their lease expires
 * (max_n = 0: only that, never new tasks).
 * KEYS: pending paused active state msg info lease fetch
 * ARGV: max_n lease_ms worker request_id
 * -> flat list id, msg, info, ... (bodies already gone are skipped) */
static const char dequeue_lua[] =
    PRELUDE "local t = now()\n"
            "local exp = t + tonumber(ARGV[2])\n"
            "local last = redis.call('GET', KEYS[8])\n"
            "if last and string.match(last, '^%S+') == ARGV[4] then\n"
            "  local out = {}\n"
            "  local first = true\n"
            "  for id in string.gmatch(last, '%S+') do\n"
            "    if first then\n"
            "      first = false\n"
            "    elseif redis.call('HGET', KEYS[7], id) == ARGV[3] then\n"
            "      local msg = redis.call('HGET', KEYS[5], id)\n"
            "      if msg then\n"
            "        redis.call('ZADD', KEYS[3], 'XX', exp, id)\n"
            "        out[#out + 1] = id\n"
            "        out[#out + 1] = msg\n"
            "        out[#out + 1] = redis.call('HGET', KEYS[6], id) or ''\n"
            "      end\n"
            "    end\n"
            "  end\n"
            "  return out\n"
            "end\n"
            "if tonumber(ARGV[1]) < 1 or redis.call('EXISTS', KEYS[2]) == 1 then return {} end\n"
            "local ids = redis.call('RPOP', KEYS[1], tonumber(ARGV[1]))\n"
            "if not ids then return {} end\n"
            "local msgs = redis.call('HMGET', KEYS[5], unpack(ids))\n"
            "local infos = redis.call('HMGET', KEYS[6], unpack(ids))\n"
            "local st, z, ls, out, gone, taken = {}, {}, {}, {}, {}, {ARGV[4]}\n"
            "for i, id in ipairs(ids) do\n"
            "  if msgs[i] then\n"
            "    st[#st + 1] = id\n"
            "    st[#st + 1] = 'active:' .. t\n"
            "    z[#z + 1] = exp\n"
            "    z[#z + 1] = id\n"
            "    ls[#ls + 1] = id\n"
            "    ls[#ls + 1] = ARGV[3]\n"
            "    taken[#taken + 1] = id\n"
            "    out[#out + 1] = id\n"
            "    out[#out + 1] = msgs[i]\n"
            "    out[#out + 1] = infos[i] or ''\n"
            "  else\n"
            "    gone[#gone + 1] = id\n"
            "  end\n"
            "end\n"
            "if #st > 0 then\n"
            "  redis.call('HSET', KEYS[4], unpack(st))\n"
            "  redis.call('ZADD', KEYS[3], unpack(z))\n"
            "  redis.call('HSET', KEYS[7], unpack(ls))\n"
            "  redis.call('SET', KEYS[8], table.concat(taken, ' '), 'PX', ARGV[2])\n"
            "end\n"
            "if #gone > 0 then\n"
            "  redis.call('HDEL', KEYS[4], unpack(gone))\n"
            "  redis.call('HDEL', KEYS[6], unpack(gone))\n"
            "end\n"
            "return out\n";

/* Success of a batch of tasks of one queue: each task moves on its own
 * (its lease is checked and its keys updated as if it were alone), the
 * batch only shares one call per key. At most 1000 tasks.
 * KEYS: active lease state msg info completed processed_day processed_total
 * ARGV: worker stat_ttl_s, then per task: id retention_ms info
 * -> ids whose lease this worker no longer holds (their result is dropped) */
static const char done_lua[] = PRELUDE
    "local t = now()\n"
    "local ids = {}\n"
    "for i = 3, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end\n"
    "local holders = redis.call('HMGET', KEYS[2], unpack(ids))\n"
    "local lost, done, gone, st, inf, z = {}, {}, {}, {}, {}, {}\n"
    "for i, id in ipairs(ids) do\n"
    "  if holders[i] ~= ARGV[1] then\n"
    "    lost[#lost + 1] = id\n"
    "  else\n"
    "    done[#done + 1] = id\n"
    "    local keep = tonumber(ARGV[3 * i + 1])\n"
    "    if keep > 0 then\n"
    "      st[#st + 1] = id\n"
    "      st[#st + 1] = 'completed:' .. t\n"
    "      inf[#inf + 1] = id\n"
    "      inf[#inf + 1] = ARGV[3 * i + 2]\n"
    "      z[#z + 1] = t + keep\n"
    "      z[#z + 1] = id\n"
    "    else\n"
    "      gone[#gone + 1] = id\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n = #done\n"
    "if n == 0 then return lost end\n"
    "redis.call('ZREM', KEYS[1], unpack(done))\n"
    "redis.call('HDEL', KEYS[2], unpack(done))\n"
    "if #st > 0 then\n"
    "  redis.call('HSET', KEYS[3], unpack(st))\n"
    "  redis.call('HSET', KEYS[5], unpack(inf))\n"
    "  redis.call('ZADD', KEYS[6], unpack(z))\n"
    "end\n"
    "if #gone > 0 then\n"
    "  redis.call('HDEL', KEYS[3], unpack(gone))\n"
    "  redis.call('HDEL', KEYS[4], unpack(gone))\n"
    "  redis.call('HDEL', KEYS[5], unpack(gone))\n"
    "end\n"
    "if redis.call('INCRBY', KEYS[7], n) == n then redis.call('EXPIRE', KEYS[7], ARGV[2]) end\n"
    "redis.call('INCRBY', KEYS[8], n)\n"
    "return lost\n";

/* Failure. KEYS: active lease state msg info retry archived processed_day
 *   processed_total failed_day failed_total
 * ARGV: id worker info mode(retry|archive) retry_delay_ms archive_max archive_ttl_ms stat_ttl_s
 * -> 1 moved, 0 lease lost */
static const char fail_lua[] =
    PRELUDE "if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end\n"
            "local t = now()\n"
            "redis.call('ZREM', KEYS[1], ARGV[1])\n"
            "redis.call('HDEL', KEYS[2], ARGV[1])\n"
            "redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])\n"
            "if ARGV[4] == 'retry' then\n"
            "  redis.call('HSET', KEYS[3], ARGV[1], 'retry:' .. t)\n"
            "  redis.call('ZADD', KEYS[6], t + tonumber(ARGV[5]), ARGV[1])\n"
            "else\n"
            "  redis.call('HSET', KEYS[3], ARGV[1], 'archived:' .. t)\n"
            "  redis.call('ZADD', KEYS[7], t, ARGV[1])\n"
            "  trim(KEYS[7], KEYS[3], KEYS[4], KEYS[5], t - tonumber(ARGV[7]), tonumber(ARGV[6]))\n"
            "end\n"
            "bump(KEYS[8], ARGV[8])\n"
            "redis.call('INCR', KEYS[9])\n"
            "bump(KEYS[10], ARGV[8])\n"
            "redis.call('INCR', KEYS[11])\n"
            "return 1\n";

/* Back to the head of the queue (graceful shutdown).
 * KEYS: active lease state pending wake   ARGV: id worker  -> 1 / 0 */
static const char requeue_lua[] =
    PRELUDE "if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end\n"
            "local t = now()\n"
            "redis.call('ZREM', KEYS[1], ARGV[1])\n"
            "redis.call('HDEL', KEYS[2], ARGV[1])\n"
            "redis.call('HSET', KEYS[3], ARGV[1], 'pending:' .. t)\n"
            "redis.call('RPUSH', KEYS[4], ARGV[1])\n"
            "wake(KEYS[5])\n"
            "return 1\n";

/* Lease extension. KEYS: active lease   ARGV: worker lease_ms id...
 * -> ids whose lease this worker no longer holds */
static const char extend_lua[] =
    PRELUDE "local exp = now() + tonumber(ARGV[2])\n"
            "local lost = {}\n"
            "for i = 3, #ARGV do\n"
            "  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[1] then\n"
            "    redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[i])\n"
            "  else\n"
            "    lost[#lost + 1] = ARGV[i]\n"
            "  end\n"
            "end\n"
            "return lost\n";

/* Due scheduled and retry tasks become pending.
 * KEYS: scheduled retry pending state wake   ARGV: limit
 * -> {moved, ms until the next due task or -1} */
static const char forward_lua[] = PRELUDE
    "local t = now()\n"
    "local moved = 0\n"
    "for z = 1, 2 do\n"
    "  local ids = redis.call('ZRANGEBYSCORE', KEYS[z], '-inf', t, 'LIMIT', 0, tonumber(ARGV[1]))\n"
    "  for _, id in ipairs(ids) do\n"
    "    redis.call('ZREM', KEYS[z], id)\n"
    "    if redis.call('HEXISTS', KEYS[4], id) == 1 then\n"
    "      redis.call('HSET', KEYS[4], id, 'pending:' .. t)\n"
    "      redis.call('LPUSH', KEYS[3], id)\n"
    "      moved = moved + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if moved > 0 then wake(KEYS[5]) end\n"
    "local nxt = -1\n"
    "for z = 1, 2 do\n"
    "  local first = redis.call('ZRANGE', KEYS[z], 0, 0, 'WITHSCORES')\n"
    "  if first[2] then\n"
    "    local d = math.max(0, tonumber(first[2]) - t)\n"
    "    if nxt < 0 or d < nxt then nxt = d end\n"
    "  end\n"
    "end\n"
    "return {moved, nxt}\n";

/* Tasks whose lease expired (their worker died or hung) run again, at the
 * head of the queue; each such loss counts as a failed attempt.
 * KEYS: active lease state info pending archived msg wake processed_day
 *   processed_total failed_day failed_total
 * ARGV: limit archive_max archive_ttl_ms stat_ttl_s
 * -> number of tasks recovered */
static const char recover_lua[] = PRELUDE
    "local t = now()\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, tonumber(ARGV[1]))\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  redis.call('HDEL', KEYS[2], id)\n"
    "  local info = redis.call('HGET', KEYS[4], id) or ''\n"
    "  local r, m, c = string.match(info, '^(%d+)\\t(%d+)\\t%d+\\t(%d+)\\t')\n"
    "  r = tonumber(r or '0')\n"
    "  m = tonumber(m or '25')\n"
    "  local give_up = r >= m\n"
    "  if not give_up then r = r + 1 end\n"
    "  redis.call('HSET', KEYS[4], id, r .. '\\t' .. m .. '\\t' .. t .. '\\t' .. (c or '0') ..\n"
    "             '\\tworker lost: lease expired')\n"
    "  if give_up then\n"
    "    redis.call('HSET', KEYS[3], id, 'archived:' .. t)\n"
    "    redis.call('ZADD', KEYS[6], t, id)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[3], id, 'pending:' .. t)\n"
    "    redis.call('RPUSH', KEYS[5], id)\n"
    "  end\n"
    "  bump(KEYS[9], ARGV[4])\n"
    "  redis.call('INCR', KEYS[10])\n"
    "  bump(KEYS[11], ARGV[4])\n"
    "  redis.call('INCR', KEYS[12])\n"
    "end\n"
    "if #ids > 0 then\n"
    "  wake(KEYS[8])\n"
    "  trim(KEYS[6], KEYS[3], KEYS[7], KEYS[4], t - tonumber(ARGV[3]), tonumber(ARGV[2]))\n"
    "end\n"
    "return #ids\n";

/* Deletes completed tasks past retention and trims the archive.
 * KEYS: completed archived state msg info   ARGV: limit archive_max archive_ttl_ms
 * -> {completed deleted, archived deleted} */
static const char janitor_lua[] = PRELUDE
    "local t = now()\n"
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', t, 'LIMIT', 0, tonumber(ARGV[1]))\n"
    "for _, id in ipairs(ids) do\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "  forget(id, KEYS[3], KEYS[4], KEYS[5])\n"
    "end\n"
    "local before = redis.call('ZCARD', KEYS[2])\n"
    "trim(KEYS[2], KEYS[3], KEYS[4], KEYS[5], t - tonumber(ARGV[3]), tonumber(ARGV[2]))\n"
    "return {#ids, before - redis.call('ZCARD', KEYS[2])}\n";

/* Deletes one task that is not running.
 * KEYS: state msg info pending scheduled retry archived completed   ARGV: id
 * -> 1 deleted, 0 not found, -1 active (cancel it first) */
static const char delete_lua[] =
    PRELUDE "local st = redis.call('HGET', KEYS[1], ARGV[1])\n"
            "if not st then return 0 end\n"
            "local s = string.match(st, '^(%a+)')\n"
            "if s == 'active' then return -1 end\n"
            "if s == 'pending' then redis.call('LREM', KEYS[4], 0, ARGV[1])\n"
            "elseif s == 'scheduled' then redis.call('ZREM', KEYS[5], ARGV[1])\n"
            "elseif s == 'retry' then redis.call('ZREM', KEYS[6], ARGV[1])\n"
            "elseif s == 'archived' then redis.call('ZREM', KEYS[7], ARGV[1])\n"
            "elseif s == 'completed' then redis.call('ZREM', KEYS[8], ARGV[1]) end\n"
            "forget(ARGV[1], KEYS[1], KEYS[2], KEYS[3])\n"
            "return 1\n";

/* Deletes up to `limit` tasks of one state (the caller loops until 0, so
 * Redis is never blocked for long).
 * KEYS: container state msg info   ARGV: kind(list|zset) limit -> count */
static const char drain_lua[] =
    PRELUDE "local ids\n"
            "if ARGV[1] == 'list' then\n"
            "  ids = {}\n"
            "  for i = 1, tonumber(ARGV[2]) do\n"
            "    local id = redis.call('RPOP', KEYS[1])\n"
            "    if not id then break end\n"
            "    ids[#ids + 1] = id\n"
            "  end\n"
            "else\n"
            "  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)\n"
            "  for _, id in ipairs(ids) do redis.call('ZREM', KEYS[1], id) end\n"
            "end\n"
            "for _, id in ipairs(ids) do forget(id, KEYS[2], KEYS[3], KEYS[4]) end\n"
            "return #ids\n";

static struct qscript_def defs[QS_COUNT] = {
    [QS_ENQUEUE] = {"enqueue", enqueue_lua, ""}, [QS_DEQUEUE] = {"dequeue", dequeue_lua, ""},
    [QS_DONE] = {"done", done_lua, ""},          [QS_FAIL] = {"fail", fail_lua, ""},
    [QS_REQUEUE] = {"requeue", requeue_lua, ""}, [QS_EXTEND] = {"extend", extend_lua, ""},
    [QS_FORWARD] = {"forward", forward_lua, ""}, [QS_RECOVER] = {"recover", recover_lua, ""},
    [QS_JANITOR] = {"janitor", janitor_lua, ""}, [QS_DELETE] = {"delete", delete_lua, ""},
    [QS_DRAIN] = {"drain", drain_lua, ""},
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void compute(void)
{
    for (int i = 0; i < QS_COUNT; i++) {
        unsigned char md[SHA_DIGEST_LENGTH];
        const char *b = defs[i].body;
        size_t n = 0;
        while (b[n])
            n++;
        SHA_CTX cx;
        SHA1_Init(&cx);
        SHA1_Update(&cx, b, n);
        SHA1_Final(md, &cx);
        for (int k = 0; k < SHA_DIGEST_LENGTH; k++)
            snprintf(defs[i].sha + 2 * k, 3, "%02x", md[k]);
    }
}

void qscripts_init(void)
{
    pthread_once(&once, compute);
}

const struct qscript_def *qscript(enum qscript which)
{
    qscripts_init();
    return &defs[which];
}
