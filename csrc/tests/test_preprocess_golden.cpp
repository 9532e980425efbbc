// The CPU preprocessing kernel against values hand-computed from DESIGN.md's spec (small images, so each output can
// be derived on paper): centre crop, stretch (up/down-scale taps), letterbox fill, BGR/RGB, padded rows, float16.
#include <cstdint>
#include <vector>

#include "check.hpp"
#include "preprocess_cases.hpp"
#include "preprocess/plan.hpp"
#include "yolocls/error.hpp"
#include "yolocls/preprocess.hpp"

using namespace yolocls;

namespace {

// Identity normalisation (out = pixel), so outputs are interpolated pixel values.
PreprocessConfig raw(int imgsz, Crop crop, ChannelOrder model = ChannelOrder::RGB) {
  PreprocessConfig c;
  c.imgsz = imgsz;
  c.crop = crop;
  c.scale = 1.0f;
  for (int k = 0; k < 3; ++k) {
    c.mean[k] = 0.0f;
    c.std[k] = 1.0f;
  }
  c.channel_order = model;
  return c;
}

using yolocls_test::make_view;

std::vector<float> run(const ImageView& v, const PreprocessConfig& c) {
  std::vector<float> out(preprocessed_elems(c), -999.0f);
  preprocess(&v, 1, c, out.data(), DType::Float32);
  return out;
}

// out[k][y][x] of an S x S output
float at(const std::vector<float>& o, int S, int k, int y, int x) { return o[(k * S + y) * S + x]; }

}  // namespace

TEST(center_crop_identity_resize_and_bgr_to_rgb) {
  // 2x4 BGR image; centre square = columns 1..2; 2 -> 2 is the identity (src = d). Pixel (y, x) = B,G,R below.
  std::vector<uint8_t> px;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 4; ++x) px.insert(px.end(), {uint8_t(10 * y + x), uint8_t(100 + x), uint8_t(200 + y)});
  const auto o = run(make_view(px, 2, 4), raw(2, Crop::Center));
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 2; ++x) {
      CHECK_NEAR(at(o, 2, 0, y, x), 200 + y, 0);         // model R <- input channel 2
      CHECK_NEAR(at(o, 2, 1, y, x), 100 + (x + 1), 0);   // G
      CHECK_NEAR(at(o, 2, 2, y, x), 10 * y + (x + 1), 0);  // B <- input channel 0
    }
  }
  // The same image declared RGB, for an RGB model: no swap.
  const auto p = run(make_view(px, 2, 4, ChannelOrder::RGB), raw(2, Crop::Center));
  CHECK_NEAR(at(p, 2, 0, 1, 0), 11, 0);
  CHECK_NEAR(at(p, 2, 2, 1, 0), 201, 0);
  // A BGR model fed a BGR image: no swap either.
  const auto q = run(make_view(px, 2, 4), raw(2, Crop::Center, ChannelOrder::BGR));
  CHECK_NEAR(at(q, 2, 0, 1, 1), 12, 0);
}

TEST(center_crop_of_a_tall_image_takes_the_middle_rows) {
  // 4x1 grey image (rows 0, 40, 80, 120) -> side 1, top (4-1)//2 = 1 -> the pixel of row 1.
  std::vector<uint8_t> px;
  for (int y = 0; y < 4; ++y) px.insert(px.end(), {uint8_t(40 * y), uint8_t(40 * y), uint8_t(40 * y)});
  const auto o = run(make_view(px, 4, 1), raw(1, Crop::Center));
  for (int k = 0; k < 3; ++k) CHECK_NEAR(o[k], 40, 0);
}

TEST(stretch_upscale_half_pixel_taps) {
  // 1x2 image (p0 = 0, p1 = 200) -> 4x4: src = (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]:
  // columns 0, 0.75*p0 + 0.25*p1 = 50, 150, 200; every row equal (1 source row).
  std::vector<uint8_t> px = {0, 0, 0, 200, 200, 200};
  const auto o = run(make_view(px, 1, 2), raw(4, Crop::Stretch));
  const float want[4] = {0, 50, 150, 200};
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) CHECK_NEAR(at(o, 4, k, y, x), want[x], 1e-5);
}

TEST(stretch_downscale_averages_the_middle) {
  // 2x2 -> 1x1: src = 0.5 on both axes: the mean of the 4 pixels.
  std::vector<uint8_t> px = {0, 10, 20, 40, 50, 60, 80, 90, 100, 120, 130, 140};
  const auto o = run(make_view(px, 2, 2, ChannelOrder::RGB), raw(1, Crop::Stretch));
  CHECK_NEAR(o[0], (0 + 40 + 80 + 120) / 4.0, 1e-5);
  CHECK_NEAR(o[1], (10 + 50 + 90 + 130) / 4.0, 1e-5);
  CHECK_NEAR(o[2], (20 + 60 + 100 + 140) / 4.0, 1e-5);
  // 4x4 -> 2x2: src = (d + 0.5) * 2 - 0.5 = 0.5, 2.5: means of 2x2 blocks.
  std::vector<uint8_t> g;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) g.insert(g.end(), 3, uint8_t(16 * y + x));
  const auto p = run(make_view(g, 4, 4), raw(2, Crop::Stretch));
  CHECK_NEAR(at(p, 2, 0, 0, 0), (0 + 1 + 16 + 17) / 4.0, 1e-5);
  CHECK_NEAR(at(p, 2, 1, 1, 1), (34 + 35 + 50 + 51) / 4.0, 1e-5);
}

