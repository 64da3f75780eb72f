// The DSP twins behind the interfaces of their TypeScript references:
//   new FbankExtractor(): native/src/kaldi-fbank.h as src/dsp/fbank.ts `FbankExtractor` (push(Float32Array) ->
//     Float32Array of frames x 80, flush(), reset(), framesEmitted);
//   new Resampler(up, down, halfTaps, tablePhases, taps: Float32Array): native/src/polyphase-resampler.h running a bank designed
//     by src/dsp/resampler.ts `polyphaseBank` (push(Float32Array) -> Float32Array, flush(), reset()).
// Errors carry GW_ERR_INTERNAL: the only callers are the gateway's own stages, so a bad argument is a bug, not bad
// input. Every entry point runs in Guarded (binding-util.h), so out of memory is such an error too, never an abort;
// the cores take what they need before they change state, so a failed push or flush can be made again.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../src/kaldi-fbank.h"
#include "../src/polyphase-resampler.h"
#include "binding-util.h"

namespace voxgate_binding {
namespace {

constexpr const char* kInternalError = "GW_ERR_INTERNAL";

// Runs `step`, which appends a call's output to `scratch`, and returns that output as a new Float32Array the caller
// owns.
template <typename Step>
Napi::Float32Array RunToJs(Napi::Env env, const char* what, std::vector<float>* scratch, Step&& step) {
  return Guarded(env, what, kInternalError, [&] {
    scratch->clear();
    step();
    Napi::Float32Array out = Napi::Float32Array::New(env, scratch->size());
    if (!scratch->empty()) std::memcpy(out.Data(), scratch->data(), scratch->size() * sizeof(float));
    return out;
  });
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

  explicit FbankExtractorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FbankExtractorWrap>(info) {
    Guarded(info.Env(), "fbank", kInternalError, [&] { fbank_ = std::make_unique<voxgate::KaldiFbank>(); });
  }

 private:
  // push(samples: Float32Array) -> Float32Array (a new array the caller owns; empty when no frame completed)
  Napi::Value Push(const Napi::CallbackInfo& info) {
    auto samples = TypedArg<float>(info, 0, napi_float32_array, "samples must be a Float32Array", kInternalError);
    return RunToJs(info.Env(), "fbank", &scratch_,
                   [&] { fbank_->Push(samples.Data(), samples.ElementLength(), &scratch_); });
  }

  // flush() -> Float32Array: the frames that read the reflected end of the signal; then a new stream starts.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    return RunToJs(info.Env(), "fbank", &scratch_, [&] { fbank_->Flush(&scratch_); });
  }

  void Reset(const Napi::CallbackInfo& info) {
    Guarded(info.Env(), "fbank", kInternalError, [&] { fbank_->Reset(); });
  }

  Napi::Value FramesEmitted(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(fbank_->frames_emitted()));
  }

  std::unique_ptr<voxgate::KaldiFbank> fbank_;  // made in the constructor's guard (its buffers can fail)
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

  // new Resampler(up, down, halfTaps, tablePhases, taps: Float32Array)
  explicit ResamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ResamplerWrap>(info) {
    Guarded(info.Env(), "resampler", kInternalError, [&] { Construct(info); });
  }

 private:
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const char* names[4] = {"up", "down", "halfTaps", "tablePhases"};
    int32_t ints[4];
    for (size_t i = 0; i < 4; ++i) {
      const double d = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().DoubleValue() : NAN;
      if (!IsInt32(d)) {
        ThrowCoded(env, std::string("Resampler(up, down, halfTaps, tablePhases, taps): ") + names[i] + " must be an integer, got " +
                            std::to_string(d), kInternalError);
      }
      ints[i] = static_cast<int32_t>(d);
    }
    auto taps = TypedArg<float>(info, 4, napi_float32_array, "taps must be a Float32Array", kInternalError);
    resampler_ = std::make_unique<voxgate::PolyphaseResampler>(ints[0], ints[1], ints[2], ints[3], taps.Data(),
                                                               taps.ElementLength());
  }

  // push(input: Float32Array) -> Float32Array (a new array the caller owns)
  Napi::Value Push(const Napi::CallbackInfo& info) {
    auto input = TypedArg<float>(info, 0, napi_float32_array, "input must be a Float32Array", kInternalError);
    return RunToJs(info.Env(), "resampler", &scratch_,
                   [&] { resampler_->Push(input.Data(), input.ElementLength(), &scratch_); });
  }

  // flush() -> Float32Array: the tail (input past the end is zero); then a new stream starts.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    return RunToJs(info.Env(), "resampler", &scratch_, [&] { resampler_->Flush(&scratch_); });
  }

  void Reset(const Napi::CallbackInfo& info) {
    Guarded(info.Env(), "resampler", kInternalError, [&] { resampler_->Reset(); });
  }

  std::unique_ptr<voxgate::PolyphaseResampler> resampler_;
  std::vector<float> scratch_;
};

}  // namespace

Napi::Function DefineFbankExtractor(Napi::Env env) { return FbankExtractorWrap::Define(env); }
Napi::Function DefineResampler(Napi::Env env) { return ResamplerWrap::Define(env); }

}  // namespace voxgate_binding
