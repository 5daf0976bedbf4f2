// File: otpnet/behaviours/type_list.hpp
//
// `type_list<T...>`: how a behaviour names the message types it accepts
// (`using calls = type_list<get, put>;`), so that its loop can match an
// incoming envelope's type against them without RTTI.
#pragma once

namespace otpnet {

/// A list of types; carries no value.
template <class... Ts>
struct type_list {};

namespace detail {

template <class A, class B>
struct type_list_concat;
template <class... As, class... Bs>
struct type_list_concat<type_list<As...>, type_list<Bs...>> {
  using type = type_list<As..., Bs...>;
};

}  // namespace detail

/// The types of A followed by those of B.
template <class A, class B>
using type_list_concat_t = typename detail::type_list_concat<A, B>::type;

}  // namespace otpnet
