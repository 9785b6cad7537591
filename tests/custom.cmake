# Custom ops' tests (include/skim-custom.h), included by tests/CMakeLists.txt.
# golden_custom (the CUSTOM row of graph/ops.def) is part of test_golden; test_custom
# holds the cache, SPIR-V, selection-stats and bad-input cases.
if(TARGET test_golden)
  target_sources(test_golden PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/test_golden_custom.c)
  add_test(NAME test_golden_custom COMMAND test_golden custom)
  set_tests_properties(test_golden_custom PROPERTIES LABELS core SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# test_custom: Vulkan against the CPU function, the shader cache, SPIR-V input (the
# SPIR-V of test_custom_ew.comp, compiled by glslc here), run stats, bad input.
if(TARGET skim_vulkan AND SKIM_GLSLC_EXE)
  set(_tc_spv ${CMAKE_CURRENT_BINARY_DIR}/test_custom_ew.spv)
  add_custom_command(OUTPUT ${_tc_spv}
    COMMAND ${SKIM_GLSLC_EXE} -fshader-stage=compute --target-env=vulkan1.1 -Werror
            -I${PROJECT_SOURCE_DIR}/shaders -MD -MF ${_tc_spv}.d -o ${_tc_spv}
            ${CMAKE_CURRENT_SOURCE_DIR}/test_custom_ew.comp
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test_custom_ew.comp
    DEPFILE ${_tc_spv}.d
    COMMENT "glslc test_custom_ew"
    VERBATIM)
  add_custom_target(test_custom_spv DEPENDS ${_tc_spv})
  add_executable(test_custom ${CMAKE_CURRENT_SOURCE_DIR}/test_custom.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/common/test_backends.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
  add_dependencies(test_custom test_custom_spv)
  target_compile_definitions(test_custom PRIVATE SKIM_TEST_HAVE_VULKAN
                             SKIM_TEST_CUSTOM_SPV="${_tc_spv}")
  target_link_libraries(test_custom PRIVATE skim_test_common skim_vulkan skim_cpu skim_core
                        skim_warnings)
  add_test(NAME test_custom COMMAND test_custom)
  set_tests_properties(test_custom PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

# The example checks its block on both backends (77: no device, or no libshaderc).
if(TARGET custom_op)
  add_test(NAME test_custom_op_example COMMAND custom_op 2)
  set_tests_properties(test_custom_op_example PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77
                       TIMEOUT 120)
endif()
