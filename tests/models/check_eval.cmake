# check_eval.cmake - the C side's validation figures against PyTorch's (ctest, cmake -P).
#
#   cmake -DGENERATE=exe -DMODEL=gguf -DTEXT=tinyshakespeare.txt -DMETRICS=metrics.json
#         -DMODE=gated|dense [-DBACKEND=cpu] [-DTHREADS=2] [-DEMULATOR=qemu...]
#         -P check_eval.cmake
#
# Runs `generate --eval` (the C forward over the whole validation split) and compares what
# it prints with assets/metrics.json, written by tools/train/eval.py (the PyTorch forward):
# the number of predictions, the executed token-layer ops and head-ops exactly, and the
# bits per character within 1e-4. Prints "SKIP:" when the text is absent.
foreach(_v GENERATE MODEL TEXT METRICS MODE)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "check_eval.cmake: -D${_v}=... is required")
  endif()
endforeach()
if(NOT EXISTS ${TEXT})
  message("SKIP: ${TEXT} is absent (see shared/data/SOURCES.md)")
  return()
endif()
if(NOT DEFINED BACKEND)
  set(BACKEND cpu)
endif()
if(NOT DEFINED THREADS)
  set(THREADS 2)
endif()
set(_cmd ${EMULATOR} ${GENERATE} -m ${MODEL} --backend ${BACKEND} --threads ${THREADS} --eval ${TEXT})
if(MODE STREQUAL "dense")
  list(APPEND _cmd --dense)
endif()
string(REPLACE ";" " " _shown "${_cmd}")
message("$ ${_shown}")
execute_process(COMMAND ${_cmd} OUTPUT_VARIABLE _out ERROR_VARIABLE _err RESULT_VARIABLE _rc)
message("${_out}${_err}")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "FAILED: generate --eval exited with ${_rc}")
endif()

# What the C side printed.
if(NOT _out MATCHES "bits per character \\([a-z ]+\\): ([0-9]+)\\.([0-9][0-9][0-9][0-9][0-9]) over ([0-9]+) predictions")
  message(FATAL_ERROR "FAILED: no bits-per-character line")
endif()
set(_c_int ${CMAKE_MATCH_1})
set(_c_frac ${CMAKE_MATCH_2})
set(_c_bpc ${CMAKE_MATCH_1}.${CMAKE_MATCH_2})
set(_c_n ${CMAKE_MATCH_3})
if(NOT _err MATCHES "token-layer ops \\(([0-9]+) of ([0-9]+) run\\)")
  message(FATAL_ERROR "FAILED: no token-layer ops figure")
endif()
set(_c_tl ${CMAKE_MATCH_1})
set(_c_tl_dense ${CMAKE_MATCH_2})
if(NOT _err MATCHES "heads: ([0-9]+) of ([0-9]+) run\\)")
  message(FATAL_ERROR "FAILED: no head-ops figure")
endif()
set(_c_ho ${CMAKE_MATCH_1})

# What PyTorch measured.
file(READ ${METRICS} _json)
string(JSON _p_bpc GET "${_json}" ${MODE} bpc)
string(JSON _p_n GET "${_json}" ${MODE} n_tokens)
string(JSON _p_tl GET "${_json}" ${MODE} token_layer_ops_executed)
string(JSON _p_tl_dense GET "${_json}" ${MODE} token_layer_ops_dense)
string(JSON _p_ho GET "${_json}" ${MODE} head_ops_executed)

set(_fail "")
foreach(_pair "n;predictions" "tl;executed token-layer ops" "tl_dense;token-layer ops"
        "ho;executed head-ops")
  list(GET _pair 0 _k)
  list(GET _pair 1 _what)
  if(NOT _c_${_k} EQUAL _p_${_k})
    string(APPEND _fail "${_what}: C ${_c_${_k}}, PyTorch ${_p_${_k}}\n")
  endif()
endforeach()
# Bits per character in units of 1e-6 (CMake has integer arithmetic only): the C figure
# is printed with 5 decimals, PyTorch's is truncated to 6.
if(NOT _p_bpc MATCHES "^([0-9]+)\\.([0-9]*)$")
  message(FATAL_ERROR "FAILED: metrics bpc '${_p_bpc}' is not a plain decimal")
endif()
set(_p_int ${CMAKE_MATCH_1})
string(SUBSTRING "${CMAKE_MATCH_2}000000" 0 6 _p_frac)
string(REGEX REPLACE "^0+([0-9])" "\\1" _p_frac "${_p_frac}")
string(REGEX REPLACE "^0+([0-9])" "\\1" _c_frac "${_c_frac}")
math(EXPR _c_u "${_c_int} * 1000000 + ${_c_frac} * 10")
math(EXPR _p_u "${_p_int} * 1000000 + ${_p_frac}")
math(EXPR _d "${_c_u} - ${_p_u}")
if(_d LESS -100 OR _d GREATER 100)
  string(APPEND _fail "bits per character: C ${_c_bpc}, PyTorch ${_p_bpc}\n")
endif()
if(_fail)
  message(FATAL_ERROR "FAILED (${MODE}):\n${_fail}")
endif()
message("${MODE}: C ${_c_bpc} bits per character vs PyTorch ${_p_bpc} "
        "(difference ${_d}e-6); ${_c_n} predictions, ${_c_tl} token-layer ops and ${_c_ho} "
        "head-ops executed, as PyTorch counted: ok")
