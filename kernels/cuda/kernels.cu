// gradlab's CUDA kernels. Every kernel exists for float (suffix _f32) and
// double (_f64). Scalar parameters are 8 bytes wide (double, long long):
// gorgonia.org/cu copies 8 bytes per launch argument. Sizes are long long.
// The op codes match package kernels (UnaryOp, BinaryOp, ReduceOp).
//
// Compile with `make kernels` (nvcc -ptx for compute_80 and compute_90).

#include <math.h>
#include <mma.h>

typedef long long i64;

#define GRID_STRIDE(i, n) \
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// ---------------------------------------------------------------- fill

template <typename T>
__device__ void fill(T* d, double v, i64 n) {
  GRID_STRIDE(i, n) { d[i] = (T)v; }
}

// ---------------------------------------------------------------- GEMM
// C = alpha*op(A)*op(B) + beta*C, row-major, batched over blockIdx.z with
// strides sa, sb, sc. A 64x64 tile of C per block of 256 threads, each
// thread computing a 4x4 micro-tile; K is walked in slabs of 16 staged
// through shared memory. With beta == 0, C is not read.

#define TM 64
#define TN 64
#define TK 16

template <typename T>
__device__ void gemm(i64 tA, i64 tB, i64 m, i64 n, i64 k, double alpha, const T* A, const T* B,
                     double beta, T* C, i64 sa, i64 sb, i64 sc) {
  __shared__ T As[TK][TM + 1];
  __shared__ T Bs[TK][TN + 1];
  A += blockIdx.z * sa;
  B += blockIdx.z * sb;
  C += blockIdx.z * sc;
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const i64 row0 = (i64)blockIdx.y * TM, col0 = (i64)blockIdx.x * TN;
  T acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0;

  for (i64 k0 = 0; k0 < k; k0 += TK) {
    // Load a TM x TK slab of op(A) and a TK x TN slab of op(B): 1024
    // elements each, 4 per thread.
#pragma unroll
    for (int l = 0; l < 4; l++) {
      int e = tid + l * 256;
      int r = e / TK, c = e % TK;  // A slab: row r (0..63), col c (0..15)
      i64 gr = row0 + r, gc = k0 + c;
      T v = 0;
      if (gr < m && gc < k) v = tA ? A[gc * m + gr] : A[gr * k + gc];
      As[c][r] = v;
      int br = e / TN, bc = e % TN;  // B slab: row br (0..15), col bc (0..63)
      i64 gbr = k0 + br, gbc = col0 + bc;
      T w = 0;
      if (gbr < k && gbc < n) w = tB ? B[gbc * k + gbr] : B[gbr * n + gbc];
      Bs[br][bc] = w;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < TK; kk++) {
      T a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    i64 r = row0 + ty + 16 * i;
    if (r >= m) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      i64 c = col0 + tx + 16 * j;
      if (c >= n) continue;
      T v = (T)alpha * acc[i][j];
      if (beta != 0) v += (T)beta * C[r * n + c];
      C[r * n + c] = v;
    }
  }
}

// ---------------------------------------------------------------- TF32 GEMM
// Tensor-core GEMM for float on sm_80+ (opt-in: TF32 keeps 10 mantissa
// bits of each input, accumulation is float32). A 64x64 tile of C per block
// of 4 warps, each warp a 32x32 quarter as 2x2 WMMA 16x16x8 fragments; K
// in slabs of 16 through shared memory. Same contract as gemm.

#define WT 64
#define WK 16

