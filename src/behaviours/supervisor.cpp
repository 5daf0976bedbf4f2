// The supervisor API: each request is a gen_server call to the supervisor.
#include <otpnet/behaviours/call.hpp>
#include <otpnet/behaviours/gen_server.hpp>
#include <otpnet/behaviours/supervisor.hpp>

#include "behaviours/supervisor_server.hpp"

namespace otpnet::supervisor {

namespace {

task<start_result> as_start_result(task<outcome<start_result>> t) {
  outcome<start_result> r = co_await std::move(t);
  co_return r ? std::move(*r) : start_result::error(r.error());
}

task<outcome<>> flatten(task<outcome<outcome<>>> t) {
  outcome<outcome<>> r = co_await std::move(t);
  co_return r ? std::move(*r) : outcome<>(fail(r.error()));
}

}  // namespace

tl::expected<void, spec_error> check_flags(const flags& f) {
  switch (f.strategy) {
    case restart_strategy::one_for_one:
    case restart_strategy::one_for_all:
    case restart_strategy::rest_for_one:
    case restart_strategy::simple_one_for_one:
      break;
    default:
      return tl::unexpected(spec_error::invalid_strategy);
  }
  if (f.intensity < 0) {
    return tl::unexpected(spec_error::invalid_intensity);
  }
  if (f.period.count() <= 0) {
    return tl::unexpected(spec_error::invalid_period);
  }
  return {};
}

task<start_result> start_link(flags f, std::vector<child_spec> children, start_options o) {
  o.trap_exit = true;
  std::string name = o.name;
  return gen_server::start_link<internal::supervisor_server>(std::move(o), f, std::move(children), std::move(name));
}

task<start_result> start(flags f, std::vector<child_spec> children, start_options o) {
  o.trap_exit = true;
  std::string name = o.name;
  return gen_server::start<internal::supervisor_server>(std::move(o), f, std::move(children), std::move(name));
}

task<outcome<std::vector<child_info>>> which_children(server_ref sup, wait_time timeout) {
  return gen::call<std::vector<child_info>>(std::move(sup), internal::which_children_req{}, timeout);
}

task<outcome<child_counts>> count_children(server_ref sup, wait_time timeout) {
  return gen::call<child_counts>(std::move(sup), internal::count_children_req{}, timeout);
}

task<start_result> start_child(server_ref sup, child_spec spec, wait_time timeout) {
  internal::start_child_req req{std::move(spec)};
  return as_start_result(gen::call<start_result>(std::move(sup), std::move(req), timeout));
}

task<start_result> start_child(server_ref sup, std::any extra, wait_time timeout) {
  internal::start_dynamic_req req{std::move(extra)};
  return as_start_result(gen::call<start_result>(std::move(sup), std::move(req), timeout));
}

task<outcome<>> terminate_child(server_ref sup, std::string id, wait_time timeout) {
  internal::terminate_child_req req{std::move(id), pid{}};
  return flatten(gen::call<outcome<>>(std::move(sup), std::move(req), timeout));
}

task<outcome<>> terminate_child(server_ref sup, pid child, wait_time timeout) {
  internal::terminate_child_req req{{}, child};
  return flatten(gen::call<outcome<>>(std::move(sup), std::move(req), timeout));
}

task<start_result> restart_child(server_ref sup, std::string id, wait_time timeout) {
  internal::restart_child_req req{std::move(id)};
  return as_start_result(gen::call<start_result>(std::move(sup), std::move(req), timeout));
}

task<outcome<>> delete_child(server_ref sup, std::string id, wait_time timeout) {
  internal::delete_child_req req{std::move(id)};
  return flatten(gen::call<outcome<>>(std::move(sup), std::move(req), timeout));
}

}  // namespace otpnet::supervisor
