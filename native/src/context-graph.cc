#include "context-graph.h"

#include <algorithm>
#include <cstddef>

namespace voxgate {

ContextGraph::ContextGraph() : nodes_(1), final_(1, 0.0), row_of_(1, -1) {}

namespace {
constexpr size_t kMaxMemoSteps = size_t{1} << 15;  // 512 KiB of memoised transitions per graph
// Why a cap: a boost near 1e308 (finite, so callers accept it) overflows a phrase's node_score to +-inf, and a
// mismatch then scores inf - inf = NaN, which no beam can rank. 1e6 nats per token already outweighs any acoustic
// score (tens of nats; the protocol allows 20), and sums of it over any phrase or utterance stay finite.
constexpr double kMaxBoost = 1e6;
}  // namespace

ContextGraph::ContextGraph(const std::vector<std::vector<int32_t>>& phrases, const std::vector<double>& boosts,
                           int32_t vocab_size, int32_t separator_id)
    : nodes_(1), vocab_size_(vocab_size), separator_id_(separator_id) {
  // 1. Trie. A node shared by several phrases takes the largest boost among them (0 for a phrase's boundary).
  const bool whole_words = separator_id >= 0;
  for (size_t i = 0; i < phrases.size(); ++i) {
    const double boost = std::clamp(boosts[i], -kMaxBoost, kMaxBoost);
    auto begin = phrases[i].begin();
    auto end = phrases[i].end();
    if (whole_words) {
      while (begin != end && *begin == separator_id) ++begin;
      while (begin != end && *(end - 1) == separator_id) --end;
      if (begin == end) continue;  // separators alone: no word to match
    }
    int32_t node = whole_words ? AddChild(0, separator_id, 0.0) : 0;
    for (auto it = begin; it != end; ++it) node = AddChild(node, *it, boost);
    if (whole_words) node = AddChild(node, separator_id, 0.0);
    // The same tokens twice (two spellings of one word): the larger bonus, as for token_score.
    const double phrase_score = boost * static_cast<double>(end - begin);
    nodes_[node].phrase_score = nodes_[node].is_end ? std::max(nodes_[node].phrase_score, phrase_score) : phrase_score;
    nodes_[node].is_end = true;
  }
  // 2. Breadth-first, children in ascending token order: node scores, failure and output links.
  std::vector<int32_t> queue{0};
  for (size_t head = 0; head < queue.size(); ++head) {
    const int32_t u = queue[head];
    for (const auto& edge : nodes_[u].next) {
      const int32_t token = edge.first;
      const int32_t v = edge.second;
      Node& nv = nodes_[v];
      nv.node_score = nodes_[u].node_score + nv.token_score;
      int32_t fail = 0;
      if (u != 0) {
        int32_t f = nodes_[u].fail;
        while (f != 0 && Child(f, token) < 0) f = nodes_[f].fail;
        const int32_t c = Child(f, token);
        fail = c >= 0 ? c : 0;
      }
      nv.fail = fail;
      for (int32_t o = fail; o != 0; o = nodes_[o].fail) {
        if (nodes_[o].is_end) {
          nv.output = o;
          break;
        }
      }
      nv.output_score = (nv.is_end ? nv.phrase_score : 0.0) + (nv.output >= 0 ? nodes_[nv.output].output_score : 0.0);
      queue.push_back(v);
    }
  }
  // 3. The utterance's start and end: whole words read a separator there. Precomputed, so that Finalize() is const
  // and costs nothing per hypothesis.
  final_.resize(nodes_.size());
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (whole_words) {
      const Step step = ForwardSlow(static_cast<int32_t>(n), separator_id);
      final_[n] = step.score - nodes_[step.state].node_score;
    } else {
      final_[n] = -nodes_[n].node_score;
    }
  }
  if (whole_words) start_ = ForwardSlow(0, separator_id);
  row_of_.assign(nodes_.size(), -1);
}

int32_t ContextGraph::Child(int32_t node, int32_t token) const {
  const auto& next = nodes_[node].next;
  auto pos = std::lower_bound(next.begin(), next.end(), std::make_pair(token, int32_t{-1}));
  return (pos != next.end() && pos->first == token) ? pos->second : -1;
}

int32_t ContextGraph::AddChild(int32_t node, int32_t token, double token_score) {
  int32_t child = Child(node, token);
  if (child >= 0) {
    nodes_[child].token_score = std::max(nodes_[child].token_score, token_score);
    return child;
  }
  child = static_cast<int32_t>(nodes_.size());
  Node n;
  n.token = token;
  n.token_score = token_score;
  nodes_.push_back(std::move(n));
  auto& next = nodes_[node].next;
  auto pos = std::lower_bound(next.begin(), next.end(), std::make_pair(token, int32_t{-1}));
  next.insert(pos, {token, child});
  return child;
}

ContextGraph::Step ContextGraph::Forward(int32_t state, int32_t token) {
  int32_t row = row_of_[state];
  if (row < 0) {
    if (vocab_size_ <= 0 || rows_.size() + vocab_size_ > kMaxMemoSteps) return ForwardSlow(state, token);
    const size_t at = rows_.size();
    // One allocation for the whole row, before anything changes: out of memory leaves the memo as it was. (Rows
    // pushed one by one would leave a partial row behind, and the next row's index, rows_.size() / vocab_size_,
    // would then point into it: wrong scores from then on.)
    rows_.resize(at + vocab_size_);
    for (int32_t c = 0; c < vocab_size_; ++c) rows_[at + c] = ForwardSlow(state, c);
    row = static_cast<int32_t>(at / vocab_size_);
    row_of_[state] = row;
  }
  return rows_[static_cast<size_t>(row) * vocab_size_ + token];
}

ContextGraph::Step ContextGraph::ForwardSlow(int32_t state, int32_t token) const {
  int32_t node = Child(state, token);
  double score;
  if (node >= 0) {
    score = nodes_[node].token_score;
  } else {
    node = nodes_[state].fail;
    while (node != 0 && Child(node, token) < 0) node = nodes_[node].fail;
    const int32_t c = Child(node, token);
    if (c >= 0) node = c;
    score = nodes_[node].node_score - nodes_[state].node_score;
  }
  return {score + nodes_[node].output_score, node};
}

}  // namespace voxgate
