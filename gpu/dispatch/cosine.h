// gpu/dispatch/cosine: batched cosine similarity of one query vector against `count` vectors of
// `dim` floats each (row-major), the operation the hybrid dispatcher runs on CPU or GPU.
//
// Definition shared by both paths: out[i] = dot(q, v_i) / (|q| |v_i|), and 0 when either vector
// has zero length (a zero vector is similar to nothing). Accumulation in double on the CPU.
// Thread-safety: pure. Cost: O(count x dim).
#ifndef LOCKAUDIT_GPU_DISPATCH_COSINE_H_
#define LOCKAUDIT_GPU_DISPATCH_COSINE_H_

#include <cstddef>

namespace lockaudit::gpu {

void CosineSimilarityCpu(const float* query, const float* vectors, size_t count, size_t dim,
                         float* out) noexcept;

}  // namespace lockaudit::gpu

#endif  // LOCKAUDIT_GPU_DISPATCH_COSINE_H_
