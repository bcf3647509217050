/*
 * sesscache.c - the sessions the loop has resolved lately, in memory.
 *
 * Every request with a session token needs its row and the employee bound
 * to it. Read from SQLite on the loop thread, that is a few pages per
 * request, and since every commit of the writer empties the reader's page
 * cache (WAL), they come from the kernel: at shift change, more system
 * calls than the request itself. So the loop keeps what it read, keyed by
 * the token's hash (the token itself is never kept).
 *
 * An entry is good while the generation it was read under is current. A
 * writer unit that changes sessions or employees (bind, unbind, logout,
 * roster import, the purge) calls sesscache_stale(); after its batch has
 * committed, the writer thread moves the generation on, before the
 * batch's replies are sent. A read that raced the commit was stored under
 * the old generation, so it is never used: a changed binding or a revoked
 * token is seen by the first request after its change is acknowledged.
 * The sliding expiry's touch is not such a change: the loop updates the
 * entry itself.
 *
 * Another process can change the same rows (`gongyoud roster import`
 * while the daemon runs): no generation moves for that, so an entry is
 * also used for MAX_AGE_MS at most after it was read. What the CLI
 * changes reaches the running daemon within that time.
 *
 * Loop thread only, except the two writer-thread calls named above.
 */
#include "gongyou.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 16384
#define MAX_ENTRIES 65536   /* then the table starts again empty */
#define MAX_AGE_MS 10000.0  /* an entry is read again after this long */

struct entry {
    char hash[65];
    unsigned gen;
    double read_ms;          /* clock_mono_ms() when it was read */
    struct gy_auth auth;
    int64_t expires, touched;
    struct entry *next;
};

static struct {
    struct entry *bucket[NBUCKETS];
    size_t n;
    atomic_uint gen;
    atomic_bool stale;
} S;

static unsigned bucket_of(const char *hash)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++)
        v = v << 4 | (unsigned)(hash[i] <= '9' ? hash[i] - '0' : (hash[i] | 0x20) - 'a' + 10);
    return v % NBUCKETS;
}

static struct entry *find(const char *hash)
{
    for (struct entry *e = S.bucket[bucket_of(hash)]; e; e = e->next)
        if (memcmp(e->hash, hash, sizeof e->hash) == 0)
            return e;
    return NULL;
}

unsigned sesscache_gen(void)
{
    return atomic_load(&S.gen);
}

bool sesscache_get(const char *hash, struct gy_auth *auth, int64_t *expires, int64_t *touched)
{
    struct entry *e = find(hash);

    if (!e || e->gen != atomic_load(&S.gen) || clock_mono_ms() - e->read_ms > MAX_AGE_MS)
        return false;
    *auth = e->auth;
    *expires = e->expires;
    *touched = e->touched;
    return true;
}

void sesscache_put(const char *hash, const struct gy_auth *auth, int64_t expires, int64_t touched,
                   unsigned gen)
{
    struct entry *e = find(hash);

    if (!e) {
        unsigned b = bucket_of(hash);
        if (S.n >= MAX_ENTRIES)
            sesscache_free();
        e = gy_calloc(1, sizeof *e);
        memcpy(e->hash, hash, sizeof e->hash);
        e->next = S.bucket[b];
        S.bucket[b] = e;
        S.n++;
    }
    e->gen = gen;
    e->read_ms = clock_mono_ms();
    e->auth = *auth;
    e->expires = expires;
    e->touched = touched;
}

void sesscache_touch(const char *hash, int64_t expires, int64_t touched)
{
    struct entry *e = find(hash);

    if (e) {
        e->expires = expires;
        e->touched = touched;
    }
}

void sesscache_drop(const char *hash)
{
    struct entry *e = find(hash);

    if (e)
        e->gen = atomic_load(&S.gen) - 1;
}

void sesscache_stale(void)
{
    atomic_store(&S.stale, true);
}

void sesscache_batch_end(void)
{
    if (atomic_exchange(&S.stale, false))
        atomic_fetch_add(&S.gen, 1);
}

void sesscache_free(void)
{
    for (unsigned b = 0; b < NBUCKETS; b++) {
        while (S.bucket[b]) {
            struct entry *e = S.bucket[b];
            S.bucket[b] = e->next;
            free(e);
        }
    }
    S.n = 0;
}
