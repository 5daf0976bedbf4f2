// File: gen_tcp/flow_control.test.cpp
//
// Flow control (DESIGN invariant 4): a peer that never reads suspends the
// sender at the high watermark and the server's memory stays bounded (1 GiB
// sent through a 64 KiB watermark, RSS measured); an echo whose replies are
// not read stops reading its peer; an active-once handler that reads
// slowly leaves the bytes in the kernel; send_timeout with and without
// send_timeout_close; shutdown(write) and close after the queue is written;
// half-close with exit_on_close false.
#include <otpnet/gen_tcp/transport.hpp>
#include <otpnet/runtime/process_info.hpp>

#include "gen_tcp/harness.test.hpp"
#include "gen_tcp/port.hpp"
#include "gen_tcp/shared_options.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::gen_tcp::test {
namespace {

class flow_control : public tcp_test {
 protected:
  /// Has `owner` send `size` bytes of pattern() and close its socket at
  /// once: "ok waiting,ok" when the close lingers (the queue not written).
  std::string send_then_close(pid owner, std::size_t size) {
    return call(owner, [size](const socket& s) { return queue_then_close(s, size); });
  }
  /// Has `owner` send far more than the kernel buffers hold (its peer not
  /// reading): "ok waiting" when the send was queued and part of it waits.
  std::string queue_beyond_the_buffers(pid owner) {
    return call(owner, [](const socket& s) {
      auto q = s.send(buffer::copy_of(pattern(std::size_t{16} << 20)));
      return outcome(q) + (s.getstat().value().send_pend > 0 ? " waiting" : " written");
    });
  }
  /// In the owner: sends `size` bytes (more than the kernel takes from a
  /// peer that does not read) and closes: "ok waiting,ok" when the close
  /// lingers with the queue.
  static std::string queue_then_close(const socket& s, std::size_t size) {
    auto q = s.send(buffer::copy_of(pattern(size)));
    std::string waiting = s.getstat().value().send_pend > 0 ? " waiting" : " written";
    return outcome(q) + waiting + "," + outcome(s.close());
  }  /// A connection whose both ends' buffers are fixed at 16 KiB (see
  /// fill_send_buffer), and the counter its goodbye_transport will use.
  struct goodbye_conn {
    conn k;
    std::shared_ptr<std::atomic<int>> blocked = std::make_shared<std::atomic<int>>(0);
  };
  /// A goodbye_conn with `o` on scheduler 0 (the kernel's tuning would let
  /// a few more bytes in later than the fill).
  goodbye_conn fixed_buffers_conn(const options& o) {
    goodbye_conn g{open_conn(o, 0)};
    int small = 16384;
    EXPECT_EQ(::setsockopt(g.k.c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    EXPECT_EQ(::setsockopt(g.k.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    return g;
  }
};

constexpr std::size_t mib = std::size_t{1} << 20;

/// Receives `n` frames in passive mode, kept as the port handed them out;
/// on an error, those before it and `failed` set to "recv: <error>".
task<std::vector<buffer>> recv_frames(socket s, int n, std::string& failed) {
  std::vector<buffer> got;
  for (int i = 0; i < n; ++i) {
    auto r = co_await s.recv(0, must);
    if (!r) {
      failed = "recv: " + std::string(err_name(r.error()));
      break;
    }
    got.push_back(std::move(*r));
  }
  co_return got;
}
/// The bound on the server's RSS growth while a peer does not keep up.
/// Under AddressSanitizer the process also holds the shadow of what the heap
/// touched and the quarantine of freed blocks, which moved a run on a loaded
/// machine to 67 MiB: there the bound is doubled, and the release builds
/// (both backends) hold the tight one.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t rss_bound = 128 * mib;
#else
constexpr std::size_t rss_bound = 64 * mib;
#endif

std::size_t env_bytes(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

/// Samples this process's RSS until `done`, keeping the largest.
struct rss_watch {
  std::size_t base = rss_bytes();
  std::size_t peak = base;
  void sample() { peak = std::max(peak, rss_bytes()); }
  std::size_t growth() const { return peak > base ? peak - base : 0; }
};

TEST_F(flow_control, slow_consumer_suspends_the_sender_and_bounds_memory) {
  const std::size_t total = env_bytes("OTPNET_TEST_SLOW_CONSUMER_BYTES", 1024 * mib);
  constexpr std::size_t piece = 64 * 1024;
  auto ls = listen_lo({.active = passive});
  rss_watch rss;
  pid server = spawn([ls, me = me(), total]() -> proc {
    auto s = co_await accept(ls, must);
    if (!s) {
      send(me, ev{"accept_failed", {}, s.error()});
      co_return;
    }
    send(me, ev{"accepted"});
    std::string chunk = pattern(piece);
    std::size_t sent = 0;
    int waits = 0;
    while (sent < total) {
      auto q = s->send(std::string_view(chunk));
      if (!q) {
        send(me, ev{"error", {}, q.error()});
        co_return;
      }
      sent += piece;
      if (q->busy) {
        if (waits++ == 0) {
          send(me, ev{"busy", std::to_string(q->bytes)});
        }
        auto d = co_await s->drained();
        if (!d) {
          send(me, ev{"error", {}, d.error()});
          co_return;
        }
      }
    }
    send(me, ev{"sent", std::to_string(waits)});
    (void)co_await receive<stop_cmd>();
  });
  client c = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  ev busy = next();
  ASSERT_EQ(busy.kind, "busy");
  EXPECT_LE(std::stoull(busy.data), 64 * 1024 + piece) << "queued beyond the watermark and one send";
  // Suspended in drained(), not failed, not finished.
  EXPECT_TRUE(wait_until([&] {
    auto info = process_info(server);
    return info && info->status == "waiting";
  }));
  expect_quiet();
  rss.sample();
  EXPECT_LT(rss.growth(), rss_bound);

  // Now the peer reads everything, in a thread; the test samples meanwhile.
  std::atomic<bool> done{false};
  std::size_t received = 0;
  errc ended = errc::ok;
  scoped_thread reader([&] {
    std::vector<std::byte> buf(256 * 1024);
    while (received < total) {
      auto r = so::recv(c.s, buf, 0, must);
      if (!r) {
        ended = r.error();
        break;
      }
      received += *r;
    }
    done = true;
  });
  while (!done) {
    rss.sample();
    std::this_thread::sleep_for(2ms);
  }
  reader.join();
  EXPECT_EQ(ended, errc::ok);
  EXPECT_EQ(received, total);
  ev fin = next();
  EXPECT_EQ(fin.kind, "sent");
  EXPECT_GT(std::stoull(fin.data.empty() ? "0" : fin.data), 0U);
  EXPECT_LT(rss.growth(), rss_bound) << "RSS grew by " << rss.growth() / mib << " MiB";
  RecordProperty("rss_growth_kib", std::to_string(rss.growth() / 1024));
  send(server, stop_cmd{});
}

// An echo server whose replies are not read: once its send queue is above
// the high watermark it stops reading, so the kernel's window stops the
// peer, and the server's memory stays bounded.
TEST_F(flow_control, echo_whose_replies_are_not_read_stops_reading_its_peer) {
  auto ls = listen_lo({.active = always});
  auto in = std::make_shared<std::atomic<std::size_t>>(0);
  rss_watch rss;
  spawn([ls, me = me(), in]() -> proc {
    auto s = co_await accept(ls, must);
    if (!s) {
      co_return;
    }
    send(me, ev{"accepted"});
    for (;;) {
      message m = co_await receive_any();
      if (auto* d = m.get_if<tcp>()) {
        *in += d->data.size();
        (void)d->sock.send(d->data);  // the same bytes, no copy; busy ignored
      } else if (!m.is<cmd>()) {
        co_return;
      }
    }
  });
  client c = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  // Write without reading until nothing more goes for half a second.
  const std::string stream = pattern(256 * mib / 64);  // 4 MiB, written over and over
  std::size_t written = 0;
  std::size_t limit = 256 * mib;
  while (written < limit) {
    std::size_t at = written % stream.size();
    ssize_t n = ::send(c.fd(), stream.data() + at, stream.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
      rss.sample();
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << "send: " << errno;
    pollfd p{c.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 500) == 0) {
      break;  // the peer stopped reading
    }
  }
  rss.sample();
  EXPECT_LT(written, 64 * mib) << "the server kept reading while its replies queued up";
  EXPECT_LT(rss.growth(), rss_bound);
  RecordProperty("written_before_stall_kib", std::to_string(written / 1024));
  RecordProperty("rss_growth_kib", std::to_string(rss.growth() / 1024));
  // Reading the replies lets it resume: every byte comes back, in order.
  std::string back;
  back.reserve(written);
  std::vector<std::byte> buf(256 * 1024);
  while (back.size() < written) {
    auto r = so::recv(c.s, buf, 0, must);
    ASSERT_TRUE(r) << err_name(r.error()) << " after " << back.size() << " of " << written;
    back.append(reinterpret_cast<const char*>(buf.data()), *r);
  }
  EXPECT_EQ(in->load(), written);
  for (std::size_t at = 0; at < written; at += stream.size()) {
    std::size_t n = std::min(stream.size(), written - at);
    ASSERT_EQ(std::string_view(back).substr(at, n), std::string_view(stream).substr(0, n)) << "at " << at;
  }
}

// A fast producer and an active-once handler that takes its time: the port
// reads one chunk per arming, the rest waits in the kernel, whose window
// stops the producer; the server's memory stays bounded.
TEST_F(flow_control, fast_producer_to_a_slow_active_once_handler) {
  const std::size_t total = env_bytes("OTPNET_TEST_FAST_PRODUCER_BYTES", 128 * mib);
  constexpr int kernel_buf = 128 * 1024;  // fixed, so autotuning cannot widen the bound
  auto ls = listen_lo({.active = once, .recbuf = kernel_buf});
  auto received = std::make_shared<std::atomic<std::size_t>>(0);
  rss_watch rss;
  spawn([ls, me = me(), received]() -> proc {
    auto s = co_await accept(ls, must);
    if (!s) {
      co_return;
    }
    send(me, ev{"accepted"});
    int slow = 200;  // the first 200 messages take a millisecond each
    for (;;) {
      message m = co_await receive_any();
      if (auto* d = m.get_if<tcp>()) {
        *received += d->data.size();
        if (slow > 0) {
          --slow;
          co_await sleep(1ms);
        }
        (void)s->setopts({.active = once});
      } else if (m.is<tcp_closed>()) {
        send(me, ev{"closed"});
        co_return;
      } else {
        co_return;
      }
    }
  });
  client c = client::connect(ls.port);
  ASSERT_TRUE(so::setopt(c.s, so::opt::socket::sndbuf, kernel_buf));
  ASSERT_EQ(next().kind, "accepted");
  auto sent = std::make_shared<std::atomic<std::size_t>>(0);
  scoped_thread producer([&c, sent, total] {
    const std::string piece = pattern(mib);
    while (*sent < total) {
      if (!c.write(piece)) {
        return;
      }
      *sent += piece.size();
    }
    c.shutdown_write();
  });
  // Kernel buffers (both sides, doubled by the kernel), one read chunk and
  // the piece being written: nothing else may be in flight.
  const std::size_t in_flight_bound = 4 * kernel_buf + gen_tcp::detail::read_chunk_size + mib;
  std::size_t worst = 0;
  bool closed = false;
  auto deadline = std::chrono::steady_clock::now() + 6 * must;
  while (!closed && std::chrono::steady_clock::now() < deadline) {
    std::size_t out = sent->load();  // first: an in-flight figure never too high
    std::size_t in = received->load();
    worst = std::max(worst, out > in ? out - in : 0);
    rss.sample();
    ev e = next_in(mb(), 1ms);
    closed = e.kind == "closed";
    if (!closed && e.kind != "none") {
      ADD_FAILURE() << "unexpected " << e.kind;
      break;
    }
  }
  producer.join();
  EXPECT_TRUE(closed);
  EXPECT_EQ(received->load(), total);
  EXPECT_LE(worst, in_flight_bound) << "the port read ahead of what was asked";
  EXPECT_LT(rss.growth(), rss_bound);
  RecordProperty("worst_in_flight_kib", std::to_string(worst / 1024));
  RecordProperty("rss_growth_kib", std::to_string(rss.growth() / 1024));
}

TEST_F(flow_control, busy_above_high_watermark_and_drained_below_low) {
  constexpr std::size_t high = 256 * 1024;
  constexpr std::size_t low = 96 * 1024;
  auto k = open_conn({.active = passive, .high_watermark = high, .low_watermark = low});
  // Fill until busy: every answer before was at or below high.
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string piece = pattern(16 * 1024);
                   for (int i = 0; i < 100000; ++i) {
                     auto q = s.send(std::string_view(piece));
                     if (!q) {
                       return std::string(err_name(q.error()));
                     }
                     if (q->busy) {
                       return q->bytes > high ? std::string("busy") : "busy at " + std::to_string(q->bytes);
                     }
                     if (q->bytes > high) {
                       return "not busy at " + std::to_string(q->bytes);
                     }
                   }
                   return std::string("never busy");
                 }),
            "busy");
  // drained() returns once the peer has read enough: the queue is then at
  // or below the low watermark.
  std::atomic<bool> stop{false};
  scoped_thread reader([&] {
    while (!stop) {
      (void)k.c.read_exact(64 * 1024, 20ms);
    }
  });
  EXPECT_EQ(acall(k.owner,
                  [](socket s) -> task<std::string> {
                    auto d = co_await s.drained();
                    if (!d) {
                      co_return std::string(err_name(d.error()));
                    }
                    auto st = s.getstat();
                    co_return st->send_pend <= low ? std::string("drained")
                                                   : "pending " + std::to_string(st->send_pend);
                  }),
            "drained");
  stop = true;
  reader.join();
}

class send_timeout : public tcp_test, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(close, send_timeout, ::testing::Values(false, true),
                         [](const auto& i) { return i.param ? "and_close" : "stays_open"; });

TEST_P(send_timeout, peer_that_never_reads_gives_tcp_error_timeout) {
  const bool close = GetParam();
  auto ls = listen_lo({.active = always, .send_timeout = 200ms, .send_timeout_close = close});
  pid victim = spawn_owner(ls);
  client vc = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  mailbox other;
  pid bystander = spawn_owner(ls, -1, other.self());
  client bc = client::connect(ls.port);
  ASSERT_EQ(next_in(other).kind, "accepted");

  EXPECT_EQ(acall(victim,
                  [](socket s) -> task<std::string> {
                    std::string piece = pattern(64 * 1024);
                    for (;;) {
                      auto q = s.send(std::string_view(piece));
                      if (!q) {
                        co_return "send: " + std::string(err_name(q.error()));
                      }
                      if (q->busy) {
                        break;
                      }
                    }
                    co_return outcome(co_await s.drained());
                  }),
            "timeout");
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_TRUE(reports().saw("send timed out"));
  if (close) {
    EXPECT_EQ(next().kind, "closed");
    EXPECT_EQ(call(victim, [](const socket& s) { return outcome(s.send(std::string_view("x"))); }), "closed");
  } else {
    expect_quiet();
    // Still open: later sends fail with timeout, reading goes on.
    EXPECT_EQ(call(victim, [](const socket& s) { return outcome(s.send(std::string_view("x"))); }), "timeout");
    ASSERT_TRUE(vc.write("still reading"));
    EXPECT_EQ(next().data, "still reading");
  }
  // The other connection never noticed.
  EXPECT_EQ(call(
                bystander, [](const socket& s) { return outcome(s.send(std::string_view("fine"))); }, &other),
            "ok");
  EXPECT_EQ(bc.read_exact(4), "fine");
  ASSERT_TRUE(bc.write("and you?"));
  EXPECT_EQ(next_in(other).data, "and you?");
}

// With send_timeout, a send that may wait needs the port's block for its
// timer. Made when the send is queued, a failure is the send's answer
// (enomem, nothing sent) and the port carries on; the next send is timed.
// It used to be made when the timer was armed, after the bytes were
// queued: without memory the send was accepted and waited untimed (and
// the sends after it, queued behind it, with it).
TEST_F(flow_control, a_send_without_memory_for_its_timer_is_refused_and_the_next_is_timed) {
  auto k = open_conn({.active = always});
  // Room in the send queue for what comes (sent without send_timeout, so
  // no block yet), written out by the peer reading it all.
  constexpr std::size_t piece = 16 * mib;  // more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string r;
                   for (int i = 0; i < 3; ++i) {
                     r += outcome(s.send(buffer::copy_of(pattern(piece)))) + " ";
                   }
                   return r;
                 }),
            "ok ok ok ");
  EXPECT_EQ(k.c.read_exact(3 * piece).size(), 3 * piece);
  ASSERT_TRUE(wait_until([&] {
    return call(k.owner, [](const socket& s) { return std::to_string(s.getstat().value().send_pend); }) == "0";
  }));
  ASSERT_EQ(setopts(k.owner, {.send_timeout = 200ms}), "ok");
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   buffer b = buffer::copy_of(pattern(piece));
                   std::uint64_t oct_before = s.getstat().value().send_oct;
                   result<queued> q = fail(errc::invalid);
                   {
                     otpnet::test::failing_allocations no_memory;
                     q = s.send(std::move(b));
                   }
                   // Nothing left behind: nothing queued, nothing written.
                   stats st = s.getstat().value();
                   std::string left = "pend " + std::to_string(st.send_pend) + " oct " +
                                      (st.send_oct == oct_before ? "unchanged" : "changed");
                   return outcome(q) + " " + left + " " + outcome(s.send(buffer::copy_of(pattern(piece))));
                 }),
            "enomem pend 0 oct unchanged ok");
  // The peer never reads: the second send times out.
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_TRUE(reports().saw("send timed out"));
}

