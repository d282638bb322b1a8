// The node's event log: one line per thing the controllers did, for reports, `node.events()` and
// benchmarks' breakdowns. Never holds a secret.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cryptnode/engine/env.h"

namespace cryptnode::controller {

struct Event {
  int64_t time_ms = 0;  // the node's clock (virtual in the simulation)
  double wall_ms = 0;   // real time since the log was started (power-on), for benchmarks
  std::string step;     // "meta", "STATE", "config", "salt", "EPHEMERAL", "u-data", "running"...
  std::string message;
};

class EventLog {
 public:
  explicit EventLog(Env& env) : env_(env) {}
  // Real time is measured from here (the node calls it at each power-on).
  void start_wall_clock() { wall_start_ = env_.real_clock().now_ms(); }
  void add(const std::string& step, const std::string& message) {
    events_.push_back({env_.clock().now_ms(),
                       static_cast<double>(env_.real_clock().now_ms() - wall_start_), step,
                       message});
  }
  const std::vector<Event>& events() const { return events_; }

 private:
  Env& env_;
  int64_t wall_start_ = 0;
  std::vector<Event> events_;
};

}  // namespace cryptnode::controller