__device__ void gemm_tf32(i64 tA, i64 tB, i64 m, i64 n, i64 k, double alpha, const float* A, const float* B,
                          double beta, float* C, i64 sa, i64 sb, i64 sc) {
#if __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ float As[WT][WK + 4];
  __shared__ float Bs[WK][WT + 4];
  __shared__ float Cs[WT][WT + 4];
  A += blockIdx.z * sa;
  B += blockIdx.z * sb;
  C += blockIdx.z * sc;
  const int tid = threadIdx.x, warp = tid / 32;
  const int wr = (warp / 2) * 32, wc = (warp % 2) * 32;
  const i64 row0 = (i64)blockIdx.y * WT, col0 = (i64)blockIdx.x * WT;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
  for (i64 k0 = 0; k0 < k; k0 += WK) {
    for (int e = tid; e < WT * WK; e += 128) {
      int r = e / WK, c = e % WK;
      i64 gr = row0 + r, gc = k0 + c;
      float v = 0;
      if (gr < m && gc < k) v = tA ? A[gc * m + gr] : A[gr * k + gc];
      As[r][c] = wmma::__float_to_tf32(v);
      int br = e / WT, bc = e % WT;
      i64 gbr = k0 + br, gbc = col0 + bc;
      float w = 0;
      if (gbr < k && gbc < n) w = tB ? B[gbc * k + gbr] : B[gbr * n + gbc];
      Bs[br][bc] = wmma::__float_to_tf32(w);
    }
    __syncthreads();
    for (int kk = 0; kk < WK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> af[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> bf[2];
      for (int i = 0; i < 2; i++) wmma::load_matrix_sync(af[i], &As[wr + 16 * i][kk], WK + 4);
      for (int j = 0; j < 2; j++) wmma::load_matrix_sync(bf[j], &Bs[kk][wc + 16 * j], WT + 4);
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], af[i], bf[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++)
      wmma::store_matrix_sync(&Cs[wr + 16 * i][wc + 16 * j], acc[i][j], WT + 4, wmma::mem_row_major);
  __syncthreads();
  for (int e = tid; e < WT * WT; e += 128) {
    int r = e / WT, c = e % WT;
    i64 gr = row0 + r, gc = col0 + c;
    if (gr >= m || gc >= n) continue;
    float v = (float)alpha * Cs[r][c];
    if (beta != 0) v += (float)beta * C[gr * n + gc];
    C[gr * n + gc] = v;
  }
#endif
}

extern "C" __global__ void __launch_bounds__(128)
    gemm_tf32_f32(i64 tA, i64 tB, i64 m, i64 n, i64 k, double alpha, const float* A, const float* B, double beta,
                  float* C, i64 sa, i64 sb, i64 sc) {
  gemm_tf32(tA, tB, m, n, k, alpha, A, B, beta, C, sa, sb, sc);
}

// ---------------------------------------------------------------- elementwise

__device__ inline double sigmoidd(double x) {
  if (x >= 0) return 1 / (1 + exp(-x));
  double e = exp(x);
  return e / (1 + e);
}

// Derivative of order k (0 ... MAX_GELU_ORDER, kernels.MaxGELUOrder) of
// GELU: x*Phi(x) (erf form) or x/2*(1 + tanh(u)),
// u = sqrt(2/pi)*(x + 0.044715x^3) (tanh form). Orders 0-2 are closed
// forms; higher orders (the same methods as the CPU set) live in separate
// non-inlined functions so that their arrays do not weigh on the common
// unary kernel.
#define MAX_GELU_ORDER 8

// k >= 3: (-1)^k phi(x) (k He_{k-2}(x) - x He_{k-1}(x)), He the
// probabilists' Hermite polynomials (He_{n+1} = x He_n - n He_{n-1}).
__device__ __noinline__ double gelu_erf_high(double x, int k) {
  double hp = 1, h = x;
  for (int n = 1; n < k - 1; n++) {
    double t = x * h - n * hp;
    hp = h;
    h = t;
  }
  double r = exp(-0.5 * x * x) * 0.39894228040143267794 * (k * hp - x * h);
  return (k & 1) ? -r : r;
}

// k >= 3: k! times the k-th Taylor coefficient of (x+e)/2 (1 + T(e)),
// T(e) = tanh(u(x+e)), from T' = S u', S = 1 - T^2, with S_0 = sech^2 u
// taken from exp(-2|u|).
__device__ __noinline__ double gelu_tanh_high(double x, int k) {
  if (k > MAX_GELU_ORDER) return NAN;
  const double a = 0.044715, c = 0.7978845608028654;
  double tc[MAX_GELU_ORDER + 1], sc[MAX_GELU_ORDER + 1];
  double u[4] = {c * (x + a * x * x * x), c * (1 + 3 * a * x * x), 3 * c * a * x, c * a};
  double e = exp(-2 * fabs(u[0]));
  tc[0] = (1 - e) / (1 + e);
  if (u[0] < 0) tc[0] = -tc[0];
  sc[0] = 4 * e / ((1 + e) * (1 + e));
  for (int n = 0; n < k; n++) {
    double acc = 0;
    for (int j = n - 2 > 0 ? n - 2 : 0; j <= n; j++) acc += sc[j] * (n - j + 1) * u[n - j + 1];
    tc[n + 1] = acc / (n + 1);
    double sq = 0;
    for (int i = 0; i <= n + 1; i++) sq += tc[i] * tc[n + 1 - i];
    sc[n + 1] = -sq;
  }
  double f = 0.5 * (x * tc[k] + tc[k - 1]);
  for (int m = 2; m <= k; m++) f *= m;
  return f;
}

__device__ inline double gelu_erf(double x, int k) {
  double cdf = 0.5 * erfc(-x * 0.70710678118654752440);
  double pdf = exp(-0.5 * x * x) * 0.39894228040143267794;
  if (k == 0) return x * cdf;
  if (k == 1) return cdf + x * pdf;
  if (k == 2) return pdf * (2 - x * x);
  return gelu_erf_high(x, k);
}

__device__ inline double gelu_tanh(double x, int k) {
  const double a = 0.044715, c = 0.7978845608028654;
  if (k > 2) return gelu_tanh_high(x, k);
  double t = tanh(c * (x + a * x * x * x));
  if (k == 0) return 0.5 * x * (1 + t);
  double u1 = c * (1 + 3 * a * x * x);
  if (k == 1) return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * u1;
  double u2 = 6 * c * a * x;
  return (1 - t * t) * (u1 + 0.5 * x * (u2 - 2 * t * u1 * u1));
}

template <typename T>
__device__ T unary1(int op, T x, double a, double b, double c) {
  switch (op) {
    case 0: return x;
    case 1: return -x;
    case 2: return (T)exp((double)x);
    case 3: return (T)log((double)x);
    case 4: return (T)tanh((double)x);
    case 5: return (T)sigmoidd((double)x);
    case 6: return x * x;
    case 7: return (T)sqrt((double)x);
    case 8: return x * x * x;
    case 9: return x < 0 ? -x : x;
    case 10: return x > 0 ? (T)1 : (x < 0 ? (T)-1 : x);
    case 11: return (T)1 / x;
    case 12: return x > 0 ? x : (T)a * x;
    case 13: return x > 0 ? (T)1 : (T)a;
    case 14: return (T)a * x + (T)b;
    case 15: return (T)(a * pow((double)x + c, b));
    case 16: return (T)(fmax((double)x, 0.0) + log1p(exp(-fabs((double)x))));
    case 17: return (T)log1p((double)x);
    case 18: return (T)expm1((double)x);
    case 19: return (T)gelu_erf((double)x, (int)a);
    case 20: return (T)gelu_tanh((double)x, (int)a);
  }
  return (T)NAN;
}

template <typename T>
__device__ void unary(i64 op, T* d, const T* x, i64 n, double a, double b, double c) {
  GRID_STRIDE(i, n) { d[i] = unary1<T>((int)op, x[i], a, b, c); }
}

template <typename T>
__device__ T binary1(int op, T x, T y) {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    case 3: return x / y;
    case 4: return (T)pow((double)x, (double)y);
    case 5: return (x > y || x != x) ? x : y;
    case 6: return (x < y || x != x) ? x : y;
    case 7: return x > y;
    case 8: return x >= y;
    case 9: return x < y;
    case 10: return x <= y;
    case 11: return x == y;
    case 12: return x != y;
  }
  return (T)NAN;
}

// Broadcast binary op over an output of up to 4 merged axes (d0..d3, d3
// innermost) with operand strides.
template <typename T>
__device__ void binary(i64 op, T* d, const T* a, const T* b, i64 n, i64 d1, i64 d2, i64 d3, i64 sa0,
                       i64 sa1, i64 sa2, i64 sa3, i64 sb0, i64 sb1, i64 sb2, i64 sb3) {
  GRID_STRIDE(i, n) {
    i64 q = i;
    i64 i3 = q % d3; q /= d3;
    i64 i2 = q % d2; q /= d2;
    i64 i1 = q % d1; q /= d1;
    i64 i0 = q;
    T x = a[i0 * sa0 + i1 * sa1 + i2 * sa2 + i3 * sa3];
    T y = b[i0 * sb0 + i1 * sb1 + i2 * sb2 + i3 * sb3];
    d[i] = binary1<T>((int)op, x, y);
  }
}

// ---------------------------------------------------------------- reductions
// One block per output element (outer x inner of them, grid-strided);
// threads stride over the reduced axis; sums accumulate in double.

template <typename T>
__device__ void reduce(i64 op, T* d, const T* x, i64 outer, i64 n, i64 inner, double scale) {
  __shared__ double sh[256];
  for (i64 out = blockIdx.x; out < outer * inner; out += gridDim.x) {
    i64 o = out / inner, in = out % inner;
    const T* base = x + o * n * inner + in;
    double acc = op == 0 ? 0.0 : (op == 1 ? -INFINITY : INFINITY);
    for (i64 j = threadIdx.x; j < n; j += blockDim.x) {
      double v = (double)base[j * inner];
      if (op == 0) acc += v;
      else if (op == 1) acc = v > acc ? v : acc;
      else acc = v < acc ? v : acc;
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        double u = sh[threadIdx.x], w = sh[threadIdx.x + s];
        sh[threadIdx.x] = op == 0 ? u + w : (op == 1 ? (w > u ? w : u) : (w < u ? w : u));
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) d[out] = (T)(scale * sh[0]);
    __syncthreads();
  }
}

template <typename T>
__device__ void expand(T* d, const T* x, i64 outer, i64 n, i64 inner, double scale) {
  GRID_STRIDE(i, outer * n * inner) {
    i64 in = i % inner, o = i / (n * inner);
    d[i] = (T)scale * x[o * inner + in];
  }
}

// Partial float64 sums of a·b (mode 0), a·a (mode 1) or a (mode 2), one per
// block, into part[blockIdx.x]; the host adds them in order.
template <typename T>
__device__ void dot(const T* a, const T* b, double* part, i64 n, i64 mode) {
  __shared__ double sh[256];
  double acc = 0;
  GRID_STRIDE(i, n) {
    double x = (double)a[i];
    acc += mode == 0 ? x * (double)b[i] : (mode == 1 ? x * x : x);
  }
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

// y = alpha*x + y (mode 0) or y = alpha*x (mode 1).
template <typename T>
__device__ void axpy(double alpha, const T* x, T* y, i64 n, i64 mode) {
  GRID_STRIDE(i, n) { y[i] = mode == 0 ? (T)alpha * x[i] + y[i] : (T)alpha * x[i]; }
}

// ---------------------------------------------------------------- softmax
// One block per row: max, then sum of exp, in double.

template <typename T>
__device__ void softmax(T* d, const T* x, i64 rows, i64 cols, i64 logmode) {
  __shared__ double sh[256];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    T* dr = d + r * cols;
    double m = -INFINITY;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmax(m, (double)xr[j]);
    sh[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] = fmax(sh[threadIdx.x], sh[threadIdx.x + s]);
      __syncthreads();
    }
    m = sh[0];
    __syncthreads();
    double z = 0;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) z += exp((double)xr[j] - m);
    sh[threadIdx.x] = z;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
      __syncthreads();
    }
    z = sh[0];
    __syncthreads();
    double lz = m + log(z);
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
      double v = (double)xr[j];
      dr[j] = logmode ? (T)(v - lz) : (T)(exp(v - m) / z);
    }
  }
}

