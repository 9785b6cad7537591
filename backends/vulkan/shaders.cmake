# The shader variants, one row each: "id|source[|DEFINE DEFINE=1 ...]". Adding a row makes
# SKIM_VK_SHADER_<ID> (upper case) and embeds its SPIR-V; see backends/vulkan/README.md.
# The plain variant "<stem>|<stem>.comp" of each shader named in graph/ops.def's shader
# column is added by the build, except for the stems of SKIM_VK_TYPED_SHADERS, which are
# compiled per type only (their rows are below).
# The get_rows, mul_mat, mul_mat NARROW and mul_mv rows stay in the order F32, F16, Q8_0,
# Q4_0, BF16, Q4_K, Q6_K (vk_ops.c by_wtype); the VEC4 rows stop at Q4_0 (vk_ops.c vec4_ok).
# The mul_mv rows for optional device features follow them in this order (vk_pipeline.c's
# subgroup_wg takes them as one range; skim_vk_mv_shader picks them).
set(SKIM_VK_TYPED_SHADERS copy get_rows mul_mat set_rows attn)
set(SKIM_VK_SHADERS
  "copy_32|copy.comp|SRC_32 DST_32"
  "copy_f32_f16|copy.comp|SRC_32 DST_F16"
  "copy_f16_f32|copy.comp|SRC_F16 DST_32"
  "copy_f16_f16|copy.comp|SRC_F16 DST_F16"
  "norm_sg|norm.comp|SUBGROUP"
  "soft_max_sg|soft_max.comp|SUBGROUP"
  "get_rows_f32|get_rows.comp|W_F32"
  "get_rows_f16|get_rows.comp|W_F16"
  "get_rows_q8_0|get_rows.comp|W_Q8_0"
  "get_rows_q4_0|get_rows.comp|W_Q4_0"
  "get_rows_bf16|get_rows.comp|W_BF16"
  "get_rows_q4_k|get_rows.comp|W_Q4_K"
  "get_rows_q6_k|get_rows.comp|W_Q6_K"
  "mul_mat_f32|mul_mat.comp|W_F32"
  "mul_mat_f16|mul_mat.comp|W_F16"
  "mul_mat_q8_0|mul_mat.comp|W_Q8_0"
  "mul_mat_q4_0|mul_mat.comp|W_Q4_0"
  "mul_mat_bf16|mul_mat.comp|W_BF16"
  "mul_mat_q4_k|mul_mat.comp|W_Q4_K"
  "mul_mat_q6_k|mul_mat.comp|W_Q6_K"
  "mul_mat_f32_v4|mul_mat.comp|W_F32 VEC4"
  "mul_mat_f16_v4|mul_mat.comp|W_F16 VEC4"
  "mul_mat_q8_0_v4|mul_mat.comp|W_Q8_0 VEC4"
  "mul_mat_q4_0_v4|mul_mat.comp|W_Q4_0 VEC4"
  # mul_mat TILE (vk_ops.c tile_shader; TILE_RM and TILE_RN are vk_ops.c's too)
  "mul_mat_f32_t|mul_mat.comp|W_F32 VEC4 TILE TILE_RM=16u TILE_RN=8u"
  "mul_mat_f16_t|mul_mat.comp|W_F16 VEC4 TILE TILE_RM=16u TILE_RN=8u"
  "mul_mat_q8_0_t|mul_mat.comp|W_Q8_0 VEC4 TILE TILE_RM=16u TILE_RN=8u"
  "mul_mat_q4_0_t|mul_mat.comp|W_Q4_0 VEC4 TILE TILE_RM=16u TILE_RN=8u"
  # SKIM_PLAN_HALF_PRODUCTS (vk_ops.c half_shader): the portable twin, then f16 arithmetic
  "mul_mat_f16_t_half|mul_mat.comp|W_F16 VEC4 TILE TILE_RM=16u TILE_RN=8u HALF"
  "mul_mat_f16_t_half16|mul_mat.comp|W_F16 VEC4 TILE TILE_RM=16u TILE_RN=8u HALF HALF_ARITH"
  "mul_mat_f32_n|mul_mat.comp|W_F32 NARROW"
  "mul_mat_f16_n|mul_mat.comp|W_F16 NARROW"
  "mul_mat_q8_0_n|mul_mat.comp|W_Q8_0 NARROW"
  "mul_mat_q4_0_n|mul_mat.comp|W_Q4_0 NARROW"
  "mul_mat_bf16_n|mul_mat.comp|W_BF16 NARROW"
  "mul_mat_q4_k_n|mul_mat.comp|W_Q4_K NARROW"
  "mul_mat_q6_k_n|mul_mat.comp|W_Q6_K NARROW"
  "mul_mat_f32_v4_n|mul_mat.comp|W_F32 VEC4 NARROW"
  "mul_mat_f16_v4_n|mul_mat.comp|W_F16 VEC4 NARROW"
  "mul_mat_q8_0_v4_n|mul_mat.comp|W_Q8_0 VEC4 NARROW"
  "mul_mat_q4_0_v4_n|mul_mat.comp|W_Q4_0 VEC4 NARROW"
  "mul_mv_f32|mul_mv.comp|W_F32"
  "mul_mv_f16|mul_mv.comp|W_F16"
  "mul_mv_q8_0|mul_mv.comp|W_Q8_0"
  "mul_mv_q4_0|mul_mv.comp|W_Q4_0"
  "mul_mv_bf16|mul_mv.comp|W_BF16"
  "mul_mv_q4_k|mul_mv.comp|W_Q4_K"
  "mul_mv_q6_k|mul_mv.comp|W_Q6_K"
  "mul_mv_f16_s16|mul_mv.comp|W_F16 S16"
  "mul_mv_q8_0_qa|mul_mv.comp|W_Q8_0 QA"
  "mul_mv_q4_0_qa|mul_mv.comp|W_Q4_0 QA"
  "mul_mv_q8_0_qa_dot|mul_mv.comp|W_Q8_0 QA DOT"
  "mul_mv_q4_0_qa_dot|mul_mv.comp|W_Q4_0 QA DOT"
  "set_rows_f32|set_rows.comp|DST_32"
  "set_rows_f16|set_rows.comp|DST_F16"
  "attn_f32|attn.comp|KV_F32"
  "attn_f16|attn.comp|KV_F16"
  "select_sg|select.comp|SUBGROUP"
  "indirect|indirect.comp"
)
