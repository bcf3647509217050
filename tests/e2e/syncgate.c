/*
 * syncgate.c - an LD_PRELOAD library for the e2e tests: while the file
 * named by $GY_SYNC_GATE exists, fdatasync and fsync called from the
 * thread named "gy-syncer" wait. The test holds the syncer back this way
 * and checks that a committed write is not answered before its sync.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void wait_at_gate(void)
{
    const char *gate = getenv("GY_SYNC_GATE");
    char name[16] = "";

    prctl(PR_GET_NAME, name, 0, 0, 0);
    if (!gate || strcmp(name, "gy-syncer") != 0)
        return;
    for (int i = 0; i < 6000 && access(gate, F_OK) == 0; i++)   /* 60 s at most */
        usleep(10000);
}

int fdatasync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");

    wait_at_gate();
    return real(fd);
}

int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    wait_at_gate();
    return real(fd);
}
