#pragma once
// Strict parsing of one run's fully expanded TOML table into a RunConfig (DESIGN.md §5).

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "loop/config.hpp"

namespace collapse::sweep {

/// Parses and validates every key of a run's table. Relative data paths are resolved against
/// `base_dir` (the experiment file's directory).
/// @throws std::invalid_argument with one message naming the key, the value and what is allowed:
///   unknown keys (with a "did you mean" hint), wrong types, out-of-range values, unknown kinds.
RunConfig parse_run_config(const toml::table& table, const std::string& base_dir);

/// Every key the experiment format accepts, as "section.key" (for hints and `collapse validate`).
const std::vector<std::string>& known_keys();

/// The key in `candidates` closest to `key` by edit distance, or "" if none is within distance ≤ 3.
std::string did_you_mean(const std::string& key, const std::vector<std::string>& candidates);

/// Describes a TOML value for messages: `1.5`, `"abc"`, `[1, 2]`.
std::string describe_value(const toml::node& node);

}  // namespace collapse::sweep
