// libFuzzer harness for voxgate::CtcPrefixBeamSearch (native/src/ctc-prefix-beam-search.h): odd options (throw
// DecoderError or work), the word separator among them (-1, a non-blank id: hotwords match whole words, or rarely
// any int), then a stream of operations: chunks of log-probs with NaN / +-inf / huge values (rejected whole, or
// decoded), hotword lists replaced mid-stream (validated as native/binding/addon.cc validates them, built with the
// decoder's separator; rarely with another one, which both decoders refuse), an optional token LM, reads of the best
// hypothesis, n-best lists, finalize and reset.
//
// Promises checked, all from the header: a rejected chunk leaves the state as it was; chunking does not matter (a
// twin decoder gets the same frames in one call per stretch between hotword changes, and finalizes to the same
// result bit for bit); the stable prefix of Current() is never contradicted later in the utterance; n-best element 0
// is what Finalize() returns; tokens, frames and probabilities line up; hotwords built for another separator are
// refused (DecoderError) and leave the state as it was.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "../src/context-graph.h"
#include "../src/ctc-prefix-beam-search.h"
#include "fuzz-util.h"

namespace {

using voxgate::ContextGraph;
using voxgate::CtcPrefixBeamSearch;
using voxgate::CtcSearchResult;
using voxgate::DecoderError;
using voxgate_fuzz::OddDouble;
using voxgate_fuzz::OddFloat;

bool SameResult(const CtcSearchResult& a, const CtcSearchResult& b) {
  const bool same_score = a.score == b.score || (std::isnan(a.score) && std::isnan(b.score));
  return a.tokens == b.tokens && a.frames == b.frames && a.probs == b.probs && same_score &&
         a.stable_prefix_length == b.stable_prefix_length && a.trailing_blank_frames == b.trailing_blank_frames &&
         a.frames_decoded == b.frames_decoded;
}

void CheckShape(const CtcSearchResult& r, int32_t vocab, int32_t blank) {
  FUZZ_CHECK(r.frames.size() == r.tokens.size() && r.probs.size() == r.tokens.size());
  FUZZ_CHECK(r.stable_prefix_length >= 0 && static_cast<size_t>(r.stable_prefix_length) <= r.tokens.size());
  FUZZ_CHECK(r.trailing_blank_frames >= 0 && r.trailing_blank_frames <= r.frames_decoded);
  FUZZ_CHECK(!std::isnan(r.score));
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    FUZZ_CHECK(r.tokens[i] >= 0 && r.tokens[i] < vocab && r.tokens[i] != blank);
    FUZZ_CHECK(r.frames[i] >= 0 && r.frames[i] < r.frames_decoded);
    FUZZ_CHECK(i == 0 || r.frames[i] > r.frames[i - 1]);
    FUZZ_CHECK(!std::isnan(r.probs[i]));
  }
}

bool StartsWith(const std::vector<int32_t>& v, const std::vector<int32_t>& prefix) {
  return v.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), v.begin());
}

// Hotwords as the binding accepts them: non-empty phrases of non-blank ids below vocab, finite boosts; with a
// separator (whole words) it is one token in four, so phrases start, end, are split by it or consist of it alone.
ContextGraph FuzzHotwords(FuzzedDataProvider& fdp, int32_t vocab, int32_t blank, int32_t separator) {
  std::vector<std::vector<int32_t>> phrases(fdp.ConsumeIntegralInRange<size_t>(0, 6));
  std::vector<double> boosts;
  for (auto& phrase : phrases) {
    const size_t len = fdp.ConsumeIntegralInRange<size_t>(1, 5);
    while (phrase.size() < len) {
      if (separator >= 0 && fdp.ConsumeIntegralInRange<uint8_t>(0, 3) == 0) {
        phrase.push_back(separator);
        continue;
      }
      const int32_t id = fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
      phrase.push_back(id == blank ? (id + 1) % vocab : id);
    }
    double boost = OddDouble(fdp, -5.0, 25.0);
    if (!std::isfinite(boost)) boost = 1.5;
    boosts.push_back(boost);
  }
  return ContextGraph(phrases, boosts, vocab, separator);
}

