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

# The split libraries (libskim-core.so and one per component): the public API spread over
# them, the core's internal interface under SKIM_INTERNAL_0.1, nothing twice; the quick start
# and the consumer program (CPU and, with a device, Vulkan) linked against them run.
if(SKIM_PYTHON3)
  set(_skim_split_libs "")
  foreach(_t IN LISTS SKIM_SPLIT_LIBS)
    list(APPEND _skim_split_libs $<TARGET_FILE:${_t}>)
  endforeach()
  add_test(NAME shared_split_exports
           COMMAND ${SKIM_PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/shared/check_split.py
                   ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/graph ${_skim_split_libs}
                   ${_skim_optional})
  set_tests_properties(shared_split_exports PROPERTIES LABELS shared TIMEOUT 60)
endif()
add_executable(quickstart_split ${PROJECT_SOURCE_DIR}/examples/quickstart/main.c)
target_link_libraries(quickstart_split PRIVATE skim_cpu_so skim_warnings)
add_test(NAME shared_split_quickstart_runs COMMAND quickstart_split)
set_tests_properties(shared_split_quickstart_runs PROPERTIES LABELS shared TIMEOUT 60
                     PASS_REGULAR_EXPRESSION "FLOPs executed: [0-9]+ of [0-9]+")
if(TARGET skim_vulkan_so)
  add_executable(consumer_split_vulkan ${CMAKE_CURRENT_SOURCE_DIR}/consumer/main.c)
  target_compile_definitions(consumer_split_vulkan PRIVATE CONSUMER_VULKAN)
  target_include_directories(consumer_split_vulkan PRIVATE ${SKIM_VULKAN_INCLUDE})
  target_link_libraries(consumer_split_vulkan PRIVATE skim_vulkan_so skim_cpu_so skim_warnings)
  add_test(NAME shared_split_consumer_vulkan COMMAND consumer_split_vulkan)
  set_tests_properties(shared_split_consumer_vulkan PROPERTIES LABELS shared TIMEOUT 120)
endif()