// A queue that stalled before send_timeout was set (no timer then): the
// setopts that sets it starts the timer. Nothing else would: a peer that
// never reads brings no writable event, and later sends join a queue that
// is not empty.
TEST_F(flow_control, send_timeout_set_on_a_stalled_queue_times_it_out) {
  auto k = open_conn({.active = always});
  constexpr std::size_t piece = 16 * mib;  // more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(piece)));
                   return outcome(q) + (s.getstat().value().send_pend > 0 ? " waiting" : " written");
                 }),
            "ok waiting");
  ASSERT_EQ(setopts(k.owner, {.send_timeout = 200ms, .send_timeout_close = true}), "ok");
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_TRUE(reports().saw("send timed out"));
  EXPECT_EQ(next().kind, "closed");
}

// setopts making send_timeout > 0 for a queue already waiting makes the
// port's block for its timer first: without memory it answers enomem and
// nothing changes (the options, the port). The port has no block before
// (active mode, no send_timeout, no recv or drained wait), and the thread
// already holds an options block equal to the new options, so that the
// block for the timer is the one allocation setopts needs: without the
// check the options would change and the timer's failure close the port.
TEST_F(flow_control, setopts_without_memory_for_a_waiting_queues_timer_changes_nothing) {
  auto k = open_conn({.active = always});
  constexpr std::size_t piece = 16 * mib;  // more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(piece)));
                   if (!q || s.getstat().value().send_pend == 0) {
                     return "not waiting: " + outcome(q);
                   }
                   effective_options want = s.getopts().value();
                   want.send_timeout = 200ms;
                   want.send_timeout_close = true;
                   detail::shared_options same(want);  // the thread's last block
                   result<void> r = fail(errc::invalid);
                   std::size_t refused = 0;
                   {
                     otpnet::test::failing_allocations no_memory;
                     r = s.setopts({.send_timeout = 200ms, .send_timeout_close = true});
                     refused = no_memory.refused();
                   }
                   effective_options now = s.getopts().value();
                   return outcome(r) + " refused " + std::to_string(refused) + " timeout " +
                          std::to_string(now.send_timeout.count()) + (now.send_timeout_close ? " close" : " stay");
                 }),
            "enomem refused 1 timeout 0 stay");
  expect_quiet();
  // Outside the scope the same setopts succeeds and times the queue out.
  ASSERT_EQ(setopts(k.owner, {.send_timeout = 200ms, .send_timeout_close = true}), "ok");
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_EQ(next().kind, "closed");
}

