#include "image_io.hpp"

#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw std::runtime_error(path + ": " + why);
}

// Next whitespace-separated header token of a PPM, skipping '#' comments.
std::string ppm_token(const std::vector<uint8_t>& b, size_t* i) {
  for (;;) {
    while (*i < b.size() && std::isspace(b[*i])) ++*i;
    if (*i < b.size() && b[*i] == '#') {
      while (*i < b.size() && b[*i] != '\n') ++*i;
      continue;
    }
    break;
  }
  std::string t;
  while (*i < b.size() && !std::isspace(b[*i])) t += static_cast<char>(b[(*i)++]);
  return t;
}

Image read_ppm(const std::string& path, const std::vector<uint8_t>& b) {
  size_t i = 2;
  Image im;
  try {
    im.width = std::stoi(ppm_token(b, &i));
    im.height = std::stoi(ppm_token(b, &i));
    if (std::stoi(ppm_token(b, &i)) != 255) fail(path, "only 8-bit PPM (maxval 255) is supported");
  } catch (const std::invalid_argument&) {
    fail(path, "malformed PPM header");
  }
  ++i;  // the single whitespace byte after maxval
  const size_t n = static_cast<size_t>(im.width) * im.height * 3;
  if (im.width < 1 || im.height < 1 || b.size() < i + n) fail(path, "truncated PPM");
  im.order = yolocls::ChannelOrder::RGB;
  im.pixels.assign(b.begin() + i, b.begin() + i + n);
  return im;
}

uint32_t le32(const std::vector<uint8_t>& b, size_t o) {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (static_cast<uint32_t>(b[o + 3]) << 24);
}
uint16_t le16(const std::vector<uint8_t>& b, size_t o) { return static_cast<uint16_t>(b[o] | (b[o + 1] << 8)); }

Image read_bmp(const std::string& path, const std::vector<uint8_t>& b) {
  if (b.size() < 54) fail(path, "truncated BMP header");
  const uint32_t offset = le32(b, 10);
  const int32_t width = static_cast<int32_t>(le32(b, 18));
  const int32_t height = static_cast<int32_t>(le32(b, 22));
  const uint16_t bpp = le16(b, 28);
  const uint32_t compression = le32(b, 30);
  if ((bpp != 24 && bpp != 32) || (compression != 0 && !(compression == 3 && bpp == 32))) {
    fail(path, "only uncompressed 24/32-bit BMP is supported");
  }
  const bool bottom_up = height > 0;
  Image im;
  im.width = width;
  im.height = bottom_up ? height : -height;
  if (im.width < 1 || im.height < 1) fail(path, "empty BMP");
  const size_t px = bpp / 8;
  const size_t row_bytes = (static_cast<size_t>(im.width) * px + 3) & ~static_cast<size_t>(3);
  if (b.size() < offset + row_bytes * im.height) fail(path, "truncated BMP pixel data");
  im.order = yolocls::ChannelOrder::BGR;
  im.pixels.resize(static_cast<size_t>(im.width) * im.height * 3);
  for (int y = 0; y < im.height; ++y) {
    const uint8_t* src = b.data() + offset + row_bytes * (bottom_up ? im.height - 1 - y : y);
    uint8_t* dst = im.pixels.data() + static_cast<size_t>(y) * im.width * 3;
    for (int x = 0; x < im.width; ++x) std::memcpy(dst + 3 * x, src + px * x, 3);
  }
  return im;
}

}  // namespace

bool has_builtin_reader(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[2] = {0, 0};
  if (!f.read(magic, 2)) return false;
  return (magic[0] == 'P' && magic[1] == '6') || (magic[0] == 'B' && magic[1] == 'M');
}

Image read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open");
  std::vector<uint8_t> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() >= 2 && b[0] == 'P' && b[1] == '6') return read_ppm(path, b);
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return read_bmp(path, b);
  fail(path, "not a binary PPM (P6) or BMP file and this build has no OpenCV; convert it first "
             "(e.g. `convert in.jpg out.ppm`) or rebuild the example with OpenCV");
}
