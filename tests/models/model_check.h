/* model_check.h - the failure counter and CHECK of the model tests (which link no test
 * library): a failed check prints "FAIL file:line: message" and counts. */
#ifndef SKIM_MODEL_CHECK_H
#define SKIM_MODEL_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                     \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
    } while (0)

#endif /* SKIM_MODEL_CHECK_H */