// send_timeout set back to 0 (infinity) while the queue's timer runs: the
// timer finds the option gone and the queue waits untimed, then drains
// when the peer reads.
TEST_F(flow_control, send_timeout_cleared_while_its_timer_runs_leaves_the_queue_untimed) {
  auto k = open_conn({.active = always, .send_timeout = 20ms});
  constexpr std::size_t piece = 16 * mib;  // more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(piece)));
                   std::string waiting = s.getstat().value().send_pend > 0 ? " waiting" : " written";
                   return outcome(q) + waiting + " " + outcome(s.setopts({.send_timeout = 0ms}));
                 }),
            "ok waiting ok");
  expect_quiet();  // five of the old timeouts: none fires
  EXPECT_FALSE(reports().saw("send timed out"));
  EXPECT_EQ(k.c.read_exact(piece), pattern(piece));
}

// A close() that lingers to write the queue out, and whose send_timeout
// then passes: close answered ok, so the owner hears nothing more (no
// tcp_error, no tcp_closed); the report line says what was dropped, and
// the peer sees the connection end.
TEST_F(flow_control, a_lingering_close_that_times_out_sends_its_owner_nothing) {
  auto k = open_conn({.active = always});
  constexpr std::size_t piece = 16 * mib;
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(piece)));
                   std::string waiting = s.getstat().value().send_pend > 0 ? " waiting" : " written";
                   auto o = s.setopts({.send_timeout = 50ms});
                   return outcome(q) + waiting + " " + outcome(o) + " " + outcome(s.close());
                 }),
            "ok waiting ok ok");
  EXPECT_TRUE(wait_until([&] { return reports().saw("send timed out"); }));
  expect_quiet();
  auto [got, how] = k.c.read_to_end();
  EXPECT_LT(got.size(), piece);
  EXPECT_TRUE(how == errc::closed || how == errc::econnreset) << err_name(how);
}

