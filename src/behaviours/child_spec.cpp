// Child spec validation and parsing (OTP supervisor:check_childspecs/1).
#include <otpnet/behaviours/child_spec.hpp>

#include <charconv>
#include <unordered_set>

namespace otpnet {

std::string shutdown_spec::to_string() const {
  switch (kind_) {
    case kind::default_:
      return "default";
    case kind::brutal_kill:
      return "brutal_kill";
    case kind::infinity:
      return "infinity";
    case kind::timeout:
      break;
  }
  return std::to_string(time_.count());
}

std::string_view to_string(spec_error e) noexcept {
  switch (e) {
    case spec_error::invalid_child_spec:
      return "invalid_child_spec";
    case spec_error::invalid_id:
      return "invalid_id";
    case spec_error::invalid_start:
      return "invalid_start";
    case spec_error::invalid_restart_type:
      return "invalid_restart_type";
    case spec_error::invalid_shutdown:
      return "invalid_shutdown";
    case spec_error::invalid_child_type:
      return "invalid_child_type";
    case spec_error::duplicate_child_name:
      return "duplicate_child_name";
    case spec_error::invalid_strategy:
      return "invalid_strategy";
    case spec_error::invalid_intensity:
      return "invalid_intensity";
    case spec_error::invalid_period:
      return "invalid_period";
    case spec_error::invalid_simple_one_for_one:
      return "invalid_simple_one_for_one";
  }
  return "invalid_child_spec";
}

std::string_view to_string(restart_type r) noexcept {
  switch (r) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "invalid";
}

std::string_view to_string(child_type t) noexcept {
  switch (t) {
    case child_type::worker:
      return "worker";
    case child_type::supervisor:
      return "supervisor";
  }
  return "invalid";
}

tl::expected<void, spec_error> check_child_spec(const child_spec& s) {
  if (!s.start) {
    return tl::unexpected(spec_error::invalid_start);
  }
  if (s.restart != restart_type::permanent && s.restart != restart_type::transient &&
      s.restart != restart_type::temporary) {
    return tl::unexpected(spec_error::invalid_restart_type);
  }
  switch (s.shutdown.what()) {
    case shutdown_spec::kind::default_:
    case shutdown_spec::kind::brutal_kill:
    case shutdown_spec::kind::infinity:
      break;
    case shutdown_spec::kind::timeout:
      if (s.shutdown.time().count() < 0) {
        return tl::unexpected(spec_error::invalid_shutdown);
      }
      break;
    default:
      return tl::unexpected(spec_error::invalid_shutdown);
  }
  if (s.type != child_type::worker && s.type != child_type::supervisor) {
    return tl::unexpected(spec_error::invalid_child_type);
  }
  return {};
}

tl::expected<void, std::pair<spec_error, std::size_t>> check_child_specs(const std::vector<child_spec>& specs) {
  std::unordered_set<std::string_view> ids;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (auto r = check_child_spec(specs[i]); !r) {
      return tl::unexpected(std::pair{r.error(), i});
    }
    if (!ids.insert(specs[i].id).second) {
      return tl::unexpected(std::pair{spec_error::duplicate_child_name, i});
    }
  }
  return {};
}

shutdown_spec effective_shutdown(const child_spec& s) noexcept {
  if (s.shutdown.what() != shutdown_spec::kind::default_) {
    return s.shutdown;
  }
  return s.type == child_type::supervisor ? shutdown_spec::infinity() : shutdown_spec(std::chrono::milliseconds(5000));
}

tl::expected<restart_type, spec_error> restart_type_from_string(std::string_view s) {
  if (s == "permanent") {
    return restart_type::permanent;
  }
  if (s == "transient") {
    return restart_type::transient;
  }
  if (s == "temporary") {
    return restart_type::temporary;
  }
  return tl::unexpected(spec_error::invalid_restart_type);
}

tl::expected<child_type, spec_error> child_type_from_string(std::string_view s) {
  if (s == "worker") {
    return child_type::worker;
  }
  if (s == "supervisor") {
    return child_type::supervisor;
  }
  return tl::unexpected(spec_error::invalid_child_type);
}

tl::expected<shutdown_spec, spec_error> shutdown_from_string(std::string_view s) {
  if (s == "brutal_kill") {
    return shutdown_spec::brutal_kill();
  }
  if (s == "infinity") {
    return shutdown_spec::infinity();
  }
  long long ms = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || ms < 0) {
    return tl::unexpected(spec_error::invalid_shutdown);
  }
  return shutdown_spec(std::chrono::milliseconds(ms));
}

}  // namespace otpnet
