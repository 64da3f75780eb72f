// See kaldi-fbank.h. Every step mirrors src/dsp/fbank.ts and src/dsp/fft.ts in the same order of operations, so
// that the two agree to float32 rounding; comments there say why each step is what it is.
#include "kaldi-fbank.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace voxgate {
namespace {

constexpr int kSampleRateHz = 16000;
constexpr int kFrameSamples = 400;
constexpr int kShiftSamples = 160;
constexpr int kPadLeft = kFrameSamples / 2 - kShiftSamples / 2;  // 120
constexpr int kFftSize = 512;
constexpr int kHalf = kFftSize / 2;
constexpr double kPreemph = 0.97;
constexpr double kLowHz = 20;
constexpr double kHighHz = kSampleRateHz / 2 - 400;
constexpr double kLogFloor = 1.1920928955078125e-7;  // torch.finfo(torch.float32).eps
const double kPi = std::acos(-1.0);

double MelScale(double hz) { return 1127 * std::log(1 + hz / 700); }

// Window, mel triangles (sparse: first FFT bin, count, offset into weights) and the FFT's tables, built once.
struct Tables {
  double window[kFrameSamples];
  int bin_start[kFbankBins], bin_len[kFbankBins], weight_offset[kFbankBins];
  std::vector<double> weights;
  double cos[kHalf / 2], sin[kHalf / 2];         // 2 pi j / (N/2): the complex core's twiddles
  double split_cos[kHalf + 1], split_sin[kHalf + 1];  // 2 pi k / N: the real split step's
  uint32_t bitrev[kHalf];