// Per-row cross-entropy −Σ t·log softmax(x) into rowloss[r]; the mean is a
// reduce_* launch afterwards.
template <typename T>
__device__ void softmax_ce_rows(T* rowloss, const T* x, const T* t, i64 rows, i64 cols) {
  __shared__ double sh[256];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * cols;
    const T* tr = t + r * cols;
    double m = -INFINITY;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) m = fmax(m, (double)xr[j]);
    sh[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] = fmax(sh[threadIdx.x], sh[threadIdx.x + s]);
      __syncthreads();
    }
    m = sh[0];
    __syncthreads();
    double z = 0;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) z += exp((double)xr[j] - m);
    sh[threadIdx.x] = z;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
      __syncthreads();
    }
    double lz = m + log(sh[0]);
    __syncthreads();
    double l = 0;
    for (i64 j = threadIdx.x; j < cols; j += blockDim.x) {
      double tv = (double)tr[j];
      if (tv != 0) l -= tv * ((double)xr[j] - lz);
    }
    sh[threadIdx.x] = l;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
      __syncthreads();
    }
    if (threadIdx.x == 0) rowloss[r] = (T)sh[0];
    __syncthreads();
  }
}

// ---------------------------------------------------------------- im2col

struct Geom {
  i64 N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW;
};

