/*
 * db.c - SQLite connections: opening (WAL, synchronous level, foreign
 * keys), migrations from schema/ built into the binary, and each module's
 * prepared statements. Every connection belongs to one thread: the writer
 * thread owns the read-write one, the loop thread a read-only one.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every module's statements; each is prepared on every connection. */
static const struct db_sqlset *const sets[] = { &auth_sql, &roster_sql, &health_sql, &wxlink_sql,
                                                &bind_sql, &push_sql, &qrcode_sql,
                                                &notify_sql, &deliver_sql, &consent_sql,
                                                &moderation_sql, &sites_sql, &shifts_sql,
                                                &attday_sql, &clockin_sql, &makeup_sql,
                                                &reports_sql };
#define NSETS GY_ARRAY_LEN(sets)

struct db_conn {
    sqlite3 *db;
    sqlite3_stmt **stmts[NSETS];
};

static struct db_conn *reader;

struct db_conn *db_reader(void)
{
    return reader;
}

void db_set_reader(struct db_conn *c)
{
    reader = c;
}

sqlite3 *db_handle(struct db_conn *c)
{
    return c->db;
}

int db_schema_version(void)
{
    return db_nmigrations ? db_migrations[db_nmigrations - 1].version : 0;
}

static int exec_simple(sqlite3 *db, const char *sql, char *err, size_t errsz)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errsz, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return GY_ERR;
    }
    return GY_OK;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;

    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* GY_OK when no row breaks a foreign key; else the first one, in WHY. */
static int foreign_keys_hold(sqlite3 *db, char *why, size_t whysz)
{
    sqlite3_stmt *st;
    int rc = GY_OK;

    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
        snprintf(why, whysz, "%s", sqlite3_errmsg(db));
        return GY_ERR;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(why, whysz, "row %lld of %s breaks its foreign key to %s",
                 (long long)sqlite3_column_int64(st, 1), (const char *)sqlite3_column_text(st, 0),
                 (const char *)sqlite3_column_text(st, 2));
        rc = GY_ERR;
    }
    sqlite3_finalize(st);
    return rc;
}

