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

skim_gguf_test(test_gguf_roundtrip ARGS ${_skim_gguf_tmp} ${_skim_gguf_tmp}/written_by_skim.gguf)
set_tests_properties(test_gguf_roundtrip PROPERTIES FIXTURES_SETUP gguf_written)
# The written file read by an independent reader (Python, struct only).
find_program(SKIM_PYTHON3 python3)
if(SKIM_PYTHON3)
  add_test(NAME gguf_written_read_by_python
           COMMAND ${SKIM_PYTHON3} ${_skim_gguf_dir}/check_written.py
                   ${_skim_gguf_tmp}/written_by_skim.gguf)
  set_tests_properties(gguf_written_read_by_python PROPERTIES LABELS gguf TIMEOUT 60
                       FIXTURES_REQUIRED gguf_written)
endif()
skim_gguf_test(test_gguf_independent ARGS ${_skim_gguf_dir}/corpus)
skim_gguf_test(test_gguf_ggml_quants ARGS ${_skim_gguf_dir}/ggml/ggml_k_quants.gguf)
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
# libFuzzer, in the regular build (so also under valgrind or another compiler's sanitizers).
add_executable(test_gguf_fuzz_corpus ${_skim_gguf_dir}/fuzz_gguf.c ${_skim_gguf_dir}/fuzz_main.c)
target_include_directories(test_gguf_fuzz_corpus PRIVATE ${_skim_gguf_dir})
target_link_libraries(test_gguf_fuzz_corpus PRIVATE skim_models skim_warnings)
# Inputs scripts/fuzz.sh found (found-*, no status in the name) are replayed here too.
file(GLOB _skim_gguf_found CONFIGURE_DEPENDS ${_skim_gguf_dir}/corpus/found-*)
add_test(NAME test_gguf_fuzz_corpus COMMAND test_gguf_fuzz_corpus ${_skim_gguf_corpus} ${_skim_gguf_found})
set_tests_properties(test_gguf_fuzz_corpus PROPERTIES LABELS gguf TIMEOUT 300)

# The libFuzzer target, fuzz_gguf, is built with clang whatever compiles the rest (the
# default build uses gcc): the library's GGUF and tokenizer sources are compiled again
# with the fuzzer's coverage, ASan and UBSan (UB is fatal), so the regular targets stay
# uninstrumented. SKIM_FUZZER=AUTO builds it when a clang whose libFuzzer runtime links is
# found (Debian: clang and libclang-rt-14-dev, in scripts/setup.sh); ON requires it.
# ctest runs it for a bounded time (fuzz_gguf_short: the corpus as seeds, then mutation):
#   ./build/tests/fuzz_gguf -max_total_time=600 tests/gguf/corpus   # a longer run by hand
set(SKIM_FUZZER AUTO CACHE STRING "Build the libFuzzer target fuzz_gguf with clang (AUTO, ON, OFF)")
set(SKIM_FUZZ_RUNS 200000 CACHE STRING "Inputs fuzz_gguf_short tries (a fixed seed: the same ones each time)")
set(SKIM_FUZZ_SECONDS 60 CACHE STRING "At most this many seconds of fuzz_gguf_short's mutation")
if(CMAKE_CROSSCOMPILING AND NOT SKIM_FUZZER STREQUAL "OFF")
  # The target links the build's skim_core, which is for another machine here.
  message(STATUS "fuzz_gguf: not built in a cross build")
