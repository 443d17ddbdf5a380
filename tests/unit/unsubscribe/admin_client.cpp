// The admin tests' HTTP client (tests/unit/admin/support.cpp), compiled into test_unsubscribe
// too: the unsubscribe routes are specified through the real admin server over real sockets.
#include "../admin/support.cpp"
