// libFuzzer harness for voxgate::ContextGraph (native/src/context-graph.h), the hotword automaton. Phrases are built
// as native/binding/addon.cc accepts them from a client (non-empty, ids below the vocab size, finite boosts: the
// graph leaves validation to its caller), including a vocab too large to memoise and repeated or nested phrases;
// the word separator is drawn too: -1 (a phrase matches anywhere) or any id (whole words), and then phrases hold it
// at their start, end or inside, or consist of it alone, and the token stream holds it often.
//
// Checked: every step lands on a node; the memoised transition table equals the uncached walk (a twin graph with
// the same phrases and a vocab too large for the memo cap never memoises); with non-negative boosts a walk plus
// Finalize() never ends below zero (a finished match keeps its bonus, an unfinished one gives all of it back).
// Whole words: an utterance (from Start() to Finalize()) without a separator is one word, so it keeps a bonus only
// when it is a phrase (the phrase's boundary separators stripped); any other such utterance ends at 0 whatever the
// boosts' signs.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../src/context-graph.h"
#include "fuzz-util.h"

namespace {

using voxgate::ContextGraph;

// Larger than the memo cap (2^15 steps), so that a graph over it takes the uncached path on every step.
constexpr int32_t kUnmemoisedVocab = 1 << 16;

// `phrase` without the separators at its ends (they mark word boundaries, context-graph.h); empty: separators alone.
std::vector<int32_t> Stripped(const std::vector<int32_t>& phrase, int32_t separator) {
  auto begin = phrase.begin();
  auto end = phrase.end();
  while (begin != end && *begin == separator) ++begin;
  while (end != begin && *(end - 1) == separator) --end;
  return {begin, end};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  // Drawn first, from the input's last byte (FuzzedDataProvider takes integers from the end), and with -1 nothing
  // else is drawn differently: an input made before the separator existed, with a byte of odd value appended, runs
  // as it did then (so the one under regressions/ was).
  const bool anywhere = fdp.ConsumeBool();
  const int32_t vocab = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(1, 8)
                                          : voxgate_fuzz::OddInt(fdp, 1, 600);
  if (vocab < 1 || vocab > kUnmemoisedVocab / 2) return 0;
  const bool non_negative = fdp.ConsumeBool();
  const int32_t separator = anywhere ? -1 : fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
  // Whole words: the separator at one draw in four, so that phrases start, end and are split by it.
  auto token_or_separator = [&] {
    if (separator >= 0 && fdp.ConsumeIntegralInRange<uint8_t>(0, 3) == 0) return separator;
    return fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
  };
  std::vector<std::vector<int32_t>> phrases(fdp.ConsumeIntegralInRange<size_t>(0, 24));
  std::vector<double> boosts;
  for (auto& phrase : phrases) {
    const size_t len = fdp.ConsumeIntegralInRange<size_t>(1, 8);
    while (phrase.size() < len) phrase.push_back(token_or_separator());
    double boost = voxgate_fuzz::OddDouble(fdp, non_negative ? 0.0 : -10.0, 20.0);
    if (!std::isfinite(boost)) boost = 0;
    if (non_negative && !(boost >= 0)) boost = -boost;
    boosts.push_back(boost);
  }
  ContextGraph graph(phrases, boosts, vocab, separator);
  ContextGraph slow(phrases, boosts, kUnmemoisedVocab, separator);
  std::vector<std::vector<int32_t>> words;  // whole words: the phrases as the utterance's only word would say them
  for (const auto& p : phrases) words.push_back(Stripped(p, separator));
  FUZZ_CHECK(graph.NumNodes() == slow.NumNodes());
  // Whole words: a phrase of separators alone has no word to match and adds nothing.
  FUZZ_CHECK(graph.Empty() == std::all_of(words.begin(), words.end(), [](const auto& w) { return w.empty(); }));
  FUZZ_CHECK(graph.SeparatorId() == separator);
  const ContextGraph::Step start = graph.Start();
  FUZZ_CHECK(start.state >= 0 && start.state < graph.NumNodes() && std::isfinite(start.score));
  FUZZ_CHECK(start.state == slow.Start().state && start.score == slow.Start().score);
  if (separator < 0) FUZZ_CHECK(start.state == 0 && start.score == 0);

  int32_t state = start.state;
  double total = start.score;
  double magnitude = 0;       // sum of |step scores|: the rounding the total may carry
  std::vector<int32_t> said;  // this utterance's tokens
  bool separated = false;     // a separator among them
  while (fdp.remaining_bytes() > 0) {
    // Mostly tokens of a phrase (so matches happen), sometimes any token or the separator.
    int32_t token;
    if (!phrases.empty() && fdp.ConsumeIntegralInRange<uint8_t>(0, 3) != 0) {
      const auto& p = phrases[fdp.ConsumeIntegralInRange<size_t>(0, phrases.size() - 1)];
      token = p[fdp.ConsumeIntegralInRange<size_t>(0, p.size() - 1)];
    } else {
      token = token_or_separator();
    }
    const ContextGraph::Step step = graph.Forward(state, token);
    const ContextGraph::Step want = slow.Forward(state, token);
    FUZZ_CHECK(step.state >= 0 && step.state < graph.NumNodes());
    // Finite for any finite boosts, however large: a NaN or infinite score breaks the beam search's ranking.
    FUZZ_CHECK(std::isfinite(step.score) && std::isfinite(graph.Finalize(step.state)));
    FUZZ_CHECK(step.state == want.state && step.score == want.score);
    total += step.score;
    magnitude += std::fabs(step.score);
    state = step.state;
    said.push_back(token);
    separated = separated || token == separator;
    if (fdp.ConsumeIntegralInRange<uint8_t>(0, 15) == 0) {  // end of utterance
      const double end = total + graph.Finalize(state);
      if (non_negative) FUZZ_CHECK(end >= -1e-6 * (1 + std::fabs(total)));
      if (separator >= 0 && !separated && std::find(words.begin(), words.end(), said) == words.end()) {
        FUZZ_CHECK(std::fabs(end) <= 1e-9 * (1 + magnitude + std::fabs(graph.Finalize(state))));
      }
      state = start.state;
      total = start.score;
      magnitude = 0;
      said.clear();
      separated = false;
    }
  }
  return 0;
}