elseif(NOT SKIM_FUZZER STREQUAL "OFF")
  if(CMAKE_C_COMPILER_ID MATCHES "Clang")
    set(_skim_fuzz_cc ${CMAKE_C_COMPILER})
  else()
    find_program(SKIM_FUZZ_CLANG NAMES clang clang-16 clang-15 clang-14
                 DOC "clang for the libFuzzer target")
    set(_skim_fuzz_cc ${SKIM_FUZZ_CLANG})
  endif()
  set(_skim_fuzz_ok FALSE)
  if(_skim_fuzz_cc)
    # Does -fsanitize=fuzzer link here? (clang without its runtime package does not.)
    set(_probe ${CMAKE_CURRENT_BINARY_DIR}/fuzz_probe)
    file(WRITE ${_probe}.c "#include <stddef.h>\n#include <stdint.h>\n"
         "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n"
         "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
    execute_process(COMMAND ${_skim_fuzz_cc} -fsanitize=fuzzer,address,undefined ${_probe}.c
                            -o ${_probe}
                    RESULT_VARIABLE _probe_rc OUTPUT_QUIET ERROR_QUIET)
    if(_probe_rc EQUAL 0)
      set(_skim_fuzz_ok TRUE)
    endif()
  endif()
  if(_skim_fuzz_ok)
    set(_skim_fuzz_src ${_skim_gguf_dir}/fuzz_gguf.c)
    file(GLOB _skim_fuzz_lib CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/models/*.c)
    list(APPEND _skim_fuzz_src ${_skim_fuzz_lib})
    set(_skim_fuzz_flags -std=c11 -O1 -g -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -Wall -Wextra -Wshadow -Wno-unused-parameter)
    if(SKIM_WERROR)
      list(APPEND _skim_fuzz_flags -Werror)
    endif()
    set(_skim_fuzz_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz_gguf)
    add_custom_command(OUTPUT ${_skim_fuzz_bin}
      COMMAND ${_skim_fuzz_cc} ${_skim_fuzz_flags} -DSKIM_BUILD
              -I${PROJECT_SOURCE_DIR}/include -I${PROJECT_SOURCE_DIR}/models -I${_skim_gguf_dir}
              -I${PROJECT_SOURCE_DIR}/graph
              ${_skim_fuzz_src} $<TARGET_FILE:skim_core> -lm -o ${_skim_fuzz_bin}
      DEPENDS ${_skim_fuzz_src} ${_skim_gguf_dir}/gguf_walk.h skim_core
              ${PROJECT_SOURCE_DIR}/models/gguf_impl.h ${PROJECT_SOURCE_DIR}/models/llama_int.h
              ${PROJECT_SOURCE_DIR}/include/skim-gguf.h ${PROJECT_SOURCE_DIR}/include/skim-text.h
              ${PROJECT_SOURCE_DIR}/include/skim-model.h
      COMMENT "Building the libFuzzer target fuzz_gguf with ${_skim_fuzz_cc}" VERBATIM)
    add_custom_target(fuzz_gguf_target ALL DEPENDS ${_skim_fuzz_bin})
    # New inputs go to a scratch folder (the checked-in corpus is only read). A crash, a
    # sanitizer report, a leak or a timeout fails the test and leaves the input here.
    set(_skim_fuzz_tmp ${_skim_gguf_tmp}/fuzz_corpus)
    file(MAKE_DIRECTORY ${_skim_fuzz_tmp})
    add_test(NAME fuzz_gguf_short
             COMMAND ${_skim_fuzz_bin} -seed=1 -runs=${SKIM_FUZZ_RUNS} -max_total_time=${SKIM_FUZZ_SECONDS} -max_len=8192
                     -timeout=10 -rss_limit_mb=1024 -artifact_prefix=${_skim_gguf_tmp}/
                     ${_skim_fuzz_tmp} ${_skim_gguf_dir}/corpus)
    set_tests_properties(fuzz_gguf_short PROPERTIES LABELS "gguf;fuzz" TIMEOUT 120)
    message(STATUS "fuzz_gguf: libFuzzer target built with ${_skim_fuzz_cc}")
  elseif(SKIM_FUZZER STREQUAL "ON")
    message(FATAL_ERROR "SKIM_FUZZER=ON needs clang with libFuzzer (Debian: clang "
                        "libclang-rt-14-dev)")
  else()
    message(STATUS "fuzz_gguf: no clang with libFuzzer found, the libFuzzer target is not built")
  endif()
endif()
# ============================================================================ end gguf

# ============================================================================ llama
# Model builders (models/llama*.c): the external golden test on stories260K (llama2.c's
# run.c output reproduced) on every backend built, and the gated model's PyTorch vectors. Owner: llama.
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
# Layer drop and the static head mask against the model with those parts zeroed in its
# file; the static mask against constant gate scores (the gated model).
skim_llama_test(test_layer_drop)
target_link_libraries(test_layer_drop PRIVATE skim_test_common)
foreach(_be ${_skim_llama_backends})
  add_test(NAME layer_drop_gated_${_be}
           COMMAND test_layer_drop ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf ${_be})
  set_tests_properties(layer_drop_gated_${_be} PROPERTIES LABELS "models;gated" TIMEOUT 300
                       SKIP_RETURN_CODE 77)
  if(TEST gguf_convert_stories260K)
    add_test(NAME layer_drop_stories260K_${_be}
             COMMAND test_layer_drop ${SKIM_STORIES260K_GGUF} ${_be})
    set_tests_properties(layer_drop_stories260K_${_be} PROPERTIES LABELS "models" TIMEOUT 300
                         SKIP_RETURN_CODE 77 FIXTURES_REQUIRED stories260K_gguf)
  endif()
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
# The examples as a user runs them (tests/models/run_example.cmake checks their output).
set(_skim_no_vk "vulkan: (no Vulkan|vkCreateInstance failed)")
function(skim_example_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "DEFS;COMMAND" ${ARGN})
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} ${T_DEFS} -P ${_skim_llama_dir}/run_example.cmake
                                -- ${CMAKE_CROSSCOMPILING_EMULATOR} ${T_COMMAND}) # qemu: cross builds
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "models;examples" TIMEOUT ${T_TIMEOUT}
                       SKIP_REGULAR_EXPRESSION "SKIP: ")
endfunction()
if(TARGET generate)
  foreach(_be ${_skim_llama_backends})
    # The demo command on the shipped model: a fixed seed prints the same text twice, the
    # gates skip work, and --trace writes both maps.
    skim_example_test(generate_gated_${_be}
      DEFS -DTWICE=1 -DOUT_FILE=${_skim_llama_tmp}/trace_${_be}.svg
           "-DOUT_FILE_REGEX=^<svg .*token-by-layer depth map.*layer-by-head map.*</svg>"
           "-DREGEX=generated 120 tokens in [0-9.]+ s: [0-9.]+ tokens/s|work skipped: skipped [1-9][0-9.]*% of token-layer ops \\([0-9]+ of [0-9]+ run\\), [1-9][0-9.]*% of head-ops"
           "-DSKIP_REGEX=${_skim_no_vk}"
      COMMAND $<TARGET_FILE:generate> --backend ${_be} -n 120 --seed 3
              --trace ${_skim_llama_tmp}/trace_${_be}.svg)
    skim_example_test(generate_dense_${_be}
      DEFS "-DREGEX=generated 60 tokens|no gates\\): skipped 0\\.0% of token-layer ops \\([0-9]+ of [0-9]+ run\\), 0\\.0% of head-ops among running tokens \\(0\\.0% counting"
           "-DSKIP_REGEX=${_skim_no_vk}"
      COMMAND $<TARGET_FILE:generate> --backend ${_be} --dense -n 60 --seed 3)
    # stories260K greedy through the example: stdout is run.c's 181 bytes, checked by the
    # SHA-256 that shared/data/SOURCES.md gives for them.
    if(TARGET convert_llama2c AND EXISTS ${SKIM_TEST_DATA}/stories260K.bin)
      skim_example_test(generate_stories260K_${_be}
        DEFS -DSTDOUT_SHA256=acafc72b7b71228fa8f8bb998abafb3d2c5c8bcf5d1626e59b23b69f3bb11f7d
             "-DREGEX=generated 60 tokens" "-DSKIP_REGEX=${_skim_no_vk}"
        COMMAND $<TARGET_FILE:generate> -m ${SKIM_STORIES260K_GGUF} --backend ${_be} --temp 0
                -n 60 --prompt "Once upon a time")
      set_tests_properties(generate_stories260K_${_be} PROPERTIES
                           FIXTURES_REQUIRED stories260K_gguf)
      if(_be STREQUAL "vulkan") # the store in several device buffers (256 KiB each)
        skim_example_test(generate_stories260K_vulkan_blocks
          DEFS -DSTDOUT_SHA256=acafc72b7b71228fa8f8bb998abafb3d2c5c8bcf5d1626e59b23b69f3bb11f7d
               "-DREGEX=generated 60 tokens" "-DSKIP_REGEX=${_skim_no_vk}"
          COMMAND $<TARGET_FILE:generate> -m ${SKIM_STORIES260K_GGUF} --backend vulkan --temp 0
                  -n 60 --prompt "Once upon a time")
        set_tests_properties(generate_stories260K_vulkan_blocks PROPERTIES
                             FIXTURES_REQUIRED stories260K_gguf ENVIRONMENT "SKIM_VK_MAX_ALLOC=262144")
      endif()
    endif()
  endforeach()
  # tools/importance ranks stories260K's attention sublayers and heads on text and writes
  # a drop list and a static head mask, which generate then takes.
  if(TARGET importance AND TEST gguf_convert_stories260K)
    skim_example_test(importance_stories260K
      DEFS "-DREGEX=\\(a\\) attention sublayers.*\\(b\\) heads.*wrote .*drop.txt.*wrote .*mask.txt"
      COMMAND $<TARGET_FILE:importance> -m ${SKIM_STORIES260K_GGUF}
              --text ${SKIM_TEST_DATA}/tinyshakespeare.txt --max-tokens 64 --drop 2
              --drop-out ${_skim_llama_tmp}/drop.txt --prune 6
              --mask-out ${_skim_llama_tmp}/mask.txt)
    set_tests_properties(importance_stories260K PROPERTIES FIXTURES_REQUIRED stories260K_gguf
                         FIXTURES_SETUP importance_mask)
    # --trace draws the dropped attention and the pruned heads hatched, apart from skips.
    skim_example_test(generate_head_mask_stories260K
      DEFS "-DREGEX=generated 20 tokens.*layer drop: 1 sublayers left out"
           -DOUT_FILE=${_skim_llama_tmp}/trace_pruned.svg
           "-DOUT_FILE_REGEX=layer 4 -attn.*url\\(#hatch\\).*>pruned<.*>drop<"
      COMMAND $<TARGET_FILE:generate> -m ${SKIM_STORIES260K_GGUF} --backend cpu --temp 0 -n 20
              --head-mask ${_skim_llama_tmp}/mask.txt --drop-attn 4
              --trace ${_skim_llama_tmp}/trace_pruned.svg)
    set_tests_properties(generate_head_mask_stories260K PROPERTIES
                         FIXTURES_REQUIRED "stories260K_gguf;importance_mask")
  endif()
  # The second llama2.c checkpoint (plain multi-head attention, a window of 128): greedy
  # from "The robot" begins as SOURCES.md quotes run.c's output.
  if(TARGET convert_llama2c AND EXISTS ${SKIM_TEST_DATA}/aidreams260K.bin)
    set(_skim_aidreams ${_skim_llama_tmp}/aidreams260K.gguf)
    add_test(NAME convert_aidreams260K
             COMMAND convert_llama2c ${SKIM_TEST_DATA}/aidreams260K.bin
                     ${SKIM_TEST_DATA}/tok512_aidreams.bin ${_skim_aidreams})
    set_tests_properties(convert_aidreams260K PROPERTIES LABELS models TIMEOUT 60
                         FIXTURES_SETUP aidreams260K_gguf)
    foreach(_be ${_skim_llama_backends})
      skim_example_test(generate_aidreams260K_${_be}
        DEFS "-DREGEX=^The robotic whispers secrets, fragments of probability unfolding\\."
             "-DSKIP_REGEX=${_skim_no_vk}"
        COMMAND $<TARGET_FILE:generate> -m ${_skim_aidreams} --backend ${_be} --temp 0 -n 30
                --prompt "The robot")
      set_tests_properties(generate_aidreams260K_${_be} PROPERTIES
                           FIXTURES_REQUIRED aidreams260K_gguf)
    endforeach()
  endif()
endif()
if(TARGET golden)
  # cpu skip mode against vulkan (or, without a device, cpu masked-dense): nothing diverges
  # at the default tolerance; at 1e-12 the CPU-Vulkan rounding differences must be
  # reported as a first diverging node and exit status 1.
  set(_skim_golden_masked "comparing cpu skip mode with cpu masked-dense")
  skim_example_test(golden_gated
    DEFS "-DREGEX=layer  hidden max abs  hidden max rel|no node diverges past 0.001"
    COMMAND $<TARGET_FILE:golden>)
  skim_example_test(golden_masked
    DEFS "-DREGEX=${_skim_golden_masked}|no node diverges"
    COMMAND $<TARGET_FILE:golden> --masked)
  if(TARGET skim_vulkan)
    skim_example_test(golden_diverges
      DEFS -DRC=1 "-DREGEX=checked  : vulkan|first divergence: node [0-9]+ [^:]* \\(b[a-z0-9 ]+\\): max abs [0-9.e+-]+, normalised [0-9.e+-]+ > 1e-12"
           "-DSKIP_REGEX=${_skim_golden_masked}"
      COMMAND $<TARGET_FILE:golden> --tol 1e-12)
  endif()
  if(TARGET convert_llama2c AND EXISTS ${SKIM_TEST_DATA}/stories260K.bin)
    skim_example_test(golden_stories260K
      DEFS "-DREGEX=    4 +[0-9.e+-]+ +[0-9.e+-]+ +[0-9.e+-]+|no node diverges past 0.001"
      COMMAND $<TARGET_FILE:golden> -m ${SKIM_STORIES260K_GGUF} --prompt "Once upon a time")
    set_tests_properties(golden_stories260K PROPERTIES FIXTURES_REQUIRED stories260K_gguf)
    # The same with the store in several device buffers (SKIM_VK_MAX_ALLOC: 256 KiB each).
    skim_example_test(golden_stories260K_blocks
      DEFS "-DREGEX=    4 +[0-9.e+-]+ +[0-9.e+-]+ +[0-9.e+-]+|no node diverges past 0.001"
      COMMAND $<TARGET_FILE:golden> -m ${SKIM_STORIES260K_GGUF} --prompt "Once upon a time")
    set_tests_properties(golden_stories260K_blocks PROPERTIES FIXTURES_REQUIRED stories260K_gguf
                         ENVIRONMENT "SKIM_VK_MAX_ALLOC=262144")
  endif()
endif()

# The shipped GGUF against the same vectors through tools/train/check_gguf.py, an
# independent NumPy forward in skip form that reads only the file (Debian's python3-numpy,
# installed with python3-torch). Not built when no python3 with numpy is found.
find_program(SKIM_PYTHON3_SYSTEM NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT SKIM_PYTHON3_SYSTEM)
  set(SKIM_PYTHON3_SYSTEM ${SKIM_PYTHON3})
endif()
if(SKIM_PYTHON3_SYSTEM)
  execute_process(COMMAND ${SKIM_PYTHON3_SYSTEM} -c "import numpy"
                  RESULT_VARIABLE _skim_numpy_rc OUTPUT_QUIET ERROR_QUIET)
  if(_skim_numpy_rc EQUAL 0)
    add_test(NAME gated_gguf_numpy
             COMMAND ${SKIM_PYTHON3_SYSTEM} ${PROJECT_SOURCE_DIR}/tools/train/check_gguf.py
                     --gguf ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf
                     --vectors ${PROJECT_SOURCE_DIR}/assets/vectors.json)
    set_tests_properties(gated_gguf_numpy PROPERTIES LABELS "models;gated" TIMEOUT 120)
  endif()
endif()

# The validation figures of assets/README.md (metrics.json, PyTorch) reproduced by the C
# side over the whole validation split (2 threads: a few minutes each on a busy machine).
if(TARGET generate)
  foreach(_mode gated dense)
    add_test(NAME eval_${_mode}_cpu
             COMMAND ${CMAKE_COMMAND} -DGENERATE=$<TARGET_FILE:generate>
                     -DMODEL=${PROJECT_SOURCE_DIR}/assets/gated-shakespeare.gguf
                     -DTEXT=${SKIM_TEST_DATA}/tinyshakespeare.txt
                     -DMETRICS=${PROJECT_SOURCE_DIR}/assets/metrics.json -DMODE=${_mode}
                     "-DEMULATOR=${CMAKE_CROSSCOMPILING_EMULATOR}"
                     -P ${_skim_llama_dir}/check_eval.cmake)
    set_tests_properties(eval_${_mode}_cpu PROPERTIES LABELS "models;eval" TIMEOUT 1200
                         SKIP_REGULAR_EXPRESSION "SKIP: ")
  endforeach()
endif()
# ============================================================================ end llama

# ============================================================================ scale
# Synthetic models of real shapes (tools/gen_model): the tiny preset, dense (Q8_0) and
# gated (Q4_0), generated into the build tree by a fixture, then run on both backends
# (examples/golden: CPU against Vulkan, layer by layer). Owner: scale.
set(_skim_scale_tmp ${CMAKE_CURRENT_BINARY_DIR}/scale_tmp)
file(MAKE_DIRECTORY ${_skim_scale_tmp})
if(TARGET gen_model)
  add_test(NAME gen_model_tiny
           COMMAND gen_model --preset tiny --type q8_0 ${_skim_scale_tmp}/tiny-q8_0.gguf)
  add_test(NAME gen_model_tiny_gated
           COMMAND gen_model --preset tiny --type q4_0 --layers 3 --gated --head-frac 0.6
                   --token-frac 0.6 ${_skim_scale_tmp}/tiny-gated-q4_0.gguf)
  set_tests_properties(gen_model_tiny gen_model_tiny_gated PROPERTIES LABELS "models;scale"
                       TIMEOUT 60 FIXTURES_SETUP scale_tiny)
  # A prompt in prefill chunks, then decode from the caches they filled, against decode
  # steps only.
  skim_llama_test(test_prefill_decode)
  target_link_libraries(test_prefill_decode PRIVATE skim_test_common)
  skim_llama_test(test_prefill_chunks)
  target_link_libraries(test_prefill_chunks PRIVATE skim_test_common)
  foreach(_be ${_skim_llama_backends})
    foreach(_m tiny-q8_0 tiny-gated-q4_0)
      add_test(NAME prefill_decode_${_m}_${_be}
               COMMAND test_prefill_decode ${_skim_scale_tmp}/${_m}.gguf ${_be})
      set_tests_properties(prefill_decode_${_m}_${_be} PROPERTIES LABELS "models;scale"
                           TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED scale_tiny)
    endforeach()
    # Prompts past the largest chunk and after cached positions, chunk by chunk.
    add_test(NAME prefill_chunks_tiny-gated-q4_0_${_be}
             COMMAND test_prefill_chunks ${_skim_scale_tmp}/tiny-gated-q4_0.gguf ${_be})
    set_tests_properties(prefill_chunks_tiny-gated-q4_0_${_be} PROPERTIES LABELS "models;scale"
                         TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED scale_tiny)
    # Without ../shared/data the file is not made, and the test says so and skips.
    add_test(NAME prefill_chunks_stories260K_${_be}
             COMMAND test_prefill_chunks ${SKIM_STORIES260K_GGUF} ${_be})
    # 20-40 s here; over 120 s when a loaded machine runs the suite two at a time.
    set_tests_properties(prefill_chunks_stories260K_${_be} PROPERTIES LABELS "models;scale"
                         TIMEOUT 300 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED stories260K_gguf)
    if(TEST gguf_convert_stories260K)
      add_test(NAME prefill_decode_stories260K_${_be}
               COMMAND test_prefill_decode ${SKIM_STORIES260K_GGUF} ${_be})
      set_tests_properties(prefill_decode_stories260K_${_be} PROPERTIES LABELS "models;scale"
                           TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED stories260K_gguf)
    endif()
  endforeach()
  # The store's weights and states in several device buffers (SKIM_VK_MAX_ALLOC: at most
  # 256 KiB each, against stories260K's 1 MiB of weights); the test checks that they are.
  if(TEST gguf_convert_stories260K AND "vulkan" IN_LIST _skim_llama_backends)
    add_test(NAME prefill_decode_stories260K_vulkan_blocks
             COMMAND test_prefill_decode ${SKIM_STORIES260K_GGUF} vulkan)
    set_tests_properties(prefill_decode_stories260K_vulkan_blocks PROPERTIES
                         LABELS "models;scale;vulkan" ENVIRONMENT "SKIM_VK_MAX_ALLOC=262144"
                         TIMEOUT 120 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED stories260K_gguf)
  endif()
  if(TARGET golden AND TARGET skim_vulkan)
    foreach(_m tiny-q8_0 tiny-gated-q4_0)
      skim_example_test(scale_golden_${_m} TIMEOUT 120
                        DEFS "-DREGEX=no node diverges" "-DSKIP_REGEX=${_skim_no_vk}"
                        COMMAND $<TARGET_FILE:golden> -m ${_skim_scale_tmp}/${_m}.gguf)
      set_tests_properties(scale_golden_${_m} PROPERTIES LABELS "models;scale"
                           FIXTURES_REQUIRED scale_tiny)
    endforeach()
    # The TinyLlama shape itself, all 22 layers, Q8_0 and Q4_0, on a 64-token prompt:
    # minutes, so skipped unless SKIM_TEST_SCALE_FULL=1 (tests/models/scale_golden_full.cmake).
    foreach(_t q8_0 q4_0)
      add_test(NAME scale_golden_tinyllama_${_t}
               COMMAND ${CMAKE_COMMAND} -DGEN_MODEL=$<TARGET_FILE:gen_model>
                       -DGOLDEN=$<TARGET_FILE:golden> -DTYPE=${_t} -DDIR=${_skim_scale_tmp}
                       -P ${_skim_llama_dir}/scale_golden_full.cmake)
      set_tests_properties(scale_golden_tinyllama_${_t} PROPERTIES LABELS "models;scale"
                           TIMEOUT 3600 SKIP_REGULAR_EXPRESSION "SKIP: ")
    endforeach()
    # The same shape at 2 layers in Q8_0 (a 233 MB file; about 45 s and 640 MB here),
    # always run: every layer's nodes, embedding and 32000-row output matrix included.
    add_test(NAME scale_golden_tinyllama_2l_q8_0
             COMMAND ${CMAKE_COMMAND} -DGEN_MODEL=$<TARGET_FILE:gen_model>
                     -DGOLDEN=$<TARGET_FILE:golden> -DTYPE=q8_0 -DLAYERS=2 -DALWAYS=1
                     -DDIR=${_skim_scale_tmp} -P ${_skim_llama_dir}/scale_golden_full.cmake)
    set_tests_properties(scale_golden_tinyllama_2l_q8_0 PROPERTIES LABELS "models;scale"
                         TIMEOUT 300 SKIP_REGULAR_EXPRESSION "SKIP: ")
  endif()
endif()

# ============================================================================ retrofit
# Gates retrofitted onto pretrained llama models by tools/train/retrofit.py (base weights
# frozen and unchanged, or corrected by merged low-rank terms in stories260K-gated-lora;
# assets/README.md section 8): the PyTorch forward's logits and gate
# decisions reproduced on every backend by the gated model's vector test, and generate
# skipping work in its run stats. Owner: retrofit.
foreach(_rf stories260K-gated aidreams260K-gated stories260K-gated-lora)
  foreach(_be ${_skim_llama_backends})
    add_test(NAME retrofit_vectors_${_rf}_${_be}
             COMMAND test_gated_vectors ${PROJECT_SOURCE_DIR}/assets/${_rf}.gguf
                     ${PROJECT_SOURCE_DIR}/assets/${_rf}-vectors.json ${_be})
    set_tests_properties(retrofit_vectors_${_rf}_${_be} PROPERTIES LABELS "models;gated;retrofit"
                         TIMEOUT 300 SKIP_RETURN_CODE 77)
    if(TARGET generate)
      # A sample may end early, at BOS. --trace: the prompt as decode steps, not a prefill
      # run padded to the whole window (512 positions for stories260K: minutes on a busy
      # lavapipe).
      skim_example_test(retrofit_generate_${_rf}_${_be} TIMEOUT 600
        DEFS "-DREGEX=generated [1-9][0-9]* tokens|work skipped: skipped [0-9.]+% of token-layer ops \\([0-9]+ of [0-9]+ run\\), [1-9][0-9.]*% of head-ops"
             "-DSKIP_REGEX=${_skim_no_vk}"
        COMMAND $<TARGET_FILE:generate> -m ${PROJECT_SOURCE_DIR}/assets/${_rf}.gguf
                --backend ${_be} -n 40 --seed 3 --prompt "Once upon a time"
                --trace ${_skim_llama_tmp}/retrofit_${_rf}_${_be}.svg)
    endif()
  endforeach()
endforeach()
# The feed-forward key a retrofitted file adds, malformed (no data needed).
skim_llama_test(test_retrofit_errors)
add_test(NAME retrofit_errors COMMAND test_retrofit_errors)
set_tests_properties(retrofit_errors PROPERTIES LABELS "models;retrofit" TIMEOUT 60)
# ============================================================================ end retrofit

# ============================================================================ distilled mixer
# The gated model with the attention of two blocks replaced by a gated linear recurrence
# distilled from it (tools/train/distill.py; assets/README.md section 9): the PyTorch
# forward's logits, masks and executed counts on every backend; prompts through padded
# prefill windows and chunks then decode equal to decode steps alone (the recurrence's state taken
# from the last real token, not the padding); generate runs it. Owner: distill.
foreach(_be ${_skim_llama_backends})
  add_test(NAME mixer_vectors_${_be}
           COMMAND test_gated_vectors ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec.gguf
                   ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec-vectors.json ${_be})
  set_tests_properties(mixer_vectors_${_be} PROPERTIES LABELS "models;gated;mixer"
                       TIMEOUT 300 SKIP_RETURN_CODE 77)
  if(TARGET test_prefill_decode)
    add_test(NAME prefill_decode_mixer_${_be}
             COMMAND test_prefill_decode ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec.gguf
                     ${_be})
    set_tests_properties(prefill_decode_mixer_${_be} PROPERTIES LABELS "models;gated;mixer"
                         TIMEOUT 300 SKIP_RETURN_CODE 77)
  endif()
  if(TARGET test_prefill_chunks) # the state carried from chunk to chunk and into decode
    add_test(NAME prefill_chunks_mixer_${_be}
             COMMAND test_prefill_chunks ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec.gguf
                     ${_be})
    set_tests_properties(prefill_chunks_mixer_${_be} PROPERTIES LABELS "models;gated;mixer"
                         TIMEOUT 300 SKIP_RETURN_CODE 77)
  endif()
  if(TARGET generate)
    skim_example_test(mixer_generate_${_be} TIMEOUT 300
      DEFS "-DREGEX=generated 60 tokens"
           "-DSKIP_REGEX=${_skim_no_vk}"
      COMMAND $<TARGET_FILE:generate> -m ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec.gguf
              --backend ${_be} -n 60 --seed 3 --prompt "ROMEO:")
  endif()
endforeach()
# A recurrence tensor left out or misshapen in a copy of the file: FORMAT naming it.
skim_llama_test(test_mixer_errors)
add_test(NAME mixer_errors
         COMMAND test_mixer_errors ${PROJECT_SOURCE_DIR}/assets/gated-shakespeare-rec.gguf)
set_tests_properties(mixer_errors PROPERTIES LABELS "models;mixer" TIMEOUT 60
                     SKIP_RETURN_CODE 77)
# ============================================================================ end distilled mixer
