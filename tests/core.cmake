# The core test suite (included by tests/CMakeLists.txt). Every test is a C program that
# returns non-zero on failure and prints what failed.
#
# Backends: test_golden and test_property run on every backend of
# tests/common/test_backends.c. tests/vulkan.cmake adds the Vulkan backend to them with
#   target_sources(<t> PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
#   target_compile_definitions(<t> PRIVATE SKIM_TEST_HAVE_VULKAN)
#   target_link_libraries(<t> PRIVATE skim_vulkan)
# (test_backends.c is compiled into each of those targets so that it sees the define).

set(_skim_tests_dir ${CMAKE_CURRENT_SOURCE_DIR})

add_library(skim_test_common STATIC
  ${_skim_tests_dir}/common/test_common.c
  ${_skim_tests_dir}/common/golden_case.c
  ${_skim_tests_dir}/common/gated_stack.c)
target_include_directories(skim_test_common PUBLIC ${_skim_tests_dir}/common)
target_link_libraries(skim_test_common PUBLIC skim_core skim_cpu PRIVATE skim_warnings)

# skim_core_test(name [BACKENDS] [INTERNAL] [TIMEOUT s] [ARGS ...]):
# tests/<name>.c linked to the helpers; BACKENDS adds the backend list, INTERNAL the
# graph/ include directory (skim-impl.h, ops.def).
function(skim_core_test name)
  cmake_parse_arguments(T "BACKENDS;INTERNAL" "TIMEOUT" "ARGS" ${ARGN})
  add_executable(${name} ${_skim_tests_dir}/${name}.c)
  if(T_BACKENDS)
    target_sources(${name} PRIVATE ${_skim_tests_dir}/common/test_backends.c)
  endif()
  if(T_INTERNAL)
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/graph)
  endif()
  target_link_libraries(${name} PRIVATE skim_test_common skim_core skim_cpu skim_warnings)
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS core)
endfunction()

skim_core_test(test_golden BACKENDS INTERNAL TIMEOUT 300)
target_sources(test_golden PRIVATE ${_skim_tests_dir}/test_golden_sel.c
                                   ${_skim_tests_dir}/test_golden_mix.c)
skim_core_test(test_property BACKENDS TIMEOUT 300)
skim_core_test(test_mixer_block BACKENDS)
skim_core_test(test_threads)
# The kernels below the best this CPU has (skim_cpu_desc.max_isa through
# SKIM_TEST_CPU_ISA): on x86-64 the portable C path, which is otherwise built only with
# SKIM_CPU_NO_SIMD, and the AVX2 path on a machine with AVX-512. aarch64 ignores the cap.
foreach(_isa portable avx2)
  add_test(NAME test_threads_isa_${_isa} COMMAND test_threads)
  set_tests_properties(test_threads_isa_${_isa} PROPERTIES TIMEOUT 120 LABELS core
                       ENVIRONMENT SKIM_TEST_CPU_ISA=${_isa})
endforeach()
skim_core_test(test_qact)
foreach(_isa portable avx2)
  add_test(NAME test_qact_isa_${_isa} COMMAND test_qact)
  set_tests_properties(test_qact_isa_${_isa} PROPERTIES TIMEOUT 120 LABELS core
                       ENVIRONMENT SKIM_TEST_CPU_ISA=${_isa})
endforeach()
add_test(NAME test_golden_isa_portable COMMAND test_golden)
set_tests_properties(test_golden_isa_portable PROPERTIES TIMEOUT 300 LABELS core
                     SKIP_RETURN_CODE 77 ENVIRONMENT SKIM_TEST_CPU_ISA=portable)
skim_core_test(test_misuse INTERNAL)
skim_core_test(test_quant)
skim_core_test(test_quant_k BACKENDS)
skim_core_test(test_memory)
skim_core_test(test_states)

# The public headers compile as C99 and as C++ with -Wall -Wextra -Werror.
add_executable(test_headers_cpp ${_skim_tests_dir}/test_headers.cpp)
target_link_libraries(test_headers_cpp PRIVATE skim_core skim_cpu)
target_compile_options(test_headers_cpp PRIVATE -Wall -Wextra -Werror -pedantic)
set_target_properties(test_headers_cpp PROPERTIES CXX_STANDARD 11 CXX_STANDARD_REQUIRED ON
                                                  CXX_EXTENSIONS OFF)
add_test(NAME test_headers_cpp COMMAND test_headers_cpp)
add_executable(test_headers_c99 ${_skim_tests_dir}/test_headers_c99.c)
target_link_libraries(test_headers_c99 PRIVATE skim_core skim_cpu)
target_compile_options(test_headers_c99 PRIVATE -Wall -Wextra -Werror -pedantic)
set_target_properties(test_headers_c99 PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON
                                                  C_EXTENSIONS OFF)
add_test(NAME test_headers_c99 COMMAND test_headers_c99)
set_tests_properties(test_headers_cpp test_headers_c99 PROPERTIES LABELS core)
include(${PROJECT_SOURCE_DIR}/cmake/skim_header_checks.cmake) # each include/*.h alone

# The README's quick start is examples/quickstart/main.c, verbatim, and it runs.
add_test(NAME test_readme_quickstart
  COMMAND ${CMAKE_COMMAND} -DREADME=${PROJECT_SOURCE_DIR}/README.md
          -DSOURCE=${PROJECT_SOURCE_DIR}/examples/quickstart/main.c
          -P ${_skim_tests_dir}/check_readme.cmake)
set_tests_properties(test_readme_quickstart PROPERTIES LABELS core)
if(TARGET quickstart)
  add_test(NAME test_quickstart_runs COMMAND quickstart)
  add_test(NAME test_hello_runs COMMAND hello)
  set_tests_properties(test_quickstart_runs test_hello_runs PROPERTIES LABELS core TIMEOUT 60)
  # Worked by hand from the program's w, x and gate: head 1 (rows 2, 3) is zero.
  set_tests_properties(test_quickstart_runs PROPERTIES PASS_REGULAR_EXPRESSION
    "y\\[:, 0\\] = 0 -5 0 0 10 0\ny\\[:, 1\\] = 2 -3 0 0 2 2\n")
endif()
