# BUILD_SHARED_LIBS=ON: libskim.so, one shared library holding every component that was
# built (core, CPU, Vulkan, models). The components stay static libraries (the tests use
# their internal functions) and their objects, compiled position-independent with hidden
# visibility, are linked into this one library, so the backends' calls into the core's
# internals stay inside it. It exports the SKIM_API functions only (cmake/skim.map; the
# static third-party libraries it links, shaderc and SPIRV-Tools, stay hidden too) under a
# versioned soname: libskim.so.<major>.<minor>, since 0.x releases change the ABI with the
# minor version.
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
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE AND NOT WIN32)
  target_link_options(skim_shared PRIVATE -Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/skim.map
                      -Wl,--exclude-libs,ALL -Wl,--no-undefined)
  set_property(TARGET skim_shared APPEND PROPERTY LINK_DEPENDS ${PROJECT_SOURCE_DIR}/cmake/skim.map)
endif()
# Installed (cmake --install) beside the static libraries: the library with its soname
# links, exported to the CMake package as skim::shared, and skim.pc names it (the static
# libraries get skim-static.pc then; cmake/skim_pkgconfig.cmake).
if(SKIM_INSTALL)
  set_target_properties(skim_shared PROPERTIES EXPORT_NAME shared)
  install(TARGETS skim_shared EXPORT skimTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
