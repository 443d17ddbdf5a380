// iaposte dkim: the DKIM commands of the operator's tool (key generation).
#pragma once

#include <string>
#include <vector>

// `iaposte dkim <args...>` (args after "dkim"); returns the exit status: 0 done, 1 failed,
// 2 usage error.
int cmd_dkim(const std::vector<std::string>& args);
