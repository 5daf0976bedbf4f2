// File: gen_tcp/framing.test.cpp
//
// Framing over a real connection: frames split down to one byte per read,
// many frames in one write, frames across read chunks, packet_size exactly
// and one byte over (emsgsize, a report line, that connection closed and
// no other), a reset in the middle of a frame, line framing with
// line_delimiter and line_length, the headers gen_tcp writes, and framing
// changed by setopts mid-stream without losing buffered bytes, and the
// chunk of a read held while its frames are and pooled again after.
#include "gen_tcp/harness.test.hpp"

#include <random>
#include <string>
#include <thread>
#include <vector>

namespace otpnet::gen_tcp::test {
namespace {

using framing = tcp_test;

/// Frame bodies that suit `p` (line: no delimiter inside; u1: at most 255).
std::vector<std::string> sample_bodies(packet_type p) {
  std::vector<std::string> v;
  for (std::size_t n : {1, 5, 0, 254, 255, 300, 1000}) {
    if ((p == packet_type::u1 && n > 255) || (p == packet_type::line && n == 0)) {
      continue;
    }
    std::string b = pattern(n, static_cast<unsigned>(v.size()));
    if (p == packet_type::line) {
      b += '\n';
    }
    v.push_back(b);
  }
  return v;
}

class framing_by_type : public tcp_test, public ::testing::WithParamInterface<packet_type> {};

std::string type_name(const ::testing::TestParamInfo<packet_type>& i) {
  switch (i.param) {
    case packet_type::u1:
      return "packet_1";
    case packet_type::u2:
      return "packet_2";
    case packet_type::u4:
      return "packet_4";
    case packet_type::line:
      return "line";
    default:
      return "raw";
  }
}

INSTANTIATE_TEST_SUITE_P(types, framing_by_type,
                         ::testing::Values(packet_type::u1, packet_type::u2, packet_type::u4, packet_type::line),
                         type_name);

TEST_P(framing_by_type, frames_arriving_one_byte_per_read) {
  packet_type p = GetParam();
  auto k = open_conn({.active = always, .packet = p});
  auto bodies = sample_bodies(p);
  std::string stream;
  for (const auto& b : bodies) {
    stream += p == packet_type::line ? b : frame(p, b);
  }
  for (char ch : stream) {
    ASSERT_TRUE(k.c.write(std::string_view(&ch, 1)));
    // The port has read this byte before the next one is written.
    ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 0; }));
  }
  for (const auto& b : bodies) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp");
    EXPECT_EQ(e.data, b);
  }
  expect_quiet();
}

TEST_P(framing_by_type, many_frames_in_one_write) {
  packet_type p = GetParam();
  auto k = open_conn({.active = always, .packet = p});
  constexpr int n = 2000;
  std::string stream;
  for (int i = 0; i < n; ++i) {
    std::string b = "#" + std::to_string(i);
    stream += p == packet_type::line ? b + "\n" : frame(p, b);
  }
  ASSERT_TRUE(k.c.write(stream));
  for (int i = 0; i < n; ++i) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp") << "frame " << i;
    ASSERT_EQ(e.data, "#" + std::to_string(i) + (p == packet_type::line ? "\n" : ""));
  }
  expect_quiet();
}

