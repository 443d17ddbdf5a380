// A main() for the fuzz targets in the GCC ASan/UBSan build (CI's sanitizer pass), where
// libFuzzer is not available: every seed of the target's corpus is run, then inputs mutated
// from them (byte flips, insertions, deletions, copies, splices, boundary bytes) for a time
// budget, from a fixed PRNG seed so that a run can be repeated. No coverage guidance: the
// long, guided runs are scripts/fuzz (clang, libFuzzer; docs/FUZZING.md). An ASan report or a
// broken property (abort()) leaves the input in <prefix>crash-<target>. UBSan's reports do not
// (GCC links its runtime apart from ASan's, with its own death callback): the same command with
// --trace FILE, the same seed, writes each input to FILE before running it, so FILE holds the
// failing one when it stops.
//
//   fuzz_<name> [--seconds N] [--seed N] [--max-len N] [--crash-prefix P] [--trace FILE]
//               DIR_OR_FILE...
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <sanitizer/common_interface_defs.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using bytes = std::vector<std::uint8_t>;

// The input being run, kept for the death callback.
const bytes* current = nullptr;
std::string crash_path = "crash-input";
std::string trace_path; // --trace: every input written there before it runs

void write_file(const std::string& path, const bytes& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

void save_current() {
  if (current == nullptr) return;
  write_file(crash_path, *current);
  std::fprintf(stderr, "replay: input written to %s (%zu bytes)\n", crash_path.c_str(),
               current->size());
}

void on_abort(int sig) {
  save_current();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void run(const bytes& input) {
  if (!trace_path.empty()) write_file(trace_path, input);
  current = &input;
  LLVMFuzzerTestOneInput(input.data(), input.size());
  current = nullptr;
}

// One random change of `in`, within max_len bytes.
void mutate(bytes& in, const std::vector<bytes>& seeds, std::mt19937_64& rng, std::size_t max_len) {
  auto pick = [&rng](std::size_t n) { return n == 0 ? 0 : std::size_t(rng() % n); };
  static const std::uint8_t special[] = {0x00, 0x0a, 0x0d, 0x20, 0x22, 0x2d, 0x2e, 0x3a, 0x3c,
                                         0x3e, 0x40, 0x5c, 0x7b, 0x7d, 0x7f, 0x80, 0xc3, 0xff};
  switch (rng() % 7) {
  case 0: // flip a bit
    if (!in.empty()) in[pick(in.size())] ^= std::uint8_t(1u << (rng() % 8));
    break;
  case 1: // a boundary or syntax byte
    if (!in.empty()) in[pick(in.size())] = special[pick(sizeof special)];
    break;
  case 2: // insert random bytes
    if (in.size() < max_len) {
      std::size_t n = 1 + pick(std::min<std::size_t>(8, max_len - in.size()));
      std::size_t at = pick(in.size() + 1);
      for (std::size_t i = 0; i < n; ++i)
        in.insert(in.begin() + long(at), std::uint8_t(rng()));
    }
    break;
  case 3: // delete a range
    if (!in.empty()) {
      std::size_t at = pick(in.size());
      std::size_t n = 1 + pick(std::min<std::size_t>(16, in.size() - at));
      in.erase(in.begin() + long(at), in.begin() + long(at + n));
    }
    break;
  case 4: // copy a range of itself elsewhere
    if (!in.empty() && in.size() < max_len) {
      std::size_t from = pick(in.size());
      std::size_t n = 1 + pick(std::min<std::size_t>(64, in.size() - from));
      n = std::min(n, max_len - in.size());
      bytes piece(in.begin() + long(from), in.begin() + long(from + n));
      std::size_t at = pick(in.size() + 1);
      in.insert(in.begin() + long(at), piece.begin(), piece.end());
    }
    break;
  case 5: { // splice with another seed
    const bytes& other = seeds[pick(seeds.size())];
    std::size_t cut = pick(in.size() + 1);
    std::size_t from = pick(other.size() + 1);
    in.resize(cut);
    in.insert(in.end(), other.begin() + long(from), other.end());
    if (in.size() > max_len) in.resize(max_len);
    break;
  }
  default: // truncate
    in.resize(pick(in.size() + 1));
    break;
  }
}

} // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  std::uint64_t seed = 1;
  std::size_t max_len = 16384;
  std::string prefix;
  std::vector<std::filesystem::path> paths;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--seed" && has_value) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--max-len" && has_value) {
      max_len = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--crash-prefix" && has_value) {
      prefix = argv[++i];
    } else if (a == "--trace" && has_value) {
      trace_path = argv[++i];
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "usage: " << argv[0]
                << " [--seconds N] [--seed N] [--max-len N] [--crash-prefix P] [--trace FILE] "
                   "DIR_OR_FILE...\n";
      return 2;
    } else {
      paths.emplace_back(a);
    }
  }
  crash_path = prefix + "crash-" + std::filesystem::path(argv[0]).filename().string();
  __sanitizer_set_death_callback(save_current);
  std::signal(SIGABRT, on_abort);
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);

  std::vector<bytes> seeds;
  for (const auto& p : paths) {
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end()); // the same order on every machine
      for (const auto& f : files)
        seeds.push_back(read_file(f));
    } else if (std::filesystem::is_regular_file(p)) {
      seeds.push_back(read_file(p));
    } else {
      std::cerr << "replay: no such file or directory: " << p << "\n";
      return 2;
    }
  }
  if (seeds.empty()) {
    std::cerr << "replay: no seed inputs\n";
    return 2;
  }
  for (const auto& s : seeds)
    run(s);

  std::mt19937_64 rng(seed);
  std::uint64_t runs = seeds.size();
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    for (int batch = 0; batch < 64; ++batch) {
      bytes in = seeds[rng() % seeds.size()];
      int changes = 1 + int(rng() % 4);
      for (int c = 0; c < changes; ++c)
        mutate(in, seeds, rng, max_len);
      run(in);
      ++runs;
    }
  }
  std::printf("replay: %zu seeds, %llu runs in %.1f s (seed %llu): no crash\n", seeds.size(),
              static_cast<unsigned long long>(runs), seconds,
              static_cast<unsigned long long>(seed));
  return 0;
}
