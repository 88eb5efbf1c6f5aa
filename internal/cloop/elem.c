//go:build cgo && !noopenblas && amd64

// Elementwise loops of the CPU kernel set. Each is a plain loop doing one
// IEEE operation (or a selection) per element, which the C compiler turns
// into packed instructions (AVX2 or SSE2, chosen at run time) without
// changing any result: no operation is reordered, fused or approximated.

#include <stdint.h>
#include <string.h>
#include "elem.h"

#pragma GCC optimize("-ffp-contract=off")
#ifdef __clang__
#pragma clang fp contract(off)
#endif

#define BINARY(T)                                          \
  switch (op) {                                            \
    case GL_ADD:                                           \
      for (ptrdiff_t i = 0; i < n; i++) d[i] = a[i] + b[i]; \
      break;                                               \
    case GL_SUB:                                           \
      for (ptrdiff_t i = 0; i < n; i++) d[i] = a[i] - b[i]; \
      break;                                               \
    case GL_MUL:                                           \
      for (ptrdiff_t i = 0; i < n; i++) d[i] = a[i] * b[i]; \
      break;                                               \
    case GL_DIV:                                           \
      for (ptrdiff_t i = 0; i < n; i++) d[i] = a[i] / b[i]; \
      break;                                               \
  }

// The slope of a (leaky) ReLU at x, selected from the bits of x as the
// kernel set's Go loop does: 1 where the bits of x, read as a signed
// integer, are positive (x > 0, +Inf, NaNs without the sign bit), leak
// elsewhere (x ≤ 0, −0 and +0 included). Branch-free, so it vectorises.
static inline float slope32(float x, float leak) {
  uint32_t u, one, lk;
  float one_f = 1.0f, s;
  memcpy(&u, &x, sizeof u);
  memcpy(&one, &one_f, sizeof one);
  memcpy(&lk, &leak, sizeof lk);
  // All ones for bits ≤ 0 as a signed integer (unsigned arithmetic wraps
  // where Go's int32 arithmetic does; GCC shifts signed values
  // arithmetically).
  uint32_t m = (uint32_t)(((int32_t)u >> 31) | ((int32_t)(u - 1u) >> 31));
  uint32_t r = (one & ~m) | (lk & m);
  memcpy(&s, &r, sizeof s);
  return s;
}

static inline double slope64(double x, double leak) {
  uint64_t u, one, lk;
  double one_f = 1.0, s;
  memcpy(&u, &x, sizeof u);
  memcpy(&one, &one_f, sizeof one);
  memcpy(&lk, &leak, sizeof lk);
  uint64_t m = (uint64_t)(((int64_t)u >> 63) | ((int64_t)(u - 1u) >> 63));
  uint64_t r = (one & ~m) | (lk & m);
  memcpy(&s, &r, sizeof s);
  return s;
}

#define SLOPE32(x) slope32(x, leak)
#define SLOPE64(x) slope64(x, leak)

// VARIANTS defines NAME_avx2 and NAME_sse from one body and NAME choosing
// between them.
#define VARIANTS(NAME, PARAMS, ARGS, BODY)                                   \
  __attribute__((target("avx2"))) static void NAME##_avx2 PARAMS BODY        \
  static void NAME##_sse PARAMS BODY                                         \
  void NAME PARAMS {                                                         \
    if (__builtin_cpu_supports("avx2")) {                                    \
      NAME##_avx2 ARGS;                                                      \
    } else {                                                                 \
      NAME##_sse ARGS;                                                       \
    }                                                                        \
  }

VARIANTS(gl_binary_f32, (int op, float* d, const float* a, const float* b, ptrdiff_t n), (op, d, a, b, n),
         { BINARY(float) })
VARIANTS(gl_binary_f64, (int op, double* d, const double* a, const double* b, ptrdiff_t n), (op, d, a, b, n),
         { BINARY(double) })

VARIANTS(gl_relu_f32, (float* d, const float* x, ptrdiff_t n, float leak, int times), (d, x, n, leak, times), {
  if (times) {
    for (ptrdiff_t i = 0; i < n; i++) d[i] = SLOPE32(x[i]) * x[i];
  } else {
    for (ptrdiff_t i = 0; i < n; i++) d[i] = SLOPE32(x[i]);
  }
})
VARIANTS(gl_relu_f64, (double* d, const double* x, ptrdiff_t n, double leak, int times), (d, x, n, leak, times), {
  if (times) {
    for (ptrdiff_t i = 0; i < n; i++) d[i] = SLOPE64(x[i]) * x[i];
  } else {
    for (ptrdiff_t i = 0; i < n; i++) d[i] = SLOPE64(x[i]);
  }
})

VARIANTS(gl_relu_mul_f32, (float* d, const float* x, const float* g, ptrdiff_t n, float leak), (d, x, g, n, leak), {
  for (ptrdiff_t i = 0; i < n; i++) d[i] = g[i] * SLOPE32(x[i]);
})
VARIANTS(gl_relu_mul_f64, (double* d, const double* x, const double* g, ptrdiff_t n, double leak), (d, x, g, n, leak), {
  for (ptrdiff_t i = 0; i < n; i++) d[i] = g[i] * SLOPE64(x[i]);
})