// The word separator: mostly -1 or a non-blank id below the vocab (a valid decoder), rarely any int (refused unless
// it happens to be one of those).
int32_t FuzzSeparator(FuzzedDataProvider& fdp, int32_t vocab, int32_t blank) {
  const uint8_t pick = fdp.ConsumeIntegralInRange<uint8_t>(0, 15);
  if (pick == 0 || vocab < 2 || vocab > 4096 || blank < 0 || blank >= vocab) return voxgate_fuzz::OddInt(fdp, -2, 3);
  if (pick < 6) return -1;
  const int32_t id = fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 2);
  return id >= blank ? id + 1 : id;  // every id but the blank
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  voxgate::CtcSearchOptions o;
  o.vocab_size = voxgate_fuzz::OddInt(fdp, -1, 48);
  o.blank_id = voxgate_fuzz::OddInt(fdp, -1, 3);
  o.separator_id = FuzzSeparator(fdp, o.vocab_size, o.blank_id);
  o.beam_size = fdp.ConsumeIntegralInRange<uint8_t>(0, 63) == 0 ? voxgate_fuzz::OddInt(fdp, 1000, 1025)
                                                                 : voxgate_fuzz::OddInt(fdp, 0, 24);
  o.token_threshold = OddDouble(fdp, 0.0, 30.0);
  o.lm_weight = OddDouble(fdp, 0.0, 2.0);
  o.lm_token_bonus = OddDouble(fdp, -3.0, 3.0);
  if (fdp.ConsumeBool() && o.vocab_size >= 2 && o.vocab_size <= 48 && o.blank_id >= 0 && o.blank_id < o.vocab_size) {
    try {
      o.lm = std::make_shared<const voxgate::TokenLm>(
          voxgate_fuzz::FuzzLmTables(fdp, o.vocab_size, o.blank_id, fdp.ConsumeIntegralInRange<int>(0, 1)));
    } catch (const voxgate::TokenLmError&) {
    }
  }
  std::unique_ptr<CtcPrefixBeamSearch> a, b;
  try {
    a = std::make_unique<CtcPrefixBeamSearch>(o);
  } catch (const DecoderError&) {
    return 0;
  }
  b = std::make_unique<CtcPrefixBeamSearch>(o);
  const int32_t v = o.vocab_size, blank = o.blank_id;
  // Frames `a` decoded that `b` has not yet: `b` gets them in one call before anything that depends on them.
  std::vector<float> pending;
  auto sync = [&] {
    if (pending.empty()) return;
    b->DecodeChunk(pending.data(), pending.size(), static_cast<int64_t>(pending.size() / v), v);
    pending.clear();
  };
  std::vector<int32_t> stable;  // the longest stable prefix seen this utterance
  // A beam of ~1024 costs O(beam^2 x vocab) per frame (the child lookup); few frames keep such runs under a second.
  const int64_t max_frames = o.beam_size > 64 ? 6 : 512;
  while (fdp.remaining_bytes() > 0) {
    switch (fdp.ConsumeIntegralInRange<uint8_t>(0, 7)) {
      case 0:
      case 1:
      case 2: {  // a chunk; mostly well-formed, sometimes lying about its size or vocab
        // At most 4096 values: the vocab may be any int >= 2.
        const int64_t frames = std::min<int64_t>(fdp.ConsumeIntegralInRange<int64_t>(0, 12), 4096 / v);
        const uint8_t lie = fdp.ConsumeIntegralInRange<uint8_t>(0, 15);
        const int32_t chunk_vocab = lie == 1 ? v + 1 : v;
        size_t length = static_cast<size_t>(frames * v);
        if (lie == 2) length += 1;
        if (lie == 3 && length > 0) length -= 1;
        std::vector<float> lp(length);
        for (float& x : lp) x = OddFloat(fdp, -25.0f, 0.0f);
        if (a->frames_decoded() + frames > max_frames) break;
        const CtcSearchResult before = a->Current();
        try {
          a->DecodeChunk(lp.data(), lp.size(), frames, chunk_vocab);
        } catch (const DecoderError&) {
          FUZZ_CHECK(SameResult(before, a->Current()));
          break;
        }
        FUZZ_CHECK(chunk_vocab == v && length == static_cast<size_t>(frames * v));
        pending.insert(pending.end(), lp.begin(), lp.end());
        break;
      }
      case 3: {  // hotwords replaced mid-utterance, the twin at the same frame
        // Rarely built for another separator than the decoder's (only C++ can: the binding uses the decoder's).
        const bool other = fdp.ConsumeIntegralInRange<uint8_t>(0, 15) == 0;
        const int32_t separator = other ? (o.separator_id == -1 ? (blank + 1) % v : -1) : o.separator_id;
        ContextGraph graph = FuzzHotwords(fdp, v, blank, separator);
        sync();
        if (other) {
          const CtcSearchResult before = a->Current();
          bool refused = false;
          try {
            a->SetHotwords(graph);
          } catch (const DecoderError&) {
            refused = true;
          }
          FUZZ_CHECK(refused && SameResult(before, a->Current()));
          break;
        }
        a->SetHotwords(graph);
        b->SetHotwords(std::move(graph));
        break;
      }
      case 4:
      case 5: {  // the partial result
        const CtcSearchResult r = a->Current();
        CheckShape(r, v, blank);
        FUZZ_CHECK(StartsWith(r.tokens, stable));
        std::vector<int32_t> now(r.tokens.begin(), r.tokens.begin() + r.stable_prefix_length);
        if (now.size() > stable.size()) stable = std::move(now);
        break;
      }
      case 6: {  // n-best, then finalize: both decoders agree, element 0 is the final result
        const std::vector<voxgate::CtcAlternative> alts = a->FinalAlternatives();
        FUZZ_CHECK(!alts.empty() && alts.size() <= static_cast<size_t>(o.beam_size));
        for (size_t i = 1; i < alts.size(); ++i) FUZZ_CHECK(!(alts[i].score > alts[i - 1].score));
        sync();
        const CtcSearchResult r = a->Finalize();
        CheckShape(r, v, blank);
        FUZZ_CHECK(r.tokens == alts[0].tokens && r.score == alts[0].score);
        FUZZ_CHECK(StartsWith(r.tokens, stable));
        FUZZ_CHECK(SameResult(r, b->Finalize()));
        FUZZ_CHECK(a->frames_decoded() == 0);
        stable.clear();
        break;
      }
      case 7:  // reset: both start over
        a->Reset();
        b->Reset();
        pending.clear();
        stable.clear();
        break;
    }
  }
  return 0;
}
