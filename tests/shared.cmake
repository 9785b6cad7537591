# BUILD_SHARED_LIBS=ON (cmake/skim_shared.cmake): libskim.so exports exactly the SKIM_API
# functions of the headers of the components built in, under its versioned soname, and
# the quick start linked against it alone runs.
if(NOT TARGET skim_shared)
  return()
endif()
find_program(SKIM_PYTHON3 python3)
set(_skim_optional "")
if(NOT TARGET skim_vulkan)
  list(APPEND _skim_optional --optional-header skim-vulkan.h)
endif()
if(NOT TARGET skim_models)
  list(APPEND _skim_optional --optional-header skim-gguf.h --optional-header skim-text.h
       --optional-header skim-model.h)
endif()
if(SKIM_PYTHON3)
  add_test(NAME shared_exports
           COMMAND ${SKIM_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/shared/check_exports.py
                   $<TARGET_FILE:skim_shared> ${PROJECT_SOURCE_DIR}/include ${_skim_optional}
                   --soname $<TARGET_SONAME_FILE_NAME:skim_shared>)
  set_tests_properties(shared_exports PROPERTIES LABELS shared TIMEOUT 60)
endif()
add_executable(quickstart_shared ${PROJECT_SOURCE_DIR}/examples/quickstart/main.c)
target_link_libraries(quickstart_shared PRIVATE skim_shared skim_warnings)
add_test(NAME shared_quickstart_runs COMMAND quickstart_shared)
set_tests_properties(shared_quickstart_runs PROPERTIES LABELS shared TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "FLOPs executed: [0-9]+ of [0-9]+")
