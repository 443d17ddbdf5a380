// libFuzzer target for the SMTP reply parser (lib/smtp/reply.hpp): arbitrary server bytes, fed
// whole and split at many points, under the default limits and small ones.
//
// Checked beyond "no crash, no sanitizer report":
//  - feeding in pieces gives exactly what feeding at once gives (same replies, same error);
//  - feed() always consumes all it was given unless it completed or failed, and never more;
//  - every reply taken respects the limits (code 200..559, 1..max_lines lines, each at most
//    max_line bytes, an enhanced code only of the reply's class);
//  - no single allocation grows past a small multiple of max_line, whatever the input: a
//    long reply line is an error, never a buffer that follows it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#if __has_include(<sanitizer/allocator_interface.h>)
#include <sanitizer/allocator_interface.h>
#else
// GCC ships no allocator_interface.h, but its libasan has the hook (the CI replay build).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void*,
                                                                  std::size_t),
                                                         void (*)(const volatile void*));
#endif

#include "smtp/reply.hpp"

using iaposte::smtp::reply;
using iaposte::smtp::reply_parser;

// The largest allocation made while `tracking` is set, seen through the sanitizer allocator's
// hook (libFuzzer allocates through it too, hence the flag).
namespace {
bool tracking = false;
std::size_t largest = 0;
void on_malloc(const volatile void*, std::size_t n) {
  if (tracking && n > largest) largest = n;
}
void on_free(const volatile void*) {}
} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  return 0;
}

namespace {

[[noreturn]] void fail(const char* what) {
  // A distinct message for each broken property, then a crash libFuzzer records.
  std::fprintf(stderr, "fuzz_reply: property broken: %s\n", what);
  std::abort();
}
#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) fail(#cond);                                                                      \
  } while (0)

struct limits {
  std::size_t max_line, max_lines;
};

// What a parse produced: every reply taken, then the error (empty when none).
struct transcript {
  std::vector<reply> replies;
  std::string error;
};

bool same(const reply& a, const reply& b) {
  return a.code == b.code && a.enhanced == b.enhanced && a.lines == b.lines;
}

void check_reply(const reply& r, limits l) {
  EXPECT(r.code >= 200 && r.code <= 559);
  EXPECT(!r.lines.empty() && r.lines.size() <= l.max_lines);
  for (const auto& line : r.lines)
    EXPECT(line.size() <= l.max_line);
  if (!r.enhanced.empty()) {
    EXPECT(r.enhanced[0] == static_cast<char>('0' + r.code / 100));
    EXPECT(r.enhanced.size() >= 5 && r.enhanced.size() <= 9);
    EXPECT(r.lines[0].compare(0, r.enhanced.size(), r.enhanced) == 0);
  }
  EXPECT(r.positive() + r.transient() + r.permanent() == 1);
}

// Feeds `data` in pieces whose sizes come from `next_size` (called with the bytes left).
template <typename Sizes> transcript parse(std::string_view data, limits l, Sizes next_size) {
  transcript t;
  reply_parser p(l.max_line, l.max_lines);
  while (!data.empty()) {
    std::size_t n = next_size(data.size());
    if (n == 0 || n > data.size()) n = data.size();
    std::string_view piece = data.substr(0, n);
    // Feed the piece until the parser has taken all of it (several replies may be in it).
    while (!piece.empty()) {
      std::size_t used = 12345;
      tracking = true; // the parser's own allocations only, not this driver's
      auto st = p.feed(piece, used);
      tracking = false;
      EXPECT(used <= piece.size());
      if (st == reply_parser::state::error) {
        EXPECT(!p.error().empty());
        std::size_t again = 1;
        EXPECT(p.feed(piece, again) == reply_parser::state::error && again == 0);
        t.error = p.error();
        return t;
      }
      if (st == reply_parser::state::need_more) {
        EXPECT(used == piece.size());
      } else {
        EXPECT(used > 0);
        tracking = true;
        reply r = p.take();
        tracking = false;
        check_reply(r, l);
        t.replies.push_back(std::move(r));
      }
      piece.remove_prefix(used);
      data.remove_prefix(used);
    }
  }
  return t;
}

void check_limits(std::string_view data, limits l) {
  largest = 0;
  transcript whole = parse(data, l, [](std::size_t left) { return left; });
  // Strings grow by doubling, the reply's line vector too: a bound of a few max_line plus the
  // vector of max_lines strings, independent of the input size.
  std::size_t bound = 4 * (l.max_line + 64) + l.max_lines * 2 * sizeof(std::string) + 1024;
  EXPECT(largest <= bound);

  // The same bytes split in other ways must read the same.
  std::uint32_t seed = 2166136261u;
  for (unsigned char c : data)
    seed = (seed ^ c) * 16777619u;
  auto random_sizes = [&seed](std::size_t left) {
    seed = seed * 1103515245u + 12345u;
    return static_cast<std::size_t>(1 + (seed >> 16) % (left < 17 ? left : 17));
  };
  for (std::size_t step : {1u, 2u, 3u, 5u}) {
    if (step > 1 && data.size() > 4096) break; // byte by byte is enough for long inputs
    transcript split = parse(data, l, [step](std::size_t) { return step; });
    EXPECT(split.error == whole.error);
    EXPECT(split.replies.size() == whole.replies.size());
    for (std::size_t i = 0; i < split.replies.size(); ++i)
      EXPECT(same(split.replies[i], whole.replies[i]));
  }
  transcript split = parse(data, l, random_sizes);
  EXPECT(split.error == whole.error);
  EXPECT(split.replies.size() == whole.replies.size());
  for (std::size_t i = 0; i < split.replies.size(); ++i)
    EXPECT(same(split.replies[i], whole.replies[i]));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_limits(data, {4096, 256}); // what the client uses
  check_limits(data, {16, 3});     // small enough for the fuzzer to reach every limit
  check_limits(data, {1, 1});
  return 0;
}
