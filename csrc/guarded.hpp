// Errors of graft's C++ bridge turned into messages: no C++ exception crosses into Rust. The
// caller frees a message with graft_free_message (guarded.cpp).
#pragma once
#include <c10/util/Exception.h>

#include <cstdlib>
#include <cstring>
#include <string>

template <typename F>
static char* guarded(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error& e) {
    // Without the C++ stack trace that what() appends.
    return strdup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return strdup(e.what());
  } catch (...) {
    return strdup("unknown C++ exception in libtorch");
  }
}
