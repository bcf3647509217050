/*
 * walbuf.c - a SQLite VFS that writes a commit's WAL frames with one
 * system call instead of two per frame.
 *
 * At shift change a group commit appends a few hundred frames to the WAL,
 * and SQLite writes each as two pwrite calls (the 24-byte frame header,
 * then the page): on this kind of machine those calls were over a third of
 * the writer thread's time. This VFS wraps the default one; for the WAL
 * file only, it gathers writes that follow one another in memory and hands
 * them to the real file as one write when SQLite syncs, reads, asks the
 * size, truncates or closes, or when the gathered run would exceed
 * WALBUF_MAX. Nothing is durable before xSync in any case, and SQLite
 * publishes a commit in the WAL index (where other connections find its
 * frames) only after the commit's xSync, which always writes out what is
 * gathered, even when the fdatasync itself is left to the syncer
 * (walbuf_defer_sync): what other connections can see is in the file.
 *
 * That needs an xSync at every commit: only the writer's connection opens
 * the database through it (walbuf_register, db_open), and only with
 * synchronous FULL or EXTRA. With NORMAL, SQLite publishes a commit
 * without any xSync, and other connections would look for frames still in
 * the buffer. SQLite documents the VFS as the way to do this; the write
 * path and its error codes stay the default VFS's.
 * A failed write is reported to SQLite, which abandons the transaction and
 * writes its frames again from the last commit: the gathered bytes are
 * dropped, not retried.
 */
#include "gongyou.h"

#include <stdlib.h>
#include <string.h>

#define WALBUF_MAX (4 << 20)   /* bytes gathered at most before a write */

struct wb_file {
    sqlite3_file base;
    sqlite3_file *real;      /* the default VFS's file, allocated just after */
    bool wal;
    char *buf;               /* gathered bytes of [off, off + len) */
    size_t len, cap;
    sqlite3_int64 off;
    bool header;             /* the WAL's header was written since its last sync */
};

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *real_vfs;

#define REAL(f) (((struct wb_file *)(f))->real)

/* The default VFS writes at most 128 KiB - 1 per call (os_unix.c masks the
 * length with 0x1ffff, and a longer write is reported as a full disk). */
#define REAL_WRITE_MAX 126976

static int flush(struct wb_file *f)
{
    int rc = SQLITE_OK;

    for (size_t at = 0; at < f->len && rc == SQLITE_OK; at += REAL_WRITE_MAX) {
        size_t n = f->len - at < REAL_WRITE_MAX ? f->len - at : REAL_WRITE_MAX;
        rc = f->real->pMethods->xWrite(f->real, f->buf + at, (int)n, f->off + (sqlite3_int64)at);
    }
    f->len = 0;
    return rc;
}

static int wb_close(sqlite3_file *file)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = flush(f), rc2 = f->real->pMethods->xClose(f->real);

    free(f->buf);
    f->buf = NULL;
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *file, void *out, int amt, sqlite3_int64 off)
{
    int rc = flush((struct wb_file *)file);

    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xRead(REAL(file), out, amt, off);
}

static int wb_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc;

    if (!f->wal)
        return f->real->pMethods->xWrite(f->real, data, amt, off);
    if (off == 0)
        f->header = true;   /* the WAL starts again: see wb_sync */
    if (f->len && (off != f->off + (sqlite3_int64)f->len || f->len + (size_t)amt > WALBUF_MAX) &&
        (rc = flush(f)) != SQLITE_OK)
        return rc;
    if ((size_t)amt > REAL_WRITE_MAX)
        return f->real->pMethods->xWrite(f->real, data, amt, off);   /* SQLite's own, as it came */
    if (!f->len)
        f->off = off;
    if (f->len + (size_t)amt > f->cap) {
        size_t cap = f->cap ? f->cap : 65536;
        char *p;
        while (cap < f->len + (size_t)amt)
            cap *= 2;
        if (!(p = realloc(f->buf, cap)))
            return SQLITE_IOERR_NOMEM;
        f->buf = p;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += (size_t)amt;
    return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    int rc = flush((struct wb_file *)file);

    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xTruncate(REAL(file), size);
}

