// A throw-away PKI for TLS tests, made with the openssl command: CAs and leaf certificates
// signed by them, in a temp dir removed with the object.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

namespace iaposte::smtp::test {

class pki {
public:
  const temp_dir& dir() const { return dir_; }

  // A self-signed CA: NAME.pem and NAME.key.
  std::filesystem::path make_ca(const std::string& name, const std::string& cn) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key(name).string(), "-out", cert(name).string(), "-days", "2", "-subj",
             "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
    return cert(name);
  }

  // A server certificate NAME.pem / NAME.key signed by the CA `ca` (made above), with the
  // subjectAltName `san` ("DNS:localhost,IP:127.0.0.1").
  std::filesystem::path make_leaf(const std::string& name, const std::string& cn,
                                  const std::string& san, const std::string& ca) {
    openssl({"req",
             "-x509",
             "-newkey",
             "ec",
             "-pkeyopt",
             "ec_paramgen_curve:prime256v1",
             "-nodes",
             "-keyout",
             key(name).string(),
             "-out",
             cert(name).string(),
             "-days",
             "2",
             "-subj",
             "/CN=" + cn,
             "-CA",
             cert(ca).string(),
             "-CAkey",
             key(ca).string(),
             "-addext",
             "subjectAltName=" + san,
             "-addext",
             "basicConstraints=CA:FALSE",
             "-addext",
             "extendedKeyUsage=serverAuth"});
    return cert(name);
  }

  std::filesystem::path cert(const std::string& name) const { return dir_ / (name + ".pem"); }
  std::filesystem::path key(const std::string& name) const { return dir_ / (name + ".key"); }

private:
  void openssl(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    int rc = run_command(args, dir_ / "openssl.log");
    if (rc != 0) throw std::runtime_error("openssl failed: " + read_file(dir_ / "openssl.log"));
  }
  temp_dir dir_;
};

} // namespace iaposte::smtp::test
