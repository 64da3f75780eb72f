// The DSP twins behind the interfaces of their TypeScript references:
//   new FbankExtractor(): native/src/kaldi-fbank.h as src/dsp/fbank.ts `FbankExtractor` (push(Float32Array) ->
//     Float32Array of frames x 80, flush(), reset(), framesEmitted);
//   new Resampler(up, down, halfTaps, taps: Float32Array): native/src/polyphase-resampler.h running a bank designed
//     by src/dsp/resampler.ts `polyphaseBank` (push(Float32Array) -> Float32Array, flush(), reset()).
// Errors carry GW_ERR_INTERNAL: the only callers are the gateway's own stages, so a bad argument is a bug, not bad
// input.
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "../src/kaldi-fbank.h"
#include "../src/polyphase-resampler.h"
#include "binding-util.h"

namespace voxgate_binding {
namespace {

constexpr const char* kInternalError = "GW_ERR_INTERNAL";

Napi::Float32Array CopyOut(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array out = Napi::Float32Array::New(env, v.size());
  if (!v.empty()) std::memcpy(out.Data(), v.data(), v.size() * sizeof(float));
  return out;
}

class FbankExtractorWrap : public Napi::ObjectWrap<FbankExtractorWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FbankExtractor",
                       {
                           InstanceMethod<&FbankExtractorWrap::Push>("push"),
                           InstanceMethod<&FbankExtractorWrap::Flush>("flush"),
                           InstanceMethod<&FbankExtractorWrap::Reset>("reset"),
                           InstanceAccessor<&FbankExtractorWrap::FramesEmitted>("framesEmitted"),
                       });
  }

  explicit FbankExtractorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FbankExtractorWrap>(info) {}

 private:
  // push(samples: Float32Array) -> Float32Array (a new array the caller owns; empty when no frame completed)
  Napi::Value Push(const Napi::CallbackInfo& info) {
    auto samples = TypedArg<float>(info, 0, napi_float32_array, "samples must be a Float32Array", kInternalError);
    scratch_.clear();
    try {
      fbank_.Push(samples.Data(), samples.ElementLength(), &scratch_);
    } catch (const std::exception& e) {  // out of memory: an error for this session, never an abort
      ThrowCoded(info.Env(), std::string("fbank failure: ") + e.what(), kInternalError);
    }
    return Frames(info.Env());
  }

  // flush() -> Float32Array: the frames that read the reflected end of the signal; then a new stream starts.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    scratch_.clear();
    try {
      fbank_.Flush(&scratch_);
    } catch (const std::exception& e) {
      ThrowCoded(info.Env(), std::string("fbank failure: ") + e.what(), kInternalError);
    }
    return Frames(info.Env());
  }

  void Reset(const Napi::CallbackInfo&) { fbank_.Reset(); }

  Napi::Value FramesEmitted(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(fbank_.frames_emitted()));
  }

  Napi::Float32Array Frames(Napi::Env env) { return CopyOut(env, scratch_); }

  voxgate::KaldiFbank fbank_;
  std::vector<float> scratch_;
};

class ResamplerWrap : public Napi::ObjectWrap<ResamplerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Resampler",
                       {
                           InstanceMethod<&ResamplerWrap::Push>("push"),
                           InstanceMethod<&ResamplerWrap::Flush>("flush"),
                           InstanceMethod<&ResamplerWrap::Reset>("reset"),
                       });
  }

  // new Resampler(up, down, halfTaps, taps: Float32Array)
  explicit ResamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ResamplerWrap>(info) {
    Napi::Env env = info.Env();
    int32_t ints[3];
    for (size_t i = 0; i < 3; ++i) {
      const double d = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
      if (!(std::floor(d) == d) || d < -2147483648.0 || d > 2147483647.0) {
        ThrowCoded(env, "Resampler(up, down, halfTaps, taps): up, down and halfTaps must be integers", kInternalError);
      }
      ints[i] = static_cast<int32_t>(d);
    }
    auto taps = TypedArg<float>(info, 3, napi_float32_array, "taps must be a Float32Array", kInternalError);
    try {
      resampler_ = std::make_unique<voxgate::PolyphaseResampler>(ints[0], ints[1], ints[2], taps.Data(),
                                                                 taps.ElementLength());
    } catch (const std::exception& e) {
      ThrowCoded(env, e.what(), kInternalError);
    }
  }

 private:
  // push(input: Float32Array) -> Float32Array (a new array the caller owns)
  Napi::Value Push(const Napi::CallbackInfo& info) {
    auto input = TypedArg<float>(info, 0, napi_float32_array, "input must be a Float32Array", kInternalError);
    scratch_.clear();
    try {
      resampler_->Push(input.Data(), input.ElementLength(), &scratch_);
    } catch (const std::exception& e) {  // out of memory: an error for this session, never an abort
      ThrowCoded(info.Env(), std::string("resampler failure: ") + e.what(), kInternalError);
    }
    return CopyOut(info.Env(), scratch_);
  }

  // flush() -> Float32Array: the tail (input past the end is zero); then a new stream starts.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    scratch_.clear();
    try {
      resampler_->Flush(&scratch_);
    } catch (const std::exception& e) {
      ThrowCoded(info.Env(), std::string("resampler failure: ") + e.what(), kInternalError);
    }
    return CopyOut(info.Env(), scratch_);
  }

  void Reset(const Napi::CallbackInfo&) { resampler_->Reset(); }

  std::unique_ptr<voxgate::PolyphaseResampler> resampler_;
  std::vector<float> scratch_;
};

}  // namespace

Napi::Function DefineFbankExtractor(Napi::Env env) { return FbankExtractorWrap::Define(env); }
Napi::Function DefineResampler(Napi::Env env) { return ResamplerWrap::Define(env); }

}  // namespace voxgate_binding
