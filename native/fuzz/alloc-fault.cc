// Allocation-failure injection for test/native/alloc-failure.test.ts: a shared library that is both LD_PRELOADed
// into a Node process (so that its operator new replaces the C++ runtime's for everything loaded after it) and
// required as an N-API module (so that JavaScript can arm it). arm(n) makes the n-th allocation (0-based) that
// voxgate_native.node's own code asks for from then on throw std::bad_alloc, once; disarm() says whether it did.
//
// Why only the addon's allocations count: Node, V8 and libstdc++ allocate at times no test controls (compilation,
// GC helpers), so counting those would make a sweep over n neither complete nor repeatable. The caller's return
// address tells the addon's code (the cores and the binding, inlined containers included) from the rest.
//
// Built by the test with g++ against the N-API headers of the Node the addon was built for (build/config.gypi
// nodedir); not part of the addon.
#include <dlfcn.h>
#include <link.h>
#include <node_api.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>

namespace {

std::atomic<uintptr_t> g_code_begin{0}, g_code_end{0};
std::atomic<int64_t> g_countdown{-1};  // < 0: disarmed
std::atomic<bool> g_fired{false};

using NewFn = void* (*)(size_t);

// The operators new this library hides (libstdc++'s, or a sanitizer's when it is preloaded after this library),
// each kept apart: a sanitizer checks that new[] is paired with delete[].
NewFn Next(const char* symbol) { return reinterpret_cast<NewFn>(dlsym(RTLD_NEXT, symbol)); }

void* Allocate(size_t size, uintptr_t caller, NewFn next) {
  if (caller >= g_code_begin.load(std::memory_order_relaxed) && caller < g_code_end.load(std::memory_order_relaxed) &&
      g_countdown.fetch_sub(1) == 0) {
    g_fired = true;
    throw std::bad_alloc();
  }
  return next(size);
}

// Executable segments of voxgate_native.node: [begin, end) over all of them.
int FindAddon(dl_phdr_info* info, size_t, void*) {
  const char* name = info->dlpi_name;
  const char* want = "voxgate_native.node";
  const size_t n = std::strlen(name), w = std::strlen(want);
  if (n < w || std::strcmp(name + n - w, want) != 0) return 0;
  uintptr_t begin = UINTPTR_MAX, end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& p = info->dlpi_phdr[i];
    if (p.p_type != PT_LOAD || (p.p_flags & PF_X) == 0) continue;
    const uintptr_t b = info->dlpi_addr + p.p_vaddr;
    if (b < begin) begin = b;
    if (b + p.p_memsz > end) end = b + p.p_memsz;
  }
  g_code_begin = begin;
  g_code_end = end;
  return 1;
}

// arm(n: number): the n-th counted allocation from now fails. Throws when the addon is not loaded yet.
napi_value Arm(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int64_t n = -1;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  if (argc < 1 || napi_get_value_int64(env, arg, &n) != napi_ok || n < 0) {
    napi_throw_error(env, nullptr, "arm(n): n must be a number >= 0");
    return nullptr;
  }
  if (g_code_end == 0 && dl_iterate_phdr(FindAddon, nullptr) == 0) {
    napi_throw_error(env, nullptr, "arm(n): voxgate_native.node is not loaded");
    return nullptr;
  }
  g_fired = false;
  g_countdown = n;
  return nullptr;
}

// disarm() -> boolean: whether the armed allocation failed.
napi_value Disarm(napi_env env, napi_callback_info) {
  g_countdown = -1;
  napi_value out;
  napi_get_boolean(env, g_fired.load(), &out);
  return out;
}

}  // namespace

void* operator new(size_t size) {
  static const NewFn next = Next("_Znwm");
  return Allocate(size, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), next);
}

void* operator new[](size_t size) {
  static const NewFn next = Next("_Znam");
  return Allocate(size, reinterpret_cast<uintptr_t>(__builtin_return_address(0)), next);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "arm", NAPI_AUTO_LENGTH, Arm, nullptr, &fn);
  napi_set_named_property(env, exports, "arm", fn);
  napi_create_function(env, "disarm", NAPI_AUTO_LENGTH, Disarm, nullptr, &fn);
  napi_set_named_property(env, exports, "disarm", fn);
  return exports;
}
