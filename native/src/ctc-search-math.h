// Arithmetic shared by the CTC prefix beam search's translation units: log-space addition, the 53-bit prefix key, the
// ranking score.
// Each is mirrored operation for operation by the TypeScript twin (logAddExp in src/inference/ctc-decoder.ts,
// nextKey, rankScore and reservedSlots in src/inference/ctc-prefix-beam-search.ts); change them together.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace voxgate {
namespace ctc_math {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

inline double LogAddExp(double a, double b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf) return a;
  return a + std::log1p(std::exp(b - a));
}

inline uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

// 53-bit key of prefix (parent + token), so that the TypeScript twin can hold it in a double.
inline uint64_t NextKey(uint64_t key, int32_t token) {
  const uint32_t lo = static_cast<uint32_t>(key);
  const uint32_t hi = static_cast<uint32_t>(key >> 32);
  const uint32_t t = static_cast<uint32_t>(token) + 1u;
  const uint32_t nlo = Fmix32((lo ^ (t * 0x9E3779B1u)) + hi * 0x85EBCA77u);
  const uint32_t nhi = Fmix32((hi ^ (t * 0xC2B2AE3Du)) + lo * 0x27D4EB2Fu + 0x165667B1u) & 0x1FFFFFu;
  return (static_cast<uint64_t>(nhi) << 32) | nlo;
}

// The ranking score of a prefix (a hypothesis or a candidate): acoustic + hotword context + LM. One definition for
// every ranking; rankScore() in the TypeScript twin.
template <typename T>
inline double RankScore(const T& h) {
  return LogAddExp(h.pb, h.pnb) + h.ctx + h.lm;
}

// Beam slots kept each frame for the best hypotheses by their score without open hotword bonuses, a quarter of the
// beam (none below 4): see CtcPrefixBeamSearch::Select. reservedSlots() in the TypeScript twin.
inline int32_t ReservedSlots(int32_t beam_size) { return beam_size / 4; }

// A token's posterior from its log-prob, at most 1: a frame that is not normalised (logits, or a log-softmax that
// rounds above 0) must not make a confidence above 1.
inline float Posterior(float log_prob) {
  return static_cast<float>(std::min(1.0, std::exp(static_cast<double>(log_prob))));
}

}  // namespace ctc_math
}  // namespace voxgate
