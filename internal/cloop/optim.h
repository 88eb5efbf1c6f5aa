#include <stddef.h>

void gl_sgd_f32(float* p, const float* g, float* buf, ptrdiff_t n, float lr, float mu, float damp, float wd,
                float decay, int first, int nesterov);
void gl_sgd_f64(double* p, const double* g, double* buf, ptrdiff_t n, double lr, double mu, double damp,
                double wd, double decay, int first, int nesterov);
void gl_rmsprop_f32(float* p, const float* g, float* sq, float* ga, float* buf, ptrdiff_t n, float lr,
                    float alpha, float eps, float wd, float mu);
void gl_rmsprop_f64(double* p, const double* g, double* sq, double* ga, double* buf, ptrdiff_t n, double lr,
                    double alpha, double eps, double wd, double mu);
