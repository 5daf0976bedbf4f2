// File: tools/netinfo/print_text.cpp
//
// otpnet-netinfo's human-readable report: one section per source (host,
// interfaces, resolver, supports, self-check), labels in a left column of
// fixed width, lists joined by spaces. Unsupported features, protocols and
// flags are listed after "not:" so that the supported ones read first.

#include "netinfo.hpp"

#include <iomanip>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace otpnet::tools::netinfo {

namespace {

constexpr int label_width = 13;

void row(std::ostringstream& o, std::string_view label, const std::string& text) {
  o << "  " << std::left << std::setw(label_width) << label << text << '\n';
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& i : items) {
    out += out.empty() ? "" : sep;
    out += i;
  }
  return out;
}

/// "a b c; not: d e" for a feature list.
std::string features(const std::vector<socket::feature>& fs) {
  std::vector<std::string> yes, no;
  for (const socket::feature& f : fs) {
    (f.supported ? yes : no).emplace_back(f.name);
  }
  std::string out = join(yes, " ");
  if (!no.empty()) {
    out += (out.empty() ? "not: " : "; not: ") + join(no, " ");
  }
  return out;
}

std::string options(const std::vector<socket::option_support>& os) {
  std::vector<std::string> no;
  for (const socket::option_support& o : os) {
    if (!o.supported) {
      no.push_back("{" + std::string(o.option.level) + "," + std::string(o.option.name) + "}");
    }
  }
  std::string out = std::to_string(os.size() - no.size()) + " of " + std::to_string(os.size());
  return no.empty() ? out : out + "; not: " + join(no, " ");
}

void interfaces(std::ostringstream& o, const report& r) {
  o << "\ninterfaces (getifaddrs)\n";
  for (const interface_info& i : r.interfaces) {
    o << "  " << std::right << std::setw(2) << i.index << "  " << std::left << std::setw(label_width - 4) << i.name
      << join(i.flags, ",") << (i.hwaddr.empty() ? "" : "  hwaddr " + i.hwaddr) << '\n';
    for (const if_address& a : i.addresses) {
      o << "        " << std::setw(7) << a.family << std::setw(26) << a.addr;
      if (!a.netmask.empty()) {
        o << " netmask " << a.netmask;
      }
      if (!a.broadaddr.empty()) {
        o << "  broadcast " << a.broadaddr;
      }
      if (!a.dstaddr.empty()) {
        o << "  peer " << a.dstaddr;
      }
      o << '\n';
    }
  }
}

void resolver(std::ostringstream& o, const report& r) {
  o << "\nresolver (getaddrinfo, stream sockets)\n";
  for (const resolution& res : r.resolved) {
    if (res.error != errc::ok) {
      row(o, res.name, format_error(res.error));
      continue;
    }
    std::vector<std::string> addrs;
    for (const if_address& a : res.addresses) {
      addrs.push_back(a.addr);
    }
    std::string canon = res.canonname.empty() || res.canonname == res.name ? "" : "  (canonical " + res.canonname + ")";
    row(o, res.name, join(addrs, " ") + canon);
  }
}

std::string nowait_text(std::string_view call, const nowait_report& n) {
  std::ostringstream o;
  o << "nowait -> " << n.outcome;
  if (n.outcome == "select") {
    o << " (" << n.tag << "), select event, " << call;
  }
  o << ": " << std::fixed << std::setprecision(3) << n.wait_ms << " ms";
  return o.str();
}

void counters(std::ostringstream& o, const socket_report& s) {
  const auto& c = s.counters;
  std::string pad(2 + label_width, ' ');
  o << pad << "read   byte " << c.read_byte << "  pkg " << c.read_pkg << "  tries " << c.read_tries << "  fails "
    << c.read_fails << "  waits " << c.read_waits << '\n';
  o << pad << "write  byte " << c.write_byte << "  pkg " << c.write_pkg << "  tries " << c.write_tries << "  fails "
    << c.write_fails << "  waits " << c.write_waits << '\n';
  o << pad << "accept success " << c.acc_success << "  tries " << c.acc_tries << "  fails " << c.acc_fails << "  waits "
    << c.acc_waits << '\n';
}

void selfcheck(std::ostringstream& o, const selfcheck_report& c) {
  o << "\nself-check over loopback (socket layer)\n";
  if (!c.listen.empty()) {
    row(o, "listen", c.listen);
  }
  if (!c.connect.outcome.empty()) {
    row(o, "connect", nowait_text("connect(s)", c.connect));
  }
  if (!c.recv.outcome.empty()) {
    row(o, "recv", nowait_text("recv again", c.recv));
  }
  if (c.echoed != 0) {
    row(o, "line",
        "\"" + c.line + "\": " + std::to_string(c.sent) + " bytes sent, " + std::to_string(c.echoed) + " echoed back");
  }
  for (const socket_report& s : c.sockets) {
    std::string ends = s.peer.empty() ? s.local : s.local + " -> " + s.peer;
    row(o, s.role, ends + "  [" + join(s.state, ",") + "]");
    counters(o, s);
  }
  if (c.ok()) {
    row(o, "registry",
        std::to_string(c.registered_during) + " sockets while open, " + std::to_string(c.registered_after) +
            " after close; a second close gives `closed`");
  }
  row(o, "result", c.ok() ? "passed" : "FAILED at " + c.error.to_string());
}

}  // namespace

std::string to_text(const report& r) {
  std::ostringstream o;
  o << "otpnet-netinfo " << r.version << "\n\nhost\n";
  row(o, "hostname", r.hostname);
  interfaces(o, r);
  resolver(o, r);
  o << "\nsocket layer supports\n";
  row(o, "features", features(r.supports.features));
  row(o, "protocols", features(r.supports.protocols));
  row(o, "msg flags", features(r.supports.msg_flags));
  row(o, "options", options(r.supports.options));
  if (r.selfcheck) {
    selfcheck(o, *r.selfcheck);
  }
  return o.str();
}

}  // namespace otpnet::tools::netinfo