  Tables() {
    for (int n = 0; n < kFrameSamples; ++n) {
      const double hann = 0.5 - 0.5 * std::cos((2 * kPi * n) / (kFrameSamples - 1));
      window[n] = std::pow(hann, 0.85);
    }
    const double bin_width_hz = static_cast<double>(kSampleRateHz) / kFftSize;
    const double mel_low = MelScale(kLowHz);
    const double delta = (MelScale(kHighHz) - mel_low) / (kFbankBins + 1);
    for (int m = 0; m < kFbankBins; ++m) {
      const double left = mel_low + m * delta, center = left + delta, right = center + delta;
      int first = -1;
      weight_offset[m] = static_cast<int>(weights.size());
      for (int k = 0; k < kHalf; ++k) {
        const double mel = MelScale(bin_width_hz * k);
        const double up = (mel - left) / (center - left);
        const double down = (right - mel) / (right - center);
        const double v = std::max(0.0, std::min(up, down));
        if (v > 0) {
          if (first < 0) first = k;
          weights.push_back(v);
        }
      }
      bin_start[m] = std::max(0, first);
      bin_len[m] = static_cast<int>(weights.size()) - weight_offset[m];
    }
    for (int j = 0; j < kHalf / 2; ++j) {
      cos[j] = std::cos((2 * kPi * j) / kHalf);
      sin[j] = std::sin((2 * kPi * j) / kHalf);
    }
    for (int k = 0; k <= kHalf; ++k) {
      split_cos[k] = std::cos((2 * kPi * k) / kFftSize);
      split_sin[k] = std::sin((2 * kPi * k) / kFftSize);
    }
    for (uint32_t i = 0; i < kHalf; ++i) {
      uint32_t r = 0;
      for (int b = 0; b < 8; ++b) r |= ((i >> b) & 1u) << (7 - b);  // 8 = log2(kHalf)
      bitrev[i] = r;
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;  // thread-safe initialisation (C++11)
  return tables;
}

// In-place complex DIT FFT of N/2 points already in bit-reversed order (dsp/fft.ts `core`).
void ComplexCore(const Tables& t, double* zr, double* zi) {
  for (int s = 0; s < kHalf; s += 4) {
    const double ar = zr[s], ai = zi[s], br = zr[s + 1], bi = zi[s + 1];
    const double cr = zr[s + 2], ci = zi[s + 2], dr = zr[s + 3], di = zi[s + 3];
    const double t0r = ar + br, t0i = ai + bi, t1r = ar - br, t1i = ai - bi;
    const double t2r = cr + dr, t2i = ci + di, t3r = cr - dr, t3i = ci - di;
    zr[s] = t0r + t2r;
    zi[s] = t0i + t2i;
    zr[s + 2] = t0r - t2r;
    zi[s + 2] = t0i - t2i;
    zr[s + 1] = t1r + t3i;
    zi[s + 1] = t1i - t3r;
    zr[s + 3] = t1r - t3i;
    zi[s + 3] = t1i + t3r;
  }
  for (int len = 8; len <= kHalf; len <<= 1) {
    const int half_len = len >> 1;
    const int step = kHalf / len;
    for (int j = 0; j < half_len; ++j) {
      const double wr = t.cos[j * step], wi = -t.sin[j * step];
      for (int p = j; p < kHalf; p += len) {
        const int q = p + half_len;
        const double xr = zr[q], xi = zi[q];
        const double qr = xr * wr - xi * wi, qi = xr * wi + xi * wr;
        const double pr = zr[p], pi = zi[p];
        zr[q] = pr - qr;
        zi[q] = pi - qi;
        zr[p] = pr + qr;
        zi[p] = pi + qi;
      }
    }
  }
}

// |rfft(x)|^2 of x[0 .. 512) into power[0 .. 256] (dsp/fft.ts `power`).
void PowerSpectrum(const Tables& t, const double* x, double* zr, double* zi, double* power) {
  for (int n = 0; n < kHalf; ++n) {
    const uint32_t r = t.bitrev[n];
    zr[r] = x[2 * n];
    zi[r] = x[2 * n + 1];
  }
  ComplexCore(t, zr, zi);
  const double dc = zr[0] + zi[0], nyquist = zr[0] - zi[0];
  power[0] = dc * dc;
  power[kHalf] = nyquist * nyquist;
  for (int k = 1; k < kHalf; ++k) {
    const double a = zr[k], b = zi[k], c = zr[kHalf - k], d = zi[kHalf - k];
    const double er = 0.5 * (a + c), ei = 0.5 * (b - d);
    const double o_r = 0.5 * (b + d), oi = -0.5 * (a - c);
    const double wr = t.split_cos[k], wi = -t.split_sin[k];
    const double re = er + wr * o_r - wi * oi;
    const double im = ei + wr * oi + wi * o_r;
    power[k] = re * re + im * im;
  }
}

// floor(a / b) for b > 0 (C++ division truncates towards zero).
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Room for `extra` more values in `out` before any state changes, grown by doubling as push_back grows, so that a
// caller appending call after call pays amortised O(1) per value.
void ReserveMore(std::vector<float>* out, size_t extra) {
  const size_t need = out->size() + extra;
  if (need > out->capacity()) out->reserve(std::max(need, 2 * out->capacity()));
}

}  // namespace

KaldiFbank::KaldiFbank() : buf_(8192), frame_(kFftSize, 0.0), zr_(kHalf), zi_(kHalf), power_(kHalf + 1) {
  GetTables();
}

void KaldiFbank::Reset() {
  buf_start_ = 0;
  buf_len_ = 0;
  total_ = 0;
  next_frame_ = 0;
}

size_t KaldiFbank::Push(const float* samples, size_t n, std::vector<float>* out) {
  // Frame i is complete when 160 i + 280 <= total.
  const int64_t last = FloorDiv(total_ + static_cast<int64_t>(n) - (kFrameSamples - kPadLeft), kShiftSamples);
  // Room for the output first: out of memory then leaves the stream as it was (dropping history it no longer needs
  // and growing the buffer below change no result), so the push can be made again.
  ReserveMore(out, static_cast<size_t>(std::max<int64_t>(0, last - next_frame_ + 1)) * kFbankBins);
  // Keep from the start of the next frame's window (never below 0: frame 0 reflects x[0 .. 119]).
  const int64_t keep_from = std::max<int64_t>(0, next_frame_ * kShiftSamples - kPadLeft);
  const int64_t drop = std::min<int64_t>(keep_from - buf_start_, static_cast<int64_t>(buf_len_));
  if (drop > 0) {
    std::memmove(buf_.data(), buf_.data() + drop, (buf_len_ - drop) * sizeof(float));
    buf_len_ -= static_cast<size_t>(drop);
    buf_start_ += drop;
  }
  if (buf_len_ + n > buf_.size()) buf_.resize(std::max(2 * buf_.size(), buf_len_ + n));
  if (n > 0) std::memcpy(buf_.data() + buf_len_, samples, n * sizeof(float));
  buf_len_ += n;
  total_ += static_cast<int64_t>(n);
  return EmitUpTo(last, out);
}

size_t KaldiFbank::Flush(std::vector<float>* out) {
  const size_t n = EmitUpTo((total_ + kShiftSamples / 2) / kShiftSamples - 1, out);
  Reset();
  return n;
}

size_t KaldiFbank::EmitUpTo(int64_t last, std::vector<float>* out) {
  const int64_t count = last - next_frame_ + 1;
  if (count <= 0) return 0;
  const size_t at = out->size();
  out->resize(at + static_cast<size_t>(count) * kFbankBins);
  for (int64_t f = 0; f < count; ++f) ComputeFrame(next_frame_ + f, out->data() + at + f * kFbankBins);
  next_frame_ += count;
  return static_cast<size_t>(count);
}

void KaldiFbank::ComputeFrame(int64_t index, float* out) {
  const Tables& t = GetTables();
  double* frame = frame_.data();
  const int64_t start = index * kShiftSamples - kPadLeft;
  double sum = 0;
  if (start >= 0 && start + kFrameSamples <= total_) {
    const float* b = buf_.data() + (start - buf_start_);
    for (int j = 0; j < kFrameSamples; ++j) {
      const double v = b[j];
      frame[j] = v;
      sum += v;
    }
  } else {
    for (int j = 0; j < kFrameSamples; ++j) {
      int64_t s = start + j;
      // Kaldi's ExtractWindow reflection (repeats for signals shorter than the window).
      while (s < 0 || s >= total_) s = s < 0 ? -s - 1 : 2 * total_ - 1 - s;
      const double v = buf_[static_cast<size_t>(s - buf_start_)];
      frame[j] = v;
      sum += v;
    }
  }
  const double mean = sum / kFrameSamples;
  const double dc = (1 - kPreemph) * mean;
  for (int j = kFrameSamples - 1; j > 0; --j) frame[j] = (frame[j] - kPreemph * frame[j - 1] - dc) * t.window[j];
  frame[0] = (frame[0] - mean) * (1 - kPreemph) * t.window[0];
  std::fill(frame + kFrameSamples, frame + kFftSize, 0.0);
  PowerSpectrum(t, frame, zr_.data(), zi_.data(), power_.data());
  const double* power = power_.data();
  for (int m = 0; m < kFbankBins; ++m) {
    const int k0 = t.bin_start[m], len = t.bin_len[m];
    const double* w = t.weights.data() + t.weight_offset[m];
    double e = 0;
    for (int k = 0; k < len; ++k) e += w[k] * power[k0 + k];
    out[m] = static_cast<float>(std::log(e > kLogFloor ? e : kLogFloor));
  }
}

}  // namespace voxgate
