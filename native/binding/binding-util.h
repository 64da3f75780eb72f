// Helpers shared by the binding files: argument checks that throw a Napi::Error carrying a stable `code`, and the
// guard every entry point runs its body in.
#ifndef VOXGATE_BINDING_UTIL_H_
#define VOXGATE_BINDING_UTIL_H_

#include <napi.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <new>
#include <stdexcept>
#include <string>

namespace voxgate_binding {

constexpr const char* kDecoderError = "GW_ERR_DECODER";

// No C++ allocation on this path (the message goes straight to a JS string), so it can report an out-of-memory.
[[noreturn]] inline void ThrowCoded(Napi::Env env, const char* message, const char* code = kDecoderError) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Value().Set("code", Napi::String::New(env, code));
  throw err;
}

[[noreturn]] inline void ThrowCoded(Napi::Env env, const std::string& message, const char* code = kDecoderError) {
  ThrowCoded(env, message.c_str(), code);
}

// Runs an entry point's body. node-addon-api hands only a Napi::Error to JavaScript as it is; any other C++ exception
// (std::bad_alloc from a core or a copy here) leaving an N-API callback would be std::terminate, the gateway and
// every session gone. NODE_ADDON_API_CPP_EXCEPTIONS_ALL (binding.gyp) catches the rest, but without a code, and only
// what escapes this guard reaches it: node-addon-api's own allocations before the body runs. The cores report bad
// input as std::runtime_error or std::invalid_argument, whose message goes as it is; `what` names the object in
// the others ("decoder: out of memory", "decoder failure: vector::_M_default_append").
template <typename Body>
auto Guarded(Napi::Env env, const char* what, const char* code, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    char message[128];
    std::snprintf(message, sizeof message, "%s: out of memory", what);
    ThrowCoded(env, message, code);
  } catch (const std::runtime_error& e) {
    ThrowCoded(env, e.what(), code);
  } catch (const std::invalid_argument& e) {
    ThrowCoded(env, e.what(), code);
  } catch (const std::exception& e) {
    char message[256];
    std::snprintf(message, sizeof message, "%s failure: %s", what, e.what());
    ThrowCoded(env, message, code);
  }
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
