// libFuzzer harness for voxgate::TokenLm (native/src/token-lm.h). The LM file (token-lm.bin) is parsed by
// src/inference/token-lm.ts, which hands its seven tables to the core unchanged, so the bytes here become those
// tables: either read raw (what a corrupt or hostile file gives the core) or as a valid model with a few entries
// overwritten (what a truncated or bit-flipped file gives it). The constructor must accept or throw TokenLmError;
// every model it accepts must answer every (state, non-blank token) query inside its tables.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../src/ctc-prefix-beam-search.h"
#include "../src/token-lm.h"
#include "fuzz-util.h"

namespace {

using voxgate::TokenLm;
using voxgate::TokenLmTables;
using voxgate_fuzz::OddFloat;
using voxgate_fuzz::OddInt;

// The tables read as a file image would be: counts, then each entry as the bytes give it.
TokenLmTables RawTables(FuzzedDataProvider& fdp) {
  TokenLmTables t;
  t.vocab_size = OddInt(fdp, -1, 40);
  t.blank_id = OddInt(fdp, -1, 3);
  t.start_state = OddInt(fdp, -1, 8);
  const size_t states = fdp.ConsumeIntegralInRange<size_t>(0, 16);
  const size_t arcs = fdp.ConsumeIntegralInRange<size_t>(0, 96);
  const int32_t hi = static_cast<int32_t>(arcs) + 2;
  for (size_t i = 0; i <= states; ++i) t.arc_start.push_back(OddInt(fdp, -1, hi));
  for (size_t i = 0; i < states; ++i) {
    t.backoff_state.push_back(OddInt(fdp, -1, static_cast<int32_t>(states)));
    t.backoff_log_weight.push_back(OddFloat(fdp, -8.0f, 1.0f));
    t.final_log_prob.push_back(OddFloat(fdp, -8.0f, 1.0f));
  }
  for (size_t i = 0; i < arcs; ++i) {
    t.arc_token.push_back(OddInt(fdp, -1, 40));
    t.arc_next.push_back(OddInt(fdp, -1, static_cast<int32_t>(states)));
    t.arc_log_prob.push_back(OddFloat(fdp, -8.0f, 1.0f));
  }
  return t;
}

// The query as the header documents it, by linear scan: the reference for TokenLm::LogProb's binary search.
TokenLm::Step Reference(const TokenLmTables& t, int32_t state, int32_t token) {
  double backoff = 0;
  for (;;) {
    for (int32_t k = t.arc_start[state]; k < t.arc_start[state + 1]; ++k) {
      if (t.arc_token[k] == token) return {backoff + static_cast<double>(t.arc_log_prob[k]), t.arc_next[k]};
    }
    backoff += static_cast<double>(t.backoff_log_weight[state]);
    state = t.backoff_state[state];
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  TokenLmTables tables;
  if (fdp.ConsumeBool()) {
    tables = RawTables(fdp);
  } else {
    const int32_t vocab = fdp.ConsumeIntegralInRange<int32_t>(2, 40);
    const int32_t blank = fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
    tables = voxgate_fuzz::FuzzLmTables(fdp, vocab, blank, fdp.ConsumeIntegralInRange<int>(0, 3));
  }
  const TokenLmTables copy = tables;
  std::shared_ptr<const TokenLm> lm;
  try {
    lm = std::make_shared<const TokenLm>(std::move(tables));
  } catch (const voxgate::TokenLmError&) {
    return 0;
  }
  // Accepted: every query stays inside the tables and agrees with the linear-scan reference.
  const int32_t states = lm->num_states();
  FUZZ_CHECK(states == static_cast<int32_t>(copy.backoff_state.size()));
  for (int32_t s = 0; s < states; ++s) {
    FUZZ_CHECK(std::isfinite(lm->FinalLogProb(s)) && lm->FinalLogProb(s) <= 0);
    for (int32_t tok = 0; tok < lm->vocab_size(); ++tok) {
      if (tok == lm->blank_id()) continue;
      const TokenLm::Step got = lm->LogProb(s, tok);
      const TokenLm::Step want = Reference(copy, s, tok);
      FUZZ_CHECK(got.state >= 0 && got.state < states);
      FUZZ_CHECK(got.state == want.state && got.log_prob == want.log_prob);
      FUZZ_CHECK(std::isfinite(got.log_prob));
    }
  }
  // And a decoder fused with it keeps finite scores.
  voxgate::CtcSearchOptions o;
  o.vocab_size = lm->vocab_size();
  o.blank_id = lm->blank_id();
  o.beam_size = fdp.ConsumeIntegralInRange<int32_t>(1, 8);
  o.lm = lm;
  o.lm_weight = fdp.ConsumeFloatingPointInRange<double>(0, 2);
  voxgate::CtcPrefixBeamSearch search(o);
  const int64_t frames = fdp.ConsumeIntegralInRange<int64_t>(1, 8);
  std::vector<float> lp(static_cast<size_t>(frames * o.vocab_size));
  for (float& x : lp) x = OddFloat(fdp, -12.0f, 0.0f);
  for (int64_t f = 0; f < frames; ++f) lp[f * o.vocab_size] = 0;  // every frame has a finite value
  for (float& x : lp) if (std::isnan(x) || x == voxgate_fuzz::kFInf) x = 0;
  search.DecodeChunk(lp.data(), lp.size(), frames, o.vocab_size);
  FUZZ_CHECK(!std::isnan(search.Finalize().score));
  return 0;
}
