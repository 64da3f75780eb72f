// The search of CtcPrefixBeamSearch: options, DecodeChunk and its frames, hotword changes. What it reads out (the
// best hypothesis, the final and its n-best list) is in ctc-search-results.cc.
#include "ctc-prefix-beam-search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "ctc-search-math.h"

namespace voxgate {
namespace {

using ctc_math::kNegInf;
using ctc_math::LogAddExp;
using ctc_math::NextKey;
using ctc_math::Posterior;
using ctc_math::RankScore;

// Whether a kept prefix's last token is timed anew at this frame: the path on which its parent emits the token here
// outweighs the prefix's own paths (blank-ended and held), so its frames and posteriors, not those of whatever path
// first reached the prefix (a faint emission long before), describe the hypothesis. emittedAnew() in the TS twin.
template <typename C>
inline bool EmittedAnew(const C& c) {
  return c.via >= 0 && c.via_pnb > LogAddExp(c.pb, c.own_pnb);
}

// top[0..n) holds the `cap` best scores inserted so far, ascending: a frame's new prefixes that another `cap` new
// prefixes outscore (strictly) cannot survive it.
void InsertTop(std::vector<double>& top, int32_t& n, int32_t cap, double score) {
  int32_t j;
  if (n < cap) {
    j = n++;
    while (j > 0 && top[j - 1] > score) {
      top[j] = top[j - 1];
      --j;
    }
  } else {  // full: the smallest goes
    if (score < top[0]) return;
    j = 0;
    while (j + 1 < cap && top[j + 1] < score) {
      top[j] = top[j + 1];
      ++j;
    }
  }
  top[j] = score;
}

}  // namespace

CtcPrefixBeamSearch::CtcPrefixBeamSearch(const CtcSearchOptions& options) : options_(options) {
  if (options.vocab_size < 2) {
    throw DecoderError("vocabSize must be an integer >= 2, got " + std::to_string(options.vocab_size));
  }
  if (options.blank_id < 0 || options.blank_id >= options.vocab_size) {
    throw DecoderError("blankId must be in [0, vocabSize), got " + std::to_string(options.blank_id));
  }
  if (options.separator_id < -1 || options.separator_id >= options.vocab_size ||
      options.separator_id == options.blank_id) {
    throw DecoderError("separatorId must be -1 (none) or a non-blank id in [0, vocabSize), got " +
                       std::to_string(options.separator_id));
  }
  if (options.beam_size < 1 || options.beam_size > 1024) {
    throw DecoderError("beamSize must be an integer in [1, 1024], got " + std::to_string(options.beam_size));
  }
  if (!(options.token_threshold > 0)) {
    throw DecoderError("tokenThreshold must be > 0, got " + std::to_string(options.token_threshold));
  }
  if (!(options.lm_weight >= 0) || !std::isfinite(options.lm_weight)) {
    throw DecoderError("lmWeight must be a finite number >= 0, got " + std::to_string(options.lm_weight));
  }
  if (options.lm && (options.lm->vocab_size() != options.vocab_size || options.lm->blank_id() != options.blank_id)) {
    throw DecoderError("the token LM has vocab size " + std::to_string(options.lm->vocab_size()) + " and blank id " +
                       std::to_string(options.lm->blank_id()) + ", the decoder " + std::to_string(options.vocab_size) +
                       " and " + std::to_string(options.blank_id));
  }
  // Bounded, not just finite: a bonus near 1e308 sums to +Infinity within two tokens, and a candidate with an
  // acoustic -Infinity then scores NaN, which the beam cannot rank. 1e6 nats per token is beyond any useful bonus.
  if (!(std::fabs(options.lm_token_bonus) <= 1e6)) {
    throw DecoderError("lmTokenBonus must be a number in [-1e6, 1e6], got " + std::to_string(options.lm_token_bonus));
  }
  Reset();
}

void CtcPrefixBeamSearch::Reset() {
  beam_.resize(1);
  Hyp& root = beam_[0];
  root.key = 0;
  root.parent_key = 0;
  root.pb = 0;
  root.pnb = kNegInf;
  root.ctx = graph_.Start().score;  // whole words: the utterance starts after a separator
  root.ctx_state = graph_.Start().state;
  root.lm = 0;
  root.lm_state = options_.lm ? options_.lm->start_state() : 0;
  root.last_frame = -1;
  root.tokens.clear();
  root.frames.clear();
  root.probs.clear();
  frames_decoded_ = 0;
  partial_chunk_ = false;
}

CtcSearchResult CtcPrefixBeamSearch::DecodeChunk(const float* log_probs, size_t length, int64_t frames,
                                                 int32_t vocab_size) {
  RefuseIfPartial();
  const int32_t v = options_.vocab_size;
  if (vocab_size != v) {
    throw DecoderError("vocab size mismatch: decoder has " + std::to_string(v) + ", chunk has " +
                       std::to_string(vocab_size));
  }
  if (frames < 0) throw DecoderError("frames must be >= 0, got " + std::to_string(frames));
  if (static_cast<uint64_t>(frames) * static_cast<uint64_t>(v) != static_cast<uint64_t>(length)) {
    throw DecoderError("logProbs has " + std::to_string(length) + " values, expected frames x vocab = " +
                       std::to_string(frames) + " x " + std::to_string(v));
  }
  // Every value a log-probability (no NaN or +Infinity), and every frame with one above -Infinity: a row without
  // one is no posterior, every path would die and the beam would collapse onto whichever candidate has the smallest
  // key, appending an arbitrary token and ignoring the rest of the utterance.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (int64_t f = 0; f < frames; ++f) {
    bool any_finite = false;
    for (int32_t t = 0; t < v; ++t) {
      const float x = log_probs[f * v + t];
      if (std::isnan(x) || x == kInf) {
        throw DecoderError("logProbs[" + std::to_string(f * v + t) + "] (frame " + std::to_string(f) + ", token " +
                           std::to_string(t) + ") is " + (std::isnan(x) ? "NaN" : "+Infinity"));
      }
      any_finite = any_finite || x > -kInf;
    }
    if (!any_finite) throw DecoderError("logProbs frame " + std::to_string(f) + " is -Infinity for every token");
  }
  int64_t f = 0;
  try {
    for (; f < frames; ++f) DecodeFrame(log_probs + f * v);
    return Current();
  } catch (...) {
    partial_chunk_ = f > 0;  // DecodeFrame changes nothing when it throws, but frames 0 .. f-1 are decoded
    throw;
  }
}

