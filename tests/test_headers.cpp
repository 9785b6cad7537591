// test_headers.cpp - the public headers compile as C++ with -Wall -Wextra -Werror -pedantic
// and link from C++.
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#include "skim-custom.h"

#include <cstdio>
#include <cstring>

int main() {
    skim_context *ctx = nullptr;
    skim_context_desc desc = {};
    if (skim_context_create(&desc, &ctx) != SKIM_OK) return 1;
    skim_tensor *a = skim_new_input_1d(ctx, SKIM_TYPE_F32, 4);
    skim_tensor *b = skim_scale(ctx, a, 2.0f);
    skim_graph *g = nullptr;
    int rc = skim_graph_build(ctx, &b, 1, &g) == SKIM_OK ? 0 : 1;
    skim_backend *be = nullptr;
    skim_cpu_desc cd = {};
    if (skim_backend_create_cpu(&cd, &be) != SKIM_OK) rc = 1;
    skim_backend_destroy(be);
    skim_context_destroy(ctx);
    if (std::strlen(skim_status_str(SKIM_ERR_SHAPE)) == 0) rc = 1;
    std::printf("C++: %s\n", rc ? "FAILED" : "PASSED");
    return rc;
}
