// Recipro-CAM from a C++ app: run a model patched by `ov-reciprocam patch`, print the top-k classes and,
// for each, where its saliency map peaks; write each map as a PGM picture.
//
//   reciprocam_sample MODEL_XAI.xml INPUT [-k TOP_K] [-o OUT_DIR] [-d DEVICE]
//
// INPUT is one of:
//   .bin  a raw float32 tensor of the model input's shape with batch 1, already preprocessed;
//   .ppm  a binary (P6) photo, for a model patched with --embed-preprocessing (it takes uint8 BGR pixels
//         of any size and resizes and normalizes them in-graph);
//   any other photo (JPEG, PNG, ...) when built with OpenCV, for the same kind of model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <openvino/openvino.hpp>
#ifdef HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#endif

namespace {

const char* const SALIENCY = "saliency_map";

struct Options {
    std::string model, input, out_dir = ".", device = "CPU";
    size_t top_k = 3;
};

Options parse(int argc, char** argv) {
    Options opt;
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "-k" || arg == "-o" || arg == "-d") && i + 1 < argc) {
            std::string value = argv[++i];
            if (arg == "-k") opt.top_k = std::max(1, std::stoi(value));
            if (arg == "-o") opt.out_dir = value;
            if (arg == "-d") opt.device = value;
        } else {
            positional.push_back(arg);
        }
    }
    if (positional.size() != 2)
        throw std::invalid_argument("usage: reciprocam_sample MODEL_XAI.xml INPUT(.bin|.ppm|photo) [-k TOP_K] "
                                    "[-o OUT_DIR] [-d DEVICE]");
    opt.model = positional[0];
    opt.input = positional[1];
    return opt;
}

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// What `patch` recorded in rt_info, e.g. which output holds the class scores.
std::string recorded(const std::shared_ptr<ov::Model>& model, const std::string& section, const std::string& key,
                     const std::string& fallback) {
    return model->has_rt_info(section, key) ? model->get_rt_info<std::string>(section, key) : fallback;
}

// An already preprocessed input: raw float32 values in the model's input layout.
ov::Tensor read_tensor(const std::string& path, const ov::Output<const ov::Node>& input) {
    ov::PartialShape shape = input.get_partial_shape();
    if (input.get_element_type() != ov::element::f32)
        throw std::runtime_error("a .bin tensor needs a float32 model input; this one is " +
                                 input.get_element_type().get_type_name() + " (give it a photo instead)");
    shape[0] = 1;
    if (!shape.is_static())
        throw std::runtime_error("the model input " + input.get_partial_shape().to_string() +
                                 " has a dynamic image size; a .bin tensor needs a fixed one");
    ov::Tensor tensor(ov::element::f32, shape.to_shape());
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    if (!file) throw std::runtime_error("cannot open " + path);
    if (static_cast<size_t>(file.tellg()) != tensor.get_byte_size())
        throw std::runtime_error(path + " holds " + std::to_string(file.tellg()) + " bytes; the input " +
                                 shape.to_string() + " needs " + std::to_string(tensor.get_byte_size()));
    file.seekg(0);
    file.read(static_cast<char*>(tensor.data()), tensor.get_byte_size());
    return tensor;
}

// A binary PPM (P6, 8-bit RGB) as a uint8 BGR tensor [1, H, W, 3], the input of an embedded-preprocessing model.
ov::Tensor read_ppm(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open " + path);
    auto token = [&file]() {
        std::string word;
        while (file >> word && word[0] == '#') std::getline(file, word);  // skip comments
        return word;
    };
    std::string magic = token(), w = token(), h = token(), maxval = token();
    if (magic != "P6" || maxval != "255") throw std::runtime_error(path + " is not a binary 8-bit PPM (P6, 255)");
    size_t width = std::stoul(w), height = std::stoul(h);
    file.get();  // the single whitespace byte before the pixels
    ov::Tensor tensor(ov::element::u8, {1, height, width, 3});
    auto* pixels = tensor.data<uint8_t>();
    if (!file.read(reinterpret_cast<char*>(pixels), tensor.get_byte_size()))
        throw std::runtime_error(path + " is truncated");
    for (size_t i = 0; i < tensor.get_size(); i += 3) std::swap(pixels[i], pixels[i + 2]);  // RGB -> BGR
    return tensor;
}

