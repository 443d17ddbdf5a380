// Test support for lib/dkim: the dkimpy co-process, files, processes.
#include "dkimpy.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace iaposte::dkim::test {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

// argv with stdin, stdout and stderr on the given descriptors (every other one is close-on-exec).
pid_t spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in, 0);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

} // namespace

dkimpy::dkimpy(const fs::path& script) {
  // A verifier that died must fail the test with a message, not kill it with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("pipe");
  pid_ = spawn({"/usr/bin/python3", script.string()}, in[0], out[1], 2);
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = ::fdopen(out[0], "r");
  if (from_ == nullptr) fail("fdopen");
}

dkimpy::~dkimpy() {
  if (to_ >= 0) ::close(to_); // end of input: the script exits
  if (from_ != nullptr) std::fclose(from_);
  if (pid_ > 0) {
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

std::vector<verdict> dkimpy::verify(std::string_view message,
                                    const std::map<std::string, std::string>& records,
                                    bool literal_h) {
  std::string req = std::to_string(message.size()) + " " + std::to_string(records.size()) +
                    (literal_h ? " literal-h" : "") + "\n";
  for (const auto& [name, value] : records)
    req += name + "=" + value + "\n";
  req += message;
  for (std::size_t done = 0; done < req.size();) {
    const ssize_t n = ::write(to_, req.data() + done, req.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writing to dkimpy (see its traceback above)");
    done += static_cast<std::size_t>(n);
  }
  std::vector<verdict> out;
  char* line = nullptr;
  std::size_t cap = 0;
  while (true) {
    const ssize_t n = ::getline(&line, &cap, from_);
    if (n <= 0) {
      std::free(line);
      throw std::runtime_error("dkimpy exited without an answer (see its traceback above)");
    }
    std::string l(line, static_cast<std::size_t>(n));
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (l == "end") break;
    std::vector<std::string> f;
    std::stringstream ss(l);
    for (std::string x; std::getline(ss, x, '\t');)
      f.push_back(x);
    f.resize(5);
    out.push_back({f[0] == "ok", f[1], f[2], f[3], f[4]});
  }
  std::free(line);
  return out;
}

std::string describe(const std::vector<verdict>& v) {
  if (v.empty()) return "no DKIM-Signature";
  std::string s;
  for (const auto& x : v)
    s += (x.ok ? "pass " : "FAIL ") + x.a + " d=" + x.d + " s=" + x.s +
         (x.why.empty() ? "" : " (" + x.why + ")") + "\n";
  return s;
}

bool all_ok(const std::vector<verdict>& v) {
  if (v.empty()) return false;
  for (const auto& x : v)
    if (!x.ok) return false;
  return true;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, std::string_view data, unsigned mode) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
  out.close();
  fs::permissions(p, static_cast<fs::perms>(mode));
}

temp_dir::temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "iaposte-dkim-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) fail("mkdtemp");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

run_result run(const std::vector<std::string>& argv) {
  temp_dir dir;
  const fs::path out = dir / "stdout", err = dir / "stderr";
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (in_fd < 0 || out_fd < 0 || err_fd < 0) fail("open");
  const pid_t pid = spawn(argv, in_fd, out_fd, err_fd);
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, read_file(out), read_file(err)};
}

} // namespace iaposte::dkim::test