int db_migrate(sqlite3 *db, char *err, size_t errsz)
{
    int have = user_version(db), applied = 0;
    char why[512];

    if (have < 0) {
        snprintf(err, errsz, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return GY_ERR;
    }
    if (have > db_schema_version()) {
        snprintf(err, errsz, "the database has schema version %d but this gongyoud knows only up to %d: "
                 "run a newer gongyoud", have, db_schema_version());
        return GY_ERR;
    }
    for (size_t i = 0; i < db_nmigrations; i++) {
        const struct db_migration *m = &db_migrations[i];
        char pragma[64];

        if (m->version <= have)
            continue;
        /* The version is an integer from our own build; it cannot be bound in a PRAGMA. */
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", m->version);
        /* Foreign keys off while a migration runs, so it may rebuild a
         * table others refer to (SQLite's documented way), and checked as a
         * whole before the commit. */
        if (exec_simple(db, "PRAGMA foreign_keys = OFF", why, sizeof why) != GY_OK ||
            exec_simple(db, "BEGIN IMMEDIATE", why, sizeof why) != GY_OK ||
            exec_simple(db, m->sql, why, sizeof why) != GY_OK ||
            foreign_keys_hold(db, why, sizeof why) != GY_OK ||
            exec_simple(db, pragma, why, sizeof why) != GY_OK ||
            exec_simple(db, "COMMIT", why, sizeof why) != GY_OK) {
            exec_simple(db, "ROLLBACK", pragma, sizeof pragma);
            exec_simple(db, "PRAGMA foreign_keys = ON", pragma, sizeof pragma);
            snprintf(err, errsz, "migration %s failed: %s", m->name, why);
            return GY_ERR;
        }
        if (exec_simple(db, "PRAGMA foreign_keys = ON", why, sizeof why) != GY_OK) {
            snprintf(err, errsz, "migration %s: %s", m->name, why);
            return GY_ERR;
        }
        gy_log(LOG_INFO, "applied migration %s", m->name);
        applied++;
    }
    return applied;
}

static int prepare_sets(struct db_conn *c, char *err, size_t errsz)
{
    for (size_t s = 0; s < NSETS; s++) {
        c->stmts[s] = gy_calloc((size_t)sets[s]->n, sizeof(sqlite3_stmt *));
        for (int i = 0; i < sets[s]->n; i++) {
            if (sqlite3_prepare_v3(c->db, sets[s]->sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                   &c->stmts[s][i], NULL) != SQLITE_OK) {
                snprintf(err, errsz, "cannot prepare %s statement %d: %s", sets[s]->name, i,
                         sqlite3_errmsg(c->db));
                return GY_ERR;
            }
        }
    }
    return GY_OK;
}

struct db_conn *db_open(const char *path, bool readonly, const struct gy_config *cfg,
                        char *err, size_t errsz)
{
    struct db_conn *c = gy_calloc(1, sizeof *c);
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    char sync[64], limit[64], why[256];
    long long keep = (cfg->db.wal_reserve_mib > 64 ? cfg->db.wal_reserve_mib : 64) * 1048576LL;

    /* The writer's WAL appends go through walbuf.c: one write a commit. It
     * relies on the sync at every commit, so only with FULL or EXTRA (with
     * NORMAL a commit is published before any sync). */
    bool gather = !readonly && strcmp(cfg->db.synchronous, "NORMAL") != 0;
    if (sqlite3_open_v2(path, &c->db, flags, gather ? walbuf_register() : NULL) != SQLITE_OK) {
        snprintf(err, errsz, "cannot open database %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(c->db, (int)cfg->db.busy_timeout_ms);
    sqlite3_extended_result_codes(c->db, 1);
    /* synchronous is one of three words checked by config.c. */
    snprintf(sync, sizeof sync, "PRAGMA synchronous = %s", cfg->db.synchronous);
    if (exec_simple(c->db, "PRAGMA foreign_keys = ON", why, sizeof why) != GY_OK ||
        (!readonly && exec_simple(c->db, "PRAGMA journal_mode = WAL", why, sizeof why) != GY_OK) ||
        exec_simple(c->db, sync, why, sizeof why) != GY_OK) {
        snprintf(err, errsz, "cannot set up database %s: %s", path, why);
        goto fail;
    }
    /* The writer's working set at shift change is the day's rows and the
     * index leaves of every worker: keep them in memory (16 MiB), so a
     * punch costs no read system calls. */
    /* After a shift change the WAL may have grown past its reserve; when
     * it starts again (writer.c) it is cut back to db.wal_reserve_mib (64
     * MiB at least). A number of our own: PRAGMA takes no parameters. */
    snprintf(limit, sizeof limit, "PRAGMA journal_size_limit = %lld", keep);
    if (!readonly && (exec_simple(c->db, "PRAGMA cache_size = -16384", why, sizeof why) != GY_OK ||
                      exec_simple(c->db, limit, why, sizeof why) != GY_OK)) {
        snprintf(err, errsz, "cannot set up database %s: %s", path, why);
        goto fail;
    }
    if (!readonly && db_migrate(c->db, err, errsz) < 0)
        goto fail;
    if (readonly && user_version(c->db) != db_schema_version()) {
        snprintf(err, errsz, "database %s has schema version %d, expected %d", path,
                 user_version(c->db), db_schema_version());
        goto fail;
    }
    if (prepare_sets(c, err, errsz) != GY_OK)
        goto fail;
    return c;
fail:
    db_close(c);
    return NULL;
}

void db_close(struct db_conn *c)
{
    if (!c)
        return;
    for (size_t s = 0; s < NSETS; s++) {
        if (!c->stmts[s])
            continue;
        for (int i = 0; i < sets[s]->n; i++)
            sqlite3_finalize(c->stmts[s][i]);
        free(c->stmts[s]);
    }
    if (c->db && sqlite3_close(c->db) != SQLITE_OK)
        gy_log(LOG_ERROR, "cannot close database: %s", sqlite3_errmsg(c->db));
    free(c);
}

sqlite3_stmt *db_stmt(struct db_conn *c, const struct db_sqlset *set, int id)
{
    for (size_t s = 0; s < NSETS; s++) {
        if (sets[s] == set) {
            sqlite3_stmt *st = c->stmts[s][id];
            sqlite3_reset(st);
            return st;
        }
    }
    abort();   /* a set missing from sets[]: our bug */
}

int db_done(sqlite3_stmt *st, int rc)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int db_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return s ? sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);
}

int db_exec_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        gy_log(LOG_ERROR, "statement failed: %s: %s", sqlite3_errmsg(sqlite3_db_handle(st)),
               sqlite3_sql(st));
        db_done(st, rc);
        return GY_ERR;
    }
    db_done(st, rc);
    return GY_OK;
}

int db_fail(struct db_conn *c, const char *what)
{
    gy_log(LOG_ERROR, "%s: %s", what, sqlite3_errmsg(c->db));
    return GY_ERR;
}
