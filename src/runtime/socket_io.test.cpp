#include <otpnet/runtime/mailbox.hpp>
#include <otpnet/runtime/process.hpp>
#include <otpnet/runtime/receive.hpp>
#include <otpnet/runtime/runtime.hpp>
#include <otpnet/runtime/socket_io.hpp>
#include <otpnet/runtime/socket_select.hpp>
#include <otpnet/socket/poller.hpp>
#include <otpnet/socket/registry.hpp>

#include "support/loopback.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace otpnet {
namespace {

using namespace std::chrono_literals;
namespace so = otpnet::socket;
using test::bytes;

class socket_io_test : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(runtime::start({.schedulers = 2})); }
  void TearDown() override { runtime::stop(); }
};

/// What a process reports back: an outcome text.
struct outcome {
  std::string text;
};

TEST_F(socket_io_test, accept_and_recv_infinity_suspend_only_the_process) {
  mailbox mb;
  auto l = test::listen_loopback();
  // One scheduler hosts both the waiting server and a busy ping-pong.
  spawn_opt({.scheduler = 0}, [me = mb.self(), ls = l.sock]() -> proc {
    auto a = co_await so::co::accept(ls);
    if (!a) {
      send(me, outcome{"accept: " + format_error(a.error())});
      co_return;
    }
    std::byte buf[64];
    auto n = co_await so::co::recv(*a, buf);
    send(me, outcome{n ? test::text({buf, *n}) : format_error(n.error())});
  });
  pid counter = spawn_opt({.scheduler = 0}, []() -> proc {
                  for (;;) {
                    pid from = co_await receive<pid>();
                    send(from, 1);
                  }
                }).first;
  // The scheduler still runs other processes while the server waits.
  for (int i = 0; i < 100; ++i) {
    send(counter, mb.self());
    ASSERT_TRUE(mb.receive<int>(5000ms));
  }
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, l.addr(), 5000ms));
  ASSERT_TRUE(so::send(*c, bytes("from a client"), 0, 5000ms));
  auto r = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "from a client");
}

TEST_F(socket_io_test, millisecond_timeouts_expire_without_stray_events) {
  mailbox mb;
  auto l = test::listen_loopback();
  spawn([me = mb.self(), ls = l.sock]() -> proc {
    auto a = co_await so::co::accept(ls, 20ms);
    std::string first = a ? "accepted" : std::string(err_name(a.error()));
    // Nothing is left in the mailbox after the timeout.
    auto stray = co_await receive_any(after(30ms));
    send(me, outcome{first + (stray ? " stray" : " clean")});
  });
  auto r = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "timeout clean");
  EXPECT_EQ(so::info(l.sock)->read_waiters, 0u);
}

TEST_F(socket_io_test, connect_from_a_process) {
  mailbox mb;
  auto l = test::listen_loopback();
  spawn([me = mb.self(), port = l.port]() -> proc {
    auto s = so::co::open(so::domain::inet, so::type::stream);
    auto r = co_await so::co::connect(*s, so::address::inet_loopback(port), 5000ms);
    send(me, outcome{r ? "connected" : format_error(r.error())});
    co_await receive<int>();  // keep the socket until told
  });
  auto r = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "connected");
  EXPECT_TRUE(so::accept(l.sock, 5000ms));
}

TEST_F(socket_io_test, nowait_from_a_process_delivers_a_socket_select_message) {
  mailbox mb;
  auto [c, a] = test::connected_pair();
  spawn([me = mb.self(), s = a]() -> proc {
    std::byte buf[16];
    auto r = so::recv(s, buf, 0, so::nowait);
    if (!r.is_select()) {
      send(me, outcome{"no select"});
      co_return;
    }
    send(me, outcome{"selected"});
    socket_select m = co_await receive<socket_select>();
    bool same = m.handle == r.select_info()->handle && m.sock == s && m.tag == so::select_tag::recv;
    auto again = so::recv(s, buf, 0, so::nowait);
    send(me, outcome{std::string(same ? "event " : "wrong event ") +
                     (again.is_ok() ? test::text({buf, again.value()}) : "?")});
  });
  auto first = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->text, "selected");
  ASSERT_TRUE(so::send(c, bytes("ready"), 0, 5000ms));
  auto second = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->text, "event ready");
}

