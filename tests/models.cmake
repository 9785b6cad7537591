# The models test suite (included by tests/CMakeLists.txt when skim_models exists).
# Shared file: each area keeps to its own marked block and appends below the others.

# Where the third-party test data lives (shared/data/SOURCES.md). Tests that need it skip
# (ctest reports "Skipped", exit code 77) with a message when it is absent.
set(SKIM_TEST_DATA "${PROJECT_SOURCE_DIR}/../shared/data" CACHE PATH
    "Directory with stories260K.bin, tok512.bin (see shared/data/SOURCES.md)")

# ============================================================================ gguf
# GGUF reader and writer, llama2.c tokenizer, sampler, convert_llama2c. Owner: gguf.
set(_skim_gguf_dir ${CMAKE_CURRENT_SOURCE_DIR}/gguf)
set(_skim_gguf_tmp ${CMAKE_CURRENT_BINARY_DIR}/gguf_tmp)
file(MAKE_DIRECTORY ${_skim_gguf_tmp})

function(skim_gguf_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "ARGS" ${ARGN})
  add_executable(${name} ${_skim_gguf_dir}/${name}.c)
  target_include_directories(${name} PRIVATE ${_skim_gguf_dir})
  target_link_libraries(${name} PRIVATE skim_models skim_warnings)
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS gguf SKIP_RETURN_CODE 77)
endfunction()

skim_gguf_test(test_gguf_roundtrip ARGS ${_skim_gguf_tmp})
skim_gguf_test(test_sampler)
skim_gguf_test(test_tokenizer ARGS ${SKIM_TEST_DATA})
if(TARGET convert_llama2c)
  skim_gguf_test(test_convert ARGS $<TARGET_FILE:convert_llama2c> ${SKIM_TEST_DATA}
                 ${_skim_gguf_tmp})
endif()

# stories260K.gguf for the model tests: a fixture, so that they can declare
#   set_tests_properties(<t> PROPERTIES FIXTURES_REQUIRED stories260K_gguf)
# and read ${SKIM_STORIES260K_GGUF}. Only when the data is there at configure time.
set(SKIM_STORIES260K_GGUF ${_skim_gguf_tmp}/stories260K.gguf)
if(TARGET convert_llama2c AND EXISTS ${SKIM_TEST_DATA}/stories260K.bin)
  add_test(NAME gguf_convert_stories260K
           COMMAND convert_llama2c ${SKIM_TEST_DATA}/stories260K.bin ${SKIM_TEST_DATA}/tok512.bin
                   ${SKIM_STORIES260K_GGUF})
  set_tests_properties(gguf_convert_stories260K PROPERTIES LABELS gguf TIMEOUT 60
                       FIXTURES_SETUP stories260K_gguf)
endif()

