// File: tools/netinfo/print_json.cpp
//
// otpnet-netinfo --json: the report as one JSON document (nlohmann::json,
// keys in a fixed order). Shape:
//   {"version", "hostname",
//    "interfaces": [{"name", "index", "flags": [..], "hwaddr",
//                    "addresses": [{"family", "addr", "netmask"?, "broadaddr"?, "dstaddr"?}]}],
//    "resolve": [{"name", "canonname"?, "addresses": [{"family", "addr"}]} | {"name", "error"}],
//    "supports": {"features": {name: bool}, "protocols": {..}, "msg_flags": {..},
//                 "options": {level: {name: bool}}},
//    "selfcheck": null | {"ok", "error"?, "listen", "connect", "recv", "line",
//                         "sent", "echoed", "sockets": [..], "registry": {..}}}

#include <otpnet/socket/registry.hpp>

#include "netinfo.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace otpnet::tools::netinfo {

namespace {

using json = nlohmann::ordered_json;

json address(const if_address& a) {
  json j{{"family", a.family}, {"addr", a.addr}};
  for (const auto& [key, value] :
       {std::pair{"netmask", &a.netmask}, std::pair{"broadaddr", &a.broadaddr}, std::pair{"dstaddr", &a.dstaddr}}) {
    if (!value->empty()) {
      j[key] = *value;
    }
  }
  return j;
}

json interface(const interface_info& i) {
  json addrs = json::array();
  for (const if_address& a : i.addresses) {
    addrs.push_back(address(a));
  }
  return {{"name", i.name}, {"index", i.index}, {"flags", i.flags}, {"hwaddr", i.hwaddr}, {"addresses", addrs}};
}

json resolved(const resolution& r) {
  json j{{"name", r.name}};
  if (r.error != errc::ok) {
    j["error"] = std::string(err_name(r.error));
    return j;
  }
  if (!r.canonname.empty()) {
    j["canonname"] = r.canonname;
  }
  j["addresses"] = json::array();
  for (const if_address& a : r.addresses) {
    j["addresses"].push_back(address(a));
  }
  return j;
}

json features(const std::vector<socket::feature>& fs) {
  json j = json::object();
  for (const socket::feature& f : fs) {
    j[std::string(f.name)] = f.supported;
  }
  return j;
}

json supports(const support_report& s) {
  json opts = json::object();
  for (const socket::option_support& o : s.options) {
    opts[std::string(o.option.level)][std::string(o.option.name)] = o.supported;
  }
  return {{"features", features(s.features)},
          {"protocols", features(s.protocols)},
          {"msg_flags", features(s.msg_flags)},
          {"options", opts}};
}

json nowait(const nowait_report& n) {
  json j{{"outcome", n.outcome}};
  if (!n.tag.empty()) {
    j["select_tag"] = n.tag;
  }
  j["ms"] = n.wait_ms;
  return j;
}

json socket_json(const socket_report& s) {
  json counters = json::object();
  socket::each_counter(s.counters, [&](const char* name, std::uint64_t v) { counters[name] = v; });
  return {{"role", s.role}, {"local", s.local}, {"peer", s.peer}, {"state", s.state}, {"counters", counters}};
}

json selfcheck(const selfcheck_report& c) {
  json j{{"ok", c.ok()}};
  if (!c.ok()) {
    j["error"] = {
        {"step", c.error.step}, {"reason", std::string(err_name(c.error.reason))}, {"text", c.error.to_string()}};
  }
  j["listen"] = c.listen;
  j["connect"] = nowait(c.connect);
  j["recv"] = nowait(c.recv);
  j["line"] = c.line;
  j["sent"] = c.sent;
  j["echoed"] = c.echoed;
  j["sockets"] = json::array();
  for (const socket_report& s : c.sockets) {
    j["sockets"].push_back(socket_json(s));
  }
  j["registry"] = {{"while_open", c.registered_during}, {"after_close", c.registered_after}};
  return j;
}

}  // namespace

std::string to_json(const report& r) {
  json j{{"version", r.version}, {"hostname", r.hostname}};
  j["interfaces"] = json::array();
  for (const interface_info& i : r.interfaces) {
    j["interfaces"].push_back(interface(i));
  }
  j["resolve"] = json::array();
  for (const resolution& res : r.resolved) {
    j["resolve"].push_back(resolved(res));
  }
  j["supports"] = supports(r.supports);
  j["selfcheck"] = r.selfcheck ? selfcheck(*r.selfcheck) : json(nullptr);
  // Interface and host names are bytes to the kernel: replace invalid UTF-8
  // rather than throw.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace otpnet::tools::netinfo
