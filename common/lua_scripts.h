// The Lua scripts of common/lua/, compiled in (see embed_lua.cmake).
#pragma once

#include <string_view>

namespace courier::lua {

// The source of common/lua/<name>.lua; empty if there is no such script.
std::string_view Source(std::string_view name);

}  // namespace courier::lua