# The malformed-file corpus (made by gguf/make_corpus.py, checked in): one case per file;
# the file name's prefix is the status the reader must return.
file(GLOB _skim_gguf_corpus CONFIGURE_DEPENDS ${_skim_gguf_dir}/corpus/*.gguf)
add_executable(test_gguf_corpus ${_skim_gguf_dir}/test_gguf_corpus.c)
target_include_directories(test_gguf_corpus PRIVATE ${_skim_gguf_dir})
target_link_libraries(test_gguf_corpus PRIVATE skim_models skim_warnings)
foreach(_f ${_skim_gguf_corpus})
  get_filename_component(_n ${_f} NAME_WE)
  add_test(NAME gguf_corpus_${_n} COMMAND test_gguf_corpus ${_f})
  set_tests_properties(gguf_corpus_${_n} PROPERTIES LABELS "gguf;gguf_corpus" TIMEOUT 60)
endforeach()

# The fuzz target's entry point run over the corpus (every prefix of every file) without
# libFuzzer; with clang and SKIM_FUZZ=ON, fuzz_gguf is the libFuzzer binary:
#   cmake -DCMAKE_C_COMPILER=clang -DSKIM_FUZZ=ON ...; ./fuzz_gguf tests/gguf/corpus
add_executable(test_gguf_fuzz_corpus ${_skim_gguf_dir}/fuzz_gguf.c ${_skim_gguf_dir}/fuzz_main.c)
target_include_directories(test_gguf_fuzz_corpus PRIVATE ${_skim_gguf_dir})
target_link_libraries(test_gguf_fuzz_corpus PRIVATE skim_models skim_warnings)
add_test(NAME test_gguf_fuzz_corpus COMMAND test_gguf_fuzz_corpus ${_skim_gguf_corpus})
set_tests_properties(test_gguf_fuzz_corpus PROPERTIES LABELS gguf TIMEOUT 300)

option(SKIM_FUZZ "Build the libFuzzer targets (clang only)" OFF)
if(SKIM_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  # The library sources are compiled again here with the fuzzer's coverage and ASan, so
  # that the regular targets stay uninstrumented.
  file(GLOB _skim_fuzz_sources ${PROJECT_SOURCE_DIR}/models/gguf*.c
       ${PROJECT_SOURCE_DIR}/models/tokenizer.c)
  add_executable(fuzz_gguf ${_skim_gguf_dir}/fuzz_gguf.c ${_skim_fuzz_sources})
  target_include_directories(fuzz_gguf PRIVATE ${_skim_gguf_dir} ${PROJECT_SOURCE_DIR}/models)
  target_compile_definitions(fuzz_gguf PRIVATE SKIM_BUILD)
  target_link_libraries(fuzz_gguf PRIVATE skim_core skim_warnings)
  target_compile_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined -g)
  target_link_options(fuzz_gguf PRIVATE -fsanitize=fuzzer,address,undefined)
  # A short run in ctest: the corpus as seeds, 20 seconds of mutation.
  add_test(NAME fuzz_gguf_short COMMAND fuzz_gguf -max_total_time=20 -max_len=4096
           ${_skim_gguf_tmp}/fuzz_corpus ${_skim_gguf_dir}/corpus)
  file(MAKE_DIRECTORY ${_skim_gguf_tmp}/fuzz_corpus)
  set_tests_properties(fuzz_gguf_short PROPERTIES LABELS "gguf;fuzz" TIMEOUT 120)
elseif(SKIM_FUZZ)
  message(STATUS "SKIM_FUZZ needs clang (the compiler is ${CMAKE_C_COMPILER_ID}): no fuzz_gguf")
endif()
# ============================================================================ end gguf

# ============================================================================ llama
# Model builders (models/llama*.c): the external golden test on stories260K (issue 4,
# item 4) on every backend built, and the gated model's PyTorch vectors. Owner: llama.
set(_skim_llama_dir ${CMAKE_CURRENT_SOURCE_DIR}/models)
set(_skim_llama_tmp ${CMAKE_CURRENT_BINARY_DIR}/llama_tmp)
file(MAKE_DIRECTORY ${_skim_llama_tmp})
set(_skim_llama_backends cpu)
if(TARGET skim_vulkan)
  list(APPEND _skim_llama_backends vulkan)
endif()

function(skim_llama_test name)
  add_executable(${name} ${_skim_llama_dir}/${name}.c ${ARGN})
  target_link_libraries(${name} PRIVATE skim_models skim_cpu skim_warnings m)
  if(TARGET skim_vulkan)
    target_sources(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
    target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common)
    target_compile_definitions(${name} PRIVATE SKIM_TEST_HAVE_VULKAN)
    target_link_libraries(${name} PRIVATE skim_vulkan)
  endif()
endfunction()

if(TARGET convert_llama2c)
  skim_llama_test(test_llama_golden)
  foreach(_be ${_skim_llama_backends})
    add_test(NAME llama_golden_${_be}
             COMMAND test_llama_golden $<TARGET_FILE:convert_llama2c> ${SKIM_TEST_DATA}
                     ${_skim_llama_tmp} ${_be})
    set_tests_properties(llama_golden_${_be} PROPERTIES LABELS "models;golden" TIMEOUT 300
                         SKIP_RETURN_CODE 77)
  endforeach()
endif()
# The gated model three ways (decode through the caches and key masks, prefill, masked-
# dense) gates on and off; skipped until assets/gated-shakespeare.gguf exists.
skim_llama_test(test_gated_model)
foreach(_be ${_skim_llama_backends})
  add_test(NAME gated_model_${_be}
           COMMAND test_gated_model ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf ${_be})
  set_tests_properties(gated_model_${_be} PROPERTIES LABELS "models;gated" TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endforeach()
# Malformed model files and the fail-the-N-th-allocation sweep (no data needed).
skim_llama_test(test_model_errors)
add_test(NAME model_errors COMMAND test_model_errors)
set_tests_properties(model_errors PROPERTIES LABELS "models" TIMEOUT 300)

# The PyTorch test vectors (assets/vectors.json), gates on and off.
skim_llama_test(test_gated_vectors ${_skim_llama_dir}/json_min.c)
foreach(_be ${_skim_llama_backends})
  add_test(NAME gated_vectors_${_be}
           COMMAND test_gated_vectors ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf
                   ${PROJECT_SOURCE_DIR}/assets/vectors.json ${_be})
  set_tests_properties(gated_vectors_${_be} PROPERTIES LABELS "models;gated" TIMEOUT 300
                       SKIP_RETURN_CODE 77)
endforeach()
# ============================================================================ end llama
