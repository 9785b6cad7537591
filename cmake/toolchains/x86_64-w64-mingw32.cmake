# Cross-compiling for 64-bit Windows with Debian's MinGW-w64 toolchain:
#   apt-get install gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64
#   cmake -S . -B build-mingw -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/x86_64-w64-mingw32.cmake
# Tests run through wine64 (CMAKE_CROSSCOMPILING_EMULATOR). scripts/test-windows.sh does all
# of it, the Vulkan headers and volk included (the host's /usr/include must not reach this
# compiler, so they come from a folder of their own: SKIM_VULKAN_INCLUDE, SKIM_VOLK_DIR).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(SKIM_CROSS_TRIPLE x86_64-w64-mingw32 CACHE STRING "prefix of the cross compilers")
# The -posix compilers: the library uses Win32 threads (graph/platform_win32.c), but some
# test programs start threads with pthreads, which this variant has (winpthreads).
set(CMAKE_C_COMPILER ${SKIM_CROSS_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${SKIM_CROSS_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${SKIM_CROSS_TRIPLE}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${SKIM_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs carry the GCC runtime and winpthreads in themselves, so that they run without
# MinGW's DLLs on the path (under wine, or copied to a Windows machine).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(SKIM_WINE64 NAMES wine64 wine PATHS /usr/lib/wine)
if(SKIM_WINE64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SKIM_WINE64})
endif()
