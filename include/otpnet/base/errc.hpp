// File: otpnet/base/errc.hpp
//
// The one list of error reasons for the layers below the runtime: every
// Linux errno under its lowercase POSIX name (as OTP's posix() atoms), the
// resolver's EAI_* codes, and the framework's own reasons. The enum, its
// names and its std::error_category are all generated from these lists, so
// a reason is added in exactly one place.
#pragma once

#include <netdb.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

// X(name, errno_value): the whole errno set of Linux.
#define OTPNET_BASE_POSIX_ERRORS(X) \
  X(eperm, EPERM) \
  X(enoent, ENOENT) \
  X(esrch, ESRCH) \
  X(eintr, EINTR) \
  X(eio, EIO) \
  X(enxio, ENXIO) \
  X(e2big, E2BIG) \
  X(enoexec, ENOEXEC) \
  X(ebadf, EBADF) \
  X(echild, ECHILD) \
  X(eagain, EAGAIN) \
  X(enomem, ENOMEM) \
  X(eacces, EACCES) \
  X(efault, EFAULT) \
  X(enotblk, ENOTBLK) \
  X(ebusy, EBUSY) \
  X(eexist, EEXIST) \
  X(exdev, EXDEV) \
  X(enodev, ENODEV) \
  X(enotdir, ENOTDIR) \
  X(eisdir, EISDIR) \
  X(einval, EINVAL) \
  X(enfile, ENFILE) \
  X(emfile, EMFILE) \
  X(enotty, ENOTTY) \
  X(etxtbsy, ETXTBSY) \
  X(efbig, EFBIG) \
  X(enospc, ENOSPC) \
  X(espipe, ESPIPE) \
  X(erofs, EROFS) \
  X(emlink, EMLINK) \
  X(epipe, EPIPE) \
  X(edom, EDOM) \
  X(erange, ERANGE) \
  X(edeadlk, EDEADLK) \
  X(enametoolong, ENAMETOOLONG) \
  X(enolck, ENOLCK) \
  X(enosys, ENOSYS) \
  X(enotempty, ENOTEMPTY) \
  X(eloop, ELOOP) \
  X(enomsg, ENOMSG) \
  X(eidrm, EIDRM) \
  X(echrng, ECHRNG) \
  X(el2nsync, EL2NSYNC) \
  X(el3hlt, EL3HLT) \
  X(el3rst, EL3RST) \
  X(elnrng, ELNRNG) \
  X(eunatch, EUNATCH) \
  X(enocsi, ENOCSI) \
  X(el2hlt, EL2HLT) \
  X(ebade, EBADE) \
  X(ebadr, EBADR) \
  X(exfull, EXFULL) \
  X(enoano, ENOANO) \
  X(ebadrqc, EBADRQC) \
  X(ebadslt, EBADSLT) \
  X(ebfont, EBFONT) \
  X(enostr, ENOSTR) \
  X(enodata, ENODATA) \
  X(etime, ETIME) \
  X(enosr, ENOSR) \
  X(enonet, ENONET) \
  X(enopkg, ENOPKG) \
  X(eremote, EREMOTE) \
  X(enolink, ENOLINK) \
  X(eadv, EADV) \
  X(esrmnt, ESRMNT) \
  X(ecomm, ECOMM) \
  X(eproto, EPROTO) \
  X(emultihop, EMULTIHOP) \
  X(edotdot, EDOTDOT) \
  X(ebadmsg, EBADMSG) \
  X(eoverflow, EOVERFLOW) \
  X(enotuniq, ENOTUNIQ) \
  X(ebadfd, EBADFD) \
  X(eremchg, EREMCHG) \
  X(elibacc, ELIBACC) \
  X(elibbad, ELIBBAD) \
  X(elibscn, ELIBSCN) \
  X(elibmax, ELIBMAX) \
  X(elibexec, ELIBEXEC) \
  X(eilseq, EILSEQ) \
  X(erestart, ERESTART) \
  X(estrpipe, ESTRPIPE) \
  X(eusers, EUSERS) \
  X(enotsock, ENOTSOCK) \
  X(edestaddrreq, EDESTADDRREQ) \
  X(emsgsize, EMSGSIZE) \
  X(eprototype, EPROTOTYPE) \
  X(enoprotoopt, ENOPROTOOPT) \
  X(eprotonosupport, EPROTONOSUPPORT) \
  X(esocktnosupport, ESOCKTNOSUPPORT) \
  X(eopnotsupp, EOPNOTSUPP) \
  X(epfnosupport, EPFNOSUPPORT) \
  X(eafnosupport, EAFNOSUPPORT) \
  X(eaddrinuse, EADDRINUSE) \
  X(eaddrnotavail, EADDRNOTAVAIL) \
  X(enetdown, ENETDOWN) \
  X(enetunreach, ENETUNREACH) \
  X(enetreset, ENETRESET) \
  X(econnaborted, ECONNABORTED) \
  X(econnreset, ECONNRESET) \
  X(enobufs, ENOBUFS) \
  X(eisconn, EISCONN) \
  X(enotconn, ENOTCONN) \
  X(eshutdown, ESHUTDOWN) \
  X(etoomanyrefs, ETOOMANYREFS) \
  X(etimedout, ETIMEDOUT) \
  X(econnrefused, ECONNREFUSED) \
  X(ehostdown, EHOSTDOWN) \
  X(ehostunreach, EHOSTUNREACH) \
  X(ealready, EALREADY) \
  X(einprogress, EINPROGRESS) \
  X(estale, ESTALE) \
  X(euclean, EUCLEAN) \
  X(enotnam, ENOTNAM) \
  X(enavail, ENAVAIL) \
  X(eisnam, EISNAM) \
  X(eremoteio, EREMOTEIO) \
  X(edquot, EDQUOT) \
  X(enomedium, ENOMEDIUM) \
  X(emediumtype, EMEDIUMTYPE) \
  X(ecanceled, ECANCELED) \
  X(enokey, ENOKEY) \
  X(ekeyexpired, EKEYEXPIRED) \
  X(ekeyrevoked, EKEYREVOKED) \
  X(ekeyrejected, EKEYREJECTED) \
  X(eownerdead, EOWNERDEAD) \
  X(enotrecoverable, ENOTRECOVERABLE) \
  X(erfkill, ERFKILL) \
  X(ehwpoison, EHWPOISON)

