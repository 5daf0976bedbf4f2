// File: otpnet/runtime/socket_select.hpp
//
// The message a process receives when a socket it waited on with a nowait
// call is ready (OTP's {'$socket', S, select, Handle}), or was closed under
// it (reason `closed`, OTP's {'$socket', S, abort, {Handle, closed}}).
#pragma once

#include <otpnet/socket/select.hpp>
#include <otpnet/socket/socket.hpp>

namespace otpnet {

struct socket_select {
  socket::socket sock;
  socket::select_tag tag;
  socket::select_handle handle;
  errc reason = errc::ok;
};

}  // namespace otpnet
