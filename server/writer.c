/*
 * writer.c - the one writer thread, with group commit.
 *
 * Handlers hand it units (a function and its argument). The thread takes
 * every unit queued at that moment (up to writer.max_batch), runs them in
 * one transaction, each under its own savepoint so one refused unit does
 * not sink its neighbours, and commits once: one sync for the lot, inside
 * COMMIT, or with writer.sync_thread on the syncer thread (walsync.c) while
 * the writer goes on with the next batch. Only once it has returned are
 * the units' completions run, on the loop thread, so a reply is sent only
 * after its data is durable. A unit that arrives alone is run at once:
 * nothing waits for company.
 */
#include "gongyou.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


struct unit {
    struct handoff_item link;     /* first: the queue's */
    writer_fn *fn;
    writer_done_fn *done;
    void *arg;
    int rc;
};

static struct unit *next_unit(const struct unit *u)
{
    return (struct unit *)u->link.next;
}

enum { W_BEGIN, W_COMMIT, W_ROLLBACK, W_SAVEPOINT, W_RELEASE, W_ROLLBACK_TO, W_NSTMT };
static const char *const wsql[W_NSTMT] = {
    "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit",
};

static struct {
    pthread_t thread;
    struct handoff q;             /* units queued, and committed for the loop */
    bool queue_ready, running;
    struct db_conn *conn;
    sqlite3_stmt *st[W_NSTMT];
    int max_batch;
    bool pipelined;               /* writer.sync_thread: the sync is walsync.c's */
    atomic_long depth;
    atomic_ullong commits, units;
    int wal_frames;               /* writer thread: the WAL's length at the last commit */
    atomic_long wal_frames_seen;  /* the same, for /metrics */
    atomic_ullong checkpoints;    /* checkpoints that copied frames */
    bool worked;                  /* writer thread: a burst grew the WAL; quiet time is due */
    void (*after_commit)(void);   /* loop thread, after each batch's completions */
    void (*after_batch)(void);    /* writer thread, after each batch's commit */
    /* The checkpointer: copies the WAL back into the database on its own
     * thread and connection, so the writer never stalls on that (SQLite's
     * automatic checkpoint would run inside a commit, on the writer). */
    struct {
        pthread_t thread;
        sqlite3 *db;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool due, stop, running;
        int woken_at;             /* writer thread: the WAL's length then */
        int step;                 /* frames between wake-ups */
    } ck;
    void (*on_rollback)(void);    /* writer thread, after a whole transaction is lost */
    char *wal_path;
    int64_t wal_reserve;          /* bytes: db.wal_reserve_mib */
} W;

void writer_set_on_rollback(void (*fn)(void))
{
    W.on_rollback = fn;
}

static void rolled_back(void)
{
    if (W.on_rollback)
        W.on_rollback();
}

void writer_set_after_batch(void (*fn)(void))
{
    W.after_batch = fn;
}

void writer_set_after_commit(void (*fn)(void))
{
    W.after_commit = fn;
}

long writer_depth(void)
{
    return atomic_load(&W.depth);
}

void writer_wal_stats(long *frames, uint64_t *checkpoints)
{
    *frames = atomic_load(&W.wal_frames_seen);
    *checkpoints = atomic_load(&W.checkpoints);
}

void writer_stats(uint64_t *commits, uint64_t *units)
{
    *commits = atomic_load(&W.commits);
    *units = atomic_load(&W.units);
}

static int step(int which)
{
    int rc = sqlite3_step(W.st[which]);

    sqlite3_reset(W.st[which]);
    if (rc != SQLITE_DONE) {
        gy_log(LOG_ERROR, "writer: %s failed: %s", wsql[which], sqlite3_errmsg(db_handle(W.conn)));
        return GY_ERR;
    }
    return GY_OK;
}

