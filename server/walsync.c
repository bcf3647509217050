/*
 * walsync.c - the syncer: makes committed batches durable while the writer
 * goes on with the next one.
 *
 * With db.synchronous FULL, SQLite's commit writes the batch's WAL frames
 * and then waits for fdatasync on the WAL, about a millisecond on this
 * kind of machine, during which the writer thread could have run the next
 * batch. So the writer's COMMIT hands the sync to this thread instead
 * (walbuf.c: the frames are written to the file before COMMIT returns, the
 * sync is owed) and passes the batch here. The syncer takes every batch
 * queued, runs one fdatasync on the WAL file for all of them, and only
 * then hands them to the loop, so a reply is still sent only once its data
 * is on disk. One fdatasync covers every frame written before it started,
 * and batches are delivered in commit order.
 *
 * Other connections can read a batch between its COMMIT and its sync, as
 * with SQLite's synchronous NORMAL: a power cut in that millisecond loses
 * the batch whole (the WAL's checksums drop frames past the last synced
 * commit), never half of it, and its units were never answered. The
 * checkpoint still syncs the WAL itself before copying it back.
 */
#include "gongyou.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct handoff_item *head, *tail;   /* committed, not yet synced; mu */
    bool stop, running;                 /* mu */
    struct handoff *to;                 /* where synced batches go */
    void (*failed)(struct handoff_item *list);
    char *wal_path, *dir_path;
    int fd;                             /* the WAL, opened on first need */
    atomic_ullong syncs;
} S = { .fd = -1 };

/* A file's creation is durable once its directory is synced: SQLite does
 * this at a new WAL's first sync, which is now ours. */
static int sync_dir(void)
{
    int fd = open(S.dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* The WAL file, (re)opened when it was not open yet or SQLite has since
 * deleted it (the last connection to the database closed). */
static int wal_fd(void)
{
    struct stat st;

    if (S.fd >= 0 && fstat(S.fd, &st) == 0 && st.st_nlink > 0)
        return S.fd;
    if (S.fd >= 0)
        close(S.fd);
    S.fd = open(S.wal_path, O_RDWR | O_CLOEXEC);
    if (S.fd >= 0 && sync_dir() != 0) {
        close(S.fd);
        S.fd = -1;
    }
    return S.fd;
}

static int sync_wal(void)
{
    int fd = wal_fd();

    if (fd < 0 || fdatasync(fd) != 0) {
        gy_log(LOG_ERROR, "syncer: cannot sync %s: %s; the batch is answered as failed", S.wal_path,
               strerror(errno));
        return GY_ERR;
    }
    atomic_fetch_add(&S.syncs, 1);
    return GY_OK;
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
            if (sync_wal() != GY_OK)
                S.failed(list);
            handoff_finished(S.to, list);
        }
        if (stop && !list)
            return NULL;
    }
}

int walsync_start(const struct gy_config *cfg, struct handoff *to,
                  void (*failed)(struct handoff_item *list))
{
    char *db_path = config_db_path(cfg);
    size_t n = strlen(db_path) + sizeof "-wal";

    S.to = to;
    S.failed = failed;
    S.wal_path = gy_malloc(n);
    snprintf(S.wal_path, n, "%s-wal", db_path);
    free(db_path);
    S.dir_path = gy_strdup(cfg->data_dir);
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.cv, NULL);
    if (pthread_create(&S.thread, NULL, syncer_main, NULL) != 0)
        return GY_ERR;
    S.running = true;
    return GY_OK;
}

void walsync_push(struct handoff_item *list)
{
    struct handoff_item *last = list;
    bool was_empty;

    while (last->next)
        last = last->next;
    pthread_mutex_lock(&S.mu);
    was_empty = !S.head;
    if (S.tail)
        S.tail->next = list;
    else
        S.head = list;
    S.tail = last;
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
        S.running = false;
        pthread_mutex_destroy(&S.mu);
        pthread_cond_destroy(&S.cv);
    }
    if (S.fd >= 0)
        close(S.fd);
    free(S.wal_path);
    free(S.dir_path);
    memset(&S, 0, sizeof S);
    S.fd = -1;
}