// X(name, eai_value): getaddrinfo/getnameinfo failures, stored as 2000 - EAI_x
// (the EAI_ constants are negative on glibc).
#define OTPNET_BASE_EAI_ERRORS(X) \
  X(eai_addrfamily, EAI_ADDRFAMILY) \
  X(eai_again, EAI_AGAIN) \
  X(eai_badflags, EAI_BADFLAGS) \
  X(eai_fail, EAI_FAIL) \
  X(eai_family, EAI_FAMILY) \
  X(eai_memory, EAI_MEMORY) \
  X(eai_nodata, EAI_NODATA) \
  X(eai_noname, EAI_NONAME) \
  X(eai_service, EAI_SERVICE) \
  X(eai_socktype, EAI_SOCKTYPE) \
  X(eai_system, EAI_SYSTEM) \
  X(eai_overflow, EAI_OVERFLOW)

// X(name, description): reasons of otpnet itself, numbered from 3000.
#define OTPNET_BASE_OWN_ERRORS(X) \
  X(closed, "socket closed") \
  X(timeout, "timed out") \
  X(invalid, "invalid argument or state") \
  X(busy, "send queue above its high watermark") \
  X(noproc, "no such process") \
  X(want_read, "TLS needs to read before it can go on") \
  X(want_write, "TLS needs to write before it can go on") \
  X(tls_error, "TLS protocol or certificate failure") \
  X(unsupported, "not supported on this platform or build") \
  X(bad_proxy_header, "not a valid PROXY protocol header")

namespace otpnet {

/// A named error reason: a POSIX errno, a resolver (EAI) code or an otpnet
/// reason. Values of the POSIX names equal their errno, so conversion from
/// errno is a cast; `err_name` gives the lowercase name, `err_text` its description and
/// `format_error` both.
// clang-format off
enum class errc : int {
  ok = 0,
#define OTPNET_X(name, value) name = (value),
  OTPNET_BASE_POSIX_ERRORS(OTPNET_X)
#undef OTPNET_X
#define OTPNET_X(name, value) name = 2000 - (value),
  OTPNET_BASE_EAI_ERRORS(OTPNET_X)
#undef OTPNET_X
  own_first_ = 2999,
#define OTPNET_X(name, text) name,
  OTPNET_BASE_OWN_ERRORS(OTPNET_X)
#undef OTPNET_X
};
// clang-format on

/// The reason for an errno value; unknown numbers map to themselves.
constexpr errc from_errno(int e) noexcept { return static_cast<errc>(e); }

/// The reason for a getaddrinfo/getnameinfo return code (EAI_*).
constexpr errc from_eai(int e) noexcept { return static_cast<errc>(2000 - e); }

/// The reason's lowercase name, e.g. "econnreset", "eai_noname", "closed";
/// "unknown" for a value outside the lists.
std::string_view err_name(errc e) noexcept;

/// The reason's description alone, e.g. "Connection reset by peer" (static
/// storage; for paths that must not allocate).
const char* err_text(errc e) noexcept;

/// Readable text for the reason, e.g. "econnreset: Connection reset by peer".
std::string format_error(errc e);

/// The std::error_category of otpnet::errc ("otpnet").
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace otpnet

template <>
struct std::is_error_code_enum<otpnet::errc> : std::true_type {};