/* Run one batch in one transaction; set each unit's rc. */
static void run_batch(struct unit *batch)
{
    bool any_kept = false;
    int rc;

    if (step(W_BEGIN) != GY_OK) {
        for (struct unit *u = batch; u; u = next_unit(u))
            u->rc = GY_ERR;
        return;
    }
    for (struct unit *u = batch; u; u = next_unit(u)) {
        if (step(W_SAVEPOINT) != GY_OK) {
            u->rc = GY_ERR;
            continue;
        }
        u->rc = u->fn(W.conn, u->arg);
        if (u->rc != 0 && sqlite3_get_autocommit(db_handle(W.conn))) {
            /* SQLite rolled back the whole transaction (I/O error, full
             * disk): the units kept so far are lost. Fail them and start a
             * new transaction for the rest. */
            for (struct unit *k = batch; k != u; k = next_unit(k))
                if (k->rc == 0)
                    k->rc = GY_ERR;
            any_kept = false;
            rolled_back();
            if (step(W_BEGIN) != GY_OK) {
                for (struct unit *k = next_unit(u); k; k = next_unit(k))
                    k->rc = GY_ERR;
                return;
            }
            continue;
        }
        if (u->rc != 0)
            step(W_ROLLBACK_TO);
        else
            any_kept = true;
        step(W_RELEASE);
    }
    walbuf_defer_sync(W.pipelined);
    rc = step(any_kept ? W_COMMIT : W_ROLLBACK);
    walbuf_defer_sync(false);
    if (rc != GY_OK) {
        if (sqlite3_get_autocommit(db_handle(W.conn)) == 0)
            step(W_ROLLBACK);
        for (struct unit *u = batch; u; u = next_unit(u))
            if (u->rc == 0)
                u->rc = GY_ERR;
        rolled_back();
        return;
    }
    if (any_kept)
        atomic_fetch_add(&W.commits, 1);
}

#define IDLE_RESTART_FRAMES 4096 /* 16 MiB: finished by the writer once writes pause */
#define MAX_WAL_FRAMES 1048576   /* 4 GiB: finished by the writer even under load */
#define QUIET_MS 200             /* a pause: this long without a unit */

static bool finish_checkpoint(int at_frames);

/* Writes have paused after a burst (the WAL grew past IDLE_RESTART_FRAMES:
 * a shift change is over): finish the checkpoint so the WAL starts again,
 * then give back the memory the burst took (the writer's page cache, freed
 * heap in every thread's arena), so an idle daemon stays small. false: the
 * checkpoint could not finish yet (the checkpointer was at work, a report
 * holds an old snapshot); the caller tries again after another pause. */
static bool quiet_time(void)
{
    if (!finish_checkpoint(IDLE_RESTART_FRAMES))
        return false;
    sqlite3_db_release_memory(db_handle(W.conn));
    malloc_trim(0);
    return true;
}

/*
 * Writer thread, before the first batch: make the WAL file db.wal_reserve_mib
 * long by writing zeros past its end, so that commits write over blocks
 * the file already has instead of growing it. Growing costs the kernel a
 * page, a block and a new file size at every commit, and the sync must
 * write the size too: over a 16-second run of clock-ins the writer's CPU
 * per punch went from 22 to 52 us as the WAL grew to 2 GiB, and held at
 * 17 to 34 us over a file already written; p99 9-11 ms against 24-78 ms
 * (operations.md, "Disk at shift change"). SQLite reads a frame only
 * below the end it recorded, and a frame of zeros fails its checksum, so
 * recovery stops there. The write lock (BEGIN IMMEDIATE) keeps any other
 * connection, even another process, from appending meanwhile.
 * journal_size_limit (db.c) keeps SQLite from cutting the file back below
 * the reserve. A failure (a full disk) leaves the file as it was and the
 * daemon running without the reserve.
 */
