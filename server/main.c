/*
 * main.c - gongyoud's entry point: arguments, the operator subcommands,
 * start-up order, signals and a clean shutdown. Everything else is in the
 * modules listed in gongyou.h.
 */
#include "gongyou.h"
#include "wx.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <event2/thread.h>

static const char usage[] =
    "usage: gongyoud [-c FILE] [COMMAND]\n"
    "  (no command)                          run the service\n"
    "  migrate                               apply schema migrations and exit\n"
    "  roster import FILE.csv [--deactivate-missing]\n"
    "                                        load the roster (all or nothing)\n"
    "  apikey create --role ROLE --name NAME print a new API key once\n"
    "  apikey list                           list the keys (never the keys themselves)\n"
    "  apikey revoke NAME|ID                 stop accepting a key\n"
    "  --version                             print the version\n";

static struct {
    struct event_base *base;
    struct event *drain;
    int signals;
    double deadline_ms;
    bool forced;               /* stopped with requests unanswered */
    double quiet_since;        /* when draining found nothing left but unwritten replies */
    const struct gy_config *cfg;
} M;

/* mkdir -p, mode 0750 for what we create. */
static int make_dirs(const char *path)
{
    char *p = gy_strdup(path);
    int rc = GY_OK;

    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0750) != 0 && errno != EEXIST)
                rc = GY_ERR;
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    return rc;
}

