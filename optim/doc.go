// Package optim holds gradlab's optimizers and the pieces that go with them.
//
// Every optimizer updates parameters in place from gradients that the caller
// has already computed. Parameters, gradients and state buffers are
// contiguous *tensor.Dense values of dtype Float32 or Float64; each step is one
// fused pass per parameter tensor through a generic kernel and, once the state
// buffers exist (first step, or SetState), performs no heap allocation.
//
// Contents:
//   - Optimizer, State: the step interface and a checkpointable state (named
//     float64 scalars plus named per-parameter buffers such as "m/0", "v/0"),
//     with an exact JSON encoding. LossSetter for rules that need L(θ).
//   - SGD (momentum, Nesterov, dampening, coupled and decoupled weight decay),
//     Adam and AdamW (bias correction, AMSGrad), RMSprop (centered, momentum).
//     These follow PyTorch's update order and are checked against PyTorch
//     trajectories stored in testdata/.
//   - NormalizedGD (θ ← θ − η∇L/‖∇L‖, global norm), SqrtLossGD (gradient descent
//     on √L, θ ← θ − η∇L/(2√L), fed the loss through SetLoss) and MirrorDescent
//     with a pluggable separable Legendre function (HyperbolicEntropy,
//     NegEntropy, SquaredNorm).
//   - LabelNoise: seeded ±σ or Gaussian perturbation of regression targets.
//   - Schedule: learning rates as pure functions of the step (constant, step,
//     multi-step, cosine, linear warm-up around any of them); GlobalNorm and
//     ClipGlobalNorm.
//   - Hyper and the scaling rules SqrtRule (Adam/RMSprop), LinearRule (SGD),
//     KeepRule, and SVAG with SVAGCoefficients / SVAGCombine.
//   - Samuel: k experts with their own parameter copies, chosen by
//     multiplicative weights over several rates, written against the small
//     Oracle interface (optional fixed-share mixing).
//
// Only gorgonia.org/tensor's Dense type is used (no graph): the typed backing
// slices come from Dense.Float32s / Float64s, which do not allocate, unlike
// Dense.Data.
package optim
