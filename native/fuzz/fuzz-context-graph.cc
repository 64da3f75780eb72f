// libFuzzer harness for voxgate::ContextGraph (native/src/context-graph.h), the hotword automaton. Phrases are built
// as native/binding/addon.cc accepts them from a client (non-empty, ids below the vocab size, finite boosts: the
// graph leaves validation to its caller), including a vocab too large to memoise and repeated or nested phrases.
//
// Checked: every step lands on a node; the memoised transition table equals the uncached walk (a twin graph with
// the same phrases and a vocab too large for the memo cap never memoises); with non-negative boosts a walk plus
// Finalize() never ends below zero (a finished match keeps its bonus, an unfinished one gives all of it back).
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const int32_t vocab = fdp.ConsumeBool() ? fdp.ConsumeIntegralInRange<int32_t>(1, 8)
                                          : voxgate_fuzz::OddInt(fdp, 1, 600);
  if (vocab < 1 || vocab > kUnmemoisedVocab / 2) return 0;
  const bool non_negative = fdp.ConsumeBool();
  std::vector<std::vector<int32_t>> phrases(fdp.ConsumeIntegralInRange<size_t>(0, 24));
  std::vector<double> boosts;
  for (auto& phrase : phrases) {
    const size_t len = fdp.ConsumeIntegralInRange<size_t>(1, 8);
    while (phrase.size() < len) phrase.push_back(fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1));
    double boost = voxgate_fuzz::OddDouble(fdp, non_negative ? 0.0 : -10.0, 20.0);
    if (!std::isfinite(boost)) boost = 0;
    if (non_negative && !(boost >= 0)) boost = -boost;
    boosts.push_back(boost);
  }
  ContextGraph graph(phrases, boosts, vocab);
  ContextGraph slow(phrases, boosts, kUnmemoisedVocab);
  FUZZ_CHECK(graph.NumNodes() == slow.NumNodes());
  FUZZ_CHECK(graph.Empty() == phrases.empty());

  int32_t state = 0;
  double total = 0;
  while (fdp.remaining_bytes() > 0) {
    // Mostly tokens of a phrase (so matches happen), sometimes any token.
    int32_t token;
    if (!phrases.empty() && fdp.ConsumeIntegralInRange<uint8_t>(0, 3) != 0) {
      const auto& p = phrases[fdp.ConsumeIntegralInRange<size_t>(0, phrases.size() - 1)];
      token = p[fdp.ConsumeIntegralInRange<size_t>(0, p.size() - 1)];
    } else {
      token = fdp.ConsumeIntegralInRange<int32_t>(0, vocab - 1);
    }
    const ContextGraph::Step step = graph.Forward(state, token);
    const ContextGraph::Step want = slow.Forward(state, token);
    FUZZ_CHECK(step.state >= 0 && step.state < graph.NumNodes());
    // Finite for any finite boosts, however large: a NaN or infinite score breaks the beam search's ranking.
    FUZZ_CHECK(std::isfinite(step.score) && std::isfinite(graph.Finalize(step.state)));
    FUZZ_CHECK(step.state == want.state && step.score == want.score);
    total += step.score;
    state = step.state;
    if (fdp.ConsumeIntegralInRange<uint8_t>(0, 15) == 0) {  // end of utterance
      if (non_negative) FUZZ_CHECK(total + graph.Finalize(state) >= -1e-6 * (1 + std::fabs(total)));
      state = 0;
      total = 0;
    }
  }
  return 0;
}