static void drain_check(evutil_socket_t fd, short what, void *arg)
{
    double now = clock_mono_ms();

    if (http_inflight() == 0 && writer_depth() == 0 && deliver_inflight() == 0) {
        /* Every request is answered: give the replies a moment to reach
         * their sockets. A reply whose client vanished mid-write is never
         * reported written, so this wait is bounded. */
        if (M.quiet_since == 0)
            M.quiet_since = now;
        if (http_unflushed() == 0 || now - M.quiet_since > 1000)
            event_base_loopbreak(M.base);
        return;
    }
    M.quiet_since = 0;
    if (now > M.deadline_ms) {
        gy_log(LOG_WARN, "shutdown timeout: %d requests still in flight, %ld writes queued",
               http_inflight(), writer_depth());
        M.forced = true;
        event_base_loopbreak(M.base);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct timeval tick = { 0, 20000 };

    if (M.signals++) {
        gy_log(LOG_WARN, "second signal: stopping now");
        M.forced = true;
        event_base_loopbreak(M.base);
        return;
    }
    gy_log(LOG_INFO, "signal %d: no longer accepting; finishing %d requests", (int)sig, http_inflight());
    http_stop_accepting();
    deliver_stop();   /* no new sends; those under way finish */
    M.deadline_ms = clock_mono_ms() + (double)M.cfg->shutdown_timeout_s * 1000.0;
    M.drain = event_new(M.base, -1, EV_PERSIST, drain_check, NULL);
    event_add(M.drain, &tick);
}

/* The loop, with epoll's changelist: a request's reads and writes turn
 * its socket's events on and off several times before the loop polls
 * again; the changelist makes that one epoll_ctl instead of up to four. */
static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base;

    if (!ec)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

static int serve(const struct gy_config *cfg)
{
    struct event *sigs[2] = { NULL, NULL };
    struct db_conn *reader = NULL;
    char err[512] = "", *path;
    int rc = GY_ERR;

    M.cfg = cfg;
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    M.base = new_base();
    if (!M.base) {
        snprintf(err, sizeof err, "cannot create the event loop");
        goto out;
    }
    if (writer_start(M.base, cfg, err, sizeof err) != GY_OK)
        goto out;
    path = config_db_path(cfg);
    reader = db_open(path, true, cfg, err, sizeof err);
    free(path);
    if (!reader)
        goto out;
    db_set_reader(reader);
    if (wxlink_start(M.base, cfg, err, sizeof err) != GY_OK)
        goto out;
    if (reports_start(M.base, cfg, err, sizeof err) != GY_OK)
        goto out;
    metrics_init();
    auth_init(M.base, cfg);
    deliver_start(M.base, cfg);
    writer_set_on_rollback(attday_caches_reset);
    writer_set_after_batch(sesscache_batch_end);
    attday_start(M.base, cfg);
    sigs[0] = evsignal_new(M.base, SIGTERM, on_signal, NULL);
    sigs[1] = evsignal_new(M.base, SIGINT, on_signal, NULL);
    event_add(sigs[0], NULL);
    event_add(sigs[1], NULL);
    if (http_start(M.base, cfg, err, sizeof err) != GY_OK)
        goto out;
    gy_log(LOG_INFO, "gongyoud %s serving; data in %s; WeChat at %s", PROJECT_VERSION,
           cfg->data_dir, cfg->wechat.api_base);
    event_base_dispatch(M.base);
    rc = GY_OK;
out:
    if (err[0])
        gy_log(LOG_ERROR, "%s", err);
    /* Writer first: its last completions may still reply to requests. */
    attday_stop();
    deliver_stop();
    writer_stop();
    reports_stop();
    attday_caches_reset();
    wxlink_free();
    auth_free();
    sesscache_free();
    http_abandon_all();
    http_free();
    db_close(reader);
    metrics_free();
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (M.drain)
        event_free(M.drain);
    if (M.base)
        event_base_free(M.base);
    libevent_global_shutdown();
    if (rc == GY_OK)
        gy_log(M.forced ? LOG_WARN : LOG_INFO, M.forced ? "stopped; unanswered requests were dropped"
                                                        : "stopped cleanly");
    return rc;
}

/* Subcommands run synchronously on their own connection. */
static int run_command(const struct gy_config *cfg, int argc, char **argv)
{
    char err[512], *path = config_db_path(cfg);
    struct db_conn *c = db_open(path, false, cfg, err, sizeof err);
    int rc = GY_ERR;

    free(path);
    if (!c) {
        fprintf(stderr, "gongyoud: %s\n", err);
        return GY_ERR;
    }
    if (strcmp(argv[0], "migrate") == 0 && argc == 1) {
        printf("schema version %d\n", db_schema_version());
        rc = GY_OK;
    } else if (strcmp(argv[0], "roster") == 0 && argc >= 3 && strcmp(argv[1], "import") == 0 &&
               (argc == 3 || (argc == 4 && strcmp(argv[3], "--deactivate-missing") == 0))) {
        rc = roster_import_cli(c, argv[2], argc == 4);
    } else if (strcmp(argv[0], "apikey") == 0 && argc == 6 && strcmp(argv[1], "create") == 0 &&
               strcmp(argv[2], "--role") == 0 && strcmp(argv[4], "--name") == 0) {
        rc = auth_apikey_create(c, argv[3], argv[5]);
    } else if (strcmp(argv[0], "apikey") == 0 && argc == 6 && strcmp(argv[1], "create") == 0 &&
               strcmp(argv[2], "--name") == 0 && strcmp(argv[4], "--role") == 0) {
        rc = auth_apikey_create(c, argv[5], argv[3]);
    } else if (strcmp(argv[0], "apikey") == 0 && argc == 2 && strcmp(argv[1], "list") == 0) {
        rc = auth_apikey_list(c);
    } else if (strcmp(argv[0], "apikey") == 0 && argc == 3 && strcmp(argv[1], "revoke") == 0) {
        rc = auth_apikey_revoke(c, argv[2]);
    } else {
        fputs(usage, stderr);
    }
    db_close(c);
    return rc;
}

int main(int argc, char **argv)
{
    struct gy_config cfg;
    const char *file = NULL;
    char err[512];
    int i = 1, rc;

    /* No fastbins (the per-thread caches stay): with them, every read
     * buffer the loop allocates (over 1 KiB) first merged the freed small
     * chunks, about 5 % of the loop at shift change; 7 % more clock-ins
     * a second without (scripts/bench). */
    mallopt(M_MXFAST, 0);
    /* SQLite's memory statistics take a process-wide mutex at every
     * allocation, shared by the loop, the writer, the checkpointer and the
     * report threads; nothing here reads them. Before any other call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    gy_json_hooks_init();
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("gongyoud %s (schema %d)\n", PROJECT_VERSION, db_schema_version());
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "-c") == 0) {
        file = argv[2];
        i = 3;
    }
    if (config_load(&cfg, file, err, sizeof err) != GY_OK) {
        fprintf(stderr, "gongyoud: %s\n", err);
        return 2;
    }
    if (notify_config_check(&cfg, err, sizeof err) != GY_OK ||
        routes_check(cfg.wechat.push_path, err, sizeof err) != GY_OK) {
        fprintf(stderr, "gongyoud: %s\n", err);
        notify_config_free();
        config_free(&cfg);
        return 2;
    }
    log_set_level(log_level_parse(cfg.log_level));
    clock_enable_testing(cfg.testing_clock);
    if (make_dirs(cfg.data_dir) != GY_OK) {
        fprintf(stderr, "gongyoud: cannot create data_dir %s: %s\n", cfg.data_dir, strerror(errno));
        notify_config_free();
        config_free(&cfg);
        return 1;
    }
    if (i < argc)
        rc = run_command(&cfg, argc - i, argv + i);
    else
        rc = serve(&cfg);
    notify_config_free();
    config_free(&cfg);
    return rc == GY_OK ? 0 : 1;
}