TEST_F(socket_io_test, cancel_from_a_process_leaves_no_message) {
  mailbox mb;
  auto [c, a] = test::connected_pair();
  spawn([me = mb.self(), s = a]() -> proc {
    std::byte buf[16];
    auto r = so::recv(s, buf, 0, so::nowait);
    bool cancelled = r.is_select() && so::cancel(s, *r.select_info()).has_value();
    send(me, outcome{cancelled ? "cancelled" : "not cancelled"});
    co_await receive<int>();  // the data arrives meanwhile
    auto stray = co_await receive<socket_select>(after(30ms));
    send(me, outcome{stray ? "stray event" : "clean"});
  });
  auto r = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "cancelled");
  ASSERT_TRUE(so::send(c, bytes("data"), 0, 5000ms));
  // Tell it to look (any pid of the process works: find it by its waiting).
  for (pid p : processes()) {
    if (p != mb.self()) {
      send(p, 1);
    }
  }
  auto r2 = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->text, "clean");
}

TEST_F(socket_io_test, owned_sockets_close_when_the_process_ends) {
  mailbox mb;
  auto l = test::listen_loopback();
  auto [server, r] = spawn_monitor([me = mb.self(), ls = l.sock]() -> proc {
    auto a = co_await so::co::accept(ls, 5000ms);
    send(me, outcome{a ? "accepted" : "failed"});
    std::byte buf[4];
    // Keeps the socket in the frame, then crashes.
    (void)co_await so::co::recv(*a, buf);
    throw std::runtime_error("handler crashed");
  });
  (void)server;
  (void)r;
  auto c = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(so::connect(*c, l.addr(), 5000ms));
  ASSERT_TRUE(mb.receive<outcome>(5000ms));
  ASSERT_TRUE(so::send(*c, bytes("x"), 0, 5000ms));
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  std::byte buf[4];
  auto n = so::recv(*c, buf, 0, 5000ms);
  ASSERT_FALSE(n);
  EXPECT_TRUE(n.error() == errc::closed || n.error() == errc::econnreset) << err_name(n.error());
}

TEST_F(socket_io_test, controlling_process_hands_over_ownership) {
  mailbox mb;
  auto [c, a] = test::connected_pair();
  // The new owner waits for the hand-over, then ends: the socket closes.
  auto [heir, hr] = spawn_monitor([]() -> proc { co_await receive<int>(); });
  (void)hr;
  spawn([me = mb.self(), s = a, heir]() -> proc {
    auto adopted = so::co::adopt(s);
    auto given = so::co::controlling_process(s, heir);
    auto again = so::co::controlling_process(s, heir);  // no longer the owner
    send(me, outcome{std::string(adopted && given ? "given" : "failed") +
                     (again ? " twice" : std::string(" then ") + std::string(err_name(again.error())))});
    co_return;
  });
  auto r = mb.receive<outcome>(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->text, "given then invalid");
  EXPECT_EQ(so::info(a)->owner, heir.value());
  EXPECT_TRUE(a.is_open());  // the first owner's end did not close it
  send(heir, 1);
  ASSERT_TRUE(mb.receive<down_msg>(5000ms));
  std::byte buf[4];
  auto n = so::recv(c, buf, 0, 5000ms);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), errc::closed);
}

