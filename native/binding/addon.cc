// Thin node-addon-api layer over native/src: typed arrays in and out, errors as Napi::Error with a `code`.
// Loaded only by src/inference/native-addon.ts. Calls are synchronous: one 160 ms chunk takes microseconds.
// This file holds the decoder and the token LM and registers every class; the DSP classes are in dsp-binding.cc.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../src/context-graph.h"
#include "../src/ctc-prefix-beam-search.h"
#include "../src/token-lm.h"
#include "binding-util.h"

namespace voxgate_binding {
namespace {

// A result crosses as one ArrayBuffer (tokens | frames | probs, n x 4 bytes each) plus four scalars written into
// the caller's Float64Array [score, stablePrefixLength, trailingBlankFrames, framesDecoded]: one allocation and no
// named-property stores per call (those cost more than decoding a 160 ms chunk).
Napi::ArrayBuffer ToJs(Napi::Env env, const voxgate::CtcSearchResult& r, Napi::Float64Array scalars) {
  const size_t n = r.tokens.size();
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, n * 12);
  auto* bytes = static_cast<uint8_t*>(buffer.Data());
  if (n > 0) {
    std::memcpy(bytes, r.tokens.data(), n * 4);
    std::memcpy(bytes + n * 4, r.frames.data(), n * 4);
    std::memcpy(bytes + n * 8, r.probs.data(), n * 4);
  }
  scalars[0] = r.score;
  scalars[1] = r.stable_prefix_length;
  scalars[2] = r.trailing_blank_frames;
  scalars[3] = static_cast<double>(r.frames_decoded);
  return buffer;
}

Napi::Float64Array ScalarsArg(const Napi::CallbackInfo& info, size_t i) {
  auto out = TypedArg<double>(info, i, napi_float64_array, "scalars must be a Float64Array(4)");
  if (out.ElementLength() < 4) ThrowCoded(info.Env(), "scalars must be a Float64Array(4)");
  return out;
}

template <typename T>
std::vector<T> CopyArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what) {
  auto a = TypedArg<T>(info, i, type, what);
  return std::vector<T>(a.Data(), a.Data() + a.ElementLength());
}

// The constructor of TokenLm, kept per environment so that CtcDecoder can tell a real TokenLm from any object.
struct AddonData {
  Napi::FunctionReference token_lm;
};

// new TokenLm({vocabSize, blankId, startState}, arcStart, backoffState, backoffLogWeight, finalLogProb, arcToken,
//             arcNext, arcLogProb): Int32Array / Float32Array tables of training/voxgate_train/token_lm.py. Copied,
// validated, then shared (read-only) by every decoder given it.
class TokenLmWrap : public Napi::ObjectWrap<TokenLmWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TokenLm", {InstanceAccessor<&TokenLmWrap::NumStates>("numStates")});
  }

  explicit TokenLmWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TokenLmWrap>(info) {
    Napi::Env env = info.Env();
    Guarded(env, "token LM", kDecoderError, [&] {
      if (info.Length() < 8 || !info[0].IsObject()) ThrowCoded(env, "TokenLm(header, 7 tables) expected");
      Napi::Object o = info[0].As<Napi::Object>();
      voxgate::TokenLmTables t;
      t.vocab_size = IntOption(env, o, "vocabSize", 0);
      t.blank_id = IntOption(env, o, "blankId", 0);
      t.start_state = IntOption(env, o, "startState", 0);
      t.arc_start = CopyArg<int32_t>(info, 1, napi_int32_array, "arcStart must be an Int32Array");
      t.backoff_state = CopyArg<int32_t>(info, 2, napi_int32_array, "backoffState must be an Int32Array");
      t.backoff_log_weight = CopyArg<float>(info, 3, napi_float32_array, "backoffLogWeight must be a Float32Array");
      t.final_log_prob = CopyArg<float>(info, 4, napi_float32_array, "finalLogProb must be a Float32Array");
      t.arc_token = CopyArg<int32_t>(info, 5, napi_int32_array, "arcToken must be an Int32Array");
      t.arc_next = CopyArg<int32_t>(info, 6, napi_int32_array, "arcNext must be an Int32Array");
      t.arc_log_prob = CopyArg<float>(info, 7, napi_float32_array, "arcLogProb must be a Float32Array");
      lm_ = std::make_shared<const voxgate::TokenLm>(std::move(t));
    });
  }

  std::shared_ptr<const voxgate::TokenLm> lm() const { return lm_; }

 private:
  Napi::Value NumStates(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), lm_->num_states()); }

  std::shared_ptr<const voxgate::TokenLm> lm_;
};

