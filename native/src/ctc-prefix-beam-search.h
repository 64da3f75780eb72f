// Streaming CTC prefix beam search with contextual biasing. Pure C++17, no Node headers.
//
// One object per utterance stream: beams persist between DecodeChunk() calls, so feeding a matrix in any chunking
// gives exactly the result of feeding it at once. Per prefix the search keeps (p_blank, p_nonblank) in natural-log
// space plus a context (hotword) score and, with a token LM (shallow fusion), an LM score: lm_weight x log P_lm of
// each token + lm_token_bonus per token (the bonus offsets the LM's per-token cost, which would otherwise favour
// deletions), and lm_weight x log P_lm(end) at Finalize(). Candidates are ranked by logaddexp(p_blank, p_nonblank) +
// context + LM, ties by key; with hotwords a quarter of the beam goes to the best by that score less the bonus of
// their open hotword match (Select). A prefix is identified by a 53-bit hash of (parent key, token) (53 bits so that
// the TypeScript twin can hold it in a double). TypeScript twin: src/inference/ctc-prefix-beam-search.ts. Keep both
// in the same order of operations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "context-graph.h"
#include "token-lm.h"

namespace voxgate {

/// Invalid input or options, or a call refused after a partly decoded chunk (see DecodeChunk). The decoder state is
/// unchanged when this is thrown.
class DecoderError : public std::runtime_error {
 public:
  explicit DecoderError(const std::string& message) : std::runtime_error(message) {}
};

struct CtcSearchOptions {
  int32_t vocab_size = 0;
  int32_t blank_id = 0;
  /// Word separator: hotwords match whole words (context-graph.h); -1: none, a phrase matches anywhere.
  int32_t separator_id = -1;
  int32_t beam_size = 8;
  /// Non-blank tokens whose log-prob is below (frame max - token_threshold) are skipped (nats; +inf: none).
  double token_threshold = 10.0;
  /// Optional shared token LM (same vocab size and blank id); null: no fusion.
  std::shared_ptr<const TokenLm> lm;
  double lm_weight = 0.6;       // >= 0
  double lm_token_bonus = 0.5;  // in [-1e6, 1e6], nats per emitted token
};

struct CtcSearchResult {
  std::vector<int32_t> tokens;   // best hypothesis, token ids
  // Frame of each token's emission (its first frame), utterance-relative, and its max posterior over the frames it was
  // held (at most 1), both on the path that carries the prefix: when the parent's emission of the last token at a
  // frame outweighs the prefix's own paths, it replaces them (a faint early path to the prefix does not time it).
  std::vector<int32_t> frames;
  std::vector<float> probs;
  double score = 0;              // log score incl. context bonus and LM score
  int32_t stable_prefix_length = 0;
  int32_t trailing_blank_frames = 0;
  int64_t frames_decoded = 0;
};

/// One live hypothesis ranked as Finalize() ranks them (n-best lists).
struct CtcAlternative {
  std::vector<int32_t> tokens;
  double score = 0;  // Finalize()'s score: unfinished hotword bonuses removed, LM end-of-utterance added
};

class CtcPrefixBeamSearch {
 public:
  explicit CtcPrefixBeamSearch(const CtcSearchOptions& options);  // throws DecoderError

  /// log_probs: frames x vocab_size row-major natural-log posteriors. Validates everything before touching state.
  /// Returns Current() after the chunk. Out of memory (std::bad_alloc) in a frame leaves the beam as it was before
  /// that frame. In the chunk's first frame that is the state before the call; in a later one, or in building the
  /// result, the chunk is decoded in part or whole without its caller knowing, which no caller can resume: this,
  /// Current(), Finalize() and FinalAlternatives() then throw DecoderError until Reset().
  CtcSearchResult DecodeChunk(const float* log_probs, size_t length, int64_t frames, int32_t vocab_size);

  /// Best hypothesis so far (unfinished hotword bonuses included, as in the ranking).
  CtcSearchResult Current() const;

  /// Best hypothesis with unfinished hotword bonuses removed and the LM's end-of-utterance score added; then resets
  /// for the next utterance.
  CtcSearchResult Finalize();

  /// Every live hypothesis with the score Finalize() would give it, best first (ties by key), so element 0 is what
  /// Finalize() returns. Read-only: call it before Finalize().
  std::vector<CtcAlternative> FinalAlternatives() const;

  /// Clears the search state (hotwords stay), a partly decoded chunk's refusal included.
  void Reset();

  /// Replaces the hotwords. Existing beams are rescored by walking their tokens through the new automaton from its
  /// start, as if the new list had applied from the start of the utterance; then the beam is re-sorted. Out of memory
  /// keeps the old list and scores. The graph must have been built with options().separator_id (DecoderError).
  void SetHotwords(ContextGraph graph);

  const CtcSearchOptions& options() const { return options_; }
  int64_t frames_decoded() const { return frames_decoded_; }

 private:
  struct Hyp {
    uint64_t key = 0;
    uint64_t parent_key = 0;
    double pb = 0;
    double pnb = 0;
    double ctx = 0;
    int32_t ctx_state = 0;
    double lm = 0;
    int32_t lm_state = 0;
    int32_t last_frame = -1;  // last frame where the non-blank ending dominated
    std::vector<int32_t> tokens;
    std::vector<int32_t> frames;
    std::vector<float> probs;
  };
  struct Cand {
    double pb, pnb;
    double own_pnb;  // kept prefix: its own paths ending in its last token at this frame (held since the last one)
    double via_pnb;  // kept prefix: the path on which its parent emits the last token anew at this frame
    double ctx, lm, score;
    uint64_t key;
    int32_t src;    // index in beam_
    int32_t token;  // -1: same prefix as beam_[src]; else beam_[src] + token
    int32_t via;    // kept prefix: beam index of the parent that emitted its last token anew at this frame, or -1
    int32_t ctx_state, lm_state;
  };

  void DecodeFrame(const float* lp);
  void LinkChildren();
  void RefuseIfPartial() const;
  void SortBeam();
  void Select(int32_t keep, int32_t reserved);
  CtcSearchResult MakeResult(const Hyp& h, double score, int32_t stable) const;
  double FinalScore(const Hyp& h) const;

  CtcSearchOptions options_;
  ContextGraph graph_;
  std::vector<Hyp> beam_, next_;
  std::vector<Cand> cands_;
  std::vector<int32_t> order_, first_child_, next_sibling_, key_slots_;
  std::vector<double> top_, top_settled_;
  int32_t num_top_ = 0, num_top_settled_ = 0;
  int64_t frames_decoded_ = 0;
  bool partial_chunk_ = false;  // a chunk ran out of memory after some of its frames: refuse until Reset()
};

}  // namespace voxgate
