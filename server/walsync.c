/*
 * walsync.c - the syncer (writer.sync_thread): makes committed batches
 * durable while the writer goes on with the next one.
 *
 * SQLite's COMMIT writes the batch's WAL frames and then waits for
 * fdatasync on the WAL, a millisecond on a local SSD and several on a
 * cloud volume, during which the writer thread could have run the next
 * batch. With writer.sync_thread the writer's COMMIT leaves that sync out
 * (walbuf.c writes the frames to the file before COMMIT returns; only the
 * fdatasync is owed) and passes the batch here. The syncer takes every
 * batch queued, runs one fdatasync on the WAL for all of them, and only
 * then hands them to the loop, so a reply is still sent only once its
 * data is on disk. One fdatasync covers every frame written before it
 * started; batches are handed over in commit order.
 *
 * What changes is what other connections can read: a batch is visible
 * from its COMMIT, a sync before it is durable, as with SQLite's
 * synchronous NORMAL. A power cut in that moment loses the batch whole
 * (the WAL's checksums stop recovery at the last synced commit), and none
 * of its units had been answered.
 *
 * A failed sync is fatal. The batch is already visible and later batches
 * build on it; Linux reports a writeback error once and then calls the
 * pages clean, so a later sync would "succeed" over frames that never
 * reached the disk, and recovery would drop every batch after them,
 * answered or not. So the syncer logs and aborts: systemd starts the
 * daemon again and SQLite's recovery keeps what is really on disk, none
 * of which was answered as saved unless it was synced.
 */
#include "gongyou.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct handoff_item *head, *tail;   /* committed, not yet synced; mu */
    bool stop;                          /* mu */
    bool ready, running;
    struct handoff *to;                 /* where synced batches go */
    char *wal_path;
    int fd;                             /* the WAL: open while SQLite has it open */
    atomic_ullong syncs;
} S = { .fd = -1 };

static void sync_wal(void)
{
    if (fdatasync(S.fd) != 0) {
        gy_log(LOG_ERROR, "syncer: cannot sync %s: %s; stopping at once so that SQLite's recovery keeps "
               "only what reached the disk (no write after the last good sync was answered)",
               S.wal_path, strerror(errno));
        abort();
    }
    atomic_fetch_add(&S.syncs, 1);
}

static void *syncer_main(void *unused)
{
    (void)unused;
    gy_thread_name("gy-syncer");
    for (;;) {
        struct handoff_item *list;
        bool stop;

        pthread_mutex_lock(&S.mu);
        while (!S.head && !S.stop)
            pthread_cond_wait(&S.cv, &S.mu);
        list = S.head;
        stop = S.stop;
        S.head = S.tail = NULL;
        pthread_mutex_unlock(&S.mu);
        if (list) {
            sync_wal();
            handoff_finished(S.to, list);
        }
        if (stop && !list)
            return NULL;
    }
}

int walsync_start(const char *wal_path, struct handoff *to, char *err, size_t errsz)
{
    S.to = to;
    S.wal_path = gy_strdup(wal_path);
    /* The writer's connection has the WAL open (SQLite creates it when it
     * first reads a WAL database) and keeps it until writer_stop: the
     * file cannot go away while the syncer runs. */
    if ((S.fd = open(S.wal_path, O_RDWR | O_CLOEXEC)) < 0) {
        snprintf(err, errsz, "syncer: cannot open %s: %s", S.wal_path, strerror(errno));
        return GY_ERR;
    }
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    S.ready = true;
    if (pthread_create(&S.thread, NULL, syncer_main, NULL) != 0) {
        snprintf(err, errsz, "syncer: cannot start its thread");
        return GY_ERR;
    }
    S.running = true;
    return GY_OK;
}

void walsync_push(struct handoff_item *list)
{
    bool was_empty;

    pthread_mutex_lock(&S.mu);
    was_empty = !S.head;
    handoff_append(&S.head, &S.tail, list);
    pthread_mutex_unlock(&S.mu);
    if (was_empty)
        pthread_cond_signal(&S.cv);   /* as handoff_push */
}

unsigned long long walsync_count(void)
{
    return atomic_load(&S.syncs);
}

void walsync_stop(void)
{
    if (S.running) {
        pthread_mutex_lock(&S.mu);
        S.stop = true;
        pthread_cond_signal(&S.cv);
        pthread_mutex_unlock(&S.mu);
        pthread_join(S.thread, NULL);   /* after syncing what was queued */
    }
    if (S.ready) {
        pthread_mutex_destroy(&S.mu);
        pthread_cond_destroy(&S.cv);
    }
    if (S.fd >= 0)
        close(S.fd);
    free(S.wal_path);
    memset(&S, 0, sizeof S);
    S.fd = -1;
}
