// Helpers shared by the binding files: argument checks that throw a Napi::Error carrying a stable `code`.
#ifndef VOXGATE_BINDING_UTIL_H_
#define VOXGATE_BINDING_UTIL_H_

#include <napi.h>

#include <cmath>
#include <string>

namespace voxgate_binding {

constexpr const char* kDecoderError = "GW_ERR_DECODER";

[[noreturn]] inline void ThrowCoded(Napi::Env env, const std::string& message, const char* code = kDecoderError) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  throw err;
}

inline double NumberOption(Napi::Env env, const Napi::Object& o, const char* name, double fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) ThrowCoded(env, std::string(name) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// True for a whole number that fits an int32 (false for NaN and infinities).
inline bool IsInt32(double d) { return std::floor(d) == d && d >= -2147483648.0 && d <= 2147483647.0; }

inline int32_t IntOption(Napi::Env env, const Napi::Object& o, const char* name, double fallback) {
  const double d = NumberOption(env, o, name, fallback);
  if (!IsInt32(d)) {
    ThrowCoded(env, std::string(name) + " must be an integer, got " + std::to_string(d));
  }
  return static_cast<int32_t>(d);
}

template <typename T>
Napi::TypedArrayOf<T> TypedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what,
                               const char* code = kDecoderError) {
  if (info.Length() <= i || !info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    ThrowCoded(info.Env(), std::string(what), code);
  }
  return info[i].As<Napi::TypedArrayOf<T>>();
}

// The DSP classes (dsp-binding.cc).
Napi::Function DefineFbankExtractor(Napi::Env env);
Napi::Function DefineResampler(Napi::Env env);

}  // namespace voxgate_binding

#endif  // VOXGATE_BINDING_UTIL_H_
