// The SMTP tests' process, port and temp-dir helpers, reused as is (they know nothing of SMTP).
#include "../smtp/support.cpp"