ov::Tensor read_photo(const std::string& path, const ov::Output<const ov::Node>& input) {
    if (input.get_element_type() != ov::element::u8)
        throw std::runtime_error("photos need a model patched with --embed-preprocessing (uint8 input); "
                                 "give this one a preprocessed .bin tensor");
    if (ends_with(path, ".ppm")) return read_ppm(path);
#ifdef HAVE_OPENCV
    cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty()) throw std::runtime_error("cannot read image " + path);
    ov::Tensor tensor(ov::element::u8, {1, size_t(bgr.rows), size_t(bgr.cols), 3});
    bgr.copyTo(cv::Mat(bgr.rows, bgr.cols, CV_8UC3, tensor.data()));
    return tensor;
#else
    throw std::runtime_error("built without OpenCV: give a .ppm photo or a .bin tensor");
#endif
}

std::vector<float> as_floats(const ov::Tensor& tensor) {
    if (tensor.get_element_type() == ov::element::u8) {  // a model patched with --uint8: [0, 255]
        const auto* data = tensor.data<const uint8_t>();
        std::vector<float> out(tensor.get_size());
        std::transform(data, data + out.size(), out.begin(), [](uint8_t v) { return v / 255.0f; });
        return out;
    }
    const auto* data = tensor.data<const float>();
    return {data, data + tensor.get_size()};
}

// The class scores as the model means them: a quantized output (uint8 TFLite, QDQ ONNX) is dequantized with the
// scale and zero point `patch` recorded, so a uint8 255 reads as 0.996, not 255.
std::vector<float> scores_of(const ov::Tensor& tensor, double scale, double zero_point) {
    std::vector<float> out(tensor.get_size());
    auto real = [&](double stored) { return static_cast<float>((stored - zero_point) * scale); };
    const ov::element::Type type = tensor.get_element_type();
    if (type == ov::element::u8) {
        const auto* data = tensor.data<const uint8_t>();
        std::transform(data, data + out.size(), out.begin(), real);
    } else if (type == ov::element::i8) {
        const auto* data = tensor.data<const int8_t>();
        std::transform(data, data + out.size(), out.begin(), real);
    } else {
        const auto* data = tensor.data<const float>();
        std::transform(data, data + out.size(), out.begin(), real);
    }
    return out;
}