// shutdown(write) goes out after the queue, as inet's (its pending
// shutdown): the peer reads every byte, then the end.
TEST_F(flow_control, shutdown_write_after_the_queue_is_written) {
  auto k = open_conn({.active = always});
  constexpr std::size_t size = 32 * mib;  // far more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(size)));
                   std::string r = outcome(q);
                   r += q && q->busy ? ",busy" : ",not busy";
                   return r + "," + outcome(s.shutdown(so::shutdown_how::write));
                 }),
            "ok,busy,ok");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
  EXPECT_TRUE(got == pattern(size));
  expect_quiet();  // no epipe from writing after the shutdown
  // The read side is still open.
  ASSERT_TRUE(k.c.write("after"));
  EXPECT_EQ(next().data, "after");
}

// After shutdown(write) a send answers closed, whether the FIN waits for
// the queue or went at once, and the read side stays open. (With a queue
// the send was written before the FIN; without one it failed with EPIPE
// and closed the whole port.)
TEST_F(flow_control, a_send_after_a_pending_shutdown_write_answers_closed_and_reading_goes_on) {
  auto k = open_conn({.active = always});
  constexpr std::size_t size = 32 * mib;  // the FIN waits for the queue
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string r = outcome(s.send(buffer::copy_of(pattern(size))));
                   r += "," + outcome(s.shutdown(so::shutdown_how::write));
                   return r + "," + outcome(s.send("x"));
                 }),
            "ok,ok,closed");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
  ASSERT_TRUE(k.c.write("after"));
  EXPECT_EQ(next().data, "after");
}

TEST_F(flow_control, a_send_after_shutdown_write_answers_closed_and_reading_goes_on) {
  auto k = open_conn({.active = always});
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string r = outcome(s.shutdown(so::shutdown_how::write));
                   return r + "," + outcome(s.send("x"));
                 }),
            "ok,closed");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got, "");
  ASSERT_TRUE(k.c.write("after"));
  EXPECT_EQ(next().data, "after");
}

// A recv made after a lingering close() answers closed at once (it waited
// for the linger to end).
TEST_F(flow_control, a_recv_after_a_lingering_close_answers_closed_at_once) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(acall(k.owner,
                  [](socket s) -> task<std::string> {
                    auto q = s.send(buffer::copy_of(pattern(size)));
                    std::string r = outcome(q) + "," + outcome(s.close());
                    auto got = co_await s.recv(0, must);
                    co_return r + "," + (got ? std::string("data") : std::string(err_name(got.error())));
                  }),
            "ok,ok,closed");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(got.size(), size);
}

// A shutdown(write) waiting for a queue that then times out (the socket
// staying open) goes out when the queue is dropped: the peer gets its end
// after what had been written. (It was lost: the peer never saw a FIN.)
TEST_F(flow_control, a_shutdown_write_waiting_for_a_queue_that_times_out_goes_then) {
  auto k = open_conn({.active = always});
  ASSERT_EQ(setopts(k.owner, {.send_timeout = 200ms}), "ok");
  constexpr std::size_t size = 32 * mib;  // far more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string r = outcome(s.send(buffer::copy_of(pattern(size))));
                   return r + "," + outcome(s.shutdown(so::shutdown_how::write));
                 }),
            "ok,ok");
  ev e = next();  // the peer reads nothing until the queue has timed out
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed) << "no end after the dropped queue";
  EXPECT_LT(got.size(), size);
  EXPECT_TRUE(got == pattern(size).substr(0, got.size()));
  ASSERT_TRUE(k.c.write("after"));
  EXPECT_EQ(next().data, "after");
}

// close() with data still queued: inet keeps the port until its queue is
// written (or send_timeout fires); the peer gets every byte, then the end.
TEST_F(flow_control, close_writes_out_the_queue_first) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(size)));
                   return outcome(q) + "," + outcome(s.close());
                 }),
            "ok,ok");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
}

