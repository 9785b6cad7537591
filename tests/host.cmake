# The host tests (what an application embedding skim relies on: sanitizers, fault
# injection, threads, soak, fuzzing), included
# by tests/CMakeLists.txt. scripts/test-sanitizers.sh runs them under ASan+UBSan, TSan and
# LSan; in the regular suite they run as they are. Label: host.
set(_skim_host_dir ${CMAKE_CURRENT_SOURCE_DIR}/host)
set(_skim_fuzz_dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

# skim_host_test(name [VULKAN] [SOURCES ...]): tests/host/<name>.c with host_graph.c and
# the test helpers; VULKAN links the Vulkan backend and defines SKIM_TEST_HAVE_VULKAN when
# it is built (the test then skips, 77, without a device).
function(skim_host_test name)
  cmake_parse_arguments(T "VULKAN" "" "SOURCES" ${ARGN})
  add_executable(${name} ${_skim_host_dir}/${name}.c ${_skim_host_dir}/host_graph.c ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${_skim_host_dir} ${CMAKE_CURRENT_SOURCE_DIR}/common)
  target_link_libraries(${name} PRIVATE skim_test_common skim_core skim_cpu skim_warnings)
  if(T_VULKAN AND TARGET skim_vulkan)
    target_compile_definitions(${name} PRIVATE SKIM_TEST_HAVE_VULKAN)
    target_link_libraries(${name} PRIVATE skim_vulkan ${CMAKE_DL_LIBS})
  endif()
endfunction()

skim_host_test(test_fault VULKAN)
add_test(NAME host_fault COMMAND test_fault)
set_tests_properties(host_fault PROPERTIES LABELS host TIMEOUT 600 SKIP_RETURN_CODE 77)

if(TARGET skim_vulkan AND NOT WIN32) # wraps the Vulkan loader with dlopen
  skim_host_test(test_fault_vk VULKAN)
  add_test(NAME host_fault_vk COMMAND test_fault_vk)
  set_tests_properties(host_fault_vk PROPERTIES LABELS host TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()

# Two threads, each its own context and backend, 1,000 runs each (CPU, then Vulkan).
skim_host_test(test_concurrency VULKAN)
find_package(Threads REQUIRED)
target_link_libraries(test_concurrency PRIVATE Threads::Threads)
add_test(NAME host_concurrency COMMAND test_concurrency 1000)
set_tests_properties(host_concurrency PROPERTIES LABELS host TIMEOUT 600 SKIP_RETURN_CODE 77)

# 10,000 decode steps of the shipped gated model per backend; memory in use must not move.
if(TARGET skim_models)
  add_executable(test_soak ${_skim_host_dir}/test_soak.c ${CMAKE_CURRENT_SOURCE_DIR}/common/test_backends.c)
  target_include_directories(test_soak PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common)
  target_link_libraries(test_soak PRIVATE skim_test_common skim_models skim_cpu skim_warnings)
  set(_skim_soak_backends cpu)
  if(TARGET skim_vulkan)
    target_sources(test_soak PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
    target_compile_definitions(test_soak PRIVATE SKIM_TEST_HAVE_VULKAN)
    target_link_libraries(test_soak PRIVATE skim_vulkan)
    list(APPEND _skim_soak_backends vulkan)
  endif()
  foreach(_be ${_skim_soak_backends})
    add_test(NAME host_soak_${_be}
             COMMAND test_soak ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf ${_be} 10000)
    set_tests_properties(host_soak_${_be} PROPERTIES LABELS host TIMEOUT 600 SKIP_RETURN_CODE 77)
  endforeach()
endif()

# The graph fuzz target (tests/fuzz/fuzz_graph.c) over the checked-in corpus, every prefix
# of every file, without libFuzzer; with clang and SKIM_FUZZ=ON, fuzz_graph is the libFuzzer
# binary, the core and CPU sources compiled into it with coverage, ASan and UBSan (the
# regular targets stay uninstrumented). scripts/test-sanitizers.sh runs it for 60 s:
#   ./fuzz_graph -max_total_time=60 <new corpus dir> tests/fuzz/corpus
file(GLOB _skim_fuzz_graph_corpus CONFIGURE_DEPENDS ${_skim_fuzz_dir}/corpus/*)
add_executable(test_fuzz_graph_corpus ${_skim_fuzz_dir}/fuzz_graph.c ${_skim_fuzz_dir}/fuzz_graph_main.c)
target_include_directories(test_fuzz_graph_corpus PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common
                           ${PROJECT_SOURCE_DIR}/graph)
target_link_libraries(test_fuzz_graph_corpus PRIVATE skim_core skim_cpu skim_warnings m)
add_test(NAME host_fuzz_graph_corpus COMMAND test_fuzz_graph_corpus ${_skim_fuzz_graph_corpus})
set_tests_properties(host_fuzz_graph_corpus PROPERTIES LABELS "host;fuzz" TIMEOUT 300)
if(SKIM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  file(GLOB _skim_fuzz_graph_sources ${PROJECT_SOURCE_DIR}/graph/*.c ${PROJECT_SOURCE_DIR}/backends/cpu/*.c)
  add_executable(fuzz_graph ${_skim_fuzz_dir}/fuzz_graph.c ${_skim_fuzz_graph_sources})
  target_include_directories(fuzz_graph PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/graph
                             ${PROJECT_SOURCE_DIR}/backends/cpu ${CMAKE_CURRENT_SOURCE_DIR}/common)
  target_compile_definitions(fuzz_graph PRIVATE SKIM_BUILD)
  find_package(Threads REQUIRED)
  target_link_libraries(fuzz_graph PRIVATE Threads::Threads m)
  target_compile_options(fuzz_graph PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g)
  target_link_options(fuzz_graph PRIVATE -fsanitize=fuzzer,address,undefined)
endif()
# Each input a fuzzer found (corpus/found-*) is a test of its own: the libFuzzer binary
# runs it once when built (its ASan and UBSan catch what a crash would not), else the
# replay program does.
file(GLOB _skim_fuzz_graph_found CONFIGURE_DEPENDS ${_skim_fuzz_dir}/corpus/found-*)
foreach(_f ${_skim_fuzz_graph_found})
  get_filename_component(_n ${_f} NAME)
  string(REGEX REPLACE "[^A-Za-z0-9_]" "_" _n ${_n})
  if(TARGET fuzz_graph)
    add_test(NAME fuzz_graph_${_n} COMMAND fuzz_graph -runs=1 ${_f})
    set_tests_properties(fuzz_graph_${_n} PROPERTIES ENVIRONMENT
      "ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  else()
    add_test(NAME fuzz_graph_${_n} COMMAND test_fuzz_graph_corpus ${_f})
  endif()
  set_tests_properties(fuzz_graph_${_n} PROPERTIES LABELS "host;fuzz" TIMEOUT 60)
endforeach()

# The differential fuzz target (tests/fuzz/fuzz_diff.c): random valid graphs on the CPU and
# on Vulkan, outputs within the op table's tolerances, selections and run stats equal.
# fuzz_diff_corpus replays the seeds and 1,000 inputs from a fixed seed (a few seconds on
# lavapipe); with clang and SKIM_FUZZ=ON, fuzz_diff is the libFuzzer binary (the libraries
# linked as built, so its coverage is the generator's) and fuzz_diff_short runs it for a
# fixed count of inputs from a fixed seed (about 20 s; at most 100 s on a slow machine), so
# that CI tries the same inputs each time and a failure there is the change's.
# Longer: scripts/fuzz.sh [minutes] diff.
if(TARGET skim_vulkan)
  file(GLOB _skim_fuzz_diff_corpus CONFIGURE_DEPENDS ${_skim_fuzz_dir}/corpus_diff/*)
  add_executable(test_fuzz_diff_corpus ${_skim_fuzz_dir}/fuzz_diff.c ${_skim_fuzz_dir}/fuzz_diff_main.c)
  target_include_directories(test_fuzz_diff_corpus PRIVATE ${PROJECT_SOURCE_DIR}/graph)
  target_link_libraries(test_fuzz_diff_corpus PRIVATE skim_vulkan skim_cpu skim_core skim_warnings m)
  add_test(NAME fuzz_diff_corpus COMMAND test_fuzz_diff_corpus --random 1000 ${_skim_fuzz_diff_corpus})
  set_tests_properties(fuzz_diff_corpus PROPERTIES LABELS "host;fuzz;vulkan" TIMEOUT 120
                       SKIP_RETURN_CODE 77)
  if(SKIM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
    add_executable(fuzz_diff ${_skim_fuzz_dir}/fuzz_diff.c)
    target_include_directories(fuzz_diff PRIVATE ${PROJECT_SOURCE_DIR}/graph)
    target_link_libraries(fuzz_diff PRIVATE skim_vulkan skim_cpu skim_core m)
    target_compile_options(fuzz_diff PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g)
    target_link_options(fuzz_diff PRIVATE -fsanitize=fuzzer,address,undefined)
    set(_skim_fuzz_diff_tmp ${CMAKE_CURRENT_BINARY_DIR}/fuzz_diff_corpus)
    file(MAKE_DIRECTORY ${_skim_fuzz_diff_tmp})
    # -detect_leaks=0: no leak check per input (lavapipe keeps memory for each pipeline it
    # compiles on first use until the device goes); LeakSanitizer still checks at exit.
    add_test(NAME fuzz_diff_short COMMAND fuzz_diff -seed=1 -runs=20000 -max_total_time=100 -max_len=512 -timeout=30
             -detect_leaks=0
             -artifact_prefix=${_skim_fuzz_diff_tmp}/ ${_skim_fuzz_diff_tmp} ${_skim_fuzz_dir}/corpus_diff)
    set_tests_properties(fuzz_diff_short PROPERTIES LABELS "host;fuzz;vulkan" TIMEOUT 150)
  endif()
endif()
