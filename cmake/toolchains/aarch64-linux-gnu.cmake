# Cross-compiling for aarch64 Linux with Debian's cross toolchain:
#   apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# Tests run through qemu-user (CMAKE_CROSSCOMPILING_EMULATOR, used by ctest and by
# add_test of a target), with the arm64 libraries of the cross toolchain as its sysroot.
# scripts/test-cross.sh does all of it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(SKIM_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "prefix of the cross compilers")
set(CMAKE_C_COMPILER ${SKIM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${SKIM_CROSS_TRIPLE}-g++)
set(SKIM_CROSS_SYSROOT /usr/${SKIM_CROSS_TRIPLE} CACHE PATH "arm64 headers and libraries")

# Libraries and headers from the target's tree only; programs (glslc, spirv-val, the
# shell) from the host.
set(CMAKE_FIND_ROOT_PATH ${SKIM_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# The sysroot goes to qemu as QEMU_LD_PREFIX through env rather than as `-L dir`: tests
# that run a program through a `cmake -P` script pass the emulator as arguments of cmake,
# which would take -L as its own option.
find_program(SKIM_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
find_program(SKIM_ENV env)
if(SKIM_QEMU_AARCH64 AND SKIM_ENV)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SKIM_ENV} QEMU_LD_PREFIX=${SKIM_CROSS_SYSROOT}
                                    ${SKIM_QEMU_AARCH64})
endif()

# gcc 12's vectorizer crashes on some of the test programs (not on the libraries).
set(CMAKE_PROJECT_skim_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/gcc12-vect-ice.cmake)
