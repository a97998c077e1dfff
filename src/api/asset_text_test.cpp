#include "api/asset_text.h"

#include <gtest/gtest.h>

#include <string>

namespace rend::api {
namespace {

TEST(AssetText, NamesOfUpTo256BytesOfPrintableUtf8AreAccepted) {
  for (std::string ok : {std::string("launch"), std::string("Caf\xC3\xA9 \xE2\x80\x94 cut \xF0\x9F\x8E\xAC"),
                         std::string("C:\\clips\\a b (2).MP4"), std::string("../../etc/passwd"),
                         std::string(" padded "), std::string(256, 'x')})
    EXPECT_EQ(asset_text_problem(ok), std::nullopt) << ok;
  // 255 bytes of ASCII then a 2-byte character: 257 bytes, though 256 characters.
  EXPECT_NE(asset_text_problem(std::string(255, 'x') + "\xC3\xA9"), std::nullopt);
  EXPECT_EQ(asset_text_problem(std::string(254, 'x') + "\xC3\xA9"), std::nullopt);
}

TEST(AssetText, EmptyTooLongInvalidUtf8AndControlCharactersAreRefusedWithAReason) {
  auto why = [](std::string_view s) { return asset_text_problem(s).value_or(""); };
  EXPECT_NE(why("").find("empty"), std::string::npos);
  EXPECT_NE(why(std::string(257, 'x')).find("256 bytes"), std::string::npos);
  for (std::string bad : {
           std::string("\xC3"),              // truncated sequence
           std::string("a\xFF"),             // never valid
           std::string("\xC0\xAF"),          // overlong '/'
           std::string("\xE0\x80\xAF"),      // overlong, 3 bytes
           std::string("\xED\xA0\x80"),      // a UTF-16 surrogate
           std::string("\xF4\x90\x80\x80"),  // past U+10FFFF
           std::string("\x80"
                       "abc"),           // a lone continuation byte
           std::string("\xF0\x9F\x8E"),  // a 4-byte sequence cut short
       })
    EXPECT_NE(why(bad).find("UTF-8"), std::string::npos) << testing::PrintToString(bad);
  for (std::string bad : {std::string("a\nb"), std::string("tab\there"), std::string("nul\0x", 5),
                          std::string("\x1B[31m"), std::string("del\x7F"), std::string("c1 \xC2\x85 next line"),
                          std::string("\xC2\x9B"
                                      "31m")})
    EXPECT_NE(why(bad).find("control"), std::string::npos) << testing::PrintToString(bad);
}

}  // namespace
}  // namespace rend::api
