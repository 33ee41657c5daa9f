/* A tiny test harness: each tests/test_*.c is one binary built by CMake and
 * run by ctest. CHECK records a failure and goes on; the binary prints
 * "N passed, N failed" and exits non-zero on any failure (77 = skipped). */
#ifndef WEIR_CHECK_H
#define WEIR_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECK_STR(got, want)                                                     \
    do {                                                                         \
        const char *g_ = (got), *w_ = (want);                                    \
        if (g_ && w_ && strcmp(g_, w_) == 0) {                                   \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK_STR failed\n  got:  %s\n  want: %s\n", \
                    __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
        }                                                                        \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                               \
    do {                                                                         \
        double g_ = (got), w_ = (want);                                          \
        if (g_ - w_ <= (tol) && w_ - g_ <= (tol)) {                              \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, want %.9g\n",  \
                    __FILE__, __LINE__, #got, g_, w_);                           \
        }                                                                        \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
