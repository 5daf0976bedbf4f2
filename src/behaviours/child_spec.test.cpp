#include "otpnet/behaviours/child_spec.hpp"

#include "otpnet/behaviours/sync_wait.hpp"
#include "otpnet/runtime/runtime.hpp"

#include <gtest/gtest.h>

#include <any>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace otpnet {
namespace {

using namespace std::chrono_literals;

child_spec good(std::string id) {
  child_spec s;
  s.id = std::move(id);
  s.start = start_fn("m:start_link", [] { return start_result::ignore(); });
  return s;
}

TEST(child_spec, a_good_spec_passes_and_defaults_its_shutdown_by_type) {
  child_spec w = good("w");
  EXPECT_TRUE(check_child_spec(w));
  EXPECT_EQ(effective_shutdown(w), shutdown_spec(5000ms));
  w.type = child_type::supervisor;
  EXPECT_EQ(effective_shutdown(w), shutdown_spec::infinity());
  w.shutdown = shutdown_spec::brutal_kill();
  EXPECT_EQ(effective_shutdown(w), shutdown_spec::brutal_kill());
  EXPECT_EQ(w.start.name(), "m:start_link");
}

TEST(child_spec, bad_specs_are_rejected_with_named_reasons) {
  child_spec s = good("x");
  s.start = {};
  EXPECT_EQ(check_child_spec(s).error(), spec_error::invalid_start);
  s = good("x");
  s.restart = static_cast<restart_type>(7);
  EXPECT_EQ(check_child_spec(s).error(), spec_error::invalid_restart_type);
  s = good("x");
  s.shutdown = -1ms;
  EXPECT_EQ(check_child_spec(s).error(), spec_error::invalid_shutdown);
  s = good("x");
  s.type = static_cast<child_type>(9);
  EXPECT_EQ(check_child_spec(s).error(), spec_error::invalid_child_type);
  EXPECT_EQ(to_string(spec_error::invalid_shutdown), "invalid_shutdown");
}

TEST(child_spec, duplicate_ids_are_named_with_their_position) {
  std::vector<child_spec> specs = {good("a"), good("b"), good("a")};
  auto r = check_child_specs(specs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().first, spec_error::duplicate_child_name);
  EXPECT_EQ(r.error().second, 2u);
  specs[2].id = "c";
  specs[1].shutdown = -3ms;
  r = check_child_specs(specs);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::make_pair(spec_error::invalid_shutdown, std::size_t{1}));
}

TEST(child_spec, text_parsers_give_the_same_names) {
  EXPECT_EQ(restart_type_from_string("transient"), restart_type::transient);
  EXPECT_EQ(restart_type_from_string("sometimes").error(), spec_error::invalid_restart_type);
  EXPECT_EQ(child_type_from_string("supervisor"), child_type::supervisor);
  EXPECT_EQ(child_type_from_string("boss").error(), spec_error::invalid_child_type);
  EXPECT_EQ(shutdown_from_string("brutal_kill"), shutdown_spec::brutal_kill());
  EXPECT_EQ(shutdown_from_string("infinity"), shutdown_spec::infinity());
  EXPECT_EQ(shutdown_from_string("2000"), shutdown_spec(2000ms));
  EXPECT_EQ(shutdown_from_string("-5").error(), spec_error::invalid_shutdown);
  EXPECT_EQ(shutdown_from_string("soon").error(), spec_error::invalid_shutdown);
  EXPECT_EQ(shutdown_from_string("").error(), spec_error::invalid_shutdown);
  EXPECT_EQ(shutdown_spec(2000ms).to_string(), "2000");
  EXPECT_EQ(shutdown_spec::brutal_kill().to_string(), "brutal_kill");
}

TEST(child_spec, start_functions_take_any_of_their_shapes) {
  // Plain or coroutine, with or without the extra argument.
  start_fn plain([] { return start_result::ignore(); });
  start_fn with_extra([](const std::any& a) {
    return a.has_value() ? start_result::ignore() : start_result::error(exit_reason::other("no arg"));
  });
  start_fn coroutine([]() -> task<start_result> { co_return start_result::ignore(); });
  EXPECT_TRUE(plain);
  EXPECT_TRUE(with_extra);
  EXPECT_TRUE(coroutine);
  EXPECT_FALSE(start_fn());
}

// A copy of a start function has its own closure (specs copied to other
// supervisors share nothing), and the handle a supervisor takes for a start
// keeps the closure alive where it was, even once the function is gone.
// (Mutable closures: supervisor.test.cpp, where starts run.)
TEST(child_spec, a_start_function_copies_its_closure_and_a_running_start_keeps_it) {
  auto calls = std::make_shared<std::vector<std::string>>();
  start_fn a("named", [calls] {
    calls->push_back("a");
    return start_result::ignore();
  });
  start_fn b = a;
  EXPECT_EQ(b.name(), "named");
  start_fn::running r = b.run();
  b = start_fn();
  a = start_fn();
  (void)r(std::any());  // (a plain function runs at the call; its task holds the result)
  EXPECT_EQ(*calls, (std::vector<std::string>{"a"})) << "the running handle lost the closure";
  EXPECT_FALSE(b);
  EXPECT_EQ(b.name(), "");
  EXPECT_THROW((void)b(std::any()), std::bad_function_call);
  EXPECT_THROW((void)b.run()(std::any()), std::bad_function_call);
}

// A start made by calling the function (the supervisor uses run() instead)
// keeps the closure and its argument until its task ends, though both are
// gone before it runs. (Without that, the ASan build reads freed memory.)
TEST(child_spec, a_start_made_by_calling_the_function_keeps_its_closure_and_argument_until_it_ends) {
  ASSERT_TRUE(runtime::start({.schedulers = 1}));
  std::optional<task<start_result>> t;
  {
    start_fn f([tag = std::string(40, 'z')](const std::any& extra) -> task<start_result> {
      co_return start_result::error(exit_reason::other(tag + std::any_cast<std::string>(extra)));
    });
    auto extra = std::make_unique<std::any>(std::string(40, 'x'));
    t.emplace(f(*extra));
  }
  start_result r = sync_wait(std::move(*t));
  runtime::stop();
  ASSERT_TRUE(r.is_error());
  EXPECT_EQ(r.reason().to_string(), std::string(40, 'z') + std::string(40, 'x'));
}

}  // namespace
}  // namespace otpnet
