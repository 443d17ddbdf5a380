// The public header stays light: including it must not pull in Beast or Asio (build time on two
// cores, and components that only register checks or routes).
#include "admin/server.hpp"

#if defined(BOOST_BEAST_VERSION) || defined(BOOST_ASIO_VERSION)
#error "admin/server.hpp pulls in Beast or Asio"
#endif

#include <doctest/doctest.h>

// Its own namespace: the tests are unity builds (tests/CMakeLists.txt).
namespace test_unit_admin_header_test {

TEST_CASE("admin/server.hpp compiles without Beast and Asio") {
  iaposte::admin::server_config cfg;
  CHECK(cfg.address == "127.0.0.1");
  CHECK(cfg.port == 9464);
  CHECK_FALSE(cfg.metrics_require_token);
}

} // namespace test_unit_admin_header_test
