// The one translation unit that compiles Boost.JSON (header-only mode): every other
// file includes <boost/json.hpp> and links rend_core.
#include <boost/json/src.hpp>