template <typename T>
__device__ void im2col(T* col, const T* img, Geom g) {
  i64 total = g.N * g.C * g.KH * g.KW * g.OH * g.OW;
  GRID_STRIDE(i, total) {
    i64 q = i;
    i64 ox = q % g.OW; q /= g.OW;
    i64 oy = q % g.OH; q /= g.OH;
    i64 kw = q % g.KW; q /= g.KW;
    i64 kh = q % g.KH; q /= g.KH;
    i64 c = q % g.C; q /= g.C;
    i64 n = q;
    i64 iy = oy * g.SH - g.PH + kh * g.DH, ix = ox * g.SW - g.PW + kw * g.DW;
    T v = 0;
    if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W) v = img[((n * g.C + c) * g.H + iy) * g.W + ix];
    col[i] = v;
  }
}

// Each image element gathers the column entries that read it (no atomics,
// deterministic).
template <typename T>
__device__ void col2im(T* img, const T* col, Geom g) {
  i64 total = g.N * g.C * g.H * g.W;
  GRID_STRIDE(i, total) {
    i64 q = i;
    i64 x = q % g.W; q /= g.W;
    i64 y = q % g.H; q /= g.H;
    i64 c = q % g.C; q /= g.C;
    i64 n = q;
    double acc = 0;
    for (i64 kh = 0; kh < g.KH; kh++) {
      i64 ty = y + g.PH - kh * g.DH;
      if (ty < 0 || ty % g.SH != 0) continue;
      i64 oy = ty / g.SH;
      if (oy >= g.OH) continue;
      for (i64 kw = 0; kw < g.KW; kw++) {
        i64 tx = x + g.PW - kw * g.DW;
        if (tx < 0 || tx % g.SW != 0) continue;
        i64 ox = tx / g.SW;
        if (ox >= g.OW) continue;
        i64 r = (c * g.KH + kh) * g.KW + kw;
        acc += (double)col[((n * g.C * g.KH * g.KW + r) * g.OH + oy) * g.OW + ox];
      }
    }
    img[i] = (T)acc;
  }
}

