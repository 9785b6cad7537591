# scale_golden_full.cmake - the TinyLlama-shape golden (ctest, cmake -P): generates the
# TinyLlama-1.1B-shape file of one type (all 22 layers unless LAYERS says fewer) with
# tools/gen_model into DIR, runs examples/golden on it (the prefill graph with every node
# an output, CPU against Vulkan, layer by layer) on a 64-token prompt in a 64-token
# window, and removes the file. It takes minutes of CPU, so it runs only when the
# environment sets SKIM_TEST_SCALE_FULL=1; otherwise it prints "SKIP:" (ctest reports the
# test skipped).
#
# ALWAYS=1 runs it without SKIM_TEST_SCALE_FULL (the 2-layer test: under a minute).
#
#   cmake -DGEN_MODEL=P -DGOLDEN=P -DTYPE=q8_0|q4_0 -DDIR=D [-DLAYERS=N] [-DALWAYS=1] -P scale_golden_full.cmake
if(NOT ALWAYS AND NOT "$ENV{SKIM_TEST_SCALE_FULL}" STREQUAL "1")
  message("SKIP: set SKIM_TEST_SCALE_FULL=1 to run the TinyLlama-shape golden (minutes)")
  return()
endif()
if(NOT LAYERS)
  set(LAYERS 22)
endif()
set(_file ${DIR}/tinyllama-${LAYERS}l-${TYPE}.gguf)
string(TIMESTAMP _t0 "%s")
execute_process(COMMAND ${GEN_MODEL} --preset tinyllama-1.1b --layers ${LAYERS} --type ${TYPE}
                        --ctx 64 ${_file}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
if(NOT _rc EQUAL 0)
  file(REMOVE ${_file})
  message(FATAL_ERROR "gen_model failed (${_rc}):\n${_o}${_e}")
endif()
string(TIMESTAMP _t1 "%s")
# 64 tokens of the file's vocabulary (gen_model's byte-level pieces).
set(_prompt "Once upon a time there was a little girl named Lily who loved to play outside in the sun")
execute_process(COMMAND ${GOLDEN} -m ${_file} --prompt ${_prompt}
                RESULT_VARIABLE _rc OUTPUT_VARIABLE _o ERROR_VARIABLE _e)
string(TIMESTAMP _t2 "%s")
file(REMOVE ${_file})
math(EXPR _gen "${_t1} - ${_t0}")
math(EXPR _run "${_t2} - ${_t1}")
message("--- golden, ${LAYERS} layers, ${TYPE} (file generated in ${_gen} s, golden ${_run} s)\n"
        "${_o}\n--- stderr\n${_e}\n--- exit status ${_rc}")
if("${_o}${_e}" MATCHES "vulkan: (no Vulkan|vkCreateInstance failed)")
  message("SKIP: no Vulkan device")
  return()
endif()
math(EXPR _last "${LAYERS} - 1")
foreach(_re "64 tokens \\(window 64\\)" "checked  : vulkan" "\n +${_last}  " "no node diverges past")
  if(NOT "${_o}" MATCHES "${_re}")
    message(FATAL_ERROR "golden's output lacks '${_re}'")
  endif()
endforeach()
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "golden exited with ${_rc}")
endif()
