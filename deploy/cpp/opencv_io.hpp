// OpenCV input for the example (compiled only when CMake found OpenCV): every image format OpenCV decodes, and video
// files through cv::VideoCapture. Frames are handed to the runtime as borrowed views: no copy.
#pragma once

#include <string>

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include <yolocls/preprocess.hpp>

// "4.6.0": the OpenCV this binary was built against.
std::string opencv_version();

// True when some OpenCV image decoder recognises the file's content (signature), e.g. JPEG, PNG, TIFF, WebP.
bool opencv_reads_image(const std::string& path);

// Decodes an image to 8-bit BGR (cv::IMREAD_COLOR, EXIF orientation applied like Python's cv2.imread);
// throws std::runtime_error("<path>: <reason>") when it cannot.
cv::Mat opencv_read_image(const std::string& path);

// A borrowed view of an 8-bit 3-channel BGR cv::Mat (row stride = mat.step, so ROIs and padded rows work);
// `bgr` must outlive the view. Throws std::invalid_argument for any other Mat type.
yolocls::ImageView view_of(const cv::Mat& bgr);

// `frame` as 8-bit BGR: itself when it already is (no copy), else converted into `scratch` (gray or BGRA video).
const cv::Mat& as_bgr(const cv::Mat& frame, cv::Mat* scratch);

// Opens a video file; throws std::runtime_error("<path>: <reason>") when no OpenCV backend can.
cv::VideoCapture opencv_open_video(const std::string& path);