TEST(letterbox_pads_with_the_normalised_fill) {
  // 1x2 image -> 4: r = min(4/1, 4/2) = 2, resized 2x4 at top (4-2)//2 = 1; rows 0 and 3 are fill 114.
  std::vector<uint8_t> px = {0, 0, 0, 200, 200, 200};
  PreprocessConfig c = raw(4, Crop::Letterbox);
  const auto o = run(make_view(px, 1, 2), c);
  const float want[4] = {0, 50, 150, 200};
  for (int k = 0; k < 3; ++k) {
    for (int x = 0; x < 4; ++x) {
      CHECK_NEAR(at(o, 4, k, 0, x), 114, 0);
      CHECK_NEAR(at(o, 4, k, 3, x), 114, 0);
      CHECK_NEAR(at(o, 4, k, 1, x), want[x], 1e-5);
      CHECK_NEAR(at(o, 4, k, 2, x), want[x], 1e-5);
    }
  }
  // Default normalisation: fill = (114/255 - mean) / std per channel; a tall image pads left/right.
  PreprocessConfig d;
  d.imgsz = 4;
  d.crop = Crop::Letterbox;
  std::vector<uint8_t> tall = {0, 0, 0, 255, 255, 255};  // 2x1
  const auto t = run(make_view(tall, 2, 1), d);
  const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
  for (int k = 0; k < 3; ++k) {
    CHECK_NEAR(at(t, 4, k, 0, 0), (114 / 255.0 - mean[k]) / sd[k], 1e-5);
    CHECK_NEAR(at(t, 4, k, 3, 3), (114 / 255.0 - mean[k]) / sd[k], 1e-5);
    CHECK_NEAR(at(t, 4, k, 0, 1), (0 - mean[k]) / sd[k], 1e-5);       // resized 4x2 at left 1
    CHECK_NEAR(at(t, 4, k, 3, 2), (1.0 - mean[k]) / sd[k], 1e-5);
  }
}

TEST(padded_rows_are_skipped) {
  // 2x1 image with 5 junk bytes after each row (stride 8).
  std::vector<uint8_t> px = {10, 20, 30, 99, 99, 99, 99, 99, 40, 50, 60, 99, 99, 99, 99, 99};
  const auto o = run(make_view(px, 2, 1, ChannelOrder::RGB, 8), raw(2, Crop::Stretch));
  CHECK_NEAR(at(o, 2, 0, 0, 1), 10, 0);
  CHECK_NEAR(at(o, 2, 2, 1, 0), 60, 0);
}

TEST(float16_rounds_to_nearest_even) {
  // out = pixel - mean with scale 1, std 1: 255 + 1794 = 2049 (tie -> 2048 = 0x6800), 255 + 1796 = 2051 (-> 2052 =
  // 0x6802), 0.25 = 0x3400, 70000 overflows to +inf (0x7c00).
  std::vector<uint8_t> px = {255, 255, 255};
  PreprocessConfig c = raw(1, Crop::Stretch);
  c.mean[0] = -1794;
  c.mean[1] = -1796;
  c.mean[2] = -69745;
  uint16_t h[3];
  ImageView v = make_view(px, 1, 1, ChannelOrder::RGB);
  preprocess(&v, 1, c, h, DType::Float16);
  CHECK(h[0] == 0x6800);
  CHECK(h[1] == 0x6802);
  CHECK(h[2] == 0x7c00);
  CHECK(detail::float_to_half(0.25f) == 0x3400);
  CHECK(detail::float_to_half(-2.0f) == 0xc000);
  CHECK(detail::float_to_half(5.9604645e-08f) == 0x0001);  // smallest subnormal
  CHECK(detail::float_to_half(1e-9f) == 0x0000);
}

TEST(batch_outputs_are_contiguous) {
  std::vector<uint8_t> a = {1, 2, 3}, b = {4, 5, 6};
  ImageView v[2] = {make_view(a, 1, 1, ChannelOrder::RGB), make_view(b, 1, 1, ChannelOrder::RGB)};
  std::vector<float> out(6);
  Preprocessor pool(2);
  pool.run(v, 2, raw(1, Crop::Center), out.data(), DType::Float32);
  const float want[6] = {1, 2, 3, 4, 5, 6};
  for (int i = 0; i < 6; ++i) CHECK_NEAR(out[i], want[i], 0);
}

TEST(bad_inputs_throw_invalid_argument) {
  std::vector<uint8_t> px(12);
  std::vector<float> out(3 * 4 * 4);
  PreprocessConfig c;
  c.imgsz = 4;
  ImageView v = make_view(px, 2, 2);
  v.row_stride = 5;
  CHECK_THROWS(preprocess(&v, 1, c, out.data(), DType::Float32), InvalidArgument, "row stride 5");
  ImageView e = make_view(px, 0, 2);
  CHECK_THROWS(preprocess(&e, 1, c, out.data(), DType::Float32), InvalidArgument, "is empty");
  ImageView n;
  n.height = n.width = 1;
  CHECK_THROWS(preprocess(&n, 1, c, out.data(), DType::Float32), InvalidArgument, "has no data");
  ImageView ok = make_view(px, 2, 2);
  CHECK_THROWS(preprocess(&ok, 1, c, nullptr, DType::Float32), InvalidArgument, "null");
  c.std[1] = 0;
  CHECK_THROWS(preprocess(&ok, 1, c, out.data(), DType::Float32), InvalidArgument, "std");
  c = PreprocessConfig{};
  c.imgsz = 0;
  CHECK_THROWS(c.validate(), InvalidArgument, "imgsz");
  c.imgsz = 4;
  c.pad_value = 256;
  CHECK_THROWS(c.validate(), InvalidArgument, "pad_value");
}
