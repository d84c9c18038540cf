#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "core/check.hpp"
#include "sources/continuous_truth.hpp"

namespace collapse {

namespace {
std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      out.push_back(cell);
      cell.clear();
    } else if (c != '\r') {
      cell += c;
    }
  }
  out.push_back(cell);
  for (auto& s : out) {  // trim blanks
    const auto b = s.find_first_not_of(" \t");
    const auto e = s.find_last_not_of(" \t");
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  }
  return out;
}
}  // namespace

Eigen::MatrixXd read_csv(const std::string& path, const std::vector<std::string>& columns) {
  std::ifstream in(path);
  if (!in)
    throw std::invalid_argument("truth.path = \"" + path + "\": cannot open file (" + std::strerror(errno) + ")");
  std::string line;
  if (!std::getline(in, line))
    throw std::invalid_argument("truth.path = \"" + path + "\": the file is empty (a header line is required)");
  const auto header = split_csv_line(line);
  std::vector<std::size_t> use;
  if (columns.empty()) {
    for (std::size_t j = 0; j < header.size(); ++j) use.push_back(j);
  } else {
    for (const auto& c : columns) {
      std::size_t j = 0;
      while (j < header.size() && header[j] != c) ++j;
      if (j == header.size())
        throw std::invalid_argument("truth.columns: \"" + c + "\" is not a column of " + path +
                                    "; the columns are: " + join(header));
      use.push_back(j);
    }
  }
  std::vector<double> values;
  std::size_t rows = 0, line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto cells = split_csv_line(line);
    if (cells.size() != header.size())
      throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": " + std::to_string(cells.size()) +
                                  " cells, but the header has " + std::to_string(header.size()));
    for (auto j : use) {
      const auto& s = cells[j];
      double v = 0;
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || end != s.data() + s.size() || s.empty())
        throw std::invalid_argument(path + ":" + std::to_string(line_no) + ": column \"" + header[j] + "\" = \"" + s +
                                    "\" is not a number");
      values.push_back(v);
    }
    ++rows;
  }
  if (rows == 0) throw std::invalid_argument("truth.path = \"" + path + "\": the table has a header but no rows");
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows), static_cast<Eigen::Index>(use.size()));
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < use.size(); ++j)
      m(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = values[i * use.size() + j];
  check_finite("truth.path (" + path + ")", m.data(), static_cast<std::size_t>(m.size()));
  return m;
}

}  // namespace collapse
