# The Vulkan test suite (included by tests/CMakeLists.txt when skim_vulkan is built).
# The core golden and property tests run on Vulkan too (test_vulkan_create: validation
# layer on, any message fails). A test returns 77 (SKIP) when no Vulkan device exists.
foreach(_t test_golden test_property test_quant_k test_mixer_block)
  if(TARGET ${_t})
    target_sources(${_t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
    target_compile_definitions(${_t} PRIVATE SKIM_TEST_HAVE_VULKAN)
    target_link_libraries(${_t} PRIVATE skim_vulkan)
  endif()
endforeach()
# Synchronization validation on: the barriers are planned from what dispatches bind.
foreach(_t test_golden test_property test_mixer_block test_quant_k)
  if(TEST ${_t})
    set_tests_properties(${_t} PROPERTIES ENVIRONMENT "SKIM_TEST_VK_SYNC=1")
  endif()
endforeach()
foreach(_t test_golden test_property test_quant_k test_mixer_block)
  if(TEST ${_t})
    set_property(TEST ${_t} PROPERTY SKIP_RETURN_CODE 77)
  endif()
endforeach()

# Vulkan's own tests: tests/vulkan/<name>.c with test_vulkan.c (validation on).
function(skim_vk_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "ENV" ${ARGN})
  add_executable(${name} ${CMAKE_CURRENT_SOURCE_DIR}/vulkan/${name}.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common)
  target_link_libraries(${name} PRIVATE skim_vulkan skim_cpu skim_core skim_warnings)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS vulkan SKIP_RETURN_CODE 77)
  if(T_ENV)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${T_ENV}")
  endif()
endfunction()

skim_vk_test(test_vk_smoke ENV "SKIM_TEST_VK_SYNC=1")
skim_vk_test(test_vk_lifecycle)
# Ops over tensors past maxStorageBufferRange split into pieces (a 4096-byte stand-in
# limit, SKIM_VK_MAX_RANGE, set by the test itself), sync validation on.
skim_vk_test(test_vk_split ENV "SKIM_TEST_VK_SYNC=1")
# A store's weights and states in several buffers past the most one allocation holds (a
# 16384-byte stand-in limit, SKIM_VK_MAX_ALLOC, set by the test itself), sync validation on.
skim_vk_test(test_vk_blocks ENV "SKIM_TEST_VK_SYNC=1")
# Device time per dispatch (skim_vulkan_plan_profile), sync validation on.
skim_vk_test(test_vk_profile ENV "SKIM_TEST_VK_SYNC=1")
target_link_libraries(test_vk_profile PRIVATE skim_test_common)
# The gated stacks and the mixer blocks with every store in buffers of at most 64 KiB
# (weights in several of them; the golden cases hold one weight each, so never split).
if(TARGET test_property)
  add_test(NAME test_vk_property_blocks COMMAND test_property 40 500)
  set_tests_properties(test_vk_property_blocks PROPERTIES
                       ENVIRONMENT "SKIM_VK_MAX_ALLOC=65536;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  # The same with graph/'s liveness layout of the arena (no guard bytes): cut between
  # tensors where it can be, else every intermediate its own range.
  add_test(NAME test_vk_property_blocks_reuse COMMAND test_property 40 500)
  set_tests_properties(test_vk_property_blocks_reuse PROPERTIES
                       ENVIRONMENT "SKIM_VK_MAX_ALLOC=65536;SKIM_TEST_VK_NO_GUARD=1;SKIM_VK_ARENA=reuse;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
if(TARGET test_mixer_block)
  add_test(NAME test_vk_mixer_block_blocks COMMAND test_mixer_block)
  set_tests_properties(test_vk_mixer_block_blocks PROPERTIES
                       ENVIRONMENT "SKIM_VK_MAX_ALLOC=65536;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
# Plans of one backend on four threads at once (the thread rule of skim-backend.h), and
# the same with every transfer through the shared staging area (SKIM_VK_STAGING).
skim_vk_test(test_vk_threads)
target_link_libraries(test_vk_threads PRIVATE Threads::Threads)
add_test(NAME test_vk_threads_staging COMMAND test_vk_threads)
set_tests_properties(test_vk_threads_staging PROPERTIES ENVIRONMENT "SKIM_VK_STAGING=4096"
                     LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)

# The failures of item 8 made to happen (a vkGetInstanceProcAddr wrapper, a missing loader
# library): status, message, no leak, the backends still usable. No validation layer.
add_executable(test_vk_faults ${CMAKE_CURRENT_SOURCE_DIR}/vulkan/test_vk_faults.c)
target_link_libraries(test_vk_faults PRIVATE skim_vulkan skim_cpu skim_core ${CMAKE_DL_LIBS}
                      skim_warnings)
target_include_directories(test_vk_faults PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common)
add_test(NAME test_vk_faults COMMAND test_vk_faults)
set_tests_properties(test_vk_faults PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 120)

# The engine example runs skim on a device the application created (skip: no device).
if(TARGET embed)
  add_test(NAME test_vk_embed COMMAND embed --validate)
  set_tests_properties(test_vk_embed PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()

# A create-plan-run-destroy cycle (the embed example: its own device, then skim's runs)
# under valgrind: no definite leak, no invalid access. About 10 s on lavapipe.
find_program(SKIM_VALGRIND valgrind)
if(SKIM_VALGRIND AND TARGET embed)
  add_test(NAME test_vk_valgrind
           COMMAND ${SKIM_VALGRIND} --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/vulkan/valgrind.supp
                   --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9
                   $<TARGET_FILE:embed>)
  set_tests_properties(test_vk_valgrind PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# Variants the device would not pick on its own: mul_mv.comp (subgroups along k, for GPUs)
# on lavapipe too, and the direct (non-indirect) dispatches of SKIM_VK_RESOLVE=host;
# synchronization validation on in each.
if(TARGET test_golden)
  add_test(NAME test_vk_golden_mul_mv COMMAND test_golden mul_mat)
  add_test(NAME test_vk_quant_k_mul_mv COMMAND test_quant_k)
  set_tests_properties(test_vk_quant_k_mul_mv PROPERTIES ENVIRONMENT "SKIM_VK_MUL_MV=1;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 120)
  add_test(NAME test_vk_golden_resolve_host COMMAND test_golden)
  set_tests_properties(test_vk_golden_mul_mv PROPERTIES ENVIRONMENT "SKIM_VK_MUL_MV=1;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  set_tests_properties(test_vk_golden_resolve_host PROPERTIES ENVIRONMENT "SKIM_VK_RESOLVE=host;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  # Without guard bytes, with the arena's memory reuse (graph/'s liveness plan, what
  # applications get past a few MiB of intermediates), synchronization validation on.
  add_test(NAME test_vk_golden_no_guard COMMAND test_golden)
  set_tests_properties(test_vk_golden_no_guard PROPERTIES
                       ENVIRONMENT "SKIM_TEST_VK_NO_GUARD=1;SKIM_VK_ARENA=reuse;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  # The shaders' paths for devices without subgroup arithmetic (norm, soft_max, select),
  # with the row shaders specialised to 256 invocations (specialization constant 0), and
  # mul_mat's scalar loads where it would take the VEC4 variant.
  add_test(NAME test_vk_golden_no_subgroup COMMAND test_golden)
  set_tests_properties(test_vk_golden_no_subgroup PROPERTIES
                       ENVIRONMENT "SKIM_VK_NO_SUBGROUP=1;SKIM_VK_WG_ROWS=256;SKIM_VK_NO_VEC4=1;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()
if(TARGET test_property)
  # The gated stacks with direct dispatches too (40 seeds, about 3 s), sync validation on.
  add_test(NAME test_vk_property_resolve_host COMMAND test_property 40 500)
  set_tests_properties(test_vk_property_resolve_host PROPERTIES
                       ENVIRONMENT "SKIM_VK_RESOLVE=host;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  # Guard bytes give every tensor its own memory; these runs keep the arena's reuse of
  # memory (graph/'s liveness plan), where barriers order a range's reuse after its
  # readers, and the small-arena layout without guard gaps, both as applications get
  # them, with synchronization validation (60 seeds each, about 4 s each).
  add_test(NAME test_vk_property_no_guard COMMAND test_property 60 800)
  set_tests_properties(test_vk_property_no_guard PROPERTIES
                       ENVIRONMENT "SKIM_TEST_VK_NO_GUARD=1;SKIM_VK_ARENA=reuse;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  add_test(NAME test_vk_property_spread COMMAND test_property 60 1600)
  set_tests_properties(test_vk_property_spread PROPERTIES
                       ENVIRONMENT "SKIM_TEST_VK_NO_GUARD=1;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# Skipped tokens launch no workgroups: compute-shader invocations counted with a pipeline
# statistics query around a run recorded into the test's own command buffer.
if(SKIM_VOLK_DIR)
  add_executable(test_vk_indirect ${CMAKE_CURRENT_SOURCE_DIR}/vulkan/test_vk_indirect.c
                 ${CMAKE_CURRENT_SOURCE_DIR}/common/test_vulkan.c
                 ${SKIM_VOLK_DIR}/volk.c)
  set_source_files_properties(${SKIM_VOLK_DIR}/volk.c PROPERTIES COMPILE_OPTIONS "-w")
  target_compile_definitions(test_vk_indirect PRIVATE VK_NO_PROTOTYPES SKIM_TEST_HAVE_VULKAN)
  target_include_directories(test_vk_indirect PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/common)
  target_link_libraries(test_vk_indirect PRIVATE skim_vulkan skim_cpu skim_core ${CMAKE_DL_LIBS} skim_warnings)
  add_test(NAME test_vk_indirect COMMAND test_vk_indirect)
  set_tests_properties(test_vk_indirect PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 120
                       ENVIRONMENT "SKIM_TEST_VK_SYNC=1")
endif()

# Stand-ins for other GPUs: lavapipe with 4-wide (128-bit) and 16-wide (512-bit) vectors,
# so subgroups of 4 and 16 instead of 8, and the validation layer's best-practices checks
# for NVIDIA, AMD and Arm. Every message left is one of the IDs docs/embedding.md explains
# ("Best-practices checks"); any other fails. About 90 s of CI in all (-j2: about 45 s).
if(TARGET test_golden AND TARGET test_property)
  foreach(_w 128 512)
    add_test(NAME test_vk_golden_lp${_w} COMMAND test_golden)
    add_test(NAME test_vk_property_lp${_w} COMMAND test_property 40 500)
    set_tests_properties(test_vk_golden_lp${_w} test_vk_property_lp${_w} PROPERTIES
                         ENVIRONMENT "LP_NATIVE_VECTOR_WIDTH=${_w};SKIM_TEST_VK_SYNC=1"
                         LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
  set(_bp_explained
      AllocateMemory-ReuseAllocations AllocateMemory-SetPriority vkAllocateMemory-small-allocation
      vkBindMemory-small-dedicated-allocation Pipeline-SortAndBind SpirvDeprecated_WorkgroupSize
      VkCommandBuffer-AvoidSecondaryCmdBuffers vkBeginCommandBuffer-one-time-submit
      CreatePipelinesLayout-KeepLayoutSmall CmdBuffer-highBarrierCount
      vkCreateCommandPool-command-buffer-reset vkCreateInstance-specialuse-extension-debugging
      vkCreateComputePipelines-compute-spatial-locality
      vkCreateComputePipelines-compute-thread-group-alignment
      vkCreateComputePipelines-compute-work-group-size)
  list(TRANSFORM _bp_explained PREPEND UNASSIGNED-BestPractices-)
  string(REPLACE ";" "," _bp_allow "${_bp_explained}")
  foreach(_v NVIDIA AMD ARM)
    string(TOLOWER ${_v} _vl)
    add_test(NAME test_vk_golden_bp_${_vl} COMMAND test_golden)
    add_test(NAME test_vk_property_bp_${_vl} COMMAND test_property 20 300)
    set_tests_properties(test_vk_golden_bp_${_vl} test_vk_property_bp_${_vl} PROPERTIES ENVIRONMENT
      "VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_BEST_PRACTICES_EXT:VALIDATION_CHECK_ENABLE_VENDOR_SPECIFIC_${_v};SKIM_TEST_VK_ALLOW=${_bp_allow}"
      LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endif()

# scripts/device-check.sh (for machines with a GPU) checked here without one: its
# --dry-run prints every step and command and must reach the end.
find_program(SKIM_BASH bash)
if(SKIM_BASH)
  add_test(NAME test_device_check_dry_run
           COMMAND ${SKIM_BASH} ${PROJECT_SOURCE_DIR}/scripts/device-check.sh --dry-run)
  set_tests_properties(test_device_check_dry_run PROPERTIES LABELS vulkan TIMEOUT 30
                       PASS_REGULAR_EXPRESSION "device-check: == done")
endif()

# The fused chains of the Vulkan backend (vk_fuse.c), each against a double reference and
# against the same graph unfused, with synchronization validation.
skim_vk_test(test_vk_fused ENV "SKIM_TEST_VK_SYNC=1")
target_link_libraries(test_vk_fused PRIVATE skim_test_common)
# The arena's liveness layout (ranges reused): a gather whose source dies there stays.
add_test(NAME test_vk_fused_reuse COMMAND test_vk_fused)
set_tests_properties(test_vk_fused_reuse PROPERTIES LABELS vulkan SKIP_RETURN_CODE 77
                     ENVIRONMENT "SKIM_TEST_VK_SYNC=1;SKIM_VK_ARENA=reuse;SKIM_TEST_VK_NO_GUARD=1")
# The same chains through mul_mv.comp's epilogue (the matvec kernel GPUs get at N <= 4).
add_test(NAME test_vk_fused_mul_mv COMMAND test_vk_fused)
set_tests_properties(test_vk_fused_mul_mv PROPERTIES
                     ENVIRONMENT "SKIM_VK_MUL_MV=1;SKIM_TEST_VK_SYNC=1"
                     LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
# The unfused recording (every node its own dispatch, indirect.comp after each producer)
# stays tested: 30 property seeds with synchronization validation.
if(TARGET test_property)
  add_test(NAME test_vk_property_no_fuse COMMAND test_property 30 2400)
  set_tests_properties(test_vk_property_no_fuse PROPERTIES ENVIRONMENT "SKIM_VK_FUSE=0;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endif()

# The shader paths for optional device features (16- and 8-bit storage, integer dot
# products, full subgroups) against their portable paths on the same device, and
# SKIM_PLAN_QUANTIZED_ACTIVATIONS and SKIM_PLAN_HALF_PRODUCTS on Vulkan; also with lavapipe's
# subgroups of 4 and 16.
# The mul_mat goldens through mul_mv.comp run the feature paths (test_vk_golden_mul_mv);
# here also with every feature taken as absent, and with subgroups of 4 and 16. About
# 10 s of CI in all.
skim_vk_test(test_vk_features ENV "SKIM_TEST_VK_SYNC=1")
target_link_libraries(test_vk_features PRIVATE skim_test_common)
foreach(_w 128 512)
  add_test(NAME test_vk_features_lp${_w} COMMAND test_vk_features)
  set_tests_properties(test_vk_features_lp${_w} PROPERTIES
                       ENVIRONMENT "LP_NATIVE_VECTOR_WIDTH=${_w};SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
endforeach()
if(TARGET test_golden)
  add_test(NAME test_vk_golden_mul_mv_portable COMMAND test_golden mul_mat)
  set_tests_properties(test_vk_golden_mul_mv_portable PROPERTIES
                       ENVIRONMENT "SKIM_VK_MUL_MV=1;SKIM_VK_NO_FEATURES=all;SKIM_TEST_VK_SYNC=1"
                       LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  foreach(_w 128 512)
    add_test(NAME test_vk_golden_mul_mv_lp${_w} COMMAND test_golden mul_mat)
    set_tests_properties(test_vk_golden_mul_mv_lp${_w} PROPERTIES
                         ENVIRONMENT "LP_NATIVE_VECTOR_WIDTH=${_w};SKIM_VK_MUL_MV=1;SKIM_TEST_VK_SYNC=1"
                         LABELS vulkan SKIP_RETURN_CODE 77 TIMEOUT 300)
  endforeach()
endif()
