/*
 * syncgate.c - an LD_PRELOAD library for the e2e tests, acting only on
 * fdatasync and fsync called from the thread named "gy-syncer": while the
 * file named by $GY_SYNC_GATE exists they wait (a committed write must
 * not be answered before its sync); while the file named by
 * $GY_SYNC_FAIL exists they fail with EIO (a failing disk).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static bool exists(const char *env)
{
    const char *path = getenv(env);

    return path && access(path, F_OK) == 0;
}

/* false: the sync is to fail. */
static bool at_gate(void)
{
    char name[16] = "";

    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (strcmp(name, "gy-syncer") != 0)
        return true;
    for (int i = 0; i < 6000 && exists("GY_SYNC_GATE"); i++)   /* 60 s at most */
        usleep(10000);
    if (exists("GY_SYNC_FAIL")) {
        errno = EIO;
        return false;
    }
    return true;
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    return at_gate() ? real(fd) : -1;
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    return at_gate() ? real(fd) : -1;
}
