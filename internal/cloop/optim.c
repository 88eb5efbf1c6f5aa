//go:build cgo && !noopenblas && amd64

// SGD's and RMSprop's updates, the same arithmetic as kernels.sgdRange and
// kernels.rmspropRange, operation for operation (every product rounded
// before it is added: no fused multiply-adds).
//
// SGD is plain arithmetic, which the compiler vectorises (AVX2 or SSE2,
// chosen at run time). RMSprop takes a square root and a division per
// element; they are written with packed intrinsics (AVX or SSE2) because
// the compiler does not vectorise sqrt while it may set errno.

#pragma GCC optimize("-ffp-contract=off")
#ifdef __clang__
#pragma clang fp contract(off)
#endif

#include <immintrin.h>
#include <math.h>
#include "optim.h"

// buf NULL: no momentum. first: the momentum buffer starts as the gradient.
#define SGD_BODY(T)                                          \
  if (buf == NULL) {                                         \
    for (ptrdiff_t i = 0; i < n; i++) {                      \
      T x = p[i];                                            \
      T d = g[i] + wd * x;                                   \
      p[i] = x * decay - lr * d;                             \
    }                                                        \
    return;                                                  \
  }                                                          \
  for (ptrdiff_t i = 0; i < n; i++) {                        \
    T x = p[i];                                              \
    T d = g[i] + wd * x;                                     \
    T b = first ? d : mu * buf[i] + ((T)1 - damp) * d;       \
    buf[i] = b;                                              \
    d = nesterov ? d + mu * b : b;                           \
    p[i] = x * decay - lr * d;                               \
  }

#define SGD_FUNCS(S, T)                                                                                      \
  __attribute__((target("avx2"))) static void sgd_##S##_avx2(T* p, const T* g, T* buf, ptrdiff_t n, T lr,    \
                                                             T mu, T damp, T wd, T decay, int first,         \
                                                             int nesterov) {                                 \
    SGD_BODY(T)                                                                                              \
  }                                                                                                          \
  static void sgd_##S##_sse(T* p, const T* g, T* buf, ptrdiff_t n, T lr, T mu, T damp, T wd, T decay,        \
                            int first, int nesterov) {                                                       \
    SGD_BODY(T)                                                                                              \
  }                                                                                                          \
  void gl_sgd_##S(T* p, const T* g, T* buf, ptrdiff_t n, T lr, T mu, T damp, T wd, T decay, int first,       \
                  int nesterov) {                                                                            \
    if (__builtin_cpu_supports("avx2")) {                                                                    \
      sgd_##S##_avx2(p, g, buf, n, lr, mu, damp, wd, decay, first, nesterov);                                \
    } else {                                                                                                 \
      sgd_##S##_sse(p, g, buf, n, lr, mu, damp, wd, decay, first, nesterov);                                 \
    }                                                                                                        \
  }

SGD_FUNCS(f32, float)
SGD_FUNCS(f64, double)

// RMSprop (ga NULL: not centered; buf NULL: no momentum):
//   gi = g + wd·x;  s = α·sq + ((1−α)·gi)·gi;  sq = s
//   centered: a = α·ga + (1−α)·gi; ga = a; s = s − a·a
//   u = gi / (√s + eps);  momentum: u = u + μ·buf; buf = u
//   p = x − lr·u
#define RMS_SCALAR(T, SQRT)                                    \
  for (; i < n; i++) {                                         \
    T x = p[i];                                                \
    T gi = g[i] + wd * x;                                      \
    T s = alpha * sq[i] + ((T)1 - alpha) * gi * gi;            \
    sq[i] = s;                                                 \
    if (ga) {                                                  \
      T a = alpha * ga[i] + ((T)1 - alpha) * gi;               \
      ga[i] = a;                                               \
      s -= a * a;                                              \
    }                                                          \
    T u = gi / (SQRT(s) + eps);                                \
    if (buf) {                                                 \
      u += mu * buf[i];                                        \
      buf[i] = u;                                              \
    }                                                          \
    p[i] = x - lr * u;                                         \
  }

#define RMS_PACKED(V, P, S, W)                                                            \
  {                                                                                       \
    const V valpha = P##_set1_##S(alpha), vc = P##_set1_##S(1 - alpha);                   \
    const V vwd = P##_set1_##S(wd), veps = P##_set1_##S(eps);                             \
    const V vmu = P##_set1_##S(mu), vlr = P##_set1_##S(lr);                               \
    for (; i + W <= n; i += W) {                                                          \
      V x = P##_loadu_##S(p + i);                                                         \
      V gi = P##_add_##S(P##_loadu_##S(g + i), P##_mul_##S(vwd, x));                      \
      V s = P##_add_##S(P##_mul_##S(valpha, P##_loadu_##S(sq + i)),                       \
                        P##_mul_##S(P##_mul_##S(vc, gi), gi));                            \
      P##_storeu_##S(sq + i, s);                                                          \
      if (ga) {                                                                           \
        V a = P##_add_##S(P##_mul_##S(valpha, P##_loadu_##S(ga + i)), P##_mul_##S(vc, gi)); \
        P##_storeu_##S(ga + i, a);                                                        \
        s = P##_sub_##S(s, P##_mul_##S(a, a));                                            \
      }                                                                                   \
      V u = P##_div_##S(gi, P##_add_##S(P##_sqrt_##S(s), veps));                          \
      if (buf) {                                                                          \
        u = P##_add_##S(u, P##_mul_##S(vmu, P##_loadu_##S(buf + i)));                     \
        P##_storeu_##S(buf + i, u);                                                       \
      }                                                                                   \
      P##_storeu_##S(p + i, P##_sub_##S(x, P##_mul_##S(vlr, u)));                         \
    }                                                                                     \
  }

#define RMS_FUNCS(S, T, SQRT, V256, S256, W256, V128, W128)                                                  \
  __attribute__((target("avx"))) static void rms_##S##_avx(T* p, const T* g, T* sq, T* ga, T* buf,           \
                                                           ptrdiff_t n, T lr, T alpha, T eps, T wd, T mu) {  \
    ptrdiff_t i = 0;                                                                                         \
    RMS_PACKED(V256, _mm256, S256, W256)                                                                     \
    RMS_SCALAR(T, SQRT)                                                                                      \
  }                                                                                                          \
  static void rms_##S##_sse(T* p, const T* g, T* sq, T* ga, T* buf, ptrdiff_t n, T lr, T alpha, T eps, T wd, \
                            T mu) {                                                                          \
    ptrdiff_t i = 0;                                                                                         \
    RMS_PACKED(V128, _mm, S256, W128)                                                                        \
    RMS_SCALAR(T, SQRT)                                                                                      \
  }                                                                                                          \
  void gl_rmsprop_##S(T* p, const T* g, T* sq, T* ga, T* buf, ptrdiff_t n, T lr, T alpha, T eps, T wd,       \
                      T mu) {                                                                                \
    if (__builtin_cpu_supports("avx")) {                                                                     \
      rms_##S##_avx(p, g, sq, ga, buf, n, lr, alpha, eps, wd, mu);                                           \
    } else {                                                                                                 \
      rms_##S##_sse(p, g, sq, ga, buf, n, lr, alpha, eps, wd, mu);                                           \
    }                                                                                                        \
  }

RMS_FUNCS(f32, float, sqrtf, __m256, ps, 8, __m128, 4)
RMS_FUNCS(f64, double, sqrt, __m256d, pd, 4, __m128d, 2)
