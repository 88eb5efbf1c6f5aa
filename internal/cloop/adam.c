//go:build cgo && !noopenblas && amd64

// Adam's update, the same arithmetic as kernels.adamRange without AMSGrad,
// operation for operation:
//   gi = g + wd·x;  mi = β₁·m + (1−β₁)·gi;  vi = β₂·v + ((1−β₂)·gi)·gi;
//   p  = x·decay − (step·mi) / (√vi·inv_bc2s + eps).
// Packed IEEE operations (AVX, 8 floats or 4 doubles; SSE2, 4 or 2) round
// exactly as the scalar ones, and no multiply-add is fused, so every lane
// computes what the Go loop computes. The tail runs the scalar loop.

#include <immintrin.h>
#include <math.h>
#include "adam.h"

// Never fuse a multiply and an add (GCC contracts even intrinsics when a
// build enables FMA, e.g. CGO_CFLAGS=-march=native).
#pragma GCC optimize("-ffp-contract=off")
#ifdef __clang__
#pragma clang fp contract(off)
#endif

#define ADAM_SCALAR(T, SQRT)                                     \
  for (; i < n; i++) {                                           \
    T x = p[i];                                                  \
    T gi = g[i] + wd * x;                                        \
    T mi = b1 * m[i] + ((T)1 - b1) * gi;                         \
    T vi = b2 * v[i] + ((T)1 - b2) * gi * gi;                    \
    m[i] = mi;                                                   \
    v[i] = vi;                                                   \
    p[i] = x * decay - step * mi / (SQRT(vi) * inv_bc2s + eps); \
  }

// ADAM_PACKED is the loop over W lanes with the intrinsics of prefix P
// (_mm256 or _mm) and suffix S (ps or pd) on vector type V.
#define ADAM_PACKED(V, P, S, W)                                                  \
  {                                                                              \
    const V vb1 = P##_set1_##S(b1), vc1 = P##_set1_##S(1 - b1);                  \
    const V vb2 = P##_set1_##S(b2), vc2 = P##_set1_##S(1 - b2);                  \
    const V vwd = P##_set1_##S(wd), vdecay = P##_set1_##S(decay);                \
    const V vstep = P##_set1_##S(step), vinv = P##_set1_##S(inv_bc2s);           \
    const V veps = P##_set1_##S(eps);                                            \
    for (; i + W <= n; i += W) {                                                 \
      V x = P##_loadu_##S(p + i);                                                \
      V gi = P##_add_##S(P##_loadu_##S(g + i), P##_mul_##S(vwd, x));             \
      V mi = P##_add_##S(P##_mul_##S(vb1, P##_loadu_##S(m + i)), P##_mul_##S(vc1, gi)); \
      V vi = P##_add_##S(P##_mul_##S(vb2, P##_loadu_##S(v + i)),                 \
                         P##_mul_##S(P##_mul_##S(vc2, gi), gi));                 \
      P##_storeu_##S(m + i, mi);                                                 \
      P##_storeu_##S(v + i, vi);                                                 \
      V den = P##_add_##S(P##_mul_##S(P##_sqrt_##S(vi), vinv), veps);            \
      P##_storeu_##S(p + i, P##_sub_##S(P##_mul_##S(x, vdecay),                  \
                                        P##_div_##S(P##_mul_##S(vstep, mi), den))); \
    }                                                                            \
  }

__attribute__((target("avx"))) static void adam_f32_avx(float* p, const float* g, float* m, float* v,
                                                        ptrdiff_t n, float b1, float b2, float eps, float wd,
                                                        float decay, float step, float inv_bc2s) {
  ptrdiff_t i = 0;
  ADAM_PACKED(__m256, _mm256, ps, 8)
  ADAM_SCALAR(float, sqrtf)
}

static void adam_f32_sse(float* p, const float* g, float* m, float* v, ptrdiff_t n, float b1, float b2,
                         float eps, float wd, float decay, float step, float inv_bc2s) {
  ptrdiff_t i = 0;
  ADAM_PACKED(__m128, _mm, ps, 4)
  ADAM_SCALAR(float, sqrtf)
}

__attribute__((target("avx"))) static void adam_f64_avx(double* p, const double* g, double* m, double* v,
                                                        ptrdiff_t n, double b1, double b2, double eps,
                                                        double wd, double decay, double step,
                                                        double inv_bc2s) {
  ptrdiff_t i = 0;
  ADAM_PACKED(__m256d, _mm256, pd, 4)
  ADAM_SCALAR(double, sqrt)
}

static void adam_f64_sse(double* p, const double* g, double* m, double* v, ptrdiff_t n, double b1,
                         double b2, double eps, double wd, double decay, double step, double inv_bc2s) {
  ptrdiff_t i = 0;
  ADAM_PACKED(__m128d, _mm, pd, 2)
  ADAM_SCALAR(double, sqrt)
}

void gl_adam_f32(float* p, const float* g, float* m, float* v, ptrdiff_t n, float b1, float b2, float eps,
                 float wd, float decay, float step, float inv_bc2s) {
  if (__builtin_cpu_supports("avx")) {
    adam_f32_avx(p, g, m, v, n, b1, b2, eps, wd, decay, step, inv_bc2s);
  } else {
    adam_f32_sse(p, g, m, v, n, b1, b2, eps, wd, decay, step, inv_bc2s);
  }
}

void gl_adam_f64(double* p, const double* g, double* m, double* v, ptrdiff_t n, double b1, double b2,
                 double eps, double wd, double decay, double step, double inv_bc2s) {
  if (__builtin_cpu_supports("avx")) {
    adam_f64_avx(p, g, m, v, n, b1, b2, eps, wd, decay, step, inv_bc2s);
  } else {
    adam_f64_sse(p, g, m, v, n, b1, b2, eps, wd, decay, step, inv_bc2s);
  }
}
