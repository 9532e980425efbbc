// YOLOCLS_API marks the public C++ API of libyolocls_runtime. The library is compiled with hidden visibility
// (CXX_VISIBILITY_PRESET hidden, VISIBILITY_INLINES_HIDDEN), so only what carries this macro is exported: the
// classes and functions of the installed headers (yolocls/*.hpp). The JSON reader, the thread pool, the backend
// plugin interface and every other internal stay private to the library (the backend modules compile the few
// internals they use into themselves: CMakeLists.txt, yolocls_internal).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define YOLOCLS_API __attribute__((visibility("default")))
#else
#define YOLOCLS_API
#endif
