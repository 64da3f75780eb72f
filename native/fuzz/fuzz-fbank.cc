// libFuzzer harness for voxgate::KaldiFbank (native/src/kaldi-fbank.h): streams of samples (ordinary, NaN, +-inf,
// huge, denormal) pushed in chunks of random size, including empty ones and streams shorter than one window, with
// flushes and resets in between.
//
// Checked: each call returns the number of frames it appended; a stream gives (samples + 80) / 160 frames in all
// (Kaldi snip_edges=false, what Flush() documents); the chunking does not matter (a fresh extractor fed the whole
// stream in one call gives the same floats, bit for bit); finite input gives finite, non-NaN features.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../src/kaldi-fbank.h"
#include "fuzz-util.h"

namespace {

using voxgate::KaldiFbank;
using voxgate::kFbankBins;

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// The stream's end: its total frame count, the one-call twin, finite features for finite input.
void CheckStream(const std::vector<float>& samples, const std::vector<float>& got) {
  const int64_t n = static_cast<int64_t>(samples.size());
  FUZZ_CHECK(static_cast<int64_t>(got.size()) == (n + 80) / 160 * kFbankBins);
  KaldiFbank twin;
  std::vector<float> want;
  twin.Push(samples.data(), samples.size(), &want);
  twin.Flush(&want);
  FUZZ_CHECK(SameBits(got, want));
  bool finite = true;
  for (float x : samples) finite = finite && std::isfinite(x);
  if (finite) {
    for (float y : got) FUZZ_CHECK(!std::isnan(y) && y != -voxgate_fuzz::kFInf);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  KaldiFbank fbank;
  std::vector<float> samples;  // this stream's, since the last flush or reset
  std::vector<float> out;      // its features
  while (fdp.remaining_bytes() > 0) {
    const uint8_t op = fdp.ConsumeIntegralInRange<uint8_t>(0, 15);
    if (op < 13) {  // a chunk: short ones often, long ones (several windows) sometimes
      const size_t n = fdp.ConsumeIntegralInRange<size_t>(0, op < 10 ? 200 : 3000);
      std::vector<float> chunk(n);
      // A few bytes shape the chunk (the rest repeats them), so long streams stay cheap to express.
      const size_t distinct = fdp.ConsumeIntegralInRange<size_t>(1, 16);
      std::vector<float> shape(distinct);
      for (float& x : shape) x = voxgate_fuzz::OddFloat(fdp, -1.0f, 1.0f);
      for (size_t i = 0; i < n; ++i) chunk[i] = shape[(i * 7 + i / distinct) % distinct];
      const size_t before = out.size();
      const int64_t emitted = fbank.frames_emitted();
      const size_t frames = fbank.Push(chunk.data(), chunk.size(), &out);
      FUZZ_CHECK(out.size() == before + frames * kFbankBins);
      FUZZ_CHECK(fbank.frames_emitted() == emitted + static_cast<int64_t>(frames));
      samples.insert(samples.end(), chunk.begin(), chunk.end());
    } else if (op < 15) {
      const size_t before = out.size();
      const size_t frames = fbank.Flush(&out);
      FUZZ_CHECK(out.size() == before + frames * kFbankBins);
      FUZZ_CHECK(fbank.frames_emitted() == 0);
      CheckStream(samples, out);
      samples.clear();
      out.clear();
    } else {
      fbank.Reset();
      FUZZ_CHECK(fbank.frames_emitted() == 0);
      samples.clear();
      out.clear();
    }
  }
  return 0;
}
