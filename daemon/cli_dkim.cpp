// iaposte dkim keygen: a new DKIM key written to a 0600 file and the TXT record to publish.
#include "cli_dkim.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim/dkim.hpp"

namespace {

constexpr const char* usage =
    R"(usage: iaposte dkim keygen --selector S --domain D [--algorithm rsa|ed25519] [--out FILE]

Generates a DKIM key pair: RSA 2048 bits (the default, rsa-sha256) or Ed25519 (ed25519-sha256,
RFC 8463). The private key (PKCS#8 PEM) goes to FILE, created with mode 0600 (an existing file
is never overwritten), or to stdout without --out. The TXT record to publish at
S._domainkey.D is printed on stdout (on stderr when the key goes to stdout): its value in one
line for a DNS provider's form, and a zone-file line in strings of at most 255 octets.
Rotation: a new selector per key; publish its record, wait for the DNS TTL, then sign with it.
  exit: 0 done, 1 the file could not be written, 2 usage
)";

struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Creates `path` with mode 0600, refusing an existing file (O_EXCL: a live key is never
// replaced by mistake) and a symbolic link, and writes the key.
void write_private_key(const std::string& path, const std::string& pem) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string why = std::strerror(errno);
    if (errno == EEXIST)
      why += " (a key is never overwritten: remove it first, or choose another name)";
    throw std::runtime_error(path + ": " + why);
  }
  std::size_t done = 0;
  while (done < pem.size()) {
    const ssize_t n = ::write(fd, pem.data() + done, pem.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(path.c_str());
      throw std::runtime_error(path + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  // The umask can only remove bits; make the mode exact anyway, and durable before reporting.
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0 || ::close(fd) != 0)
    throw std::runtime_error(path + ": " + std::strerror(errno));
}

int keygen(const std::map<std::string, std::string>& opts) {
  auto get = [&](const std::string& k) {
    auto it = opts.find(k);
    return it == opts.end() ? std::string() : it->second;
  };
  const std::string selector = get("--selector"), domain = get("--domain"), out = get("--out");
  if (selector.empty() || domain.empty()) throw usage_error("keygen needs --selector and --domain");
  iaposte::dkim::algorithm algo = iaposte::dkim::algorithm::rsa_sha256;
  iaposte::dkim::generated_key g;
  try {
    if (opts.count("--algorithm")) algo = iaposte::dkim::parse_algorithm(get("--algorithm"));
    g = iaposte::dkim::keygen(algo, selector, domain);
  } catch (const iaposte::dkim::error& e) {
    throw usage_error(e.what()); // a bad algorithm, selector or domain name
  }
  std::ostream& record_out = out.empty() ? std::cerr : std::cout;
  if (out.empty()) {
    std::cout << g.private_key_pem << std::flush;
  } else {
    write_private_key(out, g.private_key_pem);
  }
  record_out << "; DKIM " << iaposte::dkim::to_string(algo) << " key for " << domain
             << ", selector " << selector
             << (out.empty() ? std::string() : ", private key in " + out + " (mode 0600)") << "\n"
             << "; name:  " << g.record.name << "\n"
             << "; type:  TXT\n"
             << "; value: " << g.record.value << "\n"
             << g.record.zone_line() << "\n";
  return 0;
}

} // namespace

int cmd_dkim(const std::vector<std::string>& args) {
  try {
    if (args.empty()) throw usage_error("expected a subcommand: keygen");
    if (args[0] == "--help" || args[0] == "-h") {
      std::cout << usage;
      return 0;
    }
    if (args[0] != "keygen") throw usage_error("unknown subcommand " + args[0] + " (keygen)");
    std::map<std::string, std::string> opts;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string& k = args[i];
      if (k == "--help" || k == "-h") {
        std::cout << usage;
        return 0;
      }
      if (k != "--selector" && k != "--domain" && k != "--algorithm" && k != "--out")
        throw usage_error("unknown option " + k + " (iaposte dkim --help lists them)");
      if (i + 1 == args.size()) throw usage_error(k + " needs a value");
      opts[k] = args[++i];
    }
    return keygen(opts);
  } catch (const usage_error& e) {
    std::cerr << "iaposte dkim: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iaposte dkim: " << e.what() << "\n";
    return 1;
  }
}
