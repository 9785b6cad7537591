# Included after project(skim) by the aarch64 toolchain file (CMAKE_PROJECT_skim_INCLUDE).
# Debian 12's aarch64 gcc 12.2 stops with an internal compiler error in the loop
# vectorizer ("in vect_transform_reduction, at tree-vect-loop.cc:7457", at -O2 and -O3)
# on some double reductions in tests/test_quant.c, tests/test_states.c and
# examples/hello/main.c. The libraries compile fine and keep their vectorized code: only
# the test and example programs are built with -fno-tree-loop-vectorize, once every
# target of the tree exists (a deferred call at the end of the top-level CMakeLists.txt).
if(NOT (CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_C_COMPILER_VERSION VERSION_LESS 13))
  return()
endif()
function(_skim_gcc12_no_loop_vect dir)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type MATCHES "EXECUTABLE|STATIC_LIBRARY|OBJECT_LIBRARY" AND
       NOT t MATCHES "^skim_(core|cpu|vulkan|models)$")
      target_compile_options(${t} PRIVATE $<$<COMPILE_LANGUAGE:C>:-fno-tree-loop-vectorize>)
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(d IN LISTS subdirs)
    _skim_gcc12_no_loop_vect(${d})
  endforeach()
endfunction()
cmake_language(DEFER CALL _skim_gcc12_no_loop_vect ${CMAKE_CURRENT_SOURCE_DIR})
