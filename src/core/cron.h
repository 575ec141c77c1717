/* Schedule specs for periodic tasks (cron lines, @descriptors, @every). */
//
// Schedule specs for periodic tasks: 5-field cron lines, @descriptors and
// "@every <duration>", with an optional time zone; computes the next and the
// previous activation. The dialect is robfig/cron's standard parser (the one
// asynq's scheduler uses) with the Vixie-cron additions listed below.
//
// Syntax
//   [CRON_TZ=<zone> | TZ=<zone>] <minute> <hour> <day-of-month> <month> <day-of-week>
//   [CRON_TZ=<zone> | TZ=<zone>] @yearly | @annually | @monthly | @weekly
//                                | @daily | @midnight | @hourly
//   [CRON_TZ=<zone> | TZ=<zone>] @every <duration>   (the zone has no effect)
//
//   Fields are separated by blanks (any amount of spaces/tabs). Each field is
//   a comma list of elements; an element is `*`, a value `a`, a range `a-b`,
//   optionally followed by `/n` (n >= 1): `*/n` and `a/n` mean "from the
//   start (a) to the field's maximum, every n". A step larger than the range selects the start
//   only.
//     minute 0-59, hour 0-23, day-of-month 1-31,
//     month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT (0 and 7 = Sunday).
//   Names are exactly three letters, case-insensitive, and also work in
//   ranges ("MON-FRI", "jan-mar/2"). A range must not run backwards
//   ("FRI-SUN" is an error: write "5-7"). `?` means `*` and is accepted in
//   day-of-month and day-of-week only. Descriptors and names are
//   case-insensitive; the CRON_TZ=/TZ= prefix is not.
//
// Day-of-month vs day-of-week (Vixie cron's rule, documented exactly)
//   A field is "unrestricted" when its text starts with `*` or `?` (so `*`,
//   `*/2`, `*,5` and `?` all count as unrestricted; `1-31` and `0-7` do not).
//   If day-of-month or day-of-week is unrestricted, a day matches when both
//   fields match it; if both are restricted, a day matches when either does.
//   So "0 0 13 * FRI" fires on every 13th and every Friday, "0 0 */2 * FRI"
//   on Fridays that fall on odd days. (robfig/cron v3 differs for `*/n`
//   with n > 1, which it counts as restricted.)
//
// Descriptors equal these lines: @yearly/@annually "0 0 1 1 *", @monthly
//   "0 0 1 * *", @weekly "0 0 * * 0" (Sunday 00:00), @daily/@midnight
//   "0 0 * * *", @hourly "0 * * * *". Activations are at second 0.
//
// @every <duration>: Go-style duration (duration_parse: "30s", "1h30m",
//   "90m", "1.5h"), at least 1s and a whole number of seconds ("500ms" and
//   "1.5s" are rejected, not rounded). Ticks are aligned to multiples of the
//   interval since the Unix epoch (1970-01-01T00:00:00Z), independent of the
//   zone and of when the scheduler started, so several schedulers running the
//   same "@every 1s" job agree on tick times without talking to each other.
//   next(after) = (floor(after / D) + 1) * D, prev(t) = floor(t / D) * D.
//
// Time zones
//   Evaluation is in UTC unless the spec has a CRON_TZ=/TZ= prefix or the
//   caller passes a default zone (the prefix wins). Zones are IANA names read
//   from the system tz database (TZif files under $TZDIR, else
//   /usr/share/zoneinfo and the usual fallbacks) by this module's own reader:
//   the process TZ, tzset() and localtime() are never touched, so parsing and
//   evaluation are thread-safe (cron_parse only reads $TZDIR with getenv).
//   "UTC" needs no database; "Local" means /etc/localtime. Far-future times
//   use the zone's POSIX rule (the TZif footer). Zones with leap seconds
//   ("right/...") are rejected.
//
//   An activation is an instant whose wall-clock time in the zone matches
//   the spec (robfig/cron's behaviour). Consequences at DST changes: a wall
//   time that does not exist (Europe/Berlin 2026-03-29 02:30) has no
//   activation that day; a wall time that occurs twice (2026-10-25 02:30)
//   activates twice, once per occurrence. Jobs like "0 * * * *" or
//   "*/15 * * * *" thus keep firing every real hour / 15 minutes across both
//   changes. Schedule daily jobs outside 01:00-03:59 local, or in UTC, to be
//   unaffected.
//
// Time range: activations are only considered in 1970-01-01T00:00:00Z ..
//   9999-12-31T23:59:59Z (CRON_MAX_MS). For cron lines and descriptors the
//   search covers CRON_HORIZON_MS (5 x 366 days) from the given instant;
//   "@every" has no horizon.
//
// A parsed spec is immutable; cron_next/cron_prev/cron_spec_text may be
// called from any number of threads at once.
#ifndef INV_CRON_H
#define INV_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/xalloc.h"