// An 8-bit grey picture of one map, each cell `zoom` pixels wide, written to a temp file then renamed into place.
void write_pgm(const std::string& path, const float* map, size_t height, size_t width, size_t zoom) {
    const auto [lo, hi] = std::minmax_element(map, map + height * width);
    const float span = std::max(*hi - *lo, 1e-12f);
    const std::string tmp = path + ".tmp";
    {
        std::ofstream file(tmp, std::ios::binary);
        file << "P5\n" << width * zoom << " " << height * zoom << "\n255\n";
        for (size_t y = 0; y < height * zoom; ++y)
            for (size_t x = 0; x < width * zoom; ++x)
                file.put(static_cast<char>(std::lround((map[(y / zoom) * width + x / zoom] - *lo) / span * 255.0f)));
        if (!file) throw std::runtime_error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot write " + path);
}

int run(const Options& opt) {
    ov::Core core;
    std::shared_ptr<ov::Model> model = core.read_model(opt.model);
    if (!model->has_rt_info("ov_reciprocam", "output_index"))
        throw std::runtime_error(opt.model + " has no saliency_map output: patch it with `ov-reciprocam patch` first");
    const size_t scores_index = std::stoul(recorded(model, "ov_reciprocam", "output_index", "0"));
    // What the scores output holds; models patched before kinds were recorded say only "probabilities".
    const std::string fallback =
        recorded(model, "ov_reciprocam", "probabilities", "False") == "True" ? "probabilities" : "logits";
    const std::string kind = recorded(model, "ov_reciprocam", "score_kind", fallback);
    std::istringstream label_text(recorded(model, "model_info", "labels", ""));
    const std::vector<std::string> labels{std::istream_iterator<std::string>(label_text), {}};

    const auto input = std::const_pointer_cast<const ov::Model>(model)->input();
    const bool is_tensor = ends_with(opt.input, ".bin");
    ov::Tensor tensor = is_tensor ? read_tensor(opt.input, input) : read_photo(opt.input, input);

    // f32: bf16 (the default on AMX CPUs) would move normalized maps by a few hundredths.
    ov::CompiledModel compiled = core.compile_model(model, opt.device, ov::hint::inference_precision(ov::element::f32));
    ov::InferRequest request = compiled.create_infer_request();
    request.set_input_tensor(tensor);
    request.infer();

    const double scale = std::stod(recorded(model, "ov_reciprocam", "scores_scale", "1"));
    const double zero_point = std::stod(recorded(model, "ov_reciprocam", "scores_zero_point", "0"));
    std::vector<float> scores = scores_of(request.get_output_tensor(scores_index), scale, zero_point);
    if (kind == "logits") {  // softmax them, as the Python API does
        const float top = *std::max_element(scores.begin(), scores.end());
        double sum = 0;
        for (float& s : scores) sum += (s = std::exp(s - top));
        for (float& s : scores) s = static_cast<float>(s / sum);
    } else if (kind == "log_probabilities") {
        for (float& s : scores) s = std::exp(s);
    } else if (kind.rfind("binary", 0) == 0) {  // one unit: the classes (negative, positive) are (1 - p, p)
        const float z = scores.at(0);
        const float p = kind == "binary (logit)" ? 1.0f / (1.0f + std::exp(-z)) : z;
        scores = {1.0f - p, p};
    }  // probabilities and per-label sigmoids are reported as the model gives them
    const ov::Tensor saliency = request.get_tensor(SALIENCY);  // by name: [1, classes, H, W]
    const ov::Shape shape = saliency.get_shape();
    const size_t classes = shape[1], height = shape[2], width = shape[3];
    const std::vector<float> maps = as_floats(saliency);

    std::vector<size_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&scores](size_t a, size_t b) { return scores[a] > scores[b]; });
    const size_t k = std::min(opt.top_k, classes);

    std::cout << "model " << opt.model << " (" << classes << " classes, saliency_map " << shape << ")\n";
    std::cout << "input " << opt.input << " " << tensor.get_shape() << " " << tensor.get_element_type() << "\n";
    for (size_t rank = 0; rank < k; ++rank) {
        const size_t c = order[rank];
        const float* map = maps.data() + c * height * width;
        const size_t peak = std::max_element(map, map + height * width) - map;
        const std::string label = c < labels.size() ? labels[c] : "class_" + std::to_string(c);
        const std::string pgm = opt.out_dir + "/saliency_" + std::to_string(rank + 1) + "_class" + std::to_string(c) +
                                ".pgm";
        write_pgm(pgm, map, height, width, std::max<size_t>(1, 256 / width));
        std::printf("top %zu: class %zu %s score %.8f peak cell x=%zu y=%zu -> %s\n", rank + 1, c, label.c_str(),
                    scores[c], peak % width, peak / width, pgm.c_str());
        for (size_t y = 0; y < height; ++y) {
            std::printf("   ");
            for (size_t x = 0; x < width; ++x) std::printf(" %.7f", map[y * width + x]);
            std::printf("\n");
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(parse(argc, argv));
    } catch (const std::exception& error) {
        // OpenVINO's messages span several lines ("Exception from src/...", "Check '...' failed"): keep the first
        // informative one, so that the app, like the CLI, reports one line.
        std::istringstream lines(error.what());
        std::string line, first;
        while (std::getline(lines, line)) {
            if (first.empty()) first = line;
            if (!line.empty() && line.rfind("Exception from", 0) != 0 && line.rfind("Check ", 0) != 0) {
                first = line;
                break;
            }
        }
        std::cerr << "Error: " << first << std::endl;
        return 1;
    }
}
