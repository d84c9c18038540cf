#include "core/run_result.hpp"

namespace collapse {
const char* software_version() noexcept { return COLLAPSE_VERSION; }
const char* git_sha() noexcept { return COLLAPSE_GIT_SHA; }
}  // namespace collapse
