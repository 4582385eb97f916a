/* SPDX-License-Identifier: MIT */
/* A tiny assertion counter shared by the C test programs: CHECK(cond) counts a pass or prints
 * and counts a failure; FINISH(name) prints "name: N passed, M failed" and gives the exit code. */
#ifndef AUDIOBRIDGE_C_CHECK_H
#define AUDIOBRIDGE_C_CHECK_H
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            check_passed++;                                                        \
        } else {                                                                   \
            check_failed++;                                                        \
            fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                          \
    } while (0)

#define FINISH(name) (printf("%s: %d passed, %d failed\n", (name), check_passed, check_failed), check_failed == 0 ? 0 : 1)
#endif
