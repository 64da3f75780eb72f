// libFuzzer harness for voxgate::PolyphaseResampler (native/src/polyphase-resampler.h): constructor arguments in
// and out of range (factors, even / odd half-taps, table phases, a tap count that does not fit), a bank of odd
// taps, and streams of samples pushed in chunks of random size with flushes and resets in between.
//
// Checked: bad arguments throw ResamplerError (nothing else); a stream of N samples gives ceil(N L / M) outputs
// after Flush(); the chunking does not matter (a fresh resampler fed the whole stream in one call gives the same
// floats, bit for bit).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "../src/polyphase-resampler.h"
#include "fuzz-util.h"

namespace {

using voxgate::PolyphaseResampler;
using voxgate_fuzz::OddFloat;
using voxgate_fuzz::OddInt;

struct Params {
  int32_t up, down, half_taps, table_phases;
  std::vector<float> taps;
};

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void CheckStream(const Params& p, const std::vector<float>& samples, const std::vector<float>& got) {
  const int64_t n = static_cast<int64_t>(samples.size());
  FUZZ_CHECK(static_cast<int64_t>(got.size()) == (n * p.up + p.down - 1) / p.down);
  PolyphaseResampler twin(p.up, p.down, p.half_taps, p.table_phases, p.taps.data(), p.taps.size());
  std::vector<float> want;
  twin.Push(samples.data(), samples.size(), &want);
  twin.Flush(&want);
  FUZZ_CHECK(SameBits(got, want));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  Params p;
  p.up = OddInt(fdp, 0, 12);
  p.down = fdp.ConsumeBool() ? OddInt(fdp, 0, 12) : OddInt(fdp, 40, 600);
  p.half_taps = OddInt(fdp, -1, 34);
  p.table_phases = fdp.ConsumeBool() ? 0 : OddInt(fdp, -1, 16);
  // The count the arguments call for, or one off; none at all when it would be huge (the constructor must then
  // reject the mismatch without reading).
  const int64_t rows = p.table_phases == 0 ? p.up : static_cast<int64_t>(p.table_phases) + 1;
  const bool sized = rows >= 0 && rows <= 48001 && p.half_taps >= 0 && p.half_taps <= 4096;
  int64_t count = sized ? rows * 2 * p.half_taps : 8;
  count += fdp.ConsumeIntegralInRange<int>(0, 15) == 0 ? fdp.ConsumeIntegralInRange<int>(-1, 1) : 0;
  if (count < 0 || count > (1 << 16)) count = 0;
  p.taps.resize(static_cast<size_t>(count));
  const size_t distinct = fdp.ConsumeIntegralInRange<size_t>(1, 32);
  std::vector<float> shape(distinct);
  for (float& x : shape) x = OddFloat(fdp, -1.0f, 1.0f);
  for (size_t i = 0; i < p.taps.size(); ++i) p.taps[i] = shape[i % distinct];

  std::unique_ptr<PolyphaseResampler> r;
  try {
    r = std::make_unique<PolyphaseResampler>(p.up, p.down, p.half_taps, p.table_phases, p.taps.data(), p.taps.size());
  } catch (const voxgate::ResamplerError&) {
    return 0;
  }
  std::vector<float> samples, out;  // this stream's input and output
  while (fdp.remaining_bytes() > 0) {
    const uint8_t op = fdp.ConsumeIntegralInRange<uint8_t>(0, 15);
    if (op < 13) {
      const size_t n = fdp.ConsumeIntegralInRange<size_t>(0, op < 10 ? 64 : 5000);
      const size_t k = fdp.ConsumeIntegralInRange<size_t>(1, 8);
      std::vector<float> pattern(k);
      for (float& x : pattern) x = OddFloat(fdp, -1.0f, 1.0f);
      std::vector<float> chunk(n);
      for (size_t i = 0; i < n; ++i) chunk[i] = pattern[(i + i / k) % k];
      r->Push(chunk.data(), chunk.size(), &out);
      samples.insert(samples.end(), chunk.begin(), chunk.end());
      // Outputs so far never run ahead of the stream's final count.
      FUZZ_CHECK(static_cast<int64_t>(out.size()) * p.down <= static_cast<int64_t>(samples.size()) * p.up + p.down);
    } else if (op < 15) {
      r->Flush(&out);
      CheckStream(p, samples, out);
      samples.clear();
      out.clear();
    } else {
      r->Reset();
      samples.clear();
      out.clear();
    }
  }
  return 0;
}
