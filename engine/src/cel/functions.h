// The standard functions and operators at run time (cel-go common/types and
// common/stdlib/standard.go), plus Talos' glob() (github.com/ryanuber/go-glob).
#pragma once

#include <string>
#include <vector>

#include "value.h"

namespace cryptnode::cel {

// cel-go's heterogeneous equality (types.Equal): numbers compare across int/uint/double, values
// of different types are unequal.
bool values_equal(const Value& a, const Value& b);
// fmt's %v of a value, as cel-go's error texts print them.
std::string display(const Value& v);
// The runtime type name of a value ("int", "talos.resource.definitions.block.DiskSpec").
std::string display_type(const Value& v);
// Applies function `name` to already evaluated, error-free arguments (receiver first).
Value apply_function(const std::string& name, bool member, const std::vector<Value>& args);
// go-glob: '*' is the only wildcard.
bool glob(const std::string& pattern, const std::string& subject);
// RE2's partial match, through std::regex (see regex.cpp for the differences).
Value regex_matches(const std::string& subject, const std::string& pattern);

}  // namespace cryptnode::cel
