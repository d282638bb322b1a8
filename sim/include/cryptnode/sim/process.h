// Running host tools (mkfs.xfs, ...) without a shell. Never pass a secret in argv: command lines
// are visible to every process on the host.
#pragma once

#include <string>
#include <vector>

namespace cryptnode::sim {

struct ProcessResult {
  int exit_code = 0;
  std::string output;  // stdout + stderr, truncated to the last 4 KiB
};

// Runs argv[0] (searched in PATH) and waits. Throws Error(kIO) when it cannot start.
ProcessResult run_process(const std::vector<std::string>& argv);
// Runs and throws Error(kIO, "<argv[0]> failed (exit N): <output>") on a non-zero exit.
void run_checked(const std::vector<std::string>& argv);

}  // namespace cryptnode::sim