// The usual end of a handler: send, close, return. The owner's end does
// not cut the lingering close short: the queue still goes out whole before
// the FIN (it was dropped at once, the peer getting a truncated stream).
TEST_F(flow_control, a_lingering_close_outlives_its_owner) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;  // far more than the kernel buffers hold
  EXPECT_EQ(send_then_close(k.owner, size), "ok waiting,ok");
  send(k.owner, stop_cmd{});  // the owner ends right after its close
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
  EXPECT_TRUE(got == pattern(size)) << "the stream differs";
}

// The runtime stops right after a handler's lingering close (a server's
// drain, then its stop): the stop waits for the queue to go out, within
// its grace. (It stopped at once: the port was left unwatched with its
// descriptor open, and the peer waited for the rest for ever.)
TEST_F(flow_control, a_lingering_close_is_written_out_before_the_runtime_stops) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(send_then_close(k.owner, size), "ok waiting,ok");
  send(k.owner, stop_cmd{});
  std::pair<std::string, errc> read;
  scoped_thread reader([&] { read = k.c.read_to_end(); });
  stop_runtime(must);
  reader.join();
  EXPECT_EQ(read.second, errc::closed);
  EXPECT_EQ(read.first.size(), size);
  EXPECT_TRUE(read.first == pattern(size)) << "the stream differs";
  EXPECT_FALSE(reports().saw("the runtime stopped")) << "dropped although within the grace";
}

// A lingering close belongs to no one: handing it to another process (on
// another scheduler) answers closed, as inet's controlling_process after
// close; it stays where its scheduler's stop waits for it. (It moved: its
// old scheduler kept it in its list of lingering closes after it was freed.)
TEST_F(flow_control, a_lingering_close_cannot_be_handed_to_another_process) {
  auto k = open_conn({.active = passive}, 0);
  pid other = spawn_server(1);
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(acall(k.owner,
                  [other](socket s) -> task<std::string> {
                    std::string closed = queue_then_close(s, size);
                    auto moved = co_await s.controlling_process(other);
                    co_return closed + "," + outcome(moved);
                  }),
            "ok waiting,ok,closed");
  send(k.owner, stop_cmd{});
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
  send(other, stop_cmd{});
}

// Whoever it names, the owner itself or a process that has ended, a
// lingering close answers closed: the socket is closed before the new
// owner is looked at (it answered ok and noproc).
TEST_F(flow_control, a_lingering_close_answers_closed_to_self_and_to_a_dead_process) {
  auto k = open_conn({.active = passive}, 0);
  pid gone = spawn_server(0);
  ref mon = monitor(gone);
  send(gone, stop_cmd{});
  ASSERT_TRUE(mb().receive<down_msg>(must, [&](const down_msg& d) { return d.monitor == mon; }));
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(acall(k.owner,
                  [gone](socket s) -> task<std::string> {
                    std::string closed = queue_then_close(s, size);
                    auto to_self = co_await s.controlling_process(self());
                    auto to_gone = co_await s.controlling_process(gone);
                    co_return closed + "," + outcome(to_self) + "," + outcome(to_gone);
                  }),
            "ok waiting,ok,closed,closed");
  send(k.owner, stop_cmd{});
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
}

/// A transport over the descriptor that says "BYE" as its goodbye,
/// standing in for TLS's close_notify: as far as the socket has room,
/// would_block otherwise.
class goodbye_transport final : public transport {
 public:
  /// `refuse`: answers would_block that many times without trying, as if
  /// the socket had no room (fault injection: no writable edge follows).
  goodbye_transport(int fd, std::shared_ptr<std::atomic<int>> blocked, int refuse = 0)
      : fd_(fd), blocked_(std::move(blocked)), refuse_(refuse) {}
  io_result read(std::byte* buf, std::size_t len) noexcept override {
    ssize_t n = ::recv(fd_, buf, len, MSG_DONTWAIT);
    if (n > 0) {
      return {status::ok, static_cast<std::size_t>(n)};
    }
    if (n == 0) {
      return {status::eof};
    }
    return errno == EAGAIN ? io_result{status::would_block} : io_result{status::error, 0, errc::econnreset};
  }
  io_result writev(const ::iovec* iov, std::size_t n) noexcept override {
    ::msghdr m{};
    m.msg_iov = const_cast<::iovec*>(iov);
    m.msg_iovlen = n;
    ssize_t w = ::sendmsg(fd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w >= 0) {
      return {status::ok, static_cast<std::size_t>(w)};
    }
    return errno == EAGAIN ? io_result{status::would_block} : io_result{status::error, 0, errc::epipe};
  }
  status shutdown() noexcept override {
    static constexpr std::string_view bye = "BYE";
    if (refuse_ > 0) {
      --refuse_;
      blocked_->fetch_add(1);
      return status::would_block;
    }
    while (sent_ < bye.size()) {
      ssize_t n = ::send(fd_, bye.data() + sent_, bye.size() - sent_, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) {
        blocked_->fetch_add(1);
        return status::would_block;
      }
      if (n <= 0) {
        return status::error;
      }
      sent_ += static_cast<std::size_t>(n);
    }
    return status::ok;
  }

 private:
  int fd_;
  std::shared_ptr<std::atomic<int>> blocked_;  // would_block answers, for the test
  int refuse_;
  std::size_t sent_ = 0;
};

/// Fills `fd`'s send buffer with 'x' (its peer reading none) until it
/// takes nothing more for 200 ms, not a byte; the bytes written. The
/// caller fixes both ends' buffer sizes first: with the kernel's tuning
/// the buffers keep growing for a while, and a few bytes more go in.
std::size_t fill_send_buffer(int fd) {
  std::string junk(64 * 1024, 'x');
  std::size_t filled = 0;
  for (int rounds = 0; rounds < 1000; ++rounds) {
    ssize_t n = ::send(fd, junk.data(), junk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      filled += static_cast<std::size_t>(n);
      continue;
    }
    for (int bytes = 0; bytes < 65536 && ::send(fd, "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1; ++bytes) {
      ++filled;
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 200) == 0) {
      break;  // full, and staying so
    }
  }
  return filled;
}

/// In the owner: gives `s` a goodbye_transport (counting its would_block
/// answers in `blocked`, the first `refuse` of them without trying) and
/// fills its send buffer; the bytes written, or nullopt without the
/// transport.
std::optional<std::size_t> goodbye_and_fill(const socket& s, int fd, std::shared_ptr<std::atomic<int>> blocked,
                                            int refuse = 0) {
  detail::port* p = s.port();
  if (!p->prepare_transport() ||
      !p->set_transport(std::make_unique<goodbye_transport>(fd, std::move(blocked), refuse), false)) {
    return std::nullopt;
  }
  return fill_send_buffer(fd);
}