TEST_P(framing_by_type, packet_size_exactly_passes_one_byte_over_closes_that_connection_only) {
  packet_type p = GetParam();
  constexpr std::uint32_t limit = 16;
  auto ls = listen_lo({.active = always, .packet = p, .packet_size = limit});
  // The victim and a bystander on the same listener, each with its owner.
  pid victim = spawn_owner(ls);
  client vc = client::connect(ls.port);
  ASSERT_EQ(next().kind, "accepted");
  mailbox other;
  spawn_owner(ls, -1, other.self());
  client bc = client::connect(ls.port);
  ASSERT_EQ(next_in(other).kind, "accepted");

  auto body = [&](std::size_t n) {
    return p == packet_type::line ? std::string(n - 1, 'x') + "\n" : std::string(n, 'x');
  };
  auto wire = [&](const std::string& b) { return p == packet_type::line ? b : frame(p, b); };
  auto chat = [&](const std::string& s) { return p == packet_type::line ? s + "\n" : s; };
  ASSERT_TRUE(bc.write(wire(chat("before"))));
  EXPECT_EQ(next_in(other).data, chat("before"));
  ASSERT_TRUE(vc.write(wire(body(limit))));
  ev e = next();
  EXPECT_EQ(e.kind, "tcp");
  EXPECT_EQ(e.data, body(limit));
  ASSERT_TRUE(vc.write(wire(body(limit + 1))));
  e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::emsgsize);
  EXPECT_EQ(next().kind, "closed");
  expect_quiet();
  EXPECT_TRUE(reports().saw("packet_size")) << "no report line";
  auto [rest, how] = vc.read_to_end();
  EXPECT_TRUE(how == errc::closed || how == errc::econnreset) << err_name(how);
  EXPECT_EQ(call(victim, [](const socket& s) { return outcome(s.getopts()); }), "closed");
  // The bystander carries on.
  ASSERT_TRUE(bc.write(wire(chat("after"))));
  EXPECT_EQ(next_in(other).data, chat("after"));
  expect_quiet(other);
}

TEST_F(framing, oversized_frame_in_passive_mode_fails_the_recv) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2, .packet_size = 10});
  ASSERT_TRUE(k.c.write(frame2("0123456789") + frame2("0123456789A")));
  EXPECT_EQ(acall(k.owner, recv_cmd()), "0123456789");
  EXPECT_EQ(acall(k.owner, recv_cmd()), "error:emsgsize");
  EXPECT_TRUE(reports().saw("packet_size"));
  EXPECT_EQ(acall(k.owner, recv_cmd()), "error:closed");
  auto [rest, how] = k.c.read_to_end();
  EXPECT_TRUE(how == errc::closed || how == errc::econnreset) << err_name(how);
  expect_quiet();
}

TEST_F(framing, reset_in_the_middle_of_a_frame_costs_that_connection_only) {
  auto ls = listen_lo({.active = always, .packet = packet_type::u2});
  spawn_owner(ls);
  client vc = client::connect(ls.port);
  ev a = next();
  ASSERT_EQ(a.kind, "accepted");
  int fd = a.sock.raw().native_handle();
  mailbox other;
  spawn_owner(ls, -1, other.self());
  client bc = client::connect(ls.port);
  ASSERT_EQ(next_in(other).kind, "accepted");

  std::string f = frame2(pattern(1000));
  ASSERT_TRUE(vc.write(f.substr(0, 500)));
  ASSERT_TRUE(wait_until([&] { return fionread(fd) == 0; }));  // half a frame in the port
  vc.reset();
  ev e = next();
  if (e.kind == "error") {
    EXPECT_EQ(e.reason, errc::econnreset);
    e = next();
  }
  EXPECT_EQ(e.kind, "closed");
  expect_quiet();
  ASSERT_TRUE(bc.write(frame2("still here")));
  EXPECT_EQ(next_in(other).data, "still here");
}

// The frames of one read are views of one chunk. The port takes their
// references ahead, 32 at a time (gen_tcp/port.cpp, view_credit): with 100
// frames it takes more three times, and when the last view goes the chunk
// is back in the pool, not held by references nobody gave back.
TEST_F(framing, the_frames_of_one_read_keep_its_chunk_and_give_it_back) {
  auto k = open_conn({.active = passive, .packet = packet_type::u2});
  std::string in;
  for (int i = 0; i < 100; ++i) {
    in += frame2(pattern(4, static_cast<unsigned>(i)));
  }
  ASSERT_TRUE(k.c.write(in));
  EXPECT_EQ(acall(k.owner,
                  [](socket s) -> task<std::string> {
                    namespace d = gen_tcp::detail;
                    std::vector<buffer> got;
                    for (int i = 0; i < 100; ++i) {
                      auto r = co_await s.recv(0, must);
                      if (!r) {
                        co_return "recv: " + std::string(err_name(r.error()));
                      }
                      if (r->view() != pattern(4, static_cast<unsigned>(i))) {
                        co_return "frame " + std::to_string(i) + " differs";
                      }
                      got.push_back(std::move(*r));
                    }
                    // One read (the client wrote them at once): 6 bytes a
                    // frame, the first view after its 2-byte header at the
                    // start of the chunk's bytes.
                    for (std::size_t i = 0; i < got.size(); ++i) {
                      if (got[i].data() != got.front().data() + 6 * i) {
                        co_return "frame " + std::to_string(i) + " came in another read than the first";
                      }
                    }
                    const std::byte* chunk = got.front().data() - 2 - sizeof(d::chunk);
                    d::chunk* other = d::chunk_alloc(16);
                    bool held = reinterpret_cast<const std::byte*>(other) != chunk;
                    d::chunk_release(other);
                    got.clear();
                    d::chunk* again = d::chunk_alloc(16);
                    bool back = reinterpret_cast<const std::byte*>(again) == chunk;
                    d::chunk_release(again);
                    co_return std::string(held ? "held" : "reused while its views were out") + "," +
                        (back ? "back" : "not back in the pool");
                  }),
            "held,back");
}