TEST(socket_io_shutdown, stop_with_live_processes_and_sockets_leaves_no_descriptor) {
  {
    // A first wait starts the socket layer's select service, which lives on.
    auto warm = test::listen_loopback();
    (void)so::accept(warm.sock, 0ms);
  }
  int before = test::open_fds();
  ASSERT_TRUE(runtime::start({.schedulers = 2}));
  {
    mailbox mb;
    auto l = so::open(so::domain::inet, so::type::stream);
    ASSERT_TRUE(so::bind(*l, so::address::inet_loopback(0)));
    ASSERT_TRUE(so::listen(*l));
    auto port = so::sockname(*l)->port();
    for (int i = 0; i < 20; ++i) {
      spawn([ls = *l]() -> proc {
        auto a = co_await so::co::accept(ls);
        if (!a) {
          co_return;  // the listener closed under it
        }
        std::byte buf[8];
        (void)co_await so::co::recv(*a, buf);
      });
    }
    for (int i = 0; i < 10; ++i) {
      spawn([port]() -> proc {
        auto s = so::co::open(so::domain::inet, so::type::stream);
        if (s) {
          (void)co_await so::co::connect(*s, so::address::inet_loopback(port), 5000ms);
        }
        co_await receive<int>();
      });
    }
    (void)so::close(*l);
  }
  runtime::stop();
  EXPECT_EQ(test::open_fds(), before);
}

/// A blocking accept on `l` from this thread, while another thread connects
/// once it sees the accept waiting (at most 5 s): the accept needs its
/// socket watched by whatever poller it has.
result<so::socket> accept_while_a_client_comes(const test::listener& l) {
  std::thread connector([&l] {
    auto deadline = std::chrono::steady_clock::now() + 5000ms;
    while (std::chrono::steady_clock::now() < deadline) {
      auto info = so::info(l.sock);
      if (info && info->read_waiters > 0) {
        break;
      }
      std::this_thread::yield();
    }
    auto c = so::open(so::domain::inet, so::type::stream);
    if (c) {
      (void)so::connect(*c, l.addr(), 5000ms);
      (void)so::close(*c);
    }
  });
  auto a = so::accept(l.sock, 5000ms);
  connector.join();
  return a;
}

// A socket a process waited on (so watched by its scheduler's poll set) and
// a thread still holds when the runtime stops: the set goes with its
// scheduler, the socket forgets it, and the thread can still wait on the
// socket (the select service watches it then). Before, the socket kept
// pointing at the destroyed set: the thread's wait was never woken, and
// closing the socket touched freed memory.
TEST(socket_io_shutdown, a_socket_used_by_a_process_outlives_the_runtime) {
  auto l = test::listen_loopback();
  ASSERT_TRUE(runtime::start({.schedulers = 1}));
  {
    mailbox mb;
    spawn([me = mb.self(), ls = l.sock]() -> proc {
      auto a = co_await so::co::accept(ls, 10ms);
      send(me, outcome{a ? std::string("accepted") : format_error(a.error())});
    });
    auto o = mb.receive<outcome>(5000ms);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->text, format_error(errc::timeout));
  }
  runtime::stop();
  // This thread waits for a connection; another connects once it sees the
  // wait queued on the socket.
  auto a = accept_while_a_client_comes(l);
  ASSERT_TRUE(a) << format_error(a.error());
  EXPECT_TRUE(so::close(*a));
  EXPECT_TRUE(so::close(l.sock));
}

// The same with a socket a process used without waiting (its call
// succeeded at once): it was never watched by the scheduler's poll set, but
// the process's preference for that set must not outlive it either.
TEST(socket_io_shutdown, a_socket_a_process_used_without_waiting_outlives_the_runtime) {
  auto l = test::listen_loopback();
  auto early = so::open(so::domain::inet, so::type::stream);
  ASSERT_TRUE(early);
  ASSERT_TRUE(so::connect(*early, l.addr(), 5000ms));
  ASSERT_TRUE(runtime::start({.schedulers = 1}));
  {
    mailbox mb;
    spawn([me = mb.self(), ls = l.sock]() -> proc {
      auto a = co_await so::co::accept(ls, 5000ms);  // the connection is there: no wait
      send(me, outcome{a ? std::string("accepted") : format_error(a.error())});
      if (a) {
        (void)so::close(*a);
      }
    });
    auto o = mb.receive<outcome>(5000ms);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->text, "accepted");
  }
  runtime::stop();
  auto a = accept_while_a_client_comes(l);
  ASSERT_TRUE(a) << format_error(a.error());
  EXPECT_TRUE(so::close(*a));
  EXPECT_TRUE(so::close(*early));
  EXPECT_TRUE(so::close(l.sock));
}

}  // namespace
}  // namespace otpnet