// ---------------------------------------------------------------- max pooling
// Windows KHxKW with strides and padding over NCHW planes; padding never
// wins; positions are iy*W+ix within the plane, stored as numbers.

struct PoolG {
  i64 P, H, W, KH, KW, SH, SW, PH, PW, OH, OW;  // P = N*C planes
};

// One thread per output: the first maximum in row-major order (a NaN wins
// over numbers, the first NaN over later ones); arg may be null.
template <typename T>
__device__ void maxpool(T* y, T* arg, const T* x, PoolG g) {
  GRID_STRIDE(i, g.P * g.OH * g.OW) {
    i64 ox = i % g.OW, oy = (i / g.OW) % g.OH, p = i / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    i64 y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
    i64 ya = y0 > 0 ? y0 : 0, yb = y0 + g.KH < g.H ? y0 + g.KH : g.H;
    i64 xa = x0 > 0 ? x0 : 0, xb = x0 + g.KW < g.W ? x0 + g.KW : g.W;
    i64 bi = ya * g.W + xa;
    T best = xp[bi];
    for (i64 iy = ya; iy < yb; iy++)
      for (i64 ix = xa; ix < xb; ix++) {
        T v = xp[iy * g.W + ix];
        if (v > best || (v != v && best == best)) {
          best = v;
          bi = iy * g.W + ix;
        }
      }
    y[i] = best;
    if (arg != nullptr) arg[i] = (T)bi;
  }
}

// One thread per input pixel: the sum, in output order, of the gradients
// of the outputs whose window covers the pixel and chose it (no atomics,
// deterministic, the same order as the CPU set).
template <typename T>
__device__ void maxpool_scatter(T* dx, const T* arg, const T* gy, PoolG g) {
  GRID_STRIDE(i, g.P * g.H * g.W) {
    i64 pos = i % (g.H * g.W), p = i / (g.H * g.W);
    i64 iy = pos / g.W, ix = pos % g.W;
    // Outputs oy with oy*SH - PH <= iy < oy*SH - PH + KH.
    i64 ty = iy + g.PH - g.KH + 1, tx = ix + g.PW - g.KW + 1;
    i64 oya = ty > 0 ? (ty + g.SH - 1) / g.SH : 0, oyb = (iy + g.PH) / g.SH;
    i64 oxa = tx > 0 ? (tx + g.SW - 1) / g.SW : 0, oxb = (ix + g.PW) / g.SW;
    if (oyb >= g.OH) oyb = g.OH - 1;
    if (oxb >= g.OW) oxb = g.OW - 1;
    T acc = 0;
    const T* ap = arg + p * g.OH * g.OW;
    const T* gp = gy + p * g.OH * g.OW;
    for (i64 oy = oya; oy <= oyb; oy++)
      for (i64 ox = oxa; ox <= oxb; ox++) {
        i64 k = oy * g.OW + ox;
        if ((i64)ap[k] == pos) acc += gp[k];
      }
    dx[i] = acc;
  }
}

template <typename T>
__device__ void maxpool_gather(T* v, const T* arg, const T* u, PoolG g) {
  GRID_STRIDE(i, g.P * g.OH * g.OW) {
    i64 p = i / (g.OH * g.OW);
    v[i] = u[p * g.H * g.W + (i64)arg[i]];
  }
}

// ---------------------------------------------------------------- average pooling
// The divisor of output (oy, ox): KH*KW when countPad, else the number of
// its window's pixels inside the image.

__device__ inline i64 avg_divisor(PoolG g, i64 oy, i64 ox, i64 countPad) {
  if (countPad) return g.KH * g.KW;
  i64 y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
  i64 ya = y0 > 0 ? y0 : 0, yb = y0 + g.KH < g.H ? y0 + g.KH : g.H;
  i64 xa = x0 > 0 ? x0 : 0, xb = x0 + g.KW < g.W ? x0 + g.KW : g.W;
  return (yb - ya) * (xb - xa);
}

// One thread per output; the window summed in row-major order.
template <typename T>
__device__ void avgpool(T* y, const T* x, PoolG g, i64 countPad) {
  GRID_STRIDE(i, g.P * g.OH * g.OW) {
    i64 ox = i % g.OW, oy = (i / g.OW) % g.OH, p = i / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    i64 y0 = oy * g.SH - g.PH, x0 = ox * g.SW - g.PW;
    i64 ya = y0 > 0 ? y0 : 0, yb = y0 + g.KH < g.H ? y0 + g.KH : g.H;
    i64 xa = x0 > 0 ? x0 : 0, xb = x0 + g.KW < g.W ? x0 + g.KW : g.W;
    T acc = 0;
    for (i64 iy = ya; iy < yb; iy++)
      for (i64 ix = xa; ix < xb; ix++) acc += xp[iy * g.W + ix];
    y[i] = acc / (T)avg_divisor(g, oy, ox, countPad);
  }
}