TEST_F(framing, frames_across_read_chunks) {
  auto k = open_conn({.active = always, .packet = packet_type::u4});
  const std::size_t chunk = gen_tcp::detail::read_chunk_size;
  std::vector<std::size_t> sizes = {1, chunk - 5, chunk - 4, chunk - 3, chunk, chunk + 1, 3, 100000, 7, 1 << 20, 0, 2};
  std::string stream;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    stream += frame(packet_type::u4, pattern(sizes[i], static_cast<unsigned>(i)));
  }
  scoped_thread writer([&] { k.c.write(stream); });
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp");
    ASSERT_EQ(e.data.size(), sizes[i]);
    EXPECT_EQ(e.data, pattern(sizes[i], static_cast<unsigned>(i))) << "frame " << i;
  }
  writer.join();
  expect_quiet();
}

TEST_F(framing, frames_in_uneven_pieces) {
  auto k = open_conn({.active = always, .packet = packet_type::u2});
  std::mt19937 rng(12345);
  std::vector<std::string> bodies;
  std::string stream;
  for (int i = 0; i < 400; ++i) {
    bodies.push_back(pattern(rng() % 3000, static_cast<unsigned>(i)));
    stream += frame2(bodies.back());
  }
  scoped_thread writer([&] {
    for (std::size_t at = 0; at < stream.size();) {
      std::size_t n = std::min<std::size_t>(1 + rng() % 5000, stream.size() - at);
      k.c.write(std::string_view(stream).substr(at, n));
      at += n;
    }
  });
  for (const auto& b : bodies) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp");
    ASSERT_EQ(e.data, b);
  }
  writer.join();
  expect_quiet();
}

TEST_F(framing, line_delimiter_and_line_length) {
  auto k = open_conn({.active = always, .packet = packet_type::line, .line_delimiter = ';', .line_length = 4});
  ASSERT_TRUE(k.c.write("ab;cdefghij;\nxyz;"));
  for (const char* want : {"ab;", "cdef", "ghij", ";", "\nxyz", ";"}) {
    ev e = next();
    ASSERT_EQ(e.kind, "tcp");
    EXPECT_EQ(e.data, want);
  }
  expect_quiet();
  // The same cut, whatever the reads: one byte at a time.
  for (char ch : std::string_view("0123456789;")) {
    ASSERT_TRUE(k.c.write(std::string_view(&ch, 1)));
    ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 0; }));
  }
  for (const char* want : {"0123", "4567", "89;"}) {
    EXPECT_EQ(next().data, want);
  }
  expect_quiet();
}

TEST_F(framing, line_longer_than_packet_size_is_emsgsize_even_without_delimiter) {
  auto k = open_conn({.active = always, .packet = packet_type::line, .packet_size = 8});
  ASSERT_TRUE(k.c.write("1234567\n"));
  EXPECT_EQ(next().data, "1234567\n");
  ASSERT_TRUE(k.c.write("123456789"));  // no delimiter yet, already too long
  ev e = next();
  EXPECT_EQ(e.kind, "error");
  EXPECT_EQ(e.reason, errc::emsgsize);
  EXPECT_EQ(next().kind, "closed");
}