// Changes nothing when it throws (out of memory): until the last loop, which only swaps and moves, it writes the
// scratch vectors (cands_, next_, ...) and the hotword memo, whose growth is all or nothing; DecodeChunk relies on it.
void CtcPrefixBeamSearch::DecodeFrame(const float* lp) {
  const int32_t v = options_.vocab_size;
  const int32_t blank = options_.blank_id;
  const int32_t t = static_cast<int32_t>(frames_decoded_);
  const int32_t nb = static_cast<int32_t>(beam_.size());
  const int32_t beam_size = options_.beam_size;
  const int32_t reserved = graph_.Empty() ? 0 : ctc_math::ReservedSlots(beam_size);
  top_.resize(beam_size);
  top_settled_.resize(reserved);
  num_top_ = 0;
  num_top_settled_ = 0;

  double max_lp = lp[0];
  for (int32_t c = 1; c < v; ++c) max_lp = std::max(max_lp, static_cast<double>(lp[c]));
  const double cutoff = max_lp - options_.token_threshold;
  const double lblank = lp[blank];

  // Kept candidates first (index i == beam index i), so that an extension landing on an existing prefix finds it.
  cands_.clear();
  for (int32_t i = 0; i < nb; ++i) {
    const Hyp& h = beam_[i];
    cands_.push_back({kNegInf, kNegInf, kNegInf, kNegInf, h.ctx, h.lm, 0.0, h.key, i, -1, -1, h.ctx_state, h.lm_state});
  }
  LinkChildren();

  for (int32_t i = 0; i < nb; ++i) {
    const Hyp& h = beam_[i];
    const double total = LogAddExp(h.pb, h.pnb);
    const int32_t last = h.tokens.empty() ? -1 : h.tokens.back();
    cands_[i].pb = LogAddExp(cands_[i].pb, total + lblank);
    for (int32_t c = 0; c < v; ++c) {
      if (c == blank) continue;
      const double l = lp[c];
      if (l < cutoff) continue;
      double from;
      if (c == last) {
        cands_[i].own_pnb = h.pnb + l;
        cands_[i].pnb = LogAddExp(cands_[i].pnb, cands_[i].own_pnb);
        from = h.pb + l;
      } else {
        from = total + l;
      }
      int32_t target = first_child_[i];  // the first child of h by beam index that ends in c, if any
      while (target >= 0 && beam_[target].tokens.back() != c) target = next_sibling_[target];
      if (target >= 0) {
        Cand& merged = cands_[target];
        merged.pnb = LogAddExp(merged.pnb, from);
        merged.via = i;
        merged.via_pnb = from;
      } else {
        double ctx = h.ctx;
        int32_t state = 0;
        if (!graph_.Empty()) {
          const ContextGraph::Step step = graph_.Forward(h.ctx_state, c);
          ctx += step.score;
          state = step.state;
        }
        double lm = h.lm;
        int32_t lm_state = 0;
        if (options_.lm) {
          const TokenLm::Step step = options_.lm->LogProb(h.lm_state, c);
          lm += options_.lm_weight * step.log_prob + options_.lm_token_bonus;
          lm_state = step.state;
        }
        // A new prefix's score is final here (nothing else can reach it this frame). If beam_size new prefixes
        // already score strictly higher, and `reserved` strictly higher without open bonuses, it can never survive
        // (Select): skip it. Exact, and it keeps the sort small.
        const double score = from + ctx + lm;  // == LogAddExp(-inf, from) + ctx + lm, as the sort computes it
        const double settled = reserved == 0 ? kNegInf : score - graph_.Open(state);
        if (num_top_ == beam_size && score < top_[0] &&
            (reserved == 0 || (num_top_settled_ == reserved && settled < top_settled_[0]))) {
          continue;
        }
        InsertTop(top_, num_top_, beam_size, score);
        if (reserved > 0) InsertTop(top_settled_, num_top_settled_, reserved, settled);
        cands_.push_back({kNegInf, from, kNegInf, kNegInf, ctx, lm, 0.0, NextKey(h.key, c), i, c, -1, state, lm_state});
      }
    }
  }

  const int32_t n = static_cast<int32_t>(cands_.size());
  order_.resize(n);
  for (int32_t k = 0; k < n; ++k) {
    cands_[k].score = RankScore(cands_[k]);
    order_[k] = k;
  }
  int32_t keep = std::min(n, beam_size);
  Select(keep, std::min(reserved, keep));
  while (keep > 1 && cands_[order_[keep - 1]].score == kNegInf) --keep;

  next_.resize(keep);
  // Extensions, and kept prefixes whose last token is timed anew, copy their parent's arrays, so they are built
  // before the kept prefixes move their arrays out.
  for (int32_t k = 0; k < keep; ++k) {
    const Cand& c = cands_[order_[k]];
    if (c.token < 0) {
      if (!EmittedAnew(c)) continue;
      const Hyp& q = beam_[c.via];
      Hyp& h = next_[k];
      h.frames = q.frames;
      h.probs = q.probs;
      h.frames.push_back(t);
      h.probs.push_back(Posterior(lp[beam_[c.src].tokens.back()]));
      continue;
    }
    const Hyp& p = beam_[c.src];
    Hyp& h = next_[k];
    h.key = c.key;
    h.parent_key = p.key;
    h.pb = c.pb;
    h.pnb = c.pnb;
    h.ctx = c.ctx;
    h.ctx_state = c.ctx_state;
    h.lm = c.lm;
    h.lm_state = c.lm_state;
    h.last_frame = t;
    h.tokens = p.tokens;
    h.frames = p.frames;
    h.probs = p.probs;
    h.tokens.push_back(c.token);
    h.frames.push_back(t);
    h.probs.push_back(Posterior(lp[c.token]));
  }
  for (int32_t k = 0; k < keep; ++k) {
    const Cand& c = cands_[order_[k]];
    if (c.token >= 0) continue;
    Hyp& p = beam_[c.src];
    Hyp& h = next_[k];
    h.key = p.key;
    h.parent_key = p.parent_key;
    h.pb = c.pb;
    h.pnb = c.pnb;
    h.ctx = c.ctx;
    h.ctx_state = c.ctx_state;
    h.lm = c.lm;
    h.lm_state = c.lm_state;
    h.last_frame = p.last_frame;
    h.tokens.swap(p.tokens);
    if (!EmittedAnew(c)) {
      h.frames.swap(p.frames);
      h.probs.swap(p.probs);
    }
    if (!h.tokens.empty() && c.pnb > c.pb) {
      h.last_frame = t;
      const float prob = Posterior(lp[h.tokens.back()]);
      h.probs.back() = std::max(h.probs.back(), prob);
    }
  }
  beam_.swap(next_);
  ++frames_decoded_;
}

