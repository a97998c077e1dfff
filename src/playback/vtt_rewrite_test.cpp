#include "playback/vtt_rewrite.h"

#include <gtest/gtest.h>

namespace {

using rend::playback::add_query_to_vtt_cue_uris;

TEST(VttRewrite, TheTokenGoesIntoEveryCueImageBeforeTheFragment) {
  std::string vtt =
      "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard/sheet_0001.jpg#xywh=0,0,160,90\n\n"
      "00:00:02.000 --> 00:00:04.000\nstoryboard/sheet_0001.jpg#xywh=160,0,160,90\n\n";
  EXPECT_EQ(
      add_query_to_vtt_cue_uris(vtt, "token", "v2.k.1.ast_x.s.sig"),
      "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nstoryboard/sheet_0001.jpg?token=v2.k.1.ast_x.s.sig#xywh=0,0,160,90\n\n"
      "00:00:02.000 --> 00:00:04.000\nstoryboard/sheet_0001.jpg?token=v2.k.1.ast_x.s.sig#xywh=160,0,160,90\n\n");
}

TEST(VttRewrite, ExistingParametersForeignUrisAndLineEndings) {
  EXPECT_EQ(add_query_to_vtt_cue_uris(
                "WEBVTT\r\n\r\n1\r\n00:01.000 --> 00:02.000\r\nsheet.jpg?a=1&token=old#xywh=0,0,1,1\r\n", "token",
                "n w"),
            "WEBVTT\r\n\r\n1\r\n00:01.000 --> 00:02.000\r\nsheet.jpg?a=1&token=n%20w#xywh=0,0,1,1\r\n");
  std::string foreign =
      "WEBVTT\n\n00:00.000 --> 00:01.000\nhttps://elsewhere.example/s.jpg#xywh=0,0,1,1\n\n"
      "00:01.000 --> 00:02.000\n//elsewhere.example/s.jpg\n";
  EXPECT_EQ(add_query_to_vtt_cue_uris(foreign, "token", "t"), foreign);
  // No final newline; a NOTE block and the header are never touched.
  EXPECT_EQ(add_query_to_vtt_cue_uris("WEBVTT\n\nNOTE made by rend\n\n00:00.000 --> 00:01.000\ns.jpg", "token", "t"),
            "WEBVTT\n\nNOTE made by rend\n\n00:00.000 --> 00:01.000\ns.jpg?token=t");
}

}  // namespace
