#pragma once
// Latency histogram: log-linear (HDR-style) buckets over nanoseconds, 64 sub-buckets per power of
// two (bucket width <= 1/64 of its value), exact below 128 ns. Every sample is recorded (values
// above ~18 minutes count as that limit); percentile(q) is the top of its sample's bucket.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace hub::bench {

class histogram {
 public:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t half = 1u << (sub_bits - 1);
  static constexpr std::uint64_t limit = (std::uint64_t{1} << 40) - 1;  // ~18 minutes
  histogram() : counts_(128 + 34 * half, 0) {}

  void record(std::uint64_t ns) {
    ns = std::min(ns, limit);
    ++counts_[index(ns)];
    ++total_;
    max_ = std::max(max_, ns);
  }
  void merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  // The highest value equivalent to the sample of rank ceil(q * count).
  std::uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static std::size_t index(std::uint64_t v) {
    if (v < 128) return static_cast<std::size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - (sub_bits - 1);
    std::uint64_t sub = v >> shift;  // [64, 128)
    return static_cast<std::size_t>(128 + (shift - 1) * half + (sub - half));
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < 128) return i;
    std::uint64_t shift = (i - 128) / half + 1;
    std::uint64_t sub = (i - 128) % half + half;
    return ((sub + 1) << shift) - 1;
  }
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace hub::bench