// first_child_[i] / next_sibling_[j]: the beam prefixes that are beam_[i] plus one token, in ascending beam index,
// i being the first beam index holding the parent's key (the twin's scan finds the same). Found through a hash table
// of the keys (open addressing, at most half full), so a frame costs O(beam) here instead of O(beam^2) key
// comparisons, which were a quarter of the decode time at beam 256 (npm run bench:micro).
void CtcPrefixBeamSearch::LinkChildren() {
  const int32_t nb = static_cast<int32_t>(beam_.size());
  size_t size = 4;
  while (size < 2 * static_cast<size_t>(nb)) size *= 2;
  const size_t mask = size - 1;
  key_slots_.assign(size, -1);
  // The slot holding `key`, or the empty slot where it would go. Keys are hashes: their low bits index well.
  auto slot = [&](uint64_t key) {
    size_t s = static_cast<size_t>(key) & mask;
    while (key_slots_[s] >= 0 && beam_[key_slots_[s]].key != key) s = (s + 1) & mask;
    return s;
  };
  for (int32_t i = 0; i < nb; ++i) {
    const size_t s = slot(beam_[i].key);
    if (key_slots_[s] < 0) key_slots_[s] = i;
  }
  first_child_.assign(nb, -1);
  next_sibling_.assign(nb, -1);
  for (int32_t j = nb - 1; j >= 0; --j) {  // prepending in descending order leaves each list ascending
    if (beam_[j].tokens.empty()) continue;
    const int32_t i = key_slots_[slot(beam_[j].parent_key)];
    if (i < 0) continue;
    next_sibling_[j] = first_child_[i];
    first_child_[i] = j;
  }
}

