/* Unit tests for walbuf.c: what the writer commits through the gathering
 * VFS is what another connection (the default VFS) reads, for commits
 * small and large (larger than one write of the default VFS, and than
 * the page cache, so SQLite spills frames before the commit). */
#include "gongyou.h"
#include "unit.h"

#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every fsync and fdatasync SQLite makes, counted: these definitions
 * interpose libc's for libsqlite3 too. */
static int n_syncs;

int fdatasync(int fd)
{
    n_syncs++;
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    n_syncs++;
    return (int)syscall(SYS_fsync, fd);
}

static sqlite3 *open_db(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;

    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs) == SQLITE_OK);
    return db;
}

static int64_t one(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    CHECK(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Insert N rows of SIZE random bytes in one transaction. */
static void insert(sqlite3 *db, int n, int size)
{
    sqlite3_stmt *st;

    CHECK(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t (b) VALUES (randomblob(?1))", -1, &st, NULL) == SQLITE_OK);
    for (int i = 0; i < n; i++) {
        sqlite3_bind_int(st, 1, size);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
}

/* A new database in a new directory DIR (a mkdtemp template), PATH its
 * file, opened through walbuf in WAL mode with synchronous FULL and
 * PRAGMAS, with one table t. */
static sqlite3 *writer_db(char *dir, char path[64], const char *pragmas)
{
    const char *vfs = walbuf_register();
    char sql[256];
    sqlite3 *w;

    CHECK(vfs != NULL);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, 64, "%s/t.db", dir);
    w = open_db(path, vfs);
    snprintf(sql, sizeof sql, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; %s "
             "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB NOT NULL)", pragmas);
    CHECK(sqlite3_exec(w, sql, NULL, NULL, NULL) == SQLITE_OK);
    return w;
}

static void remove_db(const char *dir, const char *path)
{
    char name[80];

    snprintf(name, sizeof name, "%s-wal", path);
    unlink(name);
    snprintf(name, sizeof name, "%s-shm", path);
    unlink(name);
    unlink(path);
    rmdir(dir);
}

static void commits_read_back(void)
{
    char dir[] = "/tmp/gy-walbuf-XXXXXX", path[64];
    sqlite3 *w = writer_db(dir, path, "PRAGMA cache_size = 50;"), *r;

    r = open_db(path, NULL);
    for (int i = 0; i < 50; i++)   /* small commits, each visible at once */
        insert(w, 3, 100);
    CHECK(one(r, "SELECT count(*) FROM t") == 150);
    insert(w, 3000, 2000);         /* ~6 MiB in one commit, spilled on the way */
    CHECK(one(r, "SELECT count(*) FROM t") == 3150);
    CHECK(one(r, "SELECT sum(length(b)) FROM t") == 150 * 100 + 3000 * 2000);
    CHECK(sqlite3_exec(w, "UPDATE t SET b = zeroblob(10) WHERE id % 2 = 0", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(one(r, "SELECT count(*) FROM t WHERE length(b) = 10") == 1575);
    CHECK(one(w, "SELECT count(*) FROM t WHERE length(b) = 10") == 1575);
    sqlite3_close(r);
    sqlite3_close(w);
    /* After close, from the file alone. */
    r = open_db(path, NULL);
    CHECK(one(r, "SELECT count(*) FROM t") == 3150);
    {
        sqlite3_stmt *st;
        CHECK(sqlite3_prepare_v2(r, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
    }
    sqlite3_close(r);
    remove_db(dir, path);
}

/* walbuf_defer_sync: the writer's COMMIT writes its frames (another
 * connection reads them at once) but leaves the fdatasync to the syncer;
 * a sync right after a new WAL header (the WAL starting again) is still
 * made at once, before any frame follows the header. */
static void deferred_sync(void)
{
    char dir[] = "/tmp/gy-walbuf-XXXXXX", path[64];
    sqlite3 *w = writer_db(dir, path, ""), *r;
    int before, log = -1, done = -1;

    r = open_db(path, NULL);
    insert(w, 10, 100);
    CHECK(one(r, "SELECT count(*) FROM t") == 10);

    before = n_syncs;
    insert(w, 10, 100);                     /* not deferred: SQLite syncs */
    CHECK(n_syncs > before);

    before = n_syncs;
    walbuf_defer_sync(true);
    for (int i = 0; i < 5; i++)
        insert(w, 10, 5000);
    walbuf_defer_sync(false);
    CHECK(n_syncs == before);               /* left to the caller */
    CHECK(one(r, "SELECT count(*) FROM t") == 70);
    CHECK(one(r, "SELECT sum(length(b)) FROM t") == 20 * 100 + 50 * 5000);

    /* Copy everything back; the next commit starts the WAL again. */
    CHECK(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_RESTART, &log, &done) == SQLITE_OK);
    CHECK(log == done);
    before = n_syncs;
    walbuf_defer_sync(true);
    insert(w, 10, 100);
    walbuf_defer_sync(false);
    CHECK(n_syncs == before + 1);           /* the new header's sync, and only it */
    CHECK(one(r, "SELECT count(*) FROM t") == 80);

    sqlite3_close(r);
    sqlite3_close(w);
    r = open_db(path, NULL);
    CHECK(one(r, "SELECT count(*) FROM t") == 80);
    sqlite3_close(r);
    remove_db(dir, path);
}

static const struct unit_test tests[] = {
    { "commits_read_back", commits_read_back },
    { "deferred_sync", deferred_sync },
};

int main(void)
{
    return RUN_TESTS(tests);
}
