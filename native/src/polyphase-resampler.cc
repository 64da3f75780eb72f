// See polyphase-resampler.h. Every loop mirrors src/dsp/resampler.ts step for step (products and sums in double,
// four accumulators combined as a0 + a1 + (a2 + a3)), so the outputs are equal, not just close; the reasons for
// each step are documented there.
#include "polyphase-resampler.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace voxgate {
namespace {

// Room for `extra` more values in `out` before any state changes, grown by doubling as push_back grows, so that a
// caller appending call after call pays amortised O(1) per value.
void ReserveMore(std::vector<float>* out, size_t extra) {
  const size_t need = out->size() + extra;
  if (need > out->capacity()) out->reserve(std::max(need, 2 * out->capacity()));
}

}  // namespace

PolyphaseResampler::PolyphaseResampler(int32_t up, int32_t down, int32_t half_taps, int32_t table_phases,
                                       const float* taps, size_t num_taps)
    : up_(up), down_(down), half_taps_(half_taps), table_phases_(table_phases) {
  if (up < 1 || up > 48000 || down < 1 || down > 48000 || (up == 1 && down == 1)) {
    throw ResamplerError("resampler factors must be in [1, 48000] and not both 1, got up " + std::to_string(up) +
                         ", down " + std::to_string(down));
  }
  // The unrolled loops read 2J taps in fours, so J is even.
  if (half_taps < 2 || half_taps > 4096 || half_taps % 2 != 0) {
    throw ResamplerError("halfTaps must be even in [2, 4096], got " + std::to_string(half_taps));
  }
  // The bank designs P = 512; the cap keeps phi * P and the row index far inside their types.
  if (table_phases < 0 || table_phases > 4096) {
    throw ResamplerError("tablePhases must be in [0, 4096], got " + std::to_string(table_phases));
  }
  const size_t rows = table_phases == 0 ? static_cast<size_t>(up) : static_cast<size_t>(table_phases) + 1;
  const size_t want = rows * 2 * static_cast<size_t>(half_taps);
  if (num_taps != want) {
    throw ResamplerError(std::string(table_phases == 0 ? "taps must hold up" : "taps must hold (tablePhases + 1)") +
                         " x 2 halfTaps = " + std::to_string(want) + " values, got " + std::to_string(num_taps));
  }
  taps_.assign(taps, taps + num_taps);
  buf_.assign(4096 + static_cast<size_t>(half_taps), 0.0f);
  Reset();
}

void PolyphaseResampler::Reset() {
  input_count_ = 0;
  n0_ = 0;
  phi_ = 0;
  buf_start_ = -half_taps_;
  buf_len_ = static_cast<size_t>(half_taps_);
  std::fill(buf_.begin(), buf_.begin() + half_taps_, 0.0f);
}

// Both make the output's room first: out of memory then leaves the stream as it was (Append's growth is all or
// nothing, and the history it drops is no longer needed), so the call can be made again.
void PolyphaseResampler::Push(const float* input, size_t n, std::vector<float>* out) {
  const int64_t last_n0 = input_count_ + static_cast<int64_t>(n) - 1 - half_taps_;
  ReserveMore(out, OutputCount(last_n0));
  Append(input, n);
  input_count_ += static_cast<int64_t>(n);
  Emit(last_n0, false, out);
}

void PolyphaseResampler::Flush(std::vector<float>* out) {
  ReserveMore(out, OutputCount(input_count_ - 1));
  Append(nullptr, static_cast<size_t>(half_taps_));  // zeros after the end
  Emit(input_count_ - 1, true, out);
  Reset();
}

size_t PolyphaseResampler::OutputCount(int64_t limit) const {
  if (n0_ > limit) return 0;
  // Phases advance by M per output in the L-upsampled domain (the numerator is >= 0 here).
  const int64_t pos0 = n0_ * up_ + phi_;
  return static_cast<size_t>(((limit + 1) * up_ - 1 - pos0) / down_ + 1);
}

void PolyphaseResampler::Append(const float* input, size_t n) {
  // Drop history no longer needed: the next output reads from n0 - (J - 1).
  const int64_t keep_from = n0_ - (half_taps_ - 1);
  const int64_t drop = std::min<int64_t>(keep_from - buf_start_, static_cast<int64_t>(buf_len_));
  if (drop > 0) {
    std::memmove(buf_.data(), buf_.data() + drop, (buf_len_ - static_cast<size_t>(drop)) * sizeof(float));
    buf_len_ -= static_cast<size_t>(drop);
    buf_start_ += drop;
  }
  if (buf_len_ + n > buf_.size()) buf_.resize(std::max(2 * buf_.size(), buf_len_ + n));
  if (input == nullptr) {
    std::fill(buf_.begin() + static_cast<std::ptrdiff_t>(buf_len_),
              buf_.begin() + static_cast<std::ptrdiff_t>(buf_len_ + n), 0.0f);
  } else if (n > 0) {
    std::memcpy(buf_.data() + buf_len_, input, n * sizeof(float));
  }
  buf_len_ += n;
}

