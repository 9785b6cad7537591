// test_custom_ew.comp - the "ew" custom op of test_custom_ops.h as a file: glslc compiles
// it when the tests are built (tests/custom.cmake), and test_custom hands the SPIR-V
// words to skim_custom (desc.spirv), the path of hosts without libshaderc.
#version 450
#include "skim_custom.glsl"
struct params { float a; float b; };
SKIM_CUSTOM_PUSH(params)
SKIM_CUSTOM_OUTPUT(float, Y)
SKIM_CUSTOM_INPUT(0, float, X0)
SKIM_CUSTOM_INPUT(1, float, X1)
layout(local_size_x = 64) in;
void main() {
    uint e = skim_custom_element();
    if (e >= skim_custom_n_elements()) return;
    Y[SKIM_CUSTOM_OFF_DST + e] = pc.p.a * tanh(X0[SKIM_CUSTOM_OFF(0) + e]) +
                                 pc.p.b * X1[SKIM_CUSTOM_OFF(1) + e];
}
