// Test support for stored content: a migrated throw-away database, the iaposte CLI run with
// its output captured, files to hand it, and content_lookup calls waited for.
#include "support.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>

extern char** environ;

namespace iaposte::testing {

namespace fs = std::filesystem;

namespace {

std::string fresh_name(const std::string& prefix, const std::string& suffix) {
  std::random_device rd;
  return (fs::temp_directory_path() /
          (prefix + std::to_string(rd()) + std::to_string(rd()) + suffix))
      .string();
}

} // namespace

content_database::content_database() {
  store::store_config cfg;
  cfg.url = url();
  store::store s(cfg);
  s.migrate();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string test_data(const std::string& relative) {
  return read_all(std::string(IAPOSTE_TEST_DATA) + "/" + relative);
}

temp_file::temp_file(const std::string& content, const std::string& suffix)
    : path_(fresh_name("iaposte-content-", suffix)) {
  std::ofstream out(path_, std::ios::binary);
  out << content;
}

temp_file::~temp_file() {
  std::error_code ec;
  fs::remove(path_, ec);
}

cli_result run_cli(const std::vector<std::string>& args, const std::string& url,
                   const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  vars["DATABASE_URL"] = url;
  for (const auto& [k, v] : env)
    vars[k] = v;
  std::vector<std::string> argv{IAPOSTE_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs;
  for (const auto& [k, v] : vars)
    envs.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv)
    cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : envs)
    cenv.push_back(e.data());
  cenv.push_back(nullptr);

  const std::string out_path = fresh_name("iaposte-out-", ".txt");
  const std::string err_path = fresh_name("iaposte-err-", ".txt");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error(std::string("cannot start iaposte: ") + std::strerror(rc));
  cli_result r;
  const auto until = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      r.rc = -1000;
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  r.out = read_all(out_path);
  r.err = read_all(err_path);
  fs::remove(out_path);
  fs::remove(err_path);
  return r;
}

void stack_postgres(const std::string& action) {
  const std::string log = fresh_name("iaposte-stack-", ".log");
  const std::string cmd =
      std::string(IAPOSTE_STACK_SCRIPT) + " " + action + " postgres >" + log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  const std::string out = read_all(log);
  fs::remove(log);
  REQUIRE_MESSAGE(rc == 0, "scripts/stack " << action << " postgres: " << out);
}

store::content_answer lookup_now(store::content_lookup& l, store::content_query q,
                                 std::chrono::milliseconds timeout) {
  auto p = std::make_shared<std::promise<store::content_answer>>();
  auto f = p->get_future();
  l.lookup(std::move(q), [p](store::content_answer a) { p->set_value(std::move(a)); });
  if (f.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("lookup never answered");
  return f.get();
}

} // namespace iaposte::testing