static void reserve_wal(void)
{
    enum { CHUNK = 1 << 20 };
    struct stat st;
    char *zeros;
    int64_t off, from;
    double t0 = clock_mono_ms();
    int fd;

    if (W.wal_reserve <= 0 || step(W_BEGIN) != GY_OK)
        return;
    if ((fd = open(W.wal_path, O_WRONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        gy_log(LOG_WARN, "wal reserve: cannot open %s: %s", W.wal_path, strerror(errno));
        goto out;
    }
    if ((from = st.st_size) >= W.wal_reserve)
        goto out;
    zeros = gy_calloc(1, CHUNK);
    for (off = from; off < W.wal_reserve; off += CHUNK) {
        size_t n = (size_t)(W.wal_reserve - off < CHUNK ? W.wal_reserve - off : CHUNK);
        ssize_t w = pwrite(fd, zeros, n, off);
        if (w != (ssize_t)n) {
            if (w >= 0)
                errno = ENOSPC;   /* a short write: the disk filled up */
            break;
        }
    }
    free(zeros);
    if (off < W.wal_reserve || fdatasync(fd) != 0) {
        gy_log(LOG_WARN, "wal reserve: cannot write %lld MiB of %s (%s); going on without it",
               (long long)(W.wal_reserve >> 20), W.wal_path, strerror(errno));
        if (ftruncate(fd, from) != 0)
            gy_log(LOG_WARN, "wal reserve: cannot cut %s back: %s", W.wal_path, strerror(errno));
        goto out;
    }
    gy_log(LOG_INFO, "wal reserve: %s written out to %lld MiB in %.0f ms", W.wal_path,
           (long long)(W.wal_reserve >> 20), clock_mono_ms() - t0);
out:
    if (fd >= 0)
        close(fd);
    step(W_ROLLBACK);
}

static void *writer_main(void *unused)
{
    (void)unused;
    gy_thread_name("gy-writer");
    reserve_wal();
    for (;;) {
        long n;
        struct unit *batch =
            (struct unit *)handoff_take(&W.q, W.max_batch, W.worked ? QUIET_MS : -1, &n);

        if (!batch) {
            if (handoff_stopping(&W.q))
                break;
            W.worked = !quiet_time();   /* QUIET_MS without a unit after a burst */
            continue;
        }
        run_batch(batch);
        if (W.after_batch)
            W.after_batch();
        atomic_fetch_add(&W.units, (unsigned long long)n);
        if (W.pipelined)
            walsync_push(&batch->link);   /* answered once the WAL is synced */
        else
            handoff_finished(&W.q, &batch->link);
        W.worked = W.wal_frames >= IDLE_RESTART_FRAMES;
        finish_checkpoint(MAX_WAL_FRAMES);
    }
    return NULL;
}

/* The checkpointer is woken each time the WAL has grown by db.checkpoint_kib
 * (W.ck.step frames; 32 MiB by default). Every pass copies the latest
 * version of each page written since the last one and fsyncs the
 * database, so waking it at every commit (SQLite's default: past 1000
 * frames) copies the same hot pages over and over. */

/* Writer thread, after each commit: wake the checkpointer when the WAL has
 * grown. Replaces SQLite's automatic checkpoint, which would run inside the
 * writer's commits. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)arg, (void)db, (void)name;
    if (frames < W.wal_frames)
        W.ck.woken_at = 0;   /* the WAL started again */
    W.wal_frames = frames;
    atomic_store(&W.wal_frames_seen, frames);
    if (frames - W.ck.woken_at >= W.ck.step && W.ck.running) {
        W.ck.woken_at = frames;
        pthread_mutex_lock(&W.ck.mu);
        W.ck.due = true;
        pthread_cond_signal(&W.ck.cv);
        pthread_mutex_unlock(&W.ck.mu);
    }
    return SQLITE_OK;
}

/*
 * Writer thread, between batches. The WAL starts again from its beginning
 * only when a transaction begins with every frame copied back; under a
 * steady stream of commits the checkpointer never gets there (new frames
 * land while it copies), so at shift change the WAL grows (by about 10 KiB
 * a punch). Once writes pause for QUIET_MS the writer runs one PASSIVE
 * checkpoint itself (the checkpointer has copied all but the last few
 * MiB), and the next transaction starts the WAL again. Past MAX_WAL_FRAMES
 * it does so even with units waiting, which bounds the WAL on disk at the
 * price of one pause. Finishing it at every 16 or 128 MiB instead was
 * measured: pauses of 30 to 180 ms each time, p99 over 100 ms. BUSY (the
 * checkpointer is at work) means trying again later.
 */
static bool finish_checkpoint(int at_frames)
{
    int log = 0, done = 0, rc;

    if (W.wal_frames < at_frames)
        return true;
    rc = sqlite3_wal_checkpoint_v2(db_handle(W.conn), NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc == SQLITE_OK && log == done) {
        W.wal_frames = W.ck.woken_at = 0;   /* the next transaction starts it again */
        atomic_fetch_add(&W.checkpoints, 1);
        return true;
    }
    if (rc != SQLITE_OK && rc != SQLITE_BUSY)
        gy_log(LOG_WARN, "writer checkpoint: %s", sqlite3_errmsg(db_handle(W.conn)));
    return false;
}

static void *checkpoint_main(void *unused)
{
    (void)unused;
    gy_thread_name("gy-checkpoint");
    for (;;) {
        int log = 0, done = 0;

        pthread_mutex_lock(&W.ck.mu);
        while (!W.ck.due && !W.ck.stop)
            pthread_cond_wait(&W.ck.cv, &W.ck.mu);
        W.ck.due = false;
        if (W.ck.stop) {
            pthread_mutex_unlock(&W.ck.mu);
            return NULL;
        }
        pthread_mutex_unlock(&W.ck.mu);
        /* PASSIVE: never waits for the writer or readers; what it cannot
         * copy now is copied next time. */
        if (sqlite3_wal_checkpoint_v2(W.ck.db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done) != SQLITE_OK)
            gy_log(LOG_WARN, "checkpoint: %s", sqlite3_errmsg(W.ck.db));
        else if (done > 0)
            atomic_fetch_add(&W.checkpoints, 1);
    }
}

static int checkpoint_start(const char *path, char *err, size_t errsz)
{
    if (sqlite3_open_v2(path, &W.ck.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "checkpoint: cannot open %s", path);
        return GY_ERR;
    }
    sqlite3_busy_timeout(W.ck.db, 5000);
    /* A connection learns that the database is in WAL mode only when it
     * first reads it; until then a checkpoint is a no-op that reports
     * success (log and done -1). */
    if (sqlite3_exec(W.ck.db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errsz, "checkpoint: cannot read %s", path);
        return GY_ERR;
    }
    pthread_mutex_init(&W.ck.mu, NULL);
    pthread_cond_init(&W.ck.cv, NULL);
    if (pthread_create(&W.ck.thread, NULL, checkpoint_main, NULL) != 0) {
        snprintf(err, errsz, "checkpoint: cannot start thread");
        return GY_ERR;
    }
    W.ck.running = true;
    sqlite3_wal_hook(db_handle(W.conn), wal_hook, NULL);
    return GY_OK;
}

static void checkpoint_stop(void)
{
    if (W.ck.running) {
        pthread_mutex_lock(&W.ck.mu);
        W.ck.stop = true;
        pthread_cond_signal(&W.ck.cv);
        pthread_mutex_unlock(&W.ck.mu);
        pthread_join(W.ck.thread, NULL);
        W.ck.running = false;
        pthread_mutex_destroy(&W.ck.mu);
        pthread_cond_destroy(&W.ck.cv);
    }
    if (W.ck.db)
        sqlite3_close(W.ck.db);
    W.ck.db = NULL;
}

/* Loop thread: run the completions of committed units. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct unit *u = (struct unit *)handoff_done(&W.q);

    (void)fd, (void)what, (void)arg;
    while (u) {
        struct unit *next = next_unit(u);
        atomic_fetch_sub(&W.depth, 1);
        if (u->done)
            u->done(u->arg, u->rc);
        free(u);
        u = next;
    }
    if (W.after_commit)
        W.after_commit();
}

int writer_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz)
{
    char *path = config_db_path(cfg);

    W.conn = db_open(path, false, cfg, err, errsz);
    if (!W.conn || checkpoint_start(path, err, errsz) != GY_OK) {
        free(path);
        return GY_ERR;
    }
    W.wal_path = gy_malloc(strlen(path) + sizeof "-wal");
    sprintf(W.wal_path, "%s-wal", path);
    free(path);
    for (int i = 0; i < W_NSTMT; i++) {
        if (sqlite3_prepare_v3(db_handle(W.conn), wsql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &W.st[i], NULL) != SQLITE_OK) {
            snprintf(err, errsz, "writer: cannot prepare %s", wsql[i]);
            return GY_ERR;
        }
    }
    W.max_batch = cfg->writer.max_batch;
    W.ck.step = cfg->db.checkpoint_kib / 4;   /* 4 KiB pages */
    W.wal_reserve = (int64_t)cfg->db.wal_reserve_mib << 20;
    W.queue_ready = true;
    if (handoff_init(&W.q, base, on_done, NULL) != GY_OK) {
        snprintf(err, errsz, "writer: cannot create the completion event");
        return GY_ERR;
    }
    /* writer.sync_thread: each commit's sync runs on the syncer while the
     * writer goes on with the next batch (walsync.c). Otherwise SQLite
     * syncs inside COMMIT. */
    W.pipelined = cfg->writer.sync_thread;
    if (W.pipelined && walsync_start(W.wal_path, &W.q, err, errsz) != GY_OK)
        return GY_ERR;
    if (pthread_create(&W.thread, NULL, writer_main, NULL) != 0) {
        snprintf(err, errsz, "writer: cannot start thread");
        return GY_ERR;
    }
    W.running = true;
    return GY_OK;
}

void writer_submit(writer_fn *fn, writer_done_fn *done, void *arg)
{
    struct unit *u = gy_calloc(1, sizeof *u);

    u->fn = fn;
    u->done = done;
    u->arg = arg;
    atomic_fetch_add(&W.depth, 1);
    handoff_push(&W.q, &u->link);
}

void writer_stop(void)
{
    if (W.running) {
        handoff_stop(&W.q);
        pthread_join(W.thread, NULL);
        W.running = false;
        walsync_stop();         /* syncs what the writer committed last */
        on_done(-1, 0, NULL);   /* completions of the last batches */
        checkpoint_stop();
    }
    walsync_stop();      /* if the writer never ran */
    checkpoint_stop();
    for (int i = 0; i < W_NSTMT; i++)
        sqlite3_finalize(W.st[i]);
    if (W.queue_ready)
        handoff_destroy(&W.q);
    W.queue_ready = false;
    db_close(W.conn);
    W.conn = NULL;
    free(W.wal_path);
    W.wal_path = NULL;
}