// A close whose queue is empty but whose transport's goodbye (TLS's
// close_notify) finds the socket's buffer full: the close lingers until the
// peer reads and the goodbye goes out, then the FIN. (The goodbye was tried
// once and dropped: the peer saw the end without it, as a truncation.)
// A shutdown(write) waits the same way before its FIN.
TEST_F(flow_control, a_close_waits_for_room_for_the_transports_goodbye) {
  for (bool by_shutdown : {false, true}) {
    auto [k, blocked] = fixed_buffers_conn({.active = passive});
    std::string answer = acall(k.owner, [fd = k.fd, by_shutdown, blocked = blocked](socket s) -> task<std::string> {
      auto filled = goodbye_and_fill(s, fd, blocked);
      if (!filled) {
        co_return std::string("no transport");
      }
      auto r = by_shutdown ? s.shutdown(so::shutdown_how::write) : s.close();
      co_return outcome(r) + " " + std::to_string(*filled);
    });
    ASSERT_TRUE(answer.starts_with("ok ")) << answer;
    std::size_t filled = std::stoul(answer.substr(3));
    ASSERT_GT(filled, 0u);
    EXPECT_GE(blocked->load(), 1) << "the goodbye found room at once: nothing was tested";
    auto [got, how] = k.c.read_to_end();
    EXPECT_EQ(how, errc::closed) << (by_shutdown ? "shutdown" : "close");
    EXPECT_EQ(got.size(), filled + 3) << (by_shutdown ? "shutdown" : "close");
    EXPECT_TRUE(got.ends_with("xBYE")) << (by_shutdown ? "shutdown: " : "close: ") << "the goodbye was dropped";
    send(k.owner, stop_cmd{});
  }
}

// A shutdown(write) waiting for room for its goodbye is timed by
// send_timeout like a queue (it is not waited for untimed) and times out
// once: one tcp_error, the goodbye given up, the FIN sent after the data.
// (The timer was cancelled as the queue was empty; and with
// send_timeout_close false a time-out re-armed the same wait for ever.)
TEST_F(flow_control, a_shutdown_waiting_for_room_for_its_goodbye_times_out_once) {
  auto [k, blocked] = fixed_buffers_conn({.active = passive, .send_timeout = 200ms});
  std::string answer = acall(k.owner, [fd = k.fd, blocked = blocked](socket s) -> task<std::string> {
    auto filled = goodbye_and_fill(s, fd, blocked);
    if (!filled) {
      co_return std::string("no transport");
    }
    co_return outcome(s.shutdown(so::shutdown_how::write)) + " " + std::to_string(*filled);
  });
  ASSERT_TRUE(answer.starts_with("ok ")) << answer;
  std::size_t filled = std::stoul(answer.substr(3));
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  // The FIN went after the data, without the goodbye.
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), filled);
  EXPECT_GE(blocked->load(), 2) << "the goodbye was not tried again at the time-out";
  // Once: no second error after another period.
  auto again = mb().receive<ev>(600ms, [](const ev& x) { return x.kind == "error"; });
  EXPECT_FALSE(again) << "the time-out repeated";
  auto lines = reports().lines();
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) { return l.find("send timed out") != std::string::npos; }),
            1);
  send(k.owner, stop_cmd{});
}

// A shutdown(write) asked while data is queued, whose goodbye then finds no
// room once the queue has gone: the wait is timed by send_timeout, as the
// queue's was (the send timer was cancelled as the queue emptied, and the
// FIN waited for a writable edge that never came). The goodbye here says
// would_block while the socket has room, so no edge comes.
TEST_F(flow_control, a_shutdown_whose_goodbye_blocks_after_the_queue_went_is_still_timed) {
  auto [k, blocked] = fixed_buffers_conn({.active = passive, .send_timeout = 300ms});
  constexpr std::size_t queued = 64 * 1024;
  std::string answer = acall(k.owner, [fd = k.fd, blocked = blocked](socket s) -> task<std::string> {
    auto filled = goodbye_and_fill(s, fd, blocked, 1000000);
    if (!filled) {
      co_return std::string("no transport");
    }
    auto q = s.send(buffer::copy_of(std::string(queued, 'q')));
    std::string waiting = s.getstat().value().send_pend > 0 ? "waiting" : "written";
    co_return outcome(q) + " " + waiting + " " + outcome(s.shutdown(so::shutdown_how::write)) + " " +
        std::to_string(*filled);
  });
  ASSERT_TRUE(answer.starts_with("ok waiting ok ")) << answer;
  std::size_t filled = std::stoul(answer.substr(14));
  // Reading lets the queue go; then only the timer can end the wait.
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed) << "no FIN: the wait for the goodbye was not timed";
  EXPECT_EQ(got.size(), filled + queued);
  EXPECT_TRUE(got.ends_with("xq") || got.ends_with("qq")) << "the queue did not go before the FIN";
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::timeout);
  EXPECT_GE(blocked->load(), 2);
  send(k.owner, stop_cmd{});
}

// A peer that never reads: the stop's grace ends the linger, the socket
// is closed (the peer sees its end after what the kernel took), and a
// report line says what happened.
TEST_F(flow_control, the_stop_grace_ends_a_lingering_close_with_a_report_line) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(send_then_close(k.owner, size), "ok waiting,ok");
  send(k.owner, stop_cmd{});
  stop_runtime(100ms);
  EXPECT_TRUE(reports().saw("close: the runtime stopped before the peer read what was queued"));
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_LT(got.size(), size);
  EXPECT_TRUE(got == pattern(size).substr(0, got.size())) << "the stream differs";
}

