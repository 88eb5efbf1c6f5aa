// Fused elementwise chains (included by kernels.cu): one thread per
// element (grid-strided) runs a small program over registers held in the
// thread, with the very unary1/binary1 functions of the unary and binary
// kernels, so that a chain gives what those kernels give one by one.
//
// The program travels in the launch arguments (gorgonia.org/cu copies 8
// bytes per argument, so no structs): after d, n and the header
// hdr = inputs | instructions << 8 | params << 16 come CHAIN_SLOTS 64-bit
// words as kernels.ChainProgram.Pack lays them out:
//   - one pointer per input;
//   - one index word per input: 0 for an input read in full, else
//     len | inner << 32 (element i reads element (i / inner) % len);
//   - the instructions, two 32-bit words per slot (the first in the low
//     half): bit 0 binary, bits 1-5 the op code (kernels.UnaryOp or
//     BinaryOp), bits 6-11 and 12-17 the operand registers (inputs first,
//     then results), bits 18-20, 21-23, 24-26 the parameters A, B, C of a
//     unary op as 0 (zero) or k (the k-th parameter value);
//   - the distinct parameter values, as the bits of doubles.
// Thread 0 copies the slots to shared memory, where every thread reads
// them. (kernels/cpu_chain_test.go runs a Go copy of this decoder on
// packed programs.)

#define CHAIN_SLOTS 29
#define CHAIN_MAX_REGS 40  // kernels.MaxChainInputs + kernels.MaxChainLen

template <typename T>
__device__ void chain(T* d, i64 n, i64 hdr, const i64* sl) {
  const int nin = (int)(hdr & 0xff), ncode = (int)((hdr >> 8) & 0xff);
  const i64* ptr = sl;
  const i64* idx = sl + nin;
  const i64* code = sl + 2 * nin;
  const i64* par = code + (ncode + 1) / 2;
  GRID_STRIDE(i, n) {
    T r[CHAIN_MAX_REGS];
    for (int k = 0; k < nin; k++) {
      i64 w = idx[k], j = i;
      if (w != 0) j = (i / (w >> 32)) % (w & 0xffffffffLL);
      r[k] = ((const T*)ptr[k])[j];
    }
    for (int k = 0; k < ncode; k++) {
      unsigned int c = (unsigned int)((unsigned long long)code[k >> 1] >> (32 * (k & 1)));
      int op = (c >> 1) & 31;
      T x = r[(c >> 6) & 63];
      T v;
      if (c & 1) {
        v = binary1<T>(op, x, r[(c >> 12) & 63]);
      } else {
        int ia = (c >> 18) & 7, ib = (c >> 21) & 7, ic = (c >> 24) & 7;
        double a = ia ? __longlong_as_double(par[ia - 1]) : 0.0;
        double b = ib ? __longlong_as_double(par[ib - 1]) : 0.0;
        double cc = ic ? __longlong_as_double(par[ic - 1]) : 0.0;
        v = unary1<T>(op, x, a, b, cc);
      }
      r[nin + k] = v;
    }
    d[i] = r[nin + ncode - 1];
  }
}

#define CHAIN_PARAMS                                                                                       \
  i64 s0, i64 s1, i64 s2, i64 s3, i64 s4, i64 s5, i64 s6, i64 s7, i64 s8, i64 s9, i64 s10, i64 s11,        \
      i64 s12, i64 s13, i64 s14, i64 s15, i64 s16, i64 s17, i64 s18, i64 s19, i64 s20, i64 s21, i64 s22,   \
      i64 s23, i64 s24, i64 s25, i64 s26, i64 s27, i64 s28

#define CHAIN_ENTRY(T, S)                                                                                  \
  extern "C" __global__ void chain_##S(T* d, i64 n, i64 hdr, CHAIN_PARAMS) {                               \
    __shared__ i64 sl[CHAIN_SLOTS];                                                                        \
    if (threadIdx.x == 0) {                                                                                \
      i64 v[CHAIN_SLOTS] = {s0,  s1,  s2,  s3,  s4,  s5,  s6,  s7,  s8,  s9,  s10, s11, s12, s13, s14,     \
                            s15, s16, s17, s18, s19, s20, s21, s22, s23, s24, s25, s26, s27, s28};         \
      for (int k = 0; k < CHAIN_SLOTS; k++) sl[k] = v[k];                                                  \
    }                                                                                                      \
    __syncthreads();                                                                                       \
    chain<T>(d, n, hdr, sl);                                                                               \
  }

CHAIN_ENTRY(float, f32)
CHAIN_ENTRY(double, f64)