void PolyphaseResampler::Emit(int64_t last_n0, bool final, std::vector<float>* out) {
  const int64_t limit = final ? input_count_ - 1 : last_n0;
  const int64_t count = static_cast<int64_t>(OutputCount(limit));
  if (count == 0) return;
  const size_t at = out->size();
  out->resize(at + static_cast<size_t>(count));
  float* y = out->data() + at;
  if (up_ == 1) {
    int64_t c = n0_ - buf_start_;
    for (int64_t k = 0; k < count; ++k, c += down_) y[k] = static_cast<float>(CentredSum(c));
    n0_ += count * down_;
    return;
  }
  if (up_ == 2 && down_ == 1) {
    int64_t c = n0_ - buf_start_;
    int32_t phi = phi_;
    for (int64_t k = 0; k < count; ++k) {
      if (phi == 0) {
        y[k] = static_cast<float>(CentredSum(c));
        phi = 1;
      } else {
        y[k] = static_cast<float>(DoubledOddSum(c));
        phi = 0;
        ++c;
      }
    }
    n0_ += (phi_ + count) >> 1;
    phi_ = static_cast<int32_t>((phi_ + count) & 1);
    return;
  }
  const int64_t step_n = down_ / up_;
  const int32_t step_phi = down_ % up_;
  int64_t n0 = n0_;
  int32_t phi = phi_;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t base = n0 - (half_taps_ - 1) - buf_start_;
    if (table_phases_ == 0) {
      y[k] = static_cast<float>(BranchSum(base, phi));
    } else {
      // Rows r and r + 1 around phase phi / L, the weight an exact rational rounded once, as in the TypeScript.
      const int64_t scaled = static_cast<int64_t>(phi) * table_phases_;
      const int32_t r = static_cast<int32_t>(scaled / up_);
      const double weight = static_cast<double>(scaled - static_cast<int64_t>(r) * up_) / up_;
      const double s0 = BranchSum(base, r);
      y[k] = static_cast<float>(s0 + weight * (BranchSum(base, r + 1) - s0));
    }
    n0 += step_n;
    phi += step_phi;
    if (phi >= up_) {
      phi -= up_;
      ++n0;
    }
  }
  n0_ = n0;
  phi_ = phi;
}

// Row `row` of the bank over buf[base .. base + 2J).
double PolyphaseResampler::BranchSum(int64_t base, int32_t row) const {
  const float* x = buf_.data() + base;
  const float* h = taps_.data() + static_cast<size_t>(row) * 2 * half_taps_;
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int32_t j = 0; j < 2 * half_taps_; j += 4) {
    a0 += static_cast<double>(x[j]) * h[j];
    a1 += static_cast<double>(x[j + 1]) * h[j + 1];
    a2 += static_cast<double>(x[j + 2]) * h[j + 2];
    a3 += static_cast<double>(x[j + 3]) * h[j + 3];
  }
  return a0 + a1 + (a2 + a3);
}

// Branch 0 folded around buffer index c: h0 x[c] + sum_{i=1}^{J-1} h_i (x[c + i] + x[c - i]).
double PolyphaseResampler::CentredSum(int64_t c) const {
  const float* x = buf_.data() + c;
  const float* h = taps_.data() + (half_taps_ - 1);
  const int32_t n = half_taps_ - 1;
  const int32_t n4 = n - (n % 4);
  double a0 = static_cast<double>(h[0]) * x[0], a1 = 0, a2 = 0, a3 = 0;
  int32_t i = 1;
  for (; i <= n4; i += 4) {
    a0 += static_cast<double>(h[i]) * (static_cast<double>(x[i]) + x[-i]);
    a1 += static_cast<double>(h[i + 1]) * (static_cast<double>(x[i + 1]) + x[-i - 1]);
    a2 += static_cast<double>(h[i + 2]) * (static_cast<double>(x[i + 2]) + x[-i - 2]);
    a3 += static_cast<double>(h[i + 3]) * (static_cast<double>(x[i + 3]) + x[-i - 3]);
  }
  for (; i <= n; ++i) a0 += static_cast<double>(h[i]) * (static_cast<double>(x[i]) + x[-i]);
  return a0 + a1 + (a2 + a3);
}

// Doubling's branch 1 (halfway between c and c + 1), symmetric: pairs x[c + m] with x[c + 1 - m], m = 1 .. J.
double PolyphaseResampler::DoubledOddSum(int64_t c) const {
  const float* x = buf_.data() + c;
  const float* h = taps_.data() + 2 * half_taps_ + half_taps_ - 1;  // tap of offset m at h[m]
  const int32_t m4 = half_taps_ - (half_taps_ % 4);
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int32_t m = 1;
  for (; m + 3 <= m4; m += 4) {
    a0 += static_cast<double>(h[m]) * (static_cast<double>(x[m]) + x[1 - m]);
    a1 += static_cast<double>(h[m + 1]) * (static_cast<double>(x[m + 1]) + x[-m]);
    a2 += static_cast<double>(h[m + 2]) * (static_cast<double>(x[m + 2]) + x[-m - 1]);
    a3 += static_cast<double>(h[m + 3]) * (static_cast<double>(x[m + 3]) + x[-m - 2]);
  }
  for (; m <= half_taps_; ++m) a0 += static_cast<double>(h[m]) * (static_cast<double>(x[m]) + x[1 - m]);
  return a0 + a1 + (a2 + a3);
}

}  // namespace voxgate