// A line longer than a read chunk, with no line_length: the port's buffer
// must grow by doubling (a few allocations), not by one byte per read
// (one allocation and one copy of the whole line per byte: quadratic).
TEST_F(framing, a_long_line_costs_a_few_buffers_not_one_per_byte) {
  auto k = open_conn({.active = always, .packet = packet_type::line});
  std::string line = pattern(std::size_t{48} * 1024);
  std::size_t before = large_allocations();
  ASSERT_TRUE(k.c.write(line));
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 0; }));
  ASSERT_TRUE(k.c.write("\n"));
  ev e = next();
  // Counted once the line is delivered: on io_uring with {active, true} a
  // multishot receive takes the bytes from the socket into the loop's
  // buffers before the port copies them. (The delivery's own copies of the
  // line, in the test's owner process and mailbox, count too: a few.)
  std::size_t grown = large_allocations() - before;
  ASSERT_EQ(e.kind, "tcp");
  EXPECT_EQ(e.data, line + "\n");
  EXPECT_GE(grown, 1U) << "a 48 KiB line fits no read chunk: the count of large allocations is not working";
  EXPECT_LT(grown, 16U) << "the buffer grew " << grown << " times for a 48 KiB line";
}

// A long frame that arrives in many reads (a peer writing 16 KiB at a
// time) grows the port's buffer by doubling, as one long write does: each
// read used to find the buffer too small for twice what it held and copy
// the whole frame again (one allocation and one copy per read: a peer
// sending a 1 MiB line cost the server as much as 64 copies of it, and an
// endless line a whole core). Both ways of knowing where a frame ends: a
// delimiter (line) and a length header ({packet, 4}).
class long_frame : public tcp_test, public ::testing::WithParamInterface<packet_type> {};
INSTANTIATE_TEST_SUITE_P(framings, long_frame, ::testing::Values(packet_type::line, packet_type::u4),
                         [](const auto& info) { return info.param == packet_type::line ? "line" : "packet_4"; });

TEST_P(long_frame, in_many_reads_is_copied_once_per_doubling_not_per_read) {
  constexpr std::size_t total = std::size_t{1} << 20;
  constexpr std::size_t piece = std::size_t{16} * 1024;
  packet_type p = GetParam();
  auto k = open_conn({.active = always, .packet = p});
  std::string body = pattern(total);
  std::string wire = p == packet_type::line ? body + "\n" : frame(p, body);
  std::size_t before = large_allocations();
  for (std::size_t at = 0; at + piece < wire.size(); at += piece) {
    ASSERT_TRUE(k.c.write(std::string_view(wire).substr(at, piece)));
    ASSERT_TRUE(wait_until([&] { return fionread(k.fd) == 0; }));  // taken from the socket: one read per piece
  }
  ASSERT_TRUE(k.c.write(std::string_view(wire).substr(wire.size() - wire.size() % piece)));
  ev e = next();
  // Counted once the frame is delivered (see a_long_line_costs_...).
  std::size_t grown = large_allocations() - before;
  ASSERT_EQ(e.kind, "tcp");
  EXPECT_EQ(e.data, p == packet_type::line ? body + "\n" : body);
  EXPECT_GE(grown, 1U) << "a 1 MiB frame fits no read chunk: the count of large allocations is not working";
  EXPECT_LT(grown, 16U) << "the buffer was replaced " << grown << " times for a 1 MiB frame in " << total / piece
                        << " reads";
}

// Without packet_size, a length header announcing a huge frame must not
// make the port allocate what it announces before the bytes come: the
// memory a connection holds follows what its peer actually sent.
class huge_header : public tcp_test, public ::testing::WithParamInterface<std::uint32_t> {};
INSTANTIATE_TEST_SUITE_P(lengths, huge_header, ::testing::Values(0x40000000U, 0xfffffffbU, 0xffffffffU));

