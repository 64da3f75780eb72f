#include "token-lm.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace voxgate {
namespace {

[[noreturn]] void Bad(const std::string& what) { throw TokenLmError("token LM: " + what); }

}  // namespace

TokenLm::TokenLm(TokenLmTables tables) : t_(std::move(tables)) {
  const size_t s = t_.backoff_state.size();
  const size_t a = t_.arc_token.size();
  if (s < 1) Bad("no states");
  if (t_.vocab_size < 2) Bad("vocab size " + std::to_string(t_.vocab_size) + " < 2");
  if (t_.blank_id < 0 || t_.blank_id >= t_.vocab_size) Bad("blank id " + std::to_string(t_.blank_id) + " out of range");
  if (t_.arc_start.size() != s + 1 || t_.backoff_log_weight.size() != s || t_.final_log_prob.size() != s) {
    Bad("state tables differ in length");
  }
  if (t_.arc_next.size() != a || t_.arc_log_prob.size() != a) Bad("arc tables differ in length");
  if (t_.start_state < 0 || static_cast<size_t>(t_.start_state) >= s) Bad("start state out of range");
  if (t_.arc_start[0] != 0 || static_cast<size_t>(t_.arc_start[s]) != a) Bad("arc_start does not span the arcs");
  // Monotone first, over all states: only then does every state's arc range lie in [0, a) (a state's range is read
  // below before a later decrease would be seen).
  for (size_t i = 0; i < s; ++i) {
    if (t_.arc_start[i + 1] < t_.arc_start[i]) Bad("arc_start decreases at state " + std::to_string(i));
  }
  for (size_t i = 0; i < s; ++i) {
    const int32_t b = t_.backoff_state[i];
    // Backoff goes to a shorter history, which the builder numbers lower: a chain always reaches state 0.
    if (i == 0 ? b != -1 : (b < 0 || static_cast<size_t>(b) >= i)) {
      Bad("backoff state of state " + std::to_string(i) + " is " + std::to_string(b));
    }
    // -inf is as bad as NaN here: lmWeight x -inf is NaN at weight 0, and it would end a beam's hypothesis outright
    const bool final_ok = std::isfinite(t_.final_log_prob[i]) && t_.final_log_prob[i] <= 0;
    if (!std::isfinite(t_.backoff_log_weight[i]) || !final_ok) {
      Bad("state " + std::to_string(i) + " has a non-finite weight");
    }
    for (int32_t k = t_.arc_start[i]; k < t_.arc_start[i + 1]; ++k) {
      const int32_t tok = t_.arc_token[k];
      if (tok < 0 || tok >= t_.vocab_size || tok == t_.blank_id) Bad("arc token " + std::to_string(tok));
      if (k > t_.arc_start[i] && t_.arc_token[k - 1] >= tok) Bad("arcs of state " + std::to_string(i) + " unsorted");
      if (t_.arc_next[k] < 0 || static_cast<size_t>(t_.arc_next[k]) >= s) Bad("arc next state out of range");
      if (!std::isfinite(t_.arc_log_prob[k]) || !(t_.arc_log_prob[k] <= 0)) Bad("arc log-prob not finite and <= 0");
    }
  }
  if (t_.arc_start[1] - t_.arc_start[0] != t_.vocab_size - 1) Bad("state 0 must have an arc for every non-blank token");
}

TokenLm::Step TokenLm::LogProb(int32_t state, int32_t token) const {
  double backoff = 0;
  for (;;) {
    const int32_t* first = t_.arc_token.data() + t_.arc_start[state];
    const int32_t* last = t_.arc_token.data() + t_.arc_start[state + 1];
    const int32_t* it = std::lower_bound(first, last, token);
    if (it != last && *it == token) {
      const size_t k = static_cast<size_t>(it - t_.arc_token.data());
      return {backoff + static_cast<double>(t_.arc_log_prob[k]), t_.arc_next[k]};
    }
    backoff += static_cast<double>(t_.backoff_log_weight[state]);
    state = t_.backoff_state[state];
  }
}

}  // namespace voxgate
