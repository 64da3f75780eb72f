// Helpers shared by the libFuzzer harnesses in native/fuzz/ (built and run by native/fuzz/run.sh).
//
// Why one byte per value: the fuzzer mutates bytes, so a value that costs one byte lets it reach long streams and
// edge values (NaN, infinities, huge, denormal) with few mutations; ConsumeFloatingPoint would spend 4-8 bytes on
// values that are almost all far outside the range the cores see.
#ifndef VOXGATE_FUZZ_UTIL_H_
#define VOXGATE_FUZZ_UTIL_H_

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include "../src/token-lm.h"

namespace voxgate_fuzz {

constexpr float kFInf = std::numeric_limits<float>::infinity();
constexpr double kDInf = std::numeric_limits<double>::infinity();

// An invariant of the core failed: abort, which libFuzzer reports as a crash with this input saved.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

// A float whose byte is mostly an ordinary value of [lo, hi], sometimes one of the values that break arithmetic.
inline float OddFloat(FuzzedDataProvider& fdp, float lo, float hi) {
  const uint8_t b = fdp.ConsumeIntegral<uint8_t>();
  if (b < 240) return lo + (hi - lo) * (static_cast<float>(b) / 239.0f);
  static const float kOdd[16] = {std::numeric_limits<float>::quiet_NaN(), kFInf, -kFInf, 0.0f, -0.0f,
                                 std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                                 std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                                 1e30f, -1e30f, 88.0f, -104.0f, 1.0f, -1.0f, 100.0f};
  return kOdd[b - 240];
}

// A double option: mostly ordinary in [lo, hi], sometimes an edge (NaN, +-inf, 0, huge, tiny).
inline double OddDouble(FuzzedDataProvider& fdp, double lo, double hi) {
  const uint8_t b = fdp.ConsumeIntegral<uint8_t>();
  if (b < 224) return lo + (hi - lo) * (static_cast<double>(b) / 223.0);
  static const double kOdd[32] = {std::numeric_limits<double>::quiet_NaN(), kDInf, -kDInf, 0.0, -0.0,
                                  std::numeric_limits<double>::max(), -std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::denorm_min(), 1e-300, 1e300, -1e300, 1e308, -1e308,
                                  1e154, -1e154, 1e15, -1e15, 1.0, -1.0, 20.0, 1e-9, 0.5, 2.0, 1000.0, -1000.0,
                                  3e38, -3e38, 7e307, -7e307, 1e200, -1e200, 50.0};
  return kOdd[b - 224];
}

// An int: mostly in [lo, hi], sometimes any int32 (to reach every range check).
inline int32_t OddInt(FuzzedDataProvider& fdp, int32_t lo, int32_t hi) {
  if (fdp.ConsumeIntegralInRange<uint8_t>(0, 15) != 0) return fdp.ConsumeIntegralInRange<int32_t>(lo, hi);
  return fdp.ConsumeIntegral<int32_t>();
}

// A backoff LM over `vocab` tokens that TokenLm accepts (structure as training/voxgate_train/token_lm.py builds it),
// then `corrupt` entries overwritten with arbitrary values, which the constructor must reject or survive.
inline voxgate::TokenLmTables FuzzLmTables(FuzzedDataProvider& fdp, int32_t vocab, int32_t blank, int corrupt) {
  voxgate::TokenLmTables t;
  t.vocab_size = vocab;
  t.blank_id = blank;
  const int32_t states = fdp.ConsumeIntegralInRange<int32_t>(1, 12);
  t.start_state = fdp.ConsumeIntegralInRange<int32_t>(0, states - 1);
  t.arc_start.push_back(0);
  for (int32_t s = 0; s < states; ++s) {
    t.backoff_state.push_back(s == 0 ? -1 : fdp.ConsumeIntegralInRange<int32_t>(0, s - 1));
    t.backoff_log_weight.push_back(OddFloat(fdp, -8.0f, 0.0f));
    t.final_log_prob.push_back(OddFloat(fdp, -12.0f, 0.0f));
    for (int32_t tok = 0; tok < vocab && tok < 256; ++tok) {
      if (tok == blank || (s > 0 && !fdp.ConsumeBool())) continue;
      t.arc_token.push_back(tok);
      t.arc_next.push_back(fdp.ConsumeIntegralInRange<int32_t>(0, states - 1));
      t.arc_log_prob.push_back(OddFloat(fdp, -12.0f, 0.0f));
    }
    t.arc_start.push_back(static_cast<int32_t>(t.arc_token.size()));
  }
  for (int k = 0; k < corrupt; ++k) {
    std::vector<int32_t>* ints[] = {&t.arc_start, &t.backoff_state, &t.arc_token, &t.arc_next};
    std::vector<float>* floats[] = {&t.backoff_log_weight, &t.final_log_prob, &t.arc_log_prob};
    const uint8_t which = fdp.ConsumeIntegralInRange<uint8_t>(0, 9);
    if (which < 4) {
      std::vector<int32_t>& v = *ints[which];
      if (v.empty()) continue;
      v[fdp.ConsumeIntegralInRange<size_t>(0, v.size() - 1)] = OddInt(fdp, -2, static_cast<int32_t>(v.size()) + 2);
    } else if (which < 7) {
      std::vector<float>& v = *floats[which - 4];
      if (v.empty()) continue;
      v[fdp.ConsumeIntegralInRange<size_t>(0, v.size() - 1)] = OddFloat(fdp, -20.0f, 1.0f);
    } else if (which == 7) {
      t.start_state = OddInt(fdp, -1, states + 1);
    } else if (which == 8) {
      t.vocab_size = OddInt(fdp, 0, vocab + 2);
    } else {
      std::vector<int32_t>& v = *ints[fdp.ConsumeIntegralInRange<uint8_t>(0, 3)];
      if (fdp.ConsumeBool() || v.empty()) v.push_back(OddInt(fdp, -1, 8)); else v.pop_back();
    }
  }
  return t;
}

}  // namespace voxgate_fuzz

#endif  // VOXGATE_FUZZ_UTIL_H_