/* The writer thread, during its COMMIT (walbuf_defer_sync): the WAL's
 * sync is left to the syncer (walsync.c), which runs it before any unit of
 * the batch is answered. Every other sync is made here: the checkpoint's,
 * and the one SQLite makes right after writing a new WAL header when the
 * WAL starts again, before any frame follows it (SQLite ticket ff5be73dee:
 * frames persisted ahead of their header can corrupt the database). */
static _Thread_local bool defer_sync;

void walbuf_defer_sync(bool on)
{
    defer_sync = on;
}

static int wb_sync(sqlite3_file *file, int flags)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc = flush(f);

    if (rc != SQLITE_OK || (f->wal && defer_sync && !f->header))
        return rc;
    f->header = false;
    return f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    int rc = flush((struct wb_file *)file);

    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileSize(REAL(file), size);
}

static int wb_lock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xLock(REAL(file), lock);
}

static int wb_unlock(sqlite3_file *file, int lock)
{
    return REAL(file)->pMethods->xUnlock(REAL(file), lock);
}

static int wb_check_reserved(sqlite3_file *file, int *out)
{
    return REAL(file)->pMethods->xCheckReservedLock(REAL(file), out);
}

static int wb_file_control(sqlite3_file *file, int op, void *arg)
{
    int rc = flush((struct wb_file *)file);

    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFileControl(REAL(file), op, arg);
}

static int wb_sector_size(sqlite3_file *file)
{
    return REAL(file)->pMethods->xSectorSize(REAL(file));
}

static int wb_device_characteristics(sqlite3_file *file)
{
    return REAL(file)->pMethods->xDeviceCharacteristics(REAL(file));
}

static int wb_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out)
{
    return REAL(file)->pMethods->xShmMap(REAL(file), page, size, extend, out);
}

static int wb_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
    return REAL(file)->pMethods->xShmLock(REAL(file), offset, n, flags);
}

static void wb_shm_barrier(sqlite3_file *file)
{
    REAL(file)->pMethods->xShmBarrier(REAL(file));
}

static int wb_shm_unmap(sqlite3_file *file, int delete_flag)
{
    return REAL(file)->pMethods->xShmUnmap(REAL(file), delete_flag);
}

static int wb_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **out)
{
    int rc = flush((struct wb_file *)file);

    return rc != SQLITE_OK ? rc : REAL(file)->pMethods->xFetch(REAL(file), off, amt, out);
}

static int wb_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
    return REAL(file)->pMethods->xUnfetch(REAL(file), off, p);
}

static const sqlite3_io_methods wb_methods = {
    3, wb_close, wb_read, wb_write, wb_truncate, wb_sync, wb_file_size, wb_lock, wb_unlock,
    wb_check_reserved, wb_file_control, wb_sector_size, wb_device_characteristics, wb_shm_map,
    wb_shm_lock, wb_shm_barrier, wb_shm_unmap, wb_fetch, wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    struct wb_file *f = (struct wb_file *)file;
    int rc;

    (void)vfs;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK || !f->real->pMethods || f->real->pMethods->iVersion < 3) {
        if (rc == SQLITE_OK && f->real->pMethods)
            f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
    }
    f->wal = (flags & SQLITE_OPEN_WAL) != 0;
    f->base.pMethods = &wb_methods;
    return SQLITE_OK;
}

const char *walbuf_register(void)
{
    if (!real_vfs) {
        real_vfs = sqlite3_vfs_find(NULL);
        wb_vfs = *real_vfs;
        wb_vfs.zName = "gongyou-walbuf";
        wb_vfs.szOsFile = (int)sizeof(struct wb_file) + real_vfs->szOsFile;
        wb_vfs.xOpen = wb_open;
        wb_vfs.pNext = NULL;
        if (sqlite3_vfs_register(&wb_vfs, 0) != SQLITE_OK)
            return NULL;
    }
    return wb_vfs.zName;
}
