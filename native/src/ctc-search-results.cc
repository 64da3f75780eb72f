// The read side of CtcPrefixBeamSearch (ctc-prefix-beam-search.h): the best hypothesis so far, the final and its
// n-best list, and the refusal after a chunk that ran out of memory part way. The search itself is in
// ctc-prefix-beam-search.cc; the TypeScript twin of both is src/inference/ctc-prefix-beam-search.ts.
#include <algorithm>
#include <utility>

#include "ctc-prefix-beam-search.h"
#include "ctc-search-math.h"

namespace voxgate {

using ctc_math::kNegInf;
using ctc_math::LogAddExp;
using ctc_math::RankScore;

void CtcPrefixBeamSearch::RefuseIfPartial() const {
  if (partial_chunk_) {
    throw DecoderError("decoder: a chunk ran out of memory after decoding part of its frames; reset() before using it");
  }
}

CtcSearchResult CtcPrefixBeamSearch::MakeResult(const Hyp& h, double score, int32_t stable) const {
  CtcSearchResult r;
  r.tokens = h.tokens;
  r.frames = h.frames;
  r.probs = h.probs;
  r.score = score;
  r.stable_prefix_length = stable;
  r.trailing_blank_frames = static_cast<int32_t>(frames_decoded_ - 1 - h.last_frame);
  r.frames_decoded = frames_decoded_;
  return r;
}

CtcSearchResult CtcPrefixBeamSearch::Current() const {
  RefuseIfPartial();
  const Hyp& best = beam_[0];
  size_t stable = best.tokens.size();
  for (size_t i = 1; i < beam_.size(); ++i) {
    const auto& t = beam_[i].tokens;
    size_t k = 0;
    const size_t limit = std::min(stable, t.size());
    while (k < limit && t[k] == best.tokens[k]) ++k;
    stable = k;
  }
  return MakeResult(best, RankScore(best), static_cast<int32_t>(stable));
}

double CtcPrefixBeamSearch::FinalScore(const Hyp& h) const {
  double s = LogAddExp(h.pb, h.pnb) + h.ctx + graph_.Finalize(h.ctx_state) + h.lm;
  if (options_.lm) s += options_.lm_weight * options_.lm->FinalLogProb(h.lm_state);
  return s;
}

std::vector<CtcAlternative> CtcPrefixBeamSearch::FinalAlternatives() const {
  RefuseIfPartial();
  std::vector<std::pair<double, size_t>> ranked;
  ranked.reserve(beam_.size());
  for (size_t i = 0; i < beam_.size(); ++i) ranked.emplace_back(FinalScore(beam_[i]), i);
  std::sort(ranked.begin(), ranked.end(), [this](const auto& x, const auto& y) {
    if (x.first != y.first) return x.first > y.first;
    return beam_[x.second].key < beam_[y.second].key;
  });
  std::vector<CtcAlternative> out(ranked.size());
  for (size_t k = 0; k < ranked.size(); ++k) {
    out[k].tokens = beam_[ranked[k].second].tokens;
    out[k].score = ranked[k].first;
  }
  return out;
}

CtcSearchResult CtcPrefixBeamSearch::Finalize() {
  RefuseIfPartial();
  size_t best = 0;
  double best_score = kNegInf;
  for (size_t i = 0; i < beam_.size(); ++i) {
    const Hyp& h = beam_[i];
    const double s = FinalScore(h);
    if (i == 0 || s > best_score || (s == best_score && h.key < beam_[best].key)) {
      best = i;
      best_score = s;
    }
  }
  CtcSearchResult r = MakeResult(beam_[best], best_score, static_cast<int32_t>(beam_[best].tokens.size()));
  Reset();  // allocates nothing: a failure above leaves the utterance to finalize again
  return r;
}

}  // namespace voxgate
