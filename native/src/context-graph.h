// Aho-Corasick automaton over token ids for contextual biasing (hotwords).
//
// Scoring follows the icefall / sherpa-onnx ContextGraph in strict mode:
// - every trie node carries token_score (the per-token boost, max over the phrases sharing the node), node_score
//   (sum of token scores from the root), phrase_score (at a phrase end: that phrase's own boost x its length) and
//   output_score (phrase_score of every phrase that ends here or on the node's output chain);
// - matching a child adds its token_score; a mismatch follows failure links and adds
//   node_score(new) - node_score(old), which removes the bonus of an unfinished match;
// - reaching a phrase end also adds its output_score, so that a completed phrase keeps its bonus after the
//   automaton moves on; Finalize() removes the bonus of a match still open at the end of the utterance.
// Unlike icefall / sherpa-onnx, a completed phrase keeps its own boost, not the largest of the phrases sharing its
// tokens: with "john" at 1 and "johnson" at 8, "john smith" holds 4 (the protocol's "bonus per matched token" of
// "john"), not 32; while the match is open the shared prefix holds 8 per token, so "johnson" is not handicapped.
//
// Whole words (a separator id >= 0, the model's word separator): each phrase is stored as [separator, phrase,
// separator], the two boundary separators at token_score 0 for it (a trie node takes the max over the phrases
// sharing it, so an inner separator of another phrase keeps that phrase's boost there), and its phrase_score stays
// boost x its own token count. A leading or trailing separator given in a phrase is a boundary, not a token of it; a
// phrase of separators alone matches nothing; a separator inside a phrase (two words) is an ordinary token. An
// utterance starts in Start(), the state after a separator, and Finalize() reads a separator before it removes the
// bonus of an unfinished match, so a phrase neither completes nor opens a match inside a longer word ("baskin" in
// "baskins"), and the utterance's first and last words match. Without a separator (-1) a phrase matches anywhere.
// TypeScript twin: src/inference/context-graph.ts, kept in the same order of operations.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace voxgate {

class ContextGraph {
 public:
  struct Step {
    double score;   // score delta for this token
    int32_t state;  // automaton state after the token
  };

  /// An empty graph (root only): every step scores 0.
  ContextGraph();

  /// phrases[i] are token ids in [0, vocab_size) (non-empty), boosts[i] the per-token bonus of phrase i (finite;
  /// clamped to +-1e6 so that no score overflows); separator_id: -1, or the word separator (whole-word matching, see
  /// above). Validation is the caller's.
  ContextGraph(const std::vector<std::vector<int32_t>>& phrases, const std::vector<double>& boosts,
               int32_t vocab_size, int32_t separator_id = -1);

  /// Score delta and next state. Rows of the full transition table are memoised on first use (up to a memory cap;
  /// beyond it the failure links are walked each time), so the beam search pays O(1) per candidate. Out of memory
  /// for a row throws std::bad_alloc and leaves the memo as it was.
  Step Forward(int32_t state, int32_t token);

  /// Score delta and state of an utterance's start: after a separator (whole words), else the root.
  Step Start() const { return start_; }

  /// Score delta at end of utterance: completes a phrase whose last token was read (whole words: a separator is read
  /// first), then removes the bonus of an unfinished match.
  double Finalize(int32_t state) const { return final_[state]; }

  /// The bonus of the match open at `state` (its tokens' boosts so far), which a mismatch or the utterance's end takes
  /// back: a hypothesis's context score minus this is what its completed phrases hold.
  double Open(int32_t state) const { return nodes_[state].node_score; }

  int32_t SeparatorId() const { return separator_id_; }

  bool Empty() const { return nodes_.size() == 1; }
  int32_t NumNodes() const { return static_cast<int32_t>(nodes_.size()); }

 private:
  struct Node {
    int32_t token = -1;
    double token_score = 0;
    double node_score = 0;
    double phrase_score = 0;  // is_end: the largest of (boost x length) of the phrases ending here
    double output_score = 0;
    bool is_end = false;
    int32_t fail = 0;
    int32_t output = -1;
    std::vector<std::pair<int32_t, int32_t>> next;  // (token, child), sorted by token
  };

  int32_t Child(int32_t node, int32_t token) const;
  int32_t AddChild(int32_t node, int32_t token, double token_score);
  Step ForwardSlow(int32_t state, int32_t token) const;

  std::vector<Node> nodes_;
  int32_t vocab_size_ = 0;
  int32_t separator_id_ = -1;
  Step start_{0, 0};
  std::vector<double> final_;    // node -> Finalize()
  std::vector<int32_t> row_of_;  // node -> row in rows_, -1: not memoised
  std::vector<Step> rows_;       // memoised transitions, vocab_size_ per row
};

}  // namespace voxgate
