#include <stddef.h>

// Binary operation codes (cloop.Add …).
enum { GL_ADD = 0, GL_SUB = 1, GL_MUL = 2, GL_DIV = 3 };

void gl_binary_f32(int op, float* d, const float* a, const float* b, ptrdiff_t n);
void gl_binary_f64(int op, double* d, const double* a, const double* b, ptrdiff_t n);
void gl_relu_f32(float* d, const float* x, ptrdiff_t n, float leak, int times);
void gl_relu_f64(double* d, const double* x, ptrdiff_t n, double leak, int times);
void gl_relu_mul_f32(float* d, const float* x, const float* g, ptrdiff_t n, float leak);
void gl_relu_mul_f64(double* d, const double* x, const double* g, ptrdiff_t n, double leak);
