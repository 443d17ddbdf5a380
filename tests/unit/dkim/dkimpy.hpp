// Test support for lib/dkim: dkimpy (Debian's python3-dkim, tests/peers/dkimpy_verify.py) as an
// independent verifier in a co-process, and small file and process helpers.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace iaposte::dkim::test {

// dkimpy's verdict on one DKIM-Signature.
struct verdict {
  bool ok = false;
  std::string d, s, a;
  std::string why; // dkimpy's reason when it refused the signature
};

// One dkimpy process for the whole test binary (Python and dkimpy start once): messages in,
// one verdict per signature out, DNS replaced by `records` (name → TXT value).
class dkimpy {
public:
  explicit dkimpy(const std::filesystem::path& script);
  ~dkimpy();
  dkimpy(const dkimpy&) = delete;
  dkimpy& operator=(const dkimpy&) = delete;

  // literal_h: without dkimpy's own defence against an added From (it hashes one From more
  // than h= lists), i.e. what h= alone protects.
  std::vector<verdict> verify(std::string_view message,
                              const std::map<std::string, std::string>& records,
                              bool literal_h = false);

private:
  pid_t pid_ = -1;
  int to_ = -1;
  FILE* from_ = nullptr;
};

// "n signatures, all ok" or what dkimpy said, for CHECK_MESSAGE.
std::string describe(const std::vector<verdict>& v);
bool all_ok(const std::vector<verdict>& v);

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, std::string_view data, unsigned mode = 0600);

// A directory under $TMPDIR removed with its content on destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// Runs argv (no shell) to completion; its stdout and stderr captured.
struct run_result {
  int status = -1; // exit status, or -1 when killed
  std::string out, err;
};
run_result run(const std::vector<std::string>& argv);

} // namespace iaposte::dkim::test
