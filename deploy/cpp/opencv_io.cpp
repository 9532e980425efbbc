#include "opencv_io.hpp"

#include <stdexcept>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

std::string opencv_version() { return CV_VERSION; }

bool opencv_reads_image(const std::string& path) {
  try {
    return cv::haveImageReader(path);
  } catch (const cv::Exception&) {  // unreadable file: let the caller report it
    return false;
  }
}

cv::Mat opencv_read_image(const std::string& path) {
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(path + ": OpenCV cannot decode it (" + e.err + ")");
  }
  if (img.empty()) throw std::runtime_error(path + ": OpenCV cannot decode it (corrupt or unsupported image)");
  return img;
}

yolocls::ImageView view_of(const cv::Mat& bgr) {
  if (bgr.type() != CV_8UC3 || bgr.dims != 2) {
    throw std::invalid_argument("expected an 8-bit 3-channel BGR image, got OpenCV type " +
                                cv::typeToString(bgr.type()));
  }
  yolocls::ImageView v;
  v.data = bgr.data;
  v.height = bgr.rows;
  v.width = bgr.cols;
  v.row_stride = static_cast<int64_t>(bgr.step[0]);
  v.order = yolocls::ChannelOrder::BGR;
  return v;
}

const cv::Mat& as_bgr(const cv::Mat& frame, cv::Mat* scratch) {
  if (frame.type() == CV_8UC3) return frame;
  if (frame.type() == CV_8UC1) {
    cv::cvtColor(frame, *scratch, cv::COLOR_GRAY2BGR);
  } else if (frame.type() == CV_8UC4) {
    cv::cvtColor(frame, *scratch, cv::COLOR_BGRA2BGR);
  } else {
    throw std::invalid_argument("unsupported frame type " + cv::typeToString(frame.type()) + " (need 8-bit)");
  }
  return *scratch;
}

cv::VideoCapture opencv_open_video(const std::string& path) {
  cv::VideoCapture cap;
  try {
    cap.open(path, cv::CAP_ANY);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(path + ": OpenCV cannot open it as a video (" + e.err + ")");
  }
  if (!cap.isOpened()) {
    throw std::runtime_error(path + ": not an image or video OpenCV can read (missing, corrupt or unsupported codec)");
  }
  return cap;
}
