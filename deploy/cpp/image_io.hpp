// Minimal readers for binary PPM (P6) and 24/32-bit uncompressed BMP, so the example needs no image library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <yolocls/preprocess.hpp>

struct Image {
  int height = 0;
  int width = 0;
  yolocls::ChannelOrder order = yolocls::ChannelOrder::RGB;
  std::vector<uint8_t> pixels;  // height * width * 3, rows top to bottom

  yolocls::ImageView view() const {
    yolocls::ImageView v;
    v.data = pixels.data();
    v.height = height;
    v.width = width;
    v.row_stride = 3 * static_cast<int64_t>(width);
    v.order = order;
    return v;
  }
};

// True when the file starts like a binary PPM ("P6") or a BMP ("BM"): the formats read_image handles.
bool has_builtin_reader(const std::string& path);

// Reads .ppm (RGB) or .bmp (BGR) by content; throws std::runtime_error with the reason.
Image read_image(const std::string& path);
