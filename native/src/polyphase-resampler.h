// Streaming rational polyphase resampler, the C++ twin of src/dsp/resampler.ts `Resampler` (the reference, which
// designs the Kaiser-windowed sinc bank and documents the streaming rule). This class takes the bank as designed
// there (L, M, J and the L x 2J taps) and runs the same filtering: same buffer, same output count, same sums in the
// same order in double precision, so its output equals the TypeScript one exactly (test/native/native-resampler.test.ts;
// binding.gyp builds with -ffp-contract=off, since a fused multiply-add, the default on some targets, rounds once
// where JavaScript rounds twice).
//
// Why a twin: telephony audio (8 kHz, 20 ms frames) is resampled on the gateway's main thread for every call, and
// the resampler was the largest share of that thread under telephony load (docs/benchmarks.md, session 13).
#ifndef VOXGATE_POLYPHASE_RESAMPLER_H_
#define VOXGATE_POLYPHASE_RESAMPLER_H_

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace voxgate {

class ResamplerError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class PolyphaseResampler {
 public:
  // up = L, down = M (coprime, not both 1), half_taps = J (even, >= 2). table_phases 0: taps holds the L exact
  // branches (L x 2J, branch-major); table_phases P > 0: taps holds P + 1 rows at phase offsets r / P, and branch phi
  // blends the two rows around phi / L (a bank for a huge L). Throws ResamplerError when they do not fit together.
  PolyphaseResampler(int32_t up, int32_t down, int32_t half_taps, int32_t table_phases, const float* taps,
                     size_t num_taps);

  // Appends `n` input samples and appends every output computable so far to `out`.
  void Push(const float* input, size_t n, std::vector<float>* out);

  // Appends the tail (input past the end is zero), then resets for a new stream.
  void Flush(std::vector<float>* out);

  // Forgets the stream (history is zeros again).
  void Reset();

 private:
  void Append(const float* input, size_t n);  // input null: n zeros
  void Emit(int64_t last_n0, bool final, std::vector<float>* out);
  size_t OutputCount(int64_t limit) const;  // outputs with n0 <= limit still to come
  double CentredSum(int64_t c) const;
  double BranchSum(int64_t base, int32_t row) const;
  double DoubledOddSum(int64_t c) const;

  int32_t up_, down_, half_taps_, table_phases_;
  std::vector<float> taps_;
  std::vector<float> buf_;  // buf_[0] is absolute input sample buf_start_; buf_len_ of them are valid
  int64_t buf_start_ = 0;
  size_t buf_len_ = 0;
  int64_t input_count_ = 0;
  int64_t n0_ = 0;  // next output k: t_k = n0 + phi / L
  int32_t phi_ = 0;
};

}  // namespace voxgate

#endif  // VOXGATE_POLYPHASE_RESAMPLER_H_