// One thread per input pixel: the sum, in output order, of gy/divisor over
// the outputs whose window covers the pixel (no atomics, deterministic,
// the CPU set's order).
template <typename T>
__device__ void avgpool_adjoint(T* dx, const T* gy, PoolG g, i64 countPad) {
  GRID_STRIDE(i, g.P * g.H * g.W) {
    i64 pos = i % (g.H * g.W), p = i / (g.H * g.W);
    i64 iy = pos / g.W, ix = pos % g.W;
    i64 ty = iy + g.PH - g.KH + 1, tx = ix + g.PW - g.KW + 1;
    i64 oya = ty > 0 ? (ty + g.SH - 1) / g.SH : 0, oyb = (iy + g.PH) / g.SH;
    i64 oxa = tx > 0 ? (tx + g.SW - 1) / g.SW : 0, oxb = (ix + g.PW) / g.SW;
    if (oyb >= g.OH) oyb = g.OH - 1;
    if (oxb >= g.OW) oxb = g.OW - 1;
    T acc = 0;
    const T* gp = gy + p * g.OH * g.OW;
    for (i64 oy = oya; oy <= oyb; oy++)
      for (i64 ox = oxa; ox <= oxb; ox++) acc += gp[oy * g.OW + ox] / (T)avg_divisor(g, oy, ox, countPad);
    dx[i] = acc;
  }
}

// ---------------------------------------------------------------- nearest upsampling
// P planes of h x w pixels, each repeated s x s times.

template <typename T>
__device__ void upsample(T* y, const T* x, i64 P, i64 h, i64 w, i64 s) {
  i64 bw = w * s, bh = h * s;
  GRID_STRIDE(i, P * bh * bw) {
    i64 bx = i % bw, q = i / bw;
    i64 by = q % bh, p = q / bh;
    y[i] = x[(p * h + by / s) * w + bx / s];
  }
}

// One thread per small pixel: its block summed in row-major order.
template <typename T>
__device__ void upsample_adjoint(T* dx, const T* gy, i64 P, i64 h, i64 w, i64 s) {
  i64 bw = w * s;
  GRID_STRIDE(i, P * h * w) {
    i64 ix = i % w, q = i / w;
    const T* b = gy + q * s * bw + ix * s;  // q = p*h + iy: big row q*s
    T acc = 0;
    for (i64 dy = 0; dy < s; dy++)
      for (i64 dxx = 0; dxx < s; dxx++) acc += b[dy * bw + dxx];
    dx[i] = acc;
  }
}

// ---------------------------------------------------------------- embedding rows
// ids are integers stored as numbers; an id outside [0, v) gives a NaN row
// (gather) or is skipped (scatter).

template <typename T>
__device__ void gather_rows(T* dst, const T* table, const T* ids, i64 n, i64 v, i64 d) {
  GRID_STRIDE(i, n * d) {
    i64 k = i / d, j = i % d;
    T f = ids[k];
    i64 id = (i64)f;
    dst[i] = (f >= 0 && id < v && (T)id == f) ? table[id * d + j] : (T)NAN;
  }
}

// dst must be zero; one thread per source element, atomicAdd into its row
// (double atomicAdd needs sm_60+).
template <typename T>
__device__ void scatter_add(T* dst, const T* src, const T* ids, i64 n, i64 v, i64 d) {
  GRID_STRIDE(i, n * d) {
    i64 k = i / d, j = i % d;
    T f = ids[k];
    i64 id = (i64)f;
    if (f >= 0 && id < v && (T)id == f) atomicAdd(&dst[id * d + j], src[i]);
  }
}

// ---------------------------------------------------------------- relu backward

template <typename T>
__device__ void relu_backward(T* d, const T* x, const T* g, i64 n, double leak) {
  GRID_STRIDE(i, n) { d[i] = g[i] * (x[i] > 0 ? (T)1 : (T)leak); }
}

// ---------------------------------------------------------------- optimizers

template <typename T>
__device__ void sgd(T* p, const T* g, T* v, i64 n, double lr, double mom, double damp, double wd, double decay,
                    i64 nesterov, i64 first) {
  GRID_STRIDE(i, n) {
    T d = g[i] + (T)wd * p[i];
    if (v != nullptr) {
      T b = first ? d : (T)mom * v[i] + (T)(1 - damp) * d;
      v[i] = b;
      d = nesterov ? d + (T)mom * b : b;
    }
    p[i] = p[i] * (T)decay - (T)lr * d;
  }
}