// A send that fails in close()'s own flush (the peer reset) closes the
// socket quietly: close() answers ok and no tcp_error or tcp_closed
// reaches the owner after it (they did, and close() answered closed).
TEST_F(flow_control, a_send_failing_in_close_sends_the_owner_nothing_after_it) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(size)));
                   return outcome(q) + (s.getstat().value().send_pend > 0 ? " waiting" : " written");
                 }),
            "ok waiting");
  // The client resets (SO_LINGER 0, its last descriptor closed) without
  // reading, in the owner's run, just before the owner's close: no event
  // of the reset reaches the port first.
  ::linger l{1, 0};
  ASSERT_EQ(::setsockopt(k.c.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
  int last = ::dup(k.c.fd());
  ASSERT_GE(last, 0);
  k.c.close();  // (the duplicate keeps the connection)
  EXPECT_EQ(call(k.owner,
                 [last](const socket& s) {
                   ::close(last);
                   return outcome(s.close());
                 }),
            "ok");
  EXPECT_FALSE(mb().receive<ev>(quiet, [](const ev& x) { return x.kind == "error" || x.kind == "closed"; }))
      << "a message for the socket after close()";
}

// close() from another process while the owner waits in a passive recv
// and the queue keeps the port lingering: the recv ends with closed at
// once, as when the port closes with nothing queued (inet answers a
// pending recv with {error, closed}); the queue is still written out.
TEST_F(flow_control, a_lingering_close_answers_a_waiting_recv_with_closed) {
  auto k = open_conn({.active = passive});
  constexpr std::size_t size = 32 * mib;  // far more than the kernel buffers hold
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto q = s.send(buffer::copy_of(pattern(size)));
                   return outcome(q) + (s.getstat().value().send_pend > 0 ? " waiting" : " written");
                 }),
            "ok waiting");
  // The owner says it is about to wait, then waits in the same run: the
  // close below, made from this thread, runs on the port's thread after it.
  send(k.owner, acmd{[to = me()](socket s) -> task<std::string> {
         send(to, ev{"recv waiting"});
         auto r = co_await s.recv(0, must);
         co_return r ? r->str() : "error:" + std::string(err_name(r.error()));
       }});
  ASSERT_EQ(next().kind, "recv waiting");
  ASSERT_TRUE(k.sock.close());
  auto r = mb().receive<ev>(must, [](const ev& x) { return x.kind == "reply"; });
  ASSERT_TRUE(r) << "the waiting recv was never answered";
  EXPECT_EQ(r->data, "error:closed");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
  EXPECT_EQ(got.size(), size);
}

TEST_F(flow_control, half_close_with_exit_on_close_false_keeps_the_sending_side) {
  auto k = open_conn({.active = always, .exit_on_close = false});
  ASSERT_TRUE(k.c.write("ping"));
  k.c.shutdown_write();
  EXPECT_EQ(next().data, "ping");
  EXPECT_EQ(next().kind, "closed");
  expect_quiet();
  // After tcp_closed the socket still sends.
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.send(std::string_view("pong"))); }), "ok");
  EXPECT_EQ(k.c.read_exact(4), "pong");
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.close()); }), "ok");
  auto [rest, how] = k.c.read_to_end();
  EXPECT_EQ(rest, "");
  EXPECT_EQ(how, errc::closed);
}

TEST_F(flow_control, half_close_with_exit_on_close_true_closes) {
  auto k = open_conn({.active = always});
  k.c.shutdown_write();
  EXPECT_EQ(next().kind, "closed");
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.send(std::string_view("pong"))); }), "closed");
  auto [rest, how] = k.c.read_to_end();
  EXPECT_EQ(how, errc::closed);
}

/// Every end event (closed, error) already in the test's mailbox, in order:
/// after a call to the owner returns, all it delivered before is here.
std::vector<std::string> ends_in(mailbox& box) {
  std::vector<std::string> out;
  while (auto e = box.receive<ev>(0ms, [](const ev& x) { return x.kind == "closed" || x.kind == "error"; })) {
    out.push_back(e->kind == "error" ? "error:" + std::string(err_name(e->reason)) : e->kind);
  }
  return out;
}

// With exit_on_close false the socket sends on after tcp_closed; a send
// that fails then (the peer had gone: its reset) answers the caller with
// the error and delivers no second tcp_closed, nor a tcp_error after the
// close (inet: TCP_ADDF_CLOSE_SENT).
TEST_F(flow_control, a_send_that_fails_after_tcp_closed_delivers_no_second_end) {
  auto k = open_conn({.active = always, .exit_on_close = false});
  k.c.close();  // a FIN now, a reset for what it is sent later
  EXPECT_EQ(next().kind, "closed");
  std::string failed;
  const auto deadline = std::chrono::steady_clock::now() + must;
  while (failed.empty() && std::chrono::steady_clock::now() < deadline) {
    // The kernel takes the first send (the peer answers it with a reset);
    // one after the reset fails.
    failed = call(k.owner, [](const socket& s) {
      auto q = s.send(std::string_view("x"));
      return q ? std::string() : std::string(err_name(q.error()));
    });
  }
  EXPECT_TRUE(failed == "epipe" || failed == "econnreset") << failed;
  EXPECT_EQ(call(k.owner, [](const socket&) { return std::string("marker"); }), "marker");
  EXPECT_EQ(ends_in(mb()), std::vector<std::string>{}) << "a second end after tcp_closed";
}

// A reset from a peer that never read, with output queued: the socket ends
// once (one tcp_error, one tcp_closed) whichever side sees the reset first,
// the read (then the close's flush fails too) or the write.
TEST_F(flow_control, a_reset_with_output_queued_ends_the_socket_once) {
  auto k = open_conn({.active = always});
  EXPECT_EQ(queue_beyond_the_buffers(k.owner), "ok waiting");
  k.c.reset();
  ev first = next();
  ASSERT_EQ(first.kind, "error");
  EXPECT_EQ(next().kind, "closed");
  EXPECT_EQ(call(k.owner, [](const socket&) { return std::string("marker"); }), "marker");
  EXPECT_EQ(ends_in(mb()), std::vector<std::string>{}) << "a second end after the first";
}

// A transport waiting for writability (a TLS handshake waiting for the
// plaintext queued before it to leave) whose wait's flush finds the peer
// reset since it looked: the wait is refused as closed, the send's error
// kept, instead of a wait registered on a closed port for an event that
// never comes (the handshake then waited out its whole time).
TEST_F(flow_control, a_reset_found_as_a_wait_for_writability_begins_refuses_the_wait) {
  auto k = open_conn({.active = passive});
  EXPECT_EQ(queue_beyond_the_buffers(k.owner), "ok waiting");
  // All in one run of the owner, so that its loop cannot see the reset
  // first: the reset, the kernel's word that it came, then the wait.
  std::string answer = call(k.owner, [c = k.c](const socket& s) {
    detail::port* p = s.port();
    p->begin_upgrade();  // the failure is the waiter's to tell, as in a handshake
    c.reset();
    pollfd pf{s.raw().native_handle(), POLLOUT, 0};
    for (int i = 0; i < 1000 && (pf.revents & (POLLERR | POLLHUP)) == 0; ++i) {
      (void)::poll(&pf, 1, 10);
    }
    if ((pf.revents & (POLLERR | POLLHUP)) == 0) {
      return std::string("the reset did not come");
    }
    auto w = p->wait_io(true, 4242);
    errc e = p->send_failure();
    std::string why = e == errc::econnreset || e == errc::epipe ? "reset" : std::string(err_name(e));
    return outcome(w) + " " + why + (p->is_closed() ? " closed" : " open");
  });
  EXPECT_EQ(answer, "closed reset closed");
  EXPECT_EQ(call(k.owner, [](const socket&) { return std::string("marker"); }), "marker");
  EXPECT_EQ(ends_in(mb()), std::vector<std::string>{}) << "the waiter tells the failure, not the owner's messages";
}

