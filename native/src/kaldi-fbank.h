// Streaming Kaldi log-mel filterbank, the C++ twin of src/dsp/fbank.ts (the reference, which documents the
// settings: 16 kHz, 80 bins, 25 ms povey window, 10 ms shift, pre-emphasis 0.97, DC removal, 512-point power
// spectrum, mel 20 .. 7600 Hz, snip_edges=false, log floor float32 eps).
//
// Why a twin: the gateway computes fbank on its main thread for every session (~100 frames/s each); V8 runs the
// 512-point FFT at ~4.5 ns per butterfly, so at 100 sessions fbank was 45% of the main thread's busy time. The same
// arithmetic compiled runs ~3.5x faster. It is the same algorithm step for step, in double precision, so its output
// equals the TypeScript one to float32 rounding (test/native/kaldi-fbank.test.ts).
#ifndef VOXGATE_KALDI_FBANK_H_
#define VOXGATE_KALDI_FBANK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace voxgate {

constexpr int kFbankBins = 80;

// One stream's extractor. Not thread-safe; instances share read-only tables built once.
class KaldiFbank {
 public:
  KaldiFbank();

  // Appends `n` samples in [-1, 1] and appends every frame whose 400-sample window now lies within the samples
  // seen to `out` (80 floats per frame, row-major). Returns the number of frames appended.
  size_t Push(const float* samples, size_t n, std::vector<float>* out);

  // Appends the last frames (those that read the reflected end of the signal), then resets for a new stream.
  size_t Flush(std::vector<float>* out);

  void Reset();

  int64_t frames_emitted() const { return next_frame_; }

 private:
  size_t EmitUpTo(int64_t last, std::vector<float>* out);
  void ComputeFrame(int64_t index, float* out);

  std::vector<float> buf_;  // buf_[0] is absolute sample buf_start_; buf_len_ of them are valid
  int64_t buf_start_ = 0;
  size_t buf_len_ = 0;
  int64_t total_ = 0;
  int64_t next_frame_ = 0;
  std::vector<double> frame_, zr_, zi_, power_;
};

}  // namespace voxgate

#endif  // VOXGATE_KALDI_FBANK_H_
