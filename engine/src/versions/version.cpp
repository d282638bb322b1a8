// Talos release versions: the tags of siderolabs/talos that a node profile can name.
#include <charconv>
#include <iterator>
#include <string>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/versions.h"

namespace cryptnode::versions {
namespace {

// The newest patch Talos tagged in each minor (`git tag` in siderolabs/talos). Older minors are
// here because the bug catalogue reproduces bugs that lived there.
struct Minor {
  int minor;
  int newest_patch;
};
constexpr Minor kMinors[] = {
    {8, 4},    // v1.8.0 .. v1.8.4
    {9, 6},    // v1.9.0 .. v1.9.6
    {10, 9},   // v1.10.0 .. v1.10.9
    {11, 6},   // v1.11.0 .. v1.11.6
    {12, 11},  // v1.12.0 .. v1.12.11 (release-1.12 head, 2e80771b)
    {13, 9},   // v1.13.0 .. v1.13.9 (release-1.13 head, 3ebd10a7)
    // release-1.14 has tagged only pre-releases (newest v1.14.0-rc.1, 7a84d742); "1.14.0" names
    // that branch head, whose encryption behaviour is the one 1.14.0 ships.
    {14, 0},
};

// Pre-releases the bug catalogue needs: talos#11502 lived only in v1.11.0-beta.1 (the META
// reader without the legacy fallback, 7eec61993) and was fixed in v1.11.0-beta.2 (85589662a);
// the reporter came from v1.11.0-beta.0.
constexpr Version kPreReleases[] = {{1, 11, 0, 0}, {1, 11, 0, 1}, {1, 11, 0, 2}};

std::string accepted_range() {
  std::string out;
  for (const Minor& m : kMinors) {
    if (!out.empty()) out += ", ";
    out += "1." + std::to_string(m.minor) + ".0-1." + std::to_string(m.minor) + "." +
           std::to_string(m.newest_patch);
  }
  for (const Version& pre : kPreReleases) out += ", " + pre.str();
  return out;
}

[[noreturn]] void unknown(std::string_view text) {
  throw Error(Code::kInvalidArgument, "unknown Talos version \"" + std::string(text) +
                                          "\": accepted are " + accepted_range() +
                                          " (a bare minor such as 1.12 means its newest patch)");
}

bool number(std::string_view s, int& out) {
  if (s.empty() || s.size() > 4 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string Version::str() const {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) +
         (beta ? "-beta." + std::to_string(*beta) : "");
}

std::strong_ordering Version::operator<=>(const Version& o) const {
  if (auto c = major <=> o.major; c != 0) return c;
  if (auto c = minor <=> o.minor; c != 0) return c;
  if (auto c = patch <=> o.patch; c != 0) return c;
  if (beta.has_value() != o.beta.has_value())  // a release comes after its pre-releases
    return beta ? std::strong_ordering::less : std::strong_ordering::greater;
  return beta.value_or(0) <=> o.beta.value_or(0);
}

Version Version::parse(std::string_view text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == 'v') s.remove_prefix(1);
  if (size_t dash = s.find('-'); dash != std::string_view::npos) {
    for (const Version& pre : kPreReleases)
      if (s == pre.str()) return pre;
    unknown(text);
  }
  int parts[3] = {0, 0, -1};
  int n = 0;
  while (n < 3) {
    size_t dot = s.find('.');
    std::string_view part = s.substr(0, dot);
    if (!number(part, parts[n])) unknown(text);
    ++n;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (n == 3) unknown(text);  // a fourth component
  }
  if (n < 2 || parts[0] != 1) unknown(text);
  for (const Minor& m : kMinors) {
    if (m.minor != parts[1]) continue;
    if (n == 2) return Version{1, m.minor, m.newest_patch};
    if (parts[2] > m.newest_patch) unknown(text);
    return Version{1, m.minor, parts[2]};
  }
  unknown(text);
}

Version default_version() {
  return Version{1, 12, 11};
}

const std::vector<Version>& pre_releases() {
  static const std::vector<Version> all(std::begin(kPreReleases), std::end(kPreReleases));
  return all;
}

const std::vector<Version>& known_versions() {
  static const std::vector<Version> all = [] {
    std::vector<Version> v;
    for (const Minor& m : kMinors)
      for (int p = 0; p <= m.newest_patch; ++p) v.push_back(Version{1, m.minor, p});
    return v;
  }();
  return all;
}

}  // namespace cryptnode::versions