template <typename T>
__device__ void adam(T* p, const T* g, T* m, T* v, T* vmax, i64 n, double stepSize, double b1, double b2,
                     double eps, double wd, double decay, double invBc2s) {
  GRID_STRIDE(i, n) {
    T gi = g[i] + (T)wd * p[i];
    T mi = (T)b1 * m[i] + (T)(1 - b1) * gi;
    T vi = (T)b2 * v[i] + (T)(1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    if (vmax != nullptr) {
      vi = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = vi;
    }
    p[i] = p[i] * (T)decay - (T)stepSize * mi / ((T)sqrt((double)vi) * (T)invBc2s + (T)eps);
  }
}

template <typename T>
__device__ void rmsprop(T* p, const T* g, T* sq, T* ga, T* buf, i64 n, double lr, double alpha, double eps,
                        double wd, double mom) {
  GRID_STRIDE(i, n) {
    T gi = g[i] + (T)wd * p[i];
    T s = (T)alpha * sq[i] + (T)(1 - alpha) * gi * gi;
    sq[i] = s;
    if (ga != nullptr) {
      T a = (T)alpha * ga[i] + (T)(1 - alpha) * gi;
      ga[i] = a;
      s -= a * a;
    }
    T u = gi / ((T)sqrt((double)s) + (T)eps);
    if (buf != nullptr) {
      u += (T)mom * buf[i];
      buf[i] = u;
    }
    p[i] = p[i] - (T)lr * u;
  }
}

// ---------------------------------------------------------------- entry points

#define ENTRIES(T, S)                                                                                      \
  extern "C" __global__ void fill_##S(T* d, double v, i64 n) { fill<T>(d, v, n); }                          \
  extern "C" __global__ void __launch_bounds__(256)                                                        \
      gemm_##S(i64 tA, i64 tB, i64 m, i64 n, i64 k, double alpha, const T* A, const T* B, double beta,     \
               T* C, i64 sa, i64 sb, i64 sc) {                                                             \
    gemm<T>(tA, tB, m, n, k, alpha, A, B, beta, C, sa, sb, sc);                                            \
  }                                                                                                        \
  extern "C" __global__ void unary_##S(i64 op, T* d, const T* x, i64 n, double a, double b, double c) {    \
    unary<T>(op, d, x, n, a, b, c);                                                                        \
  }                                                                                                        \
  extern "C" __global__ void binary_##S(i64 op, T* d, const T* a, const T* b, i64 n, i64 d1, i64 d2,      \
                                        i64 d3, i64 sa0, i64 sa1, i64 sa2, i64 sa3, i64 sb0, i64 sb1,      \
                                        i64 sb2, i64 sb3) {                                                \
    binary<T>(op, d, a, b, n, d1, d2, d3, sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3);                         \
  }                                                                                                        \
  extern "C" __global__ void reduce_##S(i64 op, T* d, const T* x, i64 outer, i64 n, i64 inner,            \
                                        double scale) {                                                    \
    reduce<T>(op, d, x, outer, n, inner, scale);                                                           \
  }                                                                                                        \
  extern "C" __global__ void expand_##S(T* d, const T* x, i64 outer, i64 n, i64 inner, double scale) {     \
    expand<T>(d, x, outer, n, inner, scale);                                                               \
  }                                                                                                        \
  extern "C" __global__ void dot_##S(const T* a, const T* b, double* part, i64 n, i64 mode) {             \
    dot<T>(a, b, part, n, mode);                                                                           \
  }                                                                                                        \
  extern "C" __global__ void axpy_##S(double alpha, const T* x, T* y, i64 n, i64 mode) {                   \
    axpy<T>(alpha, x, y, n, mode);                                                                         \
  }                                                                                                        \
  extern "C" __global__ void softmax_##S(T* d, const T* x, i64 rows, i64 cols, i64 logmode) {             \
    softmax<T>(d, x, rows, cols, logmode);                                                                 \
  }                                                                                                        \
  extern "C" __global__ void softmax_ce_rows_##S(T* rl, const T* x, const T* t, i64 rows, i64 cols) {     \
    softmax_ce_rows<T>(rl, x, t, rows, cols);                                                              \
  }                                                                                                        \
  extern "C" __global__ void im2col_##S(T* col, const T* img, i64 N, i64 C, i64 H, i64 W, i64 KH, i64 KW, \
                                        i64 SH, i64 SW, i64 PH, i64 PW, i64 DH, i64 DW, i64 OH, i64 OW) {  \
    Geom g = {N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW};                                         \
    im2col<T>(col, img, g);                                                                                \
  }                                                                                                        \
  extern "C" __global__ void col2im_##S(T* img, const T* col, i64 N, i64 C, i64 H, i64 W, i64 KH, i64 KW, \
                                        i64 SH, i64 SW, i64 PH, i64 PW, i64 DH, i64 DW, i64 OH, i64 OW) {  \
    Geom g = {N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW};                                         \
    col2im<T>(img, col, g);                                                                                \
  }                                                                                                        \
  extern "C" __global__ void maxpool_##S(T* y, T* arg, const T* x, i64 P, i64 H, i64 W, i64 KH, i64 KW,   \
                                         i64 SH, i64 SW, i64 PH, i64 PW, i64 OH, i64 OW) {                 \
    PoolG g = {P, H, W, KH, KW, SH, SW, PH, PW, OH, OW};                                                   \
    maxpool<T>(y, arg, x, g);                                                                              \
  }                                                                                                        \
  extern "C" __global__ void maxpool_scatter_##S(T* dx, const T* arg, const T* gy, i64 P, i64 H, i64 W,    \
                                                 i64 KH, i64 KW, i64 SH, i64 SW, i64 PH, i64 PW, i64 OH,   \
                                                 i64 OW) {                                                 \
    PoolG g = {P, H, W, KH, KW, SH, SW, PH, PW, OH, OW};                                                   \
    maxpool_scatter<T>(dx, arg, gy, g);                                                                    \
  }                                                                                                        \
  extern "C" __global__ void maxpool_gather_##S(T* v, const T* arg, const T* u, i64 P, i64 H, i64 W,       \
                                                i64 KH, i64 KW, i64 SH, i64 SW, i64 PH, i64 PW, i64 OH,    \
                                                i64 OW) {                                                  \
    PoolG g = {P, H, W, KH, KW, SH, SW, PH, PW, OH, OW};                                                   \
    maxpool_gather<T>(v, arg, u, g);                                                                       \
  }                                                                                                        \
  extern "C" __global__ void avgpool_##S(T* y, const T* x, i64 P, i64 H, i64 W, i64 KH, i64 KW, i64 SH,    \
                                         i64 SW, i64 PH, i64 PW, i64 OH, i64 OW, i64 countPad) {           \
    PoolG g = {P, H, W, KH, KW, SH, SW, PH, PW, OH, OW};                                                   \
    avgpool<T>(y, x, g, countPad);                                                                         \
  }                                                                                                        \
  extern "C" __global__ void avgpool_adjoint_##S(T* dx, const T* gy, i64 P, i64 H, i64 W, i64 KH, i64 KW,  \
                                                 i64 SH, i64 SW, i64 PH, i64 PW, i64 OH, i64 OW,           \
                                                 i64 countPad) {                                           \
    PoolG g = {P, H, W, KH, KW, SH, SW, PH, PW, OH, OW};                                                   \
    avgpool_adjoint<T>(dx, gy, g, countPad);                                                               \
  }                                                                                                        \
  extern "C" __global__ void upsample_##S(T* y, const T* x, i64 P, i64 h, i64 w, i64 s) {                  \
    upsample<T>(y, x, P, h, w, s);                                                                         \
  }                                                                                                        \
  extern "C" __global__ void upsample_adjoint_##S(T* dx, const T* gy, i64 P, i64 h, i64 w, i64 s) {        \
    upsample_adjoint<T>(dx, gy, P, h, w, s);                                                               \
  }                                                                                                        \
  extern "C" __global__ void gather_rows_##S(T* dst, const T* table, const T* ids, i64 n, i64 v, i64 d) { \
    gather_rows<T>(dst, table, ids, n, v, d);                                                              \
  }                                                                                                        \
  extern "C" __global__ void scatter_add_##S(T* dst, const T* src, const T* ids, i64 n, i64 v, i64 d) {   \
    scatter_add<T>(dst, src, ids, n, v, d);                                                                \
  }                                                                                                        \
  extern "C" __global__ void relu_backward_##S(T* d, const T* x, const T* g, i64 n, double leak) {         \
    relu_backward<T>(d, x, g, n, leak);                                                                    \
  }                                                                                                        \
  extern "C" __global__ void sgd_##S(T* p, const T* g, T* v, i64 n, double lr, double mom, double damp,     \
                                     double wd, double decay, i64 nesterov, i64 first) {                   \
    sgd<T>(p, g, v, n, lr, mom, damp, wd, decay, nesterov, first);                                         \
  }                                                                                                        \
  extern "C" __global__ void adam_##S(T* p, const T* g, T* m, T* v, T* vmax, i64 n, double stepSize,      \
                                      double b1, double b2, double eps, double wd, double decay,           \
                                      double invBc2s) {                                                    \
    adam<T>(p, g, m, v, vmax, n, stepSize, b1, b2, eps, wd, decay, invBc2s);                               \
  }                                                                                                        \
  extern "C" __global__ void rmsprop_##S(T* p, const T* g, T* sq, T* ga, T* buf, i64 n, double lr,        \
                                         double alpha, double eps, double wd, double mom) {                \
    rmsprop<T>(p, g, sq, ga, buf, n, lr, alpha, eps, wd, mom);                                             \
  }

ENTRIES(float, f32)
ENTRIES(double, f64)

// Kernels kept in their own files; each defines its _f32 and _f64 entries.
#include "norm.cuh"
#include "chain.cuh"
