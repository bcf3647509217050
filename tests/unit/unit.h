/*
 * unit.h - the smallest test harness that does the job: CHECK records a
 * failure with file:line and carries on; RUN_TESTS runs a {name, fn}
 * table and prints "N passed, M failed" as its last line.
 */
#ifndef GY_UNIT_H
#define GY_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            unit_failures++;                                                     \
        }                                                                        \
    } while (0)

#define CHECK_STR(a, b)                                                          \
    do {                                                                         \
        const char *a_ = (a), *b_ = (b);                                         \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                 \
            fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,     \
                    a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
            unit_failures++;                                                     \
        }                                                                        \
    } while (0)

struct unit_test {
    const char *name;
    void (*fn)(void);
};

static inline int unit_run(const struct unit_test *t, size_t n)
{
    int passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        int before = unit_failures;
        t[i].fn();
        if (unit_failures == before) {
            passed++;
            printf("ok   %s\n", t[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", t[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define RUN_TESTS(table) unit_run(table, sizeof(table) / sizeof((table)[0]))

#endif
