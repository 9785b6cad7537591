/* test_headers_c99.c - the public headers compile as C99 with -Wall -Wextra -Werror
 * -pedantic. */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#include "skim-custom.h"

#include <stdio.h>

int main(void) {
    skim_context *ctx = NULL;
    int rc;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    rc = skim_new_input_1d(ctx, SKIM_TYPE_F32, 4) ? 0 : 1;
    skim_context_destroy(ctx);
    printf("C99: %s\n", rc ? "FAILED" : "PASSED");
    return rc;
}
