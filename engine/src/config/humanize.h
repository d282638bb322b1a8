// dustin/go-humanize ParseBytes and Talos' block.Size / PercentageSize text forms
// (pkg/machinery/config/types/block/size.go, percentage_size.go), with their error texts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cryptnode::config::humanize {

std::optional<std::string> parse_bytes_error(const std::string& s);
uint64_t parse_bytes(const std::string& s);  // 0 on error
// block.Size: "…%" is a PercentageSize, else ByteSize
std::optional<std::string> parse_size_error(const std::string& s);
uint64_t parse_percent(const std::string& s);

}  // namespace cryptnode::config::humanize