TEST_P(huge_header, allocates_as_the_bytes_arrive_not_what_it_announces) {
  auto k = open_conn({.active = always, .packet = packet_type::u4});
  std::uint32_t len = GetParam();
  std::string h{static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                static_cast<char>(len)};
  reset_largest_allocation();
  ASSERT_TRUE(k.c.write(h + pattern(std::size_t{64} * 1024)));
  // Read by the port (or the socket already closed: -1, for a frame no buffer can hold).
  ASSERT_TRUE(wait_until([&] { return fionread(k.fd) <= 0; }));
  // Nothing yet (the frame waits for its bytes), or emsgsize at once for
  // a frame larger than any buffer can be; then the end.
  ev e = next(quiet);
  if (e.kind == "none") {
    k.c.close();
    e = next();
  }
  if (e.kind == "error") {
    EXPECT_EQ(e.reason, errc::emsgsize);
    e = next();
  }
  EXPECT_EQ(e.kind, "closed");
  EXPECT_LE(largest_allocation(), std::size_t{1} << 20) << "allocated for what the header announced";
}

TEST_F(framing, headers_written_for_packet_1_2_4_and_their_limits) {
  struct want {
    packet_type p;
    std::size_t max;
  };
  for (want w : {want{packet_type::u1, 255}, want{packet_type::u2, 65535}, want{packet_type::u4, 70000}}) {
    auto k = open_conn({.active = passive, .packet = w.p});
    std::string at_max = pattern(w.max);
    EXPECT_EQ(call(k.owner,
                   [&](const socket& s) {
                     std::string r = outcome(s.send(std::string_view("hi")));
                     r += "," + outcome(s.send(std::string_view()));
                     r += "," + outcome(s.send(buffer::copy_of(at_max)));
                     if (w.p != packet_type::u4) {
                       r += "," + outcome(s.send(pattern(w.max + 1)));
                     }
                     return r;
                   }),
              w.p == packet_type::u4 ? "ok,ok,ok" : "ok,ok,ok,emsgsize");
    std::string expect = frame(w.p, "hi") + frame(w.p, "") + frame(w.p, at_max);
    EXPECT_EQ(k.c.read_exact(expect.size()), expect);
    // The refused frame wrote nothing and the connection is still good.
    EXPECT_EQ(call(k.owner, [](const socket& s) { return outcome(s.send(std::string_view("ok"))); }), "ok");
    EXPECT_EQ(k.c.read_exact(header_size(w.p) + 2), frame(w.p, "ok"));
  }
}

TEST_F(framing, setopts_changes_framing_mid_stream_without_losing_buffered_bytes) {
  auto k = open_conn({.active = once, .packet = packet_type::line});
  // A line handshake, then {packet, 2} frames, then raw bytes: one write,
  // so everything after the line is already buffered in the port.
  ASSERT_TRUE(k.c.write("HELLO 1\n" + frame2("abc") + frame2("def") + "raw tail"));
  EXPECT_EQ(next().data, "HELLO 1\n");
  expect_quiet();
  EXPECT_EQ(setopts(k.owner, {.active = once, .packet = packet_type::u2}), "ok");
  EXPECT_EQ(next().data, "abc");
  EXPECT_EQ(setopts(k.owner, {.active = once}), "ok");
  EXPECT_EQ(next().data, "def");
  EXPECT_EQ(setopts(k.owner, {.active = once, .packet = packet_type::raw}), "ok");
  EXPECT_EQ(next().data, "raw tail");
  expect_quiet();
}

TEST_F(framing, setopts_changes_framing_between_passive_recvs) {
  auto k = open_conn({.active = passive, .packet = packet_type::line});
  ASSERT_TRUE(k.c.write("LEN 4\n" + frame(packet_type::u4, pattern(40000)) + frame(packet_type::u1, "x") + "rest"));
  EXPECT_EQ(acall(k.owner, recv_cmd()), "LEN 4\n");
  EXPECT_EQ(setopts(k.owner, {.packet = packet_type::u4}), "ok");
  EXPECT_EQ(acall(k.owner, recv_cmd()), pattern(40000));
  EXPECT_EQ(setopts(k.owner, {.packet = packet_type::u1}), "ok");
  EXPECT_EQ(acall(k.owner, recv_cmd()), "x");
  EXPECT_EQ(setopts(k.owner, {.packet = packet_type::raw}), "ok");
  EXPECT_EQ(acall(k.owner, recv_cmd(4)), "rest");
}

}  // namespace
}  // namespace otpnet::gen_tcp::test
