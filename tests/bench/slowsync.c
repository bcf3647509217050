/*
 * slowsync.c - an LD_PRELOAD library for scripts/bench --sync-delay-ms:
 * every fsync and fdatasync first sleeps $GY_SYNC_DELAY_US microseconds,
 * so this machine's fast disk can stand in for a slower one (a cloud
 * volume's few milliseconds a sync) when comparing ways of syncing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static void delay(void)
{
    const char *us = getenv("GY_SYNC_DELAY_US");

    if (us)
        usleep((useconds_t)strtoul(us, NULL, 10));
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    delay();
    return real(fd);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    delay();
    return real(fd);
}