#define CRON_MAX_MS     253402300799999LL              /* 9999-12-31T23:59:59.999Z */
#define CRON_HORIZON_MS (5LL * 366 * 24 * 3600 * 1000) /* search window of next/prev */

enum cron_kind {
    CRON_NONE = 0, /* not parsed / released */
    CRON_FIELDS,   /* 5-field line or @descriptor */
    CRON_EVERY,    /* @every <duration> */
};

struct cron_zone; /* a loaded tz database zone, private to cron.c */

struct cron_spec {
    enum cron_kind kind;
    /* CRON_FIELDS: bit i set = value i selected. */
    uint64_t minute; /* bits 0-59 */
    uint32_t hour;   /* bits 0-23 */
    uint32_t dom;    /* bits 1-31 */
    uint16_t month;  /* bits 1-12 */
    uint8_t dow;     /* bits 0-6, Sunday = 0 (7 is folded into 0) */
    bool dom_star;   /* day-of-month text starts with '*' or '?' */
    bool dow_star;   /* day-of-week text starts with '*' or '?' */
    /* CRON_EVERY: interval in milliseconds, a multiple of 1000. */
    int64_t every_ms;
    char *text;             /* owned: normalized spec text */
    char *tz_name;          /* owned: zone the spec is evaluated in ("UTC") */
    struct cron_zone *zone; /* owned; NULL = UTC */
};

/* Parses `spec` into *s (any previous contents are ignored, not freed).
 * `default_tz` is the zone used when the spec has no CRON_TZ=/TZ= prefix;
 * NULL or "" means UTC. Returns 0, or -1 with *s zeroed and a one-line
 * reason in err (may be NULL) naming the field and value, e.g.
 *   field "hour": value 25 out of range 0-23
 * On success the caller owns *s and must cron_release() it. */
int cron_parse(struct cron_spec *s, const char *spec, const char *default_tz,
               struct buf *err) MUSTCHECK;

/* First activation strictly after `after_ms` (Unix ms), or -1 when there is
 * none within CRON_HORIZON_MS (e.g. "0 0 30 2 *") or before CRON_MAX_MS.
 * An `after_ms` before the epoch searches from the epoch. */
int64_t cron_next(const struct cron_spec *s, int64_t after_ms);

/* Last activation at or before `t_ms` (Unix ms), or -1 when there is none
 * within CRON_HORIZON_MS before t_ms, or none at or after the epoch (also for
 * t_ms < 0). A t_ms past CRON_MAX_MS is treated as CRON_MAX_MS. Used to
 * detect missed ticks: a tick was missed when prev(now) > last run. */
int64_t cron_prev(const struct cron_spec *s, int64_t t_ms);

/* The spec as given, blanks collapsed to single spaces and trimmed, with
 * its CRON_TZ=/TZ= prefix if any ("" for an unparsed spec). Owned by s. */
const char *cron_spec_text(const struct cron_spec *s);

/* Name of the zone the spec is evaluated in: the prefix's zone, else the
 * default zone, else "UTC". Owned by s. */
const char *cron_spec_tz(const struct cron_spec *s);

/* Frees the contents; *s is zeroed and may be parsed into again. */
void cron_release(struct cron_spec *s);

#endif