// order_[0..keep) := the surviving candidates, best first (score, ties by key): the `reserved` best by their settled
// score (ties by key), then the best of the rest by score. Why reserved slots: an open hotword match carries its
// bonus so far, so hypotheses inside one can fill the whole beam and push out every reading that does not match;
// when the match then fails (or the utterance ends inside it) the bonus is taken back, and the final can only choose
// among the leftovers, e.g. a hotword cut short ("conscien" for "conscience" said otherwise). #select() in the twin.
void CtcPrefixBeamSearch::Select(int32_t keep, int32_t reserved) {
  auto better = [this](int32_t a, int32_t b) {
    const Cand& x = cands_[a];
    const Cand& y = cands_[b];
    if (x.score != y.score) return x.score > y.score;
    return x.key < y.key;
  };
  if (reserved == 0) {
    std::partial_sort(order_.begin(), order_.begin() + keep, order_.end(), better);
    return;
  }
  // a candidate's score less its open match's bonus: derived here, so a decoder without hotwords never looks it up
  auto settled_better = [this](int32_t a, int32_t b) {
    const Cand& x = cands_[a];
    const Cand& y = cands_[b];
    const double sx = x.score - graph_.Open(x.ctx_state);
    const double sy = y.score - graph_.Open(y.ctx_state);
    if (sx != sy) return sx > sy;
    return x.key < y.key;
  };
  std::partial_sort(order_.begin(), order_.begin() + reserved, order_.end(), settled_better);
  std::partial_sort(order_.begin() + reserved, order_.begin() + keep, order_.end(), better);
  std::sort(order_.begin(), order_.begin() + keep, better);
}

void CtcPrefixBeamSearch::SortBeam() {
  std::sort(beam_.begin(), beam_.end(), [](const Hyp& x, const Hyp& y) {
    const double sx = RankScore(x);
    const double sy = RankScore(y);
    if (sx != sy) return sx > sy;
    return x.key < y.key;
  });
}

void CtcPrefixBeamSearch::SetHotwords(ContextGraph graph) {
  if (graph.SeparatorId() != options_.separator_id) {
    throw DecoderError("hotwords built for separator " + std::to_string(graph.SeparatorId()) + ", the decoder's is " +
                       std::to_string(options_.separator_id));
  }
  // Rescored aside first: the walk memoises rows of the new automaton, which can run out of memory, and the beam
  // must then keep its old list whole, not the new automaton with some beams scored by the old one. What follows
  // the walk cannot throw (moves, and a sort that swaps).
  std::vector<ContextGraph::Step> rescored(beam_.size());
  for (size_t i = 0; i < beam_.size(); ++i) {
    double ctx = graph.Start().score;
    int32_t state = graph.Start().state;
    for (int32_t token : beam_[i].tokens) {
      const ContextGraph::Step step = graph.Forward(state, token);
      ctx += step.score;
      state = step.state;
    }
    rescored[i] = {ctx, state};
  }
  graph_ = std::move(graph);
  for (size_t i = 0; i < beam_.size(); ++i) {
    beam_[i].ctx = rescored[i].score;
    beam_[i].ctx_state = rescored[i].state;
  }
  SortBeam();
}

}  // namespace voxgate