TEST_F(flow_control, half_close_in_passive_mode) {
  auto k = open_conn({.active = passive, .exit_on_close = false});
  ASSERT_TRUE(k.c.write("last words"));
  k.c.shutdown_write();
  EXPECT_EQ(acall(k.owner, recv_cmd()), "last words");
  EXPECT_EQ(acall(k.owner, recv_cmd()), "error:closed");
  EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.send(std::string_view("reply"))); }), "ok");
  EXPECT_EQ(k.c.read_exact(5), "reply");
}

TEST_F(flow_control, our_shutdown_write_leaves_reading_open) {
  auto k = open_conn({.active = always});
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   std::string a = outcome(s.send(std::string_view("bye")));
                   return a + "," + outcome(s.shutdown(so::shutdown_how::write));
                 }),
            "ok,ok");
  auto [got, how] = k.c.read_to_end();
  EXPECT_EQ(got, "bye");
  EXPECT_EQ(how, errc::closed);
  ASSERT_TRUE(k.c.write("one more"));
  EXPECT_EQ(next().data, "one more");
}

TEST_F(flow_control, delay_send_gathers_a_turn_of_sends) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2, .delay_send = true});
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   for (int i = 0; i < 100; ++i) {
                     if (!s.send(std::to_string(i))) {
                       return "failed at " + std::to_string(i);
                     }
                   }
                   return std::string("ok");
                 }),
            "ok");
  std::string want;
  for (int i = 0; i < 100; ++i) {
    want += frame2(std::to_string(i));
  }
  EXPECT_EQ(k.c.read_exact(want.size()), want);
  EXPECT_EQ(call(k.owner, [](const socket& s) { return std::to_string(s.getstat()->send_cnt); }), "100");
}

// Frames sent back as they came go out with the headers in front of them,
// as one piece of memory per read: the bytes and the counts are those of
// the frames, a view whose bytes in front only look like its header (or do
// not) still gets its own, and once written the read's chunk is back in the
// pool (the queue dropped the references it kept for the frames it joined).
TEST_F(flow_control, frames_sent_back_as_they_came_are_written_and_counted_each) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2, .delay_send = true});
  std::string in = frame2("one") + frame2("two") + frame2("") + frame2(std::string("\x00\x02hi", 4)) + frame2("four");
  ASSERT_TRUE(k.c.write(in));
  const std::byte* chunk = nullptr;  // (written by the owner; read after its reply)
  EXPECT_EQ(acall(k.owner,
                  [&chunk](socket s) -> task<std::string> {
                    std::string failed;
                    std::vector<buffer> got = co_await recv_frames(s, 5, failed);
                    if (!failed.empty()) {
                      co_return failed;
                    }
                    chunk = got.front().data() - 2 - sizeof(gen_tcp::detail::chunk);
                    for (buffer& b : got) {
                      if (!s.send(b)) {
                        co_return std::string("send failed");
                      }
                    }
                    // 00 02 is in front of "hi", as its header would be;
                    // "f" is in front of "our".
                    if (!s.send(got[3].sub(2, 2)) || !s.send(got[4].sub(1, 3)) || !s.send(got[0])) {
                      co_return std::string("send failed");
                    }
                    co_return std::string("ok");
                  }),
            "ok");
  std::string want = in + frame2("hi") + frame2("our") + frame2("one");
  EXPECT_EQ(k.c.read_exact(want.size()), want);
  EXPECT_EQ(call(k.owner,
                 [chunk](const socket& s) {
                   auto st = s.getstat();
                   gen_tcp::detail::chunk* next = gen_tcp::detail::chunk_alloc(16);
                   bool back = reinterpret_cast<const std::byte*>(next) == chunk;
                   gen_tcp::detail::chunk_release(next);
                   return std::to_string(st->send_cnt) + "/" + std::to_string(st->send_oct) + "/" +
                          std::to_string(st->send_pend) + (back ? " back" : " not back in the pool");
                 }),
            "8/" + std::to_string(want.size()) + "/0 back");
}

// Without delay_send, behind a queue that waits for a peer that does not
// read: the frames sent back join one item behind the waiting one (not the
// waiting one itself), and all of it arrives, in order, counted, when the
// peer reads.
TEST_F(flow_control, frames_sent_back_behind_a_waiting_queue_arrive_in_order) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2, .delay_send = false});
  std::string in;
  for (int i = 0; i < 10; ++i) {
    in += frame2(pattern(7, static_cast<unsigned>(i)));
  }
  ASSERT_TRUE(k.c.write(in));
  const std::string big(60000, 'x');
  std::string answer = acall(k.owner, [&big](socket s) -> task<std::string> {
    std::string failed;
    std::vector<buffer> got = co_await recv_frames(s, 10, failed);
    if (!failed.empty()) {
      co_return failed;
    }
    // Until the kernel's buffers are full and bytes wait in the queue
    // (bounded: they hold a few MiB).
    int bigs = 0;
    for (std::size_t waiting = 0; waiting == 0; ++bigs) {
      if (bigs == 1000) {
        co_return std::string("nothing waited after 1000 frames");
      }
      auto q = s.send(big);
      if (!q) {
        co_return "send: " + std::string(err_name(q.error()));
      }
      waiting = q->bytes;
    }
    for (buffer& b : got) {
      if (!s.send(std::move(b))) {
        co_return std::string("send failed");
      }
    }
    co_return std::to_string(bigs);
  });
  ASSERT_TRUE(!answer.empty() && std::all_of(answer.begin(), answer.end(), [](char c) { return c >= '0' && c <= '9'; }))
      << answer;
  int bigs = std::stoi(answer);
  std::string want;
  for (int i = 0; i < bigs; ++i) {
    want += frame2(big);
  }
  want += in;
  EXPECT_EQ(k.c.read_exact(want.size()), want);
  EXPECT_EQ(call(k.owner,
                 [](const socket& s) {
                   auto st = s.getstat();
                   return std::to_string(st->send_cnt) + "/" + std::to_string(st->send_pend);
                 }),
            std::to_string(bigs + 10) + "/0");
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
