#include <stddef.h>

void gl_adam_f32(float* p, const float* g, float* m, float* v, ptrdiff_t n, float b1, float b2, float eps,
                 float wd, float decay, float step, float inv_bc2s);
void gl_adam_f64(double* p, const double* g, double* m, double* v, ptrdiff_t n, double b1, double b2,
                 double eps, double wd, double decay, double step, double inv_bc2s);