class CtcDecoderWrap : public Napi::ObjectWrap<CtcDecoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CtcDecoder",
                       {
                           InstanceMethod<&CtcDecoderWrap::DecodeChunk>("decodeChunk"),
                           InstanceMethod<&CtcDecoderWrap::Current>("current"),
                           InstanceMethod<&CtcDecoderWrap::Finalize>("finalize"),
                           InstanceMethod<&CtcDecoderWrap::FinalAlternatives>("finalAlternatives"),
                           InstanceMethod<&CtcDecoderWrap::Reset>("reset"),
                           InstanceMethod<&CtcDecoderWrap::SetHotwords>("setHotwords"),
                           InstanceAccessor<&CtcDecoderWrap::FramesDecoded>("framesDecoded"),
                       });
  }

  // new CtcDecoder({vocabSize, blankId, separatorId, beamSize, tokenThreshold, lm?: TokenLm, lmWeight, lmTokenBonus})
  explicit CtcDecoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CtcDecoderWrap>(info) {
    Guarded(info.Env(), "decoder", kDecoderError, [&] { Construct(info); });
  }
  // The ObjectWrap finalizer deletes this object when the JS wrapper is collected; search_ goes with it.

 private:
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, "CtcDecoder options must be an object");
    Napi::Object o = info[0].As<Napi::Object>();
    voxgate::CtcSearchOptions opts;
    opts.vocab_size = IntOption(env, o, "vocabSize", 0);
    opts.blank_id = IntOption(env, o, "blankId", 0);
    opts.separator_id = IntOption(env, o, "separatorId", -1);
    opts.beam_size = IntOption(env, o, "beamSize", 8);
    opts.token_threshold = NumberOption(env, o, "tokenThreshold", 10.0);
    opts.lm_weight = NumberOption(env, o, "lmWeight", 0.6);
    opts.lm_token_bonus = NumberOption(env, o, "lmTokenBonus", 0.5);
    Napi::Value lm = o.Get("lm");
    if (!lm.IsUndefined() && !lm.IsNull()) {
      if (!lm.IsObject() || !lm.As<Napi::Object>().InstanceOf(env.GetInstanceData<AddonData>()->token_lm.Value())) {
        ThrowCoded(env, "lm must be a TokenLm");
      }
      // instanceof only checks the prototype chain: Object.create(TokenLm.prototype) passes it but wraps nothing,
      // and Unwrap then throws an uncoded napi error.
      TokenLmWrap* wrap = nullptr;
      try {
        wrap = TokenLmWrap::Unwrap(lm.As<Napi::Object>());
      } catch (const Napi::Error&) {
        wrap = nullptr;
      }
      if (wrap == nullptr || !wrap->lm()) ThrowCoded(env, "lm must be a TokenLm");
      opts.lm = wrap->lm();
    }
    search_ = std::make_unique<voxgate::CtcPrefixBeamSearch>(opts);
  }

  // Every method runs in Guarded: out of memory is a GW_ERR_DECODER error, and the core leaves the search as it was
  // (or refusing until reset(), after a chunk it decoded only part of).
  template <typename Body>
  auto Run(const Napi::CallbackInfo& info, Body&& body) -> decltype(body()) {
    return Guarded(info.Env(), "decoder", kDecoderError, std::forward<Body>(body));
  }

  // decodeChunk(logProbs: Float32Array, frames, vocabSize, scalars: Float64Array(4)) -> ArrayBuffer
  Napi::Value DecodeChunk(const Napi::CallbackInfo& info) {
    return Run(info, [&] {
      Napi::Env env = info.Env();
      auto lp = TypedArg<float>(info, 0, napi_float32_array, "logProbs must be a Float32Array");
      auto scalars = ScalarsArg(info, 3);
      if (info.Length() < 3 || !info[1].IsNumber() || !info[2].IsNumber()) {
        ThrowCoded(env, "decodeChunk(logProbs, frames, vocabSize): frames and vocabSize must be numbers");
      }
      const double frames = info[1].As<Napi::Number>().DoubleValue();
      const double vocab = info[2].As<Napi::Number>().DoubleValue();
      if (std::floor(frames) != frames || frames < 0 || frames > 1e9) {
        ThrowCoded(env, "frames must be a non-negative integer, got " + std::to_string(frames));
      }
      if (std::floor(vocab) != vocab || vocab < 0 || vocab > 2147483647.0) {
        ThrowCoded(env, "vocabSize must be a non-negative integer, got " + std::to_string(vocab));
      }
      return ToJs(env,
                  search_->DecodeChunk(lp.Data(), lp.ElementLength(), static_cast<int64_t>(frames),
                                       static_cast<int32_t>(vocab)),
                  scalars);
    });
  }

  // current(scalars) -> ArrayBuffer
  Napi::Value Current(const Napi::CallbackInfo& info) {
    return Run(info, [&] { return ToJs(info.Env(), search_->Current(), ScalarsArg(info, 0)); });
  }

  // finalize(scalars) -> ArrayBuffer
  Napi::Value Finalize(const Napi::CallbackInfo& info) {
    return Run(info, [&] {
      auto scalars = ScalarsArg(info, 0);
      return ToJs(info.Env(), search_->Finalize(), scalars);
    });
  }

  // finalAlternatives(scores: Float64Array) -> ArrayBuffer of Int32 [count, length_0 .. length_{count-1}, tokens of
  // each, concatenated]; scores[i] gets alternative i's score. scores must hold beamSize values (every hypothesis).
  Napi::Value FinalAlternatives(const Napi::CallbackInfo& info) {
    return Run(info, [&] {
      Napi::Env env = info.Env();
      auto scores = TypedArg<double>(info, 0, napi_float64_array, "scores must be a Float64Array(beamSize)");
      if (scores.ElementLength() < static_cast<size_t>(search_->options().beam_size)) {
        ThrowCoded(env, "scores must be a Float64Array(beamSize)");
      }
      const std::vector<voxgate::CtcAlternative> alts = search_->FinalAlternatives();
      size_t total = 1 + alts.size();
      for (const auto& a : alts) total += a.tokens.size();
      Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, total * 4);
      auto* out = static_cast<int32_t*>(buffer.Data());
      out[0] = static_cast<int32_t>(alts.size());
      size_t pos = 1 + alts.size();
      for (size_t i = 0; i < alts.size(); ++i) {
        out[1 + i] = static_cast<int32_t>(alts[i].tokens.size());
        if (!alts[i].tokens.empty()) std::memcpy(out + pos, alts[i].tokens.data(), alts[i].tokens.size() * 4);
        pos += alts[i].tokens.size();
        scores[i] = alts[i].score;
      }
      return buffer;
    });
  }

  void Reset(const Napi::CallbackInfo& info) {
    Run(info, [&] { search_->Reset(); });
  }

  // setHotwords(tokenIds: Int32Array (all phrases concatenated), lengths: Int32Array, boosts: Float64Array). The new
  // automaton is built whole before the search takes it: a failure keeps the old list.
  void SetHotwords(const Napi::CallbackInfo& info) {
    Run(info, [&] {
      Napi::Env env = info.Env();
      auto ids = TypedArg<int32_t>(info, 0, napi_int32_array, "hotword tokenIds must be an Int32Array");
      auto lengths = TypedArg<int32_t>(info, 1, napi_int32_array, "hotword lengths must be an Int32Array");
      auto boosts = TypedArg<double>(info, 2, napi_float64_array, "hotword boosts must be a Float64Array");
      const size_t n = lengths.ElementLength();
      if (boosts.ElementLength() != n) ThrowCoded(env, "hotword lengths and boosts differ in length");
      const int32_t v = search_->options().vocab_size;
      const int32_t blank = search_->options().blank_id;
      std::vector<std::vector<int32_t>> phrases(n);
      std::vector<double> weights(n);
      size_t pos = 0;
      for (size_t i = 0; i < n; ++i) {
        const int32_t len = lengths[i];
        if (len < 1 || pos + static_cast<size_t>(len) > ids.ElementLength()) {
          ThrowCoded(env, "hotword " + std::to_string(i) + " has a bad length " + std::to_string(len));
        }
        for (int32_t k = 0; k < len; ++k) {
          const int32_t id = ids[pos++];
          if (id < 0 || id >= v || id == blank) {
            ThrowCoded(env, "hotword " + std::to_string(i) + " has token id " + std::to_string(id) +
                                " outside [0, vocabSize) or equal to the blank id");
          }
          phrases[i].push_back(id);
        }
        weights[i] = boosts[i];
        if (!std::isfinite(weights[i])) ThrowCoded(env, "hotword " + std::to_string(i) + " boost is not finite");
      }
      if (pos != ids.ElementLength()) ThrowCoded(env, "hotword tokenIds has values beyond the sum of lengths");
      search_->SetHotwords(voxgate::ContextGraph(phrases, weights, v, search_->options().separator_id));
    });
  }

  Napi::Value FramesDecoded(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(search_->frames_decoded()));
  }

  std::unique_ptr<voxgate::CtcPrefixBeamSearch> search_;
};

}  // namespace
}  // namespace voxgate_binding

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function token_lm = voxgate_binding::TokenLmWrap::Define(env);
  auto* data = new voxgate_binding::AddonData();
  data->token_lm = Napi::Persistent(token_lm);
  env.SetInstanceData(data);  // deleted by Node when the environment goes
  exports.Set("CtcDecoder", voxgate_binding::CtcDecoderWrap::Define(env));
  exports.Set("TokenLm", token_lm);
  exports.Set("FbankExtractor", voxgate_binding::DefineFbankExtractor(env));
  exports.Set("Resampler", voxgate_binding::DefineResampler(env));
  exports.Set("abiVersion", Napi::Number::New(env, 7));
  return exports;
}

}  // namespace

NODE_API_MODULE(voxgate_native, Init)
