# BUILD_SHARED_LIBS=ON: libskim.so, one shared library holding every component that was
# built (core, CPU, Vulkan, models), and the same components as shared libraries of their
# own: libskim-core.so, libskim-cpu.so, libskim-vulkan.so, libskim-models.so (the split
# libraries; dashes, so that -lskim_core still finds the static archive). The components stay
# static libraries (the tests use their internal functions) and their objects, compiled
# position-independent with hidden visibility, are linked into these.
#
# Exports (GNU version scripts, generated below): libskim.so exports the SKIM_API functions
# only, under the node SKIM_0.1 (the static third-party libraries it links, shaderc and
# SPIRV-Tools, stay hidden too). In the split libraries the backends and the models library
# reach the core through its internal interface: the functions marked SKIM_INTERNAL in
# graph/skim-impl.h and graph/skim-platform.h, which libskim-core.so exports under a node of
# their own, SKIM_INTERNAL_0.1, and which no public header declares. Everything else stays
# local. Sonames are versioned: lib*.so.<major>.<minor>, since 0.x releases change the ABI
# with the minor version.
set(_skim_parts skim_core skim_cpu)
foreach(_t skim_vulkan skim_models)
  if(TARGET ${_t})
    list(APPEND _skim_parts ${_t})
  endif()
endforeach()
add_library(skim_shared SHARED)
add_library(skim::shared ALIAS skim_shared)
foreach(_t ${_skim_parts})
  target_sources(skim_shared PRIVATE $<TARGET_OBJECTS:${_t}>)
endforeach()
# The components' own link dependencies (libm, libdl, threads, shaderc, SPIRV-Tools): their
# archives add no object twice, every symbol being defined by the objects above already.
target_link_libraries(skim_shared PRIVATE ${_skim_parts})
target_include_directories(skim_shared PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_definitions(skim_shared INTERFACE SKIM_SHARED)
set_target_properties(skim_shared PROPERTIES OUTPUT_NAME skim VERSION ${PROJECT_VERSION}
                      SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
# The internal interface, read from the headers (one declaration per line start).
set(SKIM_INTERNAL_FUNCTIONS "")
foreach(_h graph/skim-impl.h graph/skim-platform.h)
  file(STRINGS ${PROJECT_SOURCE_DIR}/${_h} _decls REGEX "^SKIM_INTERNAL [^(]*[ *]skim_[a-z0-9_]+\\(")
  foreach(_d IN LISTS _decls)
    string(REGEX MATCH "skim_[a-z0-9_]+\\(" _n "${_d}")
    string(REPLACE "(" "" _n "${_n}")
    list(APPEND SKIM_INTERNAL_FUNCTIONS ${_n})
  endforeach()
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
               ${PROJECT_SOURCE_DIR}/${_h})
endforeach()
list(JOIN SKIM_INTERNAL_FUNCTIONS "; " _skim_int)
set(_skim_maps ${PROJECT_BINARY_DIR}/skim_maps)
# An exact name outranks a wildcard in a version script: the internal names stay local in
# libskim.so although they match skim_*.
file(CONFIGURE OUTPUT ${_skim_maps}/skim.map CONTENT "SKIM_0.1 {\n  global: skim_*;\n  local: ${_skim_int}; *;\n};\n")
file(CONFIGURE OUTPUT ${_skim_maps}/skim-core.map CONTENT
     "SKIM_INTERNAL_0.1 {\n  global: ${_skim_int};\n};\nSKIM_0.1 {\n  global: skim_*;\n  local: *;\n};\n")
file(CONFIGURE OUTPUT ${_skim_maps}/skim-part.map CONTENT
     "SKIM_0.1 {\n  global: skim_*;\n  local: ${_skim_int}; *;\n};\n")

function(_skim_shared_link target map)
  if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE AND NOT WIN32)
    target_link_options(${target} PRIVATE -Wl,--version-script=${_skim_maps}/${map}
                        -Wl,--exclude-libs,ALL -Wl,--no-undefined)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${_skim_maps}/${map})
  endif()
endfunction()
_skim_shared_link(skim_shared skim.map)

# The split libraries. Each links the static target of its component after libskim-core.so
# for the component's own dependencies (threads, dl, shaderc...): the core's symbols are
# already resolved by libskim-core.so by then, so no core object is pulled in twice (the
# test shared_split_exports checks that no symbol is defined by two libraries).
set(SKIM_SPLIT_LIBS "")
foreach(_t ${_skim_parts})
  string(REGEX REPLACE "^skim_" "" _n ${_t})
  add_library(${_t}_so SHARED $<TARGET_OBJECTS:${_t}>)
  set_target_properties(${_t}_so PROPERTIES OUTPUT_NAME skim-${_n} VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  target_include_directories(${_t}_so PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_definitions(${_t}_so INTERFACE SKIM_SHARED)
  if(_t STREQUAL "skim_core")
    target_link_libraries(${_t}_so PRIVATE ${_t})
    _skim_shared_link(${_t}_so skim-core.map)
  else()
    target_link_libraries(${_t}_so PUBLIC skim_core_so PRIVATE ${_t})
    _skim_shared_link(${_t}_so skim-part.map)
  endif()
  list(APPEND SKIM_SPLIT_LIBS ${_t}_so)
endforeach()
# Installed (cmake --install) beside the static libraries: the library with its soname
# links, exported to the CMake package as skim::shared, and skim.pc names it (the static
# libraries get skim-static.pc then; cmake/skim_pkgconfig.cmake).
if(SKIM_INSTALL)
  set_target_properties(skim_shared PROPERTIES EXPORT_NAME shared)
  foreach(_t ${_skim_parts})
    string(REGEX REPLACE "^skim_" "" _n ${_t})
    set_target_properties(${_t}_so PROPERTIES EXPORT_NAME ${_n}_shared)
  endforeach()
  install(TARGETS skim_shared ${SKIM_SPLIT_LIBS} EXPORT skimTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
