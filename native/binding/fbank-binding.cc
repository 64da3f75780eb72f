// new FbankExtractor(): native/src/kaldi-fbank.h behind the interface of src/dsp/fbank.ts `FbankExtractor`
// (push(Float32Array) -> Float32Array of frames x 80, flush(), reset(), framesEmitted). Errors carry
// GW_ERR_INTERNAL: the only caller is the gateway's own fbank stage, so a bad argument is a bug, not bad input.
#include <cstring>
#include <vector>

#include "../src/kaldi-fbank.h"
#include "binding-util.h"

namespace voxgate_binding {
namespace {

constexpr const char* kInternalError = "GW_ERR_INTERNAL";

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
    fbank_.Push(samples.Data(), samples.ElementLength(), &scratch_);
    return Frames(info.Env());
  }

  // flush() -> Float32Array: the frames that read the reflected end of the signal; then a new stream starts.
  Napi::Value Flush(const Napi::CallbackInfo& info) {
    scratch_.clear();
    fbank_.Flush(&scratch_);
    return Frames(info.Env());
  }

  void Reset(const Napi::CallbackInfo&) { fbank_.Reset(); }

  Napi::Value FramesEmitted(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(fbank_.frames_emitted()));
  }

  Napi::Float32Array Frames(Napi::Env env) {
    Napi::Float32Array out = Napi::Float32Array::New(env, scratch_.size());
    if (!scratch_.empty()) std::memcpy(out.Data(), scratch_.data(), scratch_.size() * sizeof(float));
    return out;
  }

  voxgate::KaldiFbank fbank_;
  std::vector<float> scratch_;
};

}  // namespace

Napi::Function DefineFbankExtractor(Napi::Env env) { return FbankExtractorWrap::Define(env); }

}  // namespace voxgate_binding
