#include "cosine.h"

#include <cmath>

namespace lockaudit::gpu {

void CosineSimilarityCpu(const float* query, const float* vectors, size_t count, size_t dim,
                         float* out) noexcept {
  double qq = 0;
  for (size_t k = 0; k < dim; ++k) qq += static_cast<double>(query[k]) * query[k];
  const double q_norm = std::sqrt(qq);
  for (size_t i = 0; i < count; ++i) {
    const float* v = vectors + i * dim;
    double dot = 0, vv = 0;
    for (size_t k = 0; k < dim; ++k) {
      dot += static_cast<double>(query[k]) * v[k];
      vv += static_cast<double>(v[k]) * v[k];
    }
    const double denom = q_norm * std::sqrt(vv);
    out[i] = denom > 0 ? static_cast<float>(dot / denom) : 0.0f;
  }
}

}  // namespace lockaudit::gpu
