// Token n-gram language model as a backoff automaton, for shallow fusion in the CTC prefix beam search.
//
// Why an automaton: the search keeps one LM state (an int) per prefix and pays a few array lookups per candidate
// token; no strings, no hashing. The file format and how it is built: training/voxgate_train/token_lm.py.
//   LogProb(s, t): if state s has an arc for token t, its (already interpolated) log-prob and next state; else
//   backoff_log_weight[s] + LogProb(backoff_state[s], t). State 0 (empty history) has an arc for every token the
//   model can emit, so every query ends there at the latest.
// The constructor validates every index, so a corrupt file is an error, never an out-of-range read.
// TypeScript twin: src/inference/token-lm.ts (same arithmetic in float64 over the float32 tables).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace voxgate {

class TokenLmError : public std::runtime_error {
 public:
  explicit TokenLmError(const std::string& message) : std::runtime_error(message) {}
};

struct TokenLmTables {
  int32_t vocab_size = 0;
  int32_t blank_id = 0;
  int32_t start_state = 0;
  std::vector<int32_t> arc_start;          // num_states + 1
  std::vector<int32_t> backoff_state;      // num_states; -1 for state 0
  std::vector<float> backoff_log_weight;   // num_states
  std::vector<float> final_log_prob;       // num_states
  std::vector<int32_t> arc_token;          // num_arcs, sorted by token within a state
  std::vector<int32_t> arc_next;           // num_arcs
  std::vector<float> arc_log_prob;         // num_arcs
};

class TokenLm {
 public:
  struct Step {
    double log_prob;
    int32_t state;
  };

  explicit TokenLm(TokenLmTables tables);  // throws TokenLmError

  int32_t start_state() const { return t_.start_state; }
  int32_t vocab_size() const { return t_.vocab_size; }
  int32_t blank_id() const { return t_.blank_id; }
  int32_t num_states() const { return static_cast<int32_t>(t_.backoff_state.size()); }

  /// log P(token | state) and the next state. token must be a non-blank id in [0, vocab_size) (the caller's check).
  Step LogProb(int32_t state, int32_t token) const;

  /// log P(end of utterance | state).
  double FinalLogProb(int32_t state) const { return t_.final_log_prob[state]; }

 private:
  TokenLmTables t_;
};

}  // namespace voxgate
